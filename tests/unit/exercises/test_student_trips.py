"""What a new student tripped on (issue 12), the parts that need no root.

The live halves (down of a typo, exec's hostname, status against `ip rule`,
events --follow, the notes of peering create and route add) are in
tests/kernel/exercises/test_student_trips_live.py.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from vpclab.cli import main as cli, events as cli_events, notes as cli_notes
from vpclab.controller import events as event_log
from vpclab.controller import outfiles as outpath, probing, status, tools
from vpclab.state import gone
from vpclab.state.rundir import RunDir
from vpclab.plan import kernelnames
from vpclab.topology import load as loader
from vpclab.errors import NotFound, Refused
from vpclab.model import lifecycle

ROOT = Path(__file__).resolve().parents[3]
XACCT = ROOT / "topologies" / "05-cross-account.yaml"
TWO = ROOT / "topologies" / "01-two-vpcs.yaml"


def run(capsys, *argv):
    with pytest.raises(SystemExit) as e:
        cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return e.value.code, out, err


# ---- down: a typo is not "already down" ----------------------------------------------------------


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    monkeypatch.setattr("vpclab.state.rundir.current", RunDir(tmp_path))
    return tmp_path


def test_a_typo_of_a_running_lab_is_refused_with_the_suggestion(run_dir):
    with pytest.raises(NotFound) as e:
        gone.check_absent("tow", ["two", "hub"])
    assert e.value.code == "LabNotFound" and e.value.exit_code == 2
    assert "'two'" in e.value.hint


def test_a_lab_removed_since_boot_is_already_down_whatever_runs(run_dir):
    gone.mark("tow")
    gone.check_absent("tow", ["two"])  # no refusal: `down tow; down tow` stays idempotent
    assert (run_dir / ".gone" / "tow").is_file()


@pytest.mark.parametrize("name, running", [("neverran", ["two"]), ("ci2", ["ci1", "ci3"]), ("lab10", ["lab1"])])
def test_a_name_close_to_nothing_running_or_in_a_numbered_series_is_already_down(run_dir, name, running):
    gone.check_absent(name, running)


def test_old_tombstones_are_pruned(run_dir):
    import os
    import time

    gone.mark("old")
    old = run_dir / ".gone" / "old"
    os.utime(old, (time.time() - 2 * gone.KEEP_S,) * 2)
    gone.mark("new")
    assert not old.exists() and gone.was_removed("new")


# ---- peering accept without --as: see test_lifecycle.py; notes on stderr ----------------------------


def pending_lab():
    return loader.load(str(XACCT))


def test_a_pending_peering_says_who_must_accept():
    lab = pending_lab()
    note = cli_notes.pending_peering(lab, "pcx-alice-bob")
    assert note.startswith("PENDING: bob must accept")
    lifecycle.apply_event(lab, "pcx-alice-bob", "accept")
    assert cli_notes.pending_peering(lab, "pcx-alice-bob") is None


def test_a_route_through_a_pending_peering_is_called_a_blackhole():
    lab = pending_lab()
    note = cli_notes.blackhole_route(lab, "alice-vpc", "default", "192.168.0.0/16", "pcx-alice-bob")
    assert "blackhole until pcx-alice-bob is ACTIVE" in note and "bob must accept" in note
    lifecycle.apply_event(lab, "pcx-alice-bob", "accept")
    assert cli_notes.blackhole_route(lab, "alice-vpc", "default", "192.168.0.0/16", "pcx-alice-bob") is None
    lifecycle.apply_event(lab, "pcx-alice-bob", "delete")
    assert "DELETED" in cli_notes.blackhole_route(lab, "alice-vpc", "default", "192.168.0.0/16", "pcx-alice-bob")


# ---- test --junit: the path is checked before any probe ------------------------------------------


@pytest.mark.parametrize("bad", ["/nonexistent-dir-vpclab/x.xml", "{tmp}/a-file/x.xml"])
def test_junit_to_a_bad_path_fails_before_any_probe(capsys, monkeypatch, tmp_path, bad):
    (tmp_path / "a-file").write_text("")
    ran = []
    monkeypatch.setattr(probing, "test", lambda *a, **k: ran.append(a) or {"lab": "x", "cases": [], "passed": 0,
                                                                            "failed": 0})
    code, out, err = run(capsys, "test", "--junit", bad.format(tmp=tmp_path))
    assert code == 2 and ran == []
    assert "InvalidParameterValue: cannot write JUnit XML" in err


def test_junit_to_a_good_path_is_accepted(tmp_path):
    outpath.check_writable(str(tmp_path / "report.xml"), "JUnit XML")
    assert not (tmp_path / "report.xml").exists()  # the check creates nothing


# ---- doctor's header ----------------------------------------------------------------------------------


def test_doctor_table_has_no_empty_header(capsys, monkeypatch):
    monkeypatch.setattr(tools, "doctor", lambda: [("netns", True, "nothing works"), ("netem", False, "no delay")])
    code, out, _ = run(capsys, "doctor")
    assert code == 0
    header = out.splitlines()[0]
    cells = [c.strip() for c in re.split(r"[┃│|]", header)]
    assert len(cells) == 3 and all(cells), header


# ---- events: codes are never cut ----------------------------------------------------------------------


CODES = ["UnsupportedOperation.VpcPeerPurviewError", "InvalidParameterValue.DuplicatedRoute",
         "UnsupportedOperation.VpcPeerCidrConflict"]


def event_rows():
    return [{"id": n + 1, "wall": 0.0, "lab_time": 3600.0 * n, "actor": "alice", "action": "peering accept",
             "target": "pcx-alice-bob", "result": f"refused: {code}",
             "detail": "only the accepter's account 'bob' may accept pcx-alice-bob (not 'alice')"}
            for n, code in enumerate(CODES)] + [
        {"id": 9, "wall": 0.0, "lab_time": 0.0, "actor": None, "action": "up", "target": "/tmp/x.yaml",
         "result": "ok", "detail": None}]


@pytest.mark.parametrize("width", [100, 80])
def test_events_at_100_columns_keep_every_code_whole(capsys, monkeypatch, width):
    buf = io.StringIO()
    monkeypatch.setattr(cli_events, "console", lambda stderr=False: Console(file=buf, width=width, highlight=False))
    monkeypatch.setattr(event_log, "read", lambda lab: event_rows())
    code, _, _ = run(capsys, "events")
    text = buf.getvalue()
    assert code == 0 and max(map(len, text.splitlines())) <= width
    for c in CODES:  # whole, on one line (a narrow terminal may put it on its own line)
        assert c in text, text


def test_a_followed_event_is_one_line_with_its_code():
    buf = io.StringIO()
    c = Console(file=buf, width=100, highlight=False)
    for e in event_rows():
        c.print(cli_events.line(e), soft_wrap=True)
    lines = buf.getvalue().splitlines()
    assert len(lines) == len(event_rows())
    assert all(f"refused: {code}" in l for code, l in zip(CODES, lines))


# ---- status: the kernel names ------------------------------------------------------------------------


def test_kernel_names_of_subnets_and_peerings():
    lab = loader.load(str(TWO))
    subs = kernelnames.subnets(lab, "vpc-b")
    assert subs["app"]["table_id"] == 100 and subs["app"]["interfaces"] == ["two-i-cvm-1"]
    assert (subs["data"]["rule_priority"], subs["data"]["rule"]) == (20001, "from 10.1.2.0/24 lookup 100")
    p = kernelnames.peering(lab, lab.peerings["pcx-ab"])
    assert p["interface"] == "two-p-pcx-ab" and p["in_kernel"]
    assert p["addresses"] == {"vpc-a": "169.254.0.1/30", "vpc-b": "169.254.0.2/30"}
    assert (p["rule_priority"], p["rule"]) == (1000, "from all iif two-p-pcx-ab lookup 90")


# ---- the guides' closing questions have answers -------------------------------------------------------


GUIDES = sorted((ROOT / "lab").glob("*/guide.md"))


@pytest.mark.parametrize("guide", GUIDES, ids=lambda p: p.parent.name)
def test_every_guide_closes_with_questions_and_collapsed_answers(guide):
    text = guide.read_text()
    q = text.rfind("Question")
    assert q != -1, "no closing questions"
    block = re.search(r"<details>\n<summary>Answers</summary>\n(.*?)\n</details>", text[q:], re.S)
    assert block, "the answers are not in a collapsed <details> section after the questions"
    assert "```sh" not in block.group(1)  # the guide test runs sh blocks: answers hold no commands to run


def test_the_lab_readme_explains_ip_rule_and_ip_route():
    text = (ROOT / "lab" / "README.md").read_text()
    section = text[text.index("## Reading `ip rule` and `ip route`"):]
    for word in ("proto 77", "blackhole", "169.254", "throw", "table 90", "lookup 100", "`main`"):
        assert word in section, word
