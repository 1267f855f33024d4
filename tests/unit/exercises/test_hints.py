"""Hints computed from the lab's current state (exercises/hints.py; issue 22, lab 09's stale
"job-a has no EIP" after the wrong fix gave it one), and exam mode (`lab check --no-hints`)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from vpclab.cli.main import main
from vpclab.errors import TopologyInvalid
from vpclab.exercises import catalog, grader, hints, session

LABS = Path(__file__).resolve().parents[3] / "lab"


def nat_row(result, seen, code=None):
    return {"src": "vpc-a/job-a", "dst": "internet/web", "proto": "tcp", "port": 80, "result": result,
            "reason": {"code": code, "where": "vpc-a", "detail": "d"} if code else {}, "seen_source": seen,
            "forward": {"path": []}, "return": {"path": []}}


def test_lab09_the_hint_after_the_wrong_fix_is_about_the_eip_it_gave():
    item = catalog.find("09", LABS).item("nat")
    start = grader._probe_result(item, nat_row("unreachable", None, "NO_PUBLIC_IP"))
    assert not start.ok and "has no EIP" in start.hint
    wrong = grader._probe_result(item, nat_row("reachable", "203.0.113.12"))  # eip associate vpc-a/job-a
    assert not wrong.ok
    assert "has no EIP" not in wrong.hint and "NO_PUBLIC_IP" not in wrong.hint
    assert "203.0.113.12" in wrong.hint  # what the server saw, now


def test_when_and_fill():
    assert hints.matches({"result": ["reachable", "no-return"]}, {"result": "no-return"})
    assert not hints.matches({"code": "NO_ROUTE"}, {"code": None})
    assert hints.matches({"peering": "none"}, {"peering": None})
    assert hints.fill("over {over}, not {nothing}", {"over": "pcx-2"}) == "over pcx-2, not {nothing}"
    texts, whens = ["a {result}", "b"], [{"result": "reachable"}, {}]
    assert hints.current(texts, whens, {"result": "unreachable"}) == ["b"]
    assert hints.nth(texts, whens, {"result": "reachable"}, "g", 5) == ("b", 2, 2)
    assert "x happened" in hints.first(["a"], [{"result": "reachable"}], {"result": "unreachable"}, "x happened")


def test_a_hint_naming_a_reason_code_must_say_when(tmp_path):
    d = tmp_path / "03-stale"
    d.mkdir()
    (d / "start.yaml").write_text((LABS / "03-return-route" / "start.yaml").read_text())
    (d / "check.yaml").write_text(
        "title: t\ntask: t\nitems:\n  - title: a-b\n    hint: 'the reply is lost: NO_ROUTE at vpc-b'\n"
        "    probe: {from: vpc-a/cvm-1, to: vpc-b/cvm-1, result: reachable}\n"
        "  - title: b-a\n    hint: [{when: {colour: red}, text: x}]\n"
        "    probe: {from: vpc-b/cvm-1, to: vpc-a/cvm-1, result: reachable}\n")
    with pytest.raises(TopologyInvalid) as e:
        catalog.load(d)
    text = "\n".join(e.value.lines())
    assert "names the reason code NO_ROUTE" in text and ":5: " in text
    assert "'colour' is not a fact of a probe item" in text


def test_the_ccn_reason_codes_are_reason_codes_a_hint_must_say_when_for():
    """Issue 23: CCN_ROUTE_DISABLED and CCN_ATTACHMENT_NOT_ACTIVE belong to one state, as NO_ROUTE does."""
    text = "the route came in disabled (CCN_ROUTE_DISABLED); spoke-3 waits (CCN_ATTACHMENT_NOT_ACTIVE)"
    assert hints.named_codes(text) == ["CCN_ROUTE_DISABLED", "CCN_ATTACHMENT_NOT_ACTIVE"]
    got = hints.problems("probe", [text], [{"code": "CCN_ROUTE_DISABLED"}])
    assert len(got) == 1 and "CCN_ATTACHMENT_NOT_ACTIVE" in got[0], got


def _fake_check(monkeypatch):
    ex = catalog.find("03", LABS)
    results = [grader.Result(i, i.id != "db-closed", "seen", {"result": "reachable"}) for i in ex.items]
    monkeypatch.setattr(session, "live_lab", lambda ex, name=None: "exam03")
    monkeypatch.setattr(grader, "grade", lambda ex, lab: results)
    logged = []
    monkeypatch.setattr(session.events, "log", lambda *a, **k: logged.append(a))
    return ex, logged


def _run(capsys, *argv):
    with pytest.raises(SystemExit) as e:
        main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return e.value.code, out, err


def test_exam_mode_shows_pass_or_fail_and_nothing_that_gives_the_answer(monkeypatch, capsys):
    ex, logged = _fake_check(monkeypatch)
    code, out, _ = _run(capsys, "lab", "check", "03")
    assert code == 1 and "hint:" in out and "got:" in out  # the usual checklist
    code, out, _ = _run(capsys, "lab", "check", "03", "--no-hints")
    assert code == 1
    assert "hint" not in out.replace("no hints", "") and "got:" not in out and "vpclab " not in out
    for i in ex.items:
        assert i.title in out
    assert out.count("\u2718") == 1 and out.count("\u2714") == len(ex.items) - 1
    code, out, _ = _run(capsys, "lab", "check", "03", "--no-hints", "--json")
    doc = json.loads(out)
    assert code == 1 and doc["exam"] is True
    assert all(set(i) == {"id", "title", "kind", "ok"} for i in doc["items"])
    assert [i["ok"] for i in doc["items"]] == [i.id != "db-closed" for i in ex.items]
    # every check is logged for the teacher, the exam ones marked
    assert [a[1] for a in logged] == ["lab check 03"] * 3
    assert logged[0][3] == f"{len(ex.items) - 1} of {len(ex.items)} hold" and "db-closed" in logged[0][4]
    assert "exam" in logged[2][4] and "exam" not in logged[0][4]
