""""Closed" and "isolated", defined once (exercises/closure.py, lab/README.md) and graded the
same way in every lab (issue 22): the four cases the issue found, without root, on each lab's
start model edited the way a student's commands edit it, with the verdicts a probe would give."""
from __future__ import annotations

from pathlib import Path

import pytest

from vpclab.errors import TopologyInvalid
from vpclab.exercises import catalog, closure, grader
from vpclab.model import lifecycle
from vpclab.topology import load as loader

LABS = Path(__file__).resolve().parents[3] / "lab"


def row(src, dst, result, path=(), proto="icmp", port=None, code=None, back=()):
    """A probe row as `probe --json` shapes it."""
    return {"src": src, "dst": dst, "proto": proto, "port": port, "result": result,
            "reason": {"code": code, "where": "x", "detail": "d"} if code else {},
            "forward": {"delivered": result != "unreachable", "path": list(path)},
            "return": {"delivered": result == "reachable", "path": list(back)}}


def test_no_return_is_never_closed_in_any_lab():
    """Lab 01 says no-return is not isolation; lab 03 (and 10) counted it as "closed". Now every
    probe item that says "closed" fails on a no-return verdict, in every lab."""
    closed_items = 0
    for ex in catalog.all_exercises(LABS):
        for i in ex.items:
            if i.kind == "probe" and closure.CLOSED in grader.accepted_results(i.spec):
                closed_items += 1
                r = grader._probe_result(i, row(i.spec["from"], i.spec["to"], "no-return"))
                assert not r.ok, f"{ex.slug} {i.id} counts no-return as closed"
                assert grader._probe_result(i, row(i.spec["from"], i.spec["to"], "unreachable")).ok
    assert closed_items >= 8


def test_lab03_db_open_one_way_is_not_closed():
    ex = catalog.find("03", LABS)
    item = ex.item("db-closed")
    r = grader._probe_result(item, row("vpc-a/cvm-1", "vpc-b/db-1", "no-return", proto="tcp", port=3306,
                                       code="NO_ROUTE"))
    assert not r.ok
    assert "arrives" in r.hint and "no-return" in r.hint  # the hint for this state, not for "now answers"


def test_a_check_file_cannot_mix_closed_and_open(tmp_path):
    d = tmp_path / "03-mixed"
    d.mkdir()
    (d / "start.yaml").write_text((LABS / "03-return-route" / "start.yaml").read_text())
    (d / "check.yaml").write_text(
        "title: t\ntask: t\nitems:\n  - title: db closed\n    hint: h\n"
        "    probe: {from: vpc-a/cvm-1, to: vpc-b/db-1, result: [no-return, unreachable]}\n")
    with pytest.raises(TopologyInvalid) as e:
        catalog.load(d)
    assert "mixes closed with open" in "\n".join(e.value.lines())


def _lab04_solved():
    ex = catalog.find("04", LABS)
    model = loader.load(ex.start)
    lifecycle.create(model, "spoke-1", "spoke-2", name="pcx-s1-s2")
    lifecycle.add_route(model, "spoke-1", "10.2.0.0/16", "pcx-s1-s2")
    lifecycle.add_route(model, "spoke-2", "10.1.0.0/16", "pcx-s1-s2")
    return ex, model


def _isolated_rows(model, a, b, result="unreachable"):
    return [row(t.src.ref, t.dst_ref, result, proto=t.proto, port=t.port)
            for t in closure.isolation_targets(model, a, b)]


def test_lab04_a_leftover_unrouted_peering_is_not_isolation():
    """Lab 04 passed with pcx-s1-s3 left ACTIVE and unrouted (no packet gets through), which lab
    01 forbids: now its isolation item fails and names the peering."""
    ex, model = _lab04_solved()
    item = ex.item("s3-s1")
    ok = grader._isolated(model, item, _isolated_rows(model, "spoke-3", "spoke-1"))
    assert ok.ok, ok.got
    lifecycle.create(model, "spoke-1", "spoke-3", name="pcx-s1-s3")  # left over, no route
    r = grader._isolated(model, item, _isolated_rows(model, "spoke-3", "spoke-1"))
    assert not r.ok and "pcx-s1-s3 joining them is ACTIVE" in r.got
    assert "pcx-s1-s3" in r.hint and "unused peering" in r.hint
    # deleted, but a route toward spoke-3 stays behind: still not isolated
    lifecycle.add_route(model, "spoke-1", "10.3.0.0/16", "pcx-s1-s3")
    lifecycle.apply_event(model, "pcx-s1-s3", "delete")
    r = grader._isolated(model, item, _isolated_rows(model, "spoke-3", "spoke-1"))
    assert not r.ok and "spoke-1's table default routes 10.3.0.0/16 via pcx-s1-s3" in r.got
    assert "stale route" in r.hint


def test_isolation_probes_every_instance_both_ways_and_fails_on_no_return():
    ex, model = _lab04_solved()
    targets = closure.isolation_targets(model, "spoke-3", "spoke-1")
    assert {(t.src.vpc, t.dst.vpc) for t in targets} == {("spoke-3", "spoke-1"), ("spoke-1", "spoke-3")}
    r = grader._isolated(model, ex.item("s3-s1"), _isolated_rows(model, "spoke-3", "spoke-1", "no-return"))
    assert not r.ok and r.facts["result"] == "no-return"


def test_lab05_a_tick_over_another_peering_is_no_tick():
    """After delete and re-create, "sg-app reaches gz-app over pcx-gz-sg" showed a tick for
    pcx-gz-sg2: now the item names the peering the packets must cross."""
    ex = catalog.find("05", LABS)
    model = loader.load(ex.start)
    item = ex.item("sg-gz")
    over = ["sg-app/cvm-1", "sg-app", "pcx-gz-sg", "gz-app", "gz-app/cvm-1"]
    assert grader._probe_result(item, row("sg-app/cvm-1", "gz-app/cvm-1", "reachable", over), model).ok
    lifecycle.apply_event(model, "pcx-gz-sg", "delete")
    lifecycle.create(model, "gz-app", "sg-app", bandwidth_kbps=20000, name="pcx-gz-sg2")
    other = ["sg-app/cvm-1", "sg-app", "pcx-gz-sg2", "gz-app", "gz-app/cvm-1"]
    r = grader._probe_result(item, row("sg-app/cvm-1", "gz-app/cvm-1", "reachable", other), model)
    assert not r.ok and "over pcx-gz-sg2, not over pcx-gz-sg" in r.got
    assert "pcx-gz-sg2" in r.hint and "lost" not in r.hint  # it did not lose gz-app: it went another way


def test_lab01_no_return_is_not_isolation():
    """The standard the other labs now follow (it held before too)."""
    ex = catalog.find("01", LABS)
    r = grader._probe_result(ex.item("dev-prod"), row("dev/cvm-1", "prod/cvm-1", "no-return"))
    assert not r.ok
