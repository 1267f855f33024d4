"""Exercises without root: the shipped check files, the check-file validator, finding
exercises, `refused` items judged on a copy of the model, and `vpclab lab list/check`
refusals through the real entry point."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from vpclab.topology import load as loader
from vpclab.cli.main import main
from vpclab.state.store import digest
from vpclab.errors import EnvironmentProblem, NotFound, TopologyInvalid
from vpclab.exercises import catalog, grader
from vpclab.model import lifecycle

ROOT = Path(__file__).resolve().parents[3]
LABS = ROOT / "lab"


def test_twelve_exercises_ship_whole():
    exs = catalog.all_exercises(LABS)
    assert [e.number for e in exs] == [f"{n:02d}" for n in range(1, 13)]
    for e in exs:
        assert e.guide.exists(), e.slug
        assert e.solution and e.wrong_fix and e.wrong_fails, e.slug
        assert all(i.hints and all(h.strip() for h in i.hints) and i.title for i in e.items), e.slug
        assert loader.load(e.start).name == e.default_lab
        kinds = {i.kind for i in e.items}
        assert kinds <= set(catalog.KINDS)
        # every exercise forbids something or checks more than reachability
        assert any(i.kind != "probe" or "reachable" not in grader.accepted_results(i.spec) or "seen_source" in i.spec
                   for i in e.items), e.slug


@pytest.mark.parametrize("key", ["3", "03", "03-return-route"])
def test_find_by_number_or_name(key):
    assert catalog.find(key, LABS).slug == "03-return-route"


def test_unknown_exercise_names_the_known_ones():
    with pytest.raises(NotFound) as e:
        catalog.find("99", LABS)
    assert e.value.code == "ExerciseNotFound" and "01" in e.value.hint and "10" in e.value.hint


def test_labs_dir_from_the_environment(tmp_path, monkeypatch):
    shutil.copytree(LABS / "03-return-route", tmp_path / "03-return-route")
    monkeypatch.setenv(catalog.LABS_ENV, str(tmp_path))
    assert [e.slug for e in catalog.all_exercises()] == ["03-return-route"]
    monkeypatch.setenv(catalog.LABS_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(EnvironmentProblem) as e:
        catalog.labs_dir()
    assert e.value.code == "ExercisesNotFound" and e.value.exit_code == 3


def test_labs_dir_found_above_the_package(monkeypatch):
    monkeypatch.delenv(catalog.LABS_ENV, raising=False)
    assert catalog.labs_dir() == LABS


BAD = """\
title: broken
task: fix it
items:
  - title: unknown instance
    hint: h
    probe: {from: vpc-a/cvm-9, to: vpc-b/cvm-1, result: reachable}
  - title: bad result
    hint: h
    probe: {from: vpc-a/cvm-1, to: vpc-b/cvm-1, result: maybe}
  - title: two kinds
    hint: h
    probe: {from: vpc-a/cvm-1, to: vpc-b/cvm-1, result: reachable}
    route: {vpc: vpc-b, destination: 10.0.0.0/16}
  - title: no hint
    peering: {id: pcx-ab, state: SLEEPING}
  - title: bad op
    hint: h
    refused: {op: peering explode, code: X}
wrong_fix:
  commands: [route add vpc-b --destination 10.0.0.0/16 --next-hop pcx-ab]
  fails: [nosuch]
"""


def test_a_bad_check_file_reports_every_problem_with_its_line(tmp_path):
    d = tmp_path / "03-bad"
    d.mkdir()
    shutil.copy(LABS / "03-return-route" / "start.yaml", d / "start.yaml")
    (d / "check.yaml").write_text(BAD)
    with pytest.raises(TopologyInvalid) as e:
        catalog.load(d)
    lines = e.value.lines()
    text = "\n".join(lines)
    assert all(l.startswith(f"{d / 'check.yaml'}:") and ": ExerciseInvalid: " in l for l in lines)
    for needle, line in (("'vpc-a/cvm-9' is not an instance", 4), ("result 'maybe'", 7), ("exactly one of", 10),
                         ("needs a 'hint'", 14), ("state 'SLEEPING'", 14), ("op 'peering explode'", 16),
                         ("'nosuch', which is not an item id", 21)):
        assert any(needle in l and l.split(":")[1] == str(line) for l in lines), (needle, text)


def test_refused_items_change_nothing_and_follow_the_rules():
    """Lab 07's refusals: at the start the quota answers first (the items fail); after the
    reference solution, one-per-pair and the cross-region overlap rule answer (they hold)."""
    ex = catalog.find("07", LABS)
    model = loader.load(ex.start)
    before = digest(model)
    start = {i.id: grader.CHECKS["refused"](model, i, "x") for i in ex.items if i.kind == "refused"}
    assert digest(model) == before, "a refused item changed the model"
    assert not any(r.ok for r in start.values())
    assert all("LimitExceeded.VpcPeerTotalLimitExceeded" in r.got for r in start.values())
    lifecycle.apply_event(model, "pcx-hub-legacy", "delete")
    lifecycle.create(model, "hub", "analytics", name="pcx-hub-an")
    solved = {i.id: grader.CHECKS["refused"](model, i, "x") for i in ex.items if i.kind == "refused"}
    assert all(r.ok for r in solved.values()), {k: r.got for k, r in solved.items()}
    assert "pcx-hub-an" in model.peerings and len(model.peerings) == 11


def test_a_ccn_refused_item_asks_the_ccn_rules_on_a_copy():
    """Lab 12 (issue 23): enabling staging's route, identical to prod's, is refused
    (CcnRouteCidrOverlap) while prod's is enabled; once prod's is disabled (the wrong fix) the
    same enable would be accepted, and the item fails without running it."""
    from vpclab.model import ccn_ops

    ex = catalog.find("12", LABS)
    model = loader.load(ex.start)
    before = digest(model)
    item = ex.item("staging-off")
    r = grader.CHECKS["refused"](model, item, "x")
    assert r.ok and r.facts == {"code": "UnsupportedOperation.CcnRouteCidrOverlap"}, r.got
    assert digest(model) == before, "a refused item changed the model"
    ccn_ops.disable_route(model, "ccn-core", "10.8.0.0/20@prod")
    before = digest(model)
    r = grader.CHECKS["refused"](model, item, "x")
    assert not r.ok and r.facts == {"code": "accepted"} and "would be accepted" in r.got
    assert digest(model) == before and "10.8.0.0/20@staging" not in model.ccns["ccn-core"].enabled
    assert grader.command_text(item.spec) == "vpclab ccn route enable ccn-core 10.8.0.0/20@staging"


def test_an_accepted_command_fails_its_refused_item_without_running():
    ex = catalog.find("07", LABS)
    model = loader.load(ex.start)
    lifecycle.apply_event(model, "pcx-hub-legacy", "delete")  # room for one: the overlap item's create would pass
    item = ex.item("overlap")
    r = grader.CHECKS["refused"](model, item, "x")
    assert not r.ok and "would be accepted" in r.got
    assert "dr-sg" not in {p.peer_vpc for p in model.peerings.values()}


def test_command_text_is_what_a_student_types():
    assert grader.command_text({"op": "peering create", "vpc": "hub", "peer_vpc": "dr-sg", "bandwidth": "50Mbps",
                                "code": "X"}) == "vpclab peering create --vpc hub --peer-vpc dr-sg --bandwidth 50Mbps"
    assert grader.command_text({"op": "peering accept", "id": "pcx-1", "as": "bob", "code": "X"}) == \
        "vpclab peering accept pcx-1 --as bob"
    assert grader.command_text({"op": "route add", "vpc": "a", "destination": "10.0.0.0/16", "next_hop": "p",
                                "code": "X"}) == "vpclab route add a --destination 10.0.0.0/16 --next-hop p"


def _run(capsys, *argv):
    with pytest.raises(SystemExit) as e:
        main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return e.value.code, out, err


def test_lab_list_json(capsys):
    code, out, _ = _run(capsys, "lab", "list", "--json")
    rows = json.loads(out)["exercises"]
    assert code == 0 and [r["number"] for r in rows] == [f"{n:02d}" for n in range(1, 13)]
    assert all(set(r) >= {"number", "title", "running", "labs"} for r in rows)


def test_unknown_exercise_is_refused_with_a_code(capsys):
    code, out, _ = _run(capsys, "lab", "check", "42", "--json")
    assert code == 2 and json.loads(out)["error"]["code"] == "ExerciseNotFound"
    code, _, err = _run(capsys, "lab", "hint", "42")
    assert code == 2 and err.startswith("ExerciseNotFound: no exercise '42'")


def test_a_bad_lab_name_is_refused(capsys):
    code, _, err = _run(capsys, "lab", "start", "03", "-l", "Not-A-Name")
    assert code == 2 and "InvalidParameterValue" in err


def test_a_probe_item_may_name_what_the_destination_must_see(tmp_path):
    """seen_source: the grader fails an item whose packets took the other path (EIP vs peering)."""
    item = catalog.Item("p", "t", "probe", {"from": "vpc-a/web-a", "to": "vpc-b/cvm-b", "result": "reachable",
                                            "seen_source": "10.0.1.10"}, ["h"])
    over_peering = grader._probe_result(item, {"result": "reachable", "reason": {}, "seen_source": "10.0.1.10"})
    over_eip = grader._probe_result(item, {"result": "reachable", "reason": {}, "seen_source": "203.0.113.10"})
    assert over_peering.ok and not over_eip.ok and "203.0.113.10" in over_eip.got
