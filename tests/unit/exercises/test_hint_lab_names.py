"""Every command the tool prints for an exercise names the lab it was given for (CLI.md v3,
issue 22): a hint copied on a shared machine must never act on somebody else's `ex06`.

Every task and hint of every check file (each hint the grader can print, whatever state it
is for) is rendered for the lab `st06` as `lab start`, `lab check` and `lab hint` render it,
and each `vpclab ...` command in it must carry `-l st06` (before a `--`); so must the
commands of the session's own refusals and of `lab start`'s closing lines.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from vpclab.errors import NotFound, Refused
from vpclab.exercises import catalog, grader, labname, session

LABS = Path(__file__).resolve().parents[3] / "lab"
LAB = "st06"
COMMAND = re.compile(r"vpclab [^,;)`\"\n(]*")
NO_LAB = ("vpclab lab list", "vpclab validate", "vpclab doctor", "vpclab schema")


def unnamed(text: str, lab: str = LAB):
    """The commands in `text` that act on a lab and do not name `lab` (before any `--`)."""
    out = []
    for cmd in COMMAND.findall(text or ""):
        if cmd.startswith(NO_LAB):
            continue
        if f"-l {lab}" not in cmd.split(" -- ")[0].split():
            if f"-l {lab}" not in cmd.split(" -- ")[0]:
                out.append(cmd.strip())
    return out


def test_the_checker_finds_a_command_without_its_lab():
    assert unnamed("then: vpclab lab reset 06 (or vpclab peering list -l st06)") == ["vpclab lab reset 06"]
    assert unnamed("vpclab exec gz-app -- tc qdisc show -l st06") == ["vpclab exec gz-app -- tc qdisc show -l st06"]
    assert unnamed("vpclab exec gz-app -l st06 -- tc qdisc show") == []


def exercises():
    return catalog.all_exercises(LABS)


@pytest.mark.parametrize("ex", exercises(), ids=lambda e: e.slug)
def test_every_task_and_hint_names_the_students_lab(ex):
    named = labname.named(ex, LAB)
    found = {"task": unnamed(named.task)}
    for item in named.items:
        for n, text in enumerate(item.hints):
            found[f"{item.id} hint {n + 1}"] = unnamed(text)
    assert {k: v for k, v in found.items() if v} == {}
    # and the check file itself hard-codes no lab: `-l LAB` is the placeholder
    raw = (ex.dir / "check.yaml").read_text()
    assert not re.search(r"-l (?!LAB\b)\S", raw.split("\nsolution:")[0]), "a hint names a fixed lab"


@pytest.fixture
def ex06():
    return catalog.find("06", LABS)


def test_lab_check_and_lab_hint_print_the_lab_they_were_given(ex06, monkeypatch):
    """The printed hint of every item (each failing): what `lab check -l st06` and `lab hint` show."""
    monkeypatch.setattr(session, "live_lab", lambda ex, name: name)
    monkeypatch.setattr(grader, "grade", lambda ex, lab: [grader.Result(i, False, "as it is") for i in ex.items])
    notes = {}
    monkeypatch.setattr(session, "_get", lambda lab, key, default=None: notes.get(key, default))
    monkeypatch.setattr(session, "_put", lambda lab, key, value: notes.__setitem__(key, value))
    if hasattr(session, "events"):  # the check is logged for the teacher: not here
        monkeypatch.setattr(session.events, "log", lambda *a, **k: None)
    doc = session.check(ex06, LAB)
    hints = [it["hint"] for it in doc["items"]]
    assert all(unnamed(h) == [] for h in hints if h), hints
    assert any(f"-l {LAB}" in (h or "") for h in hints), hints
    said = [session.hint(ex06, LAB)["hint"] for _ in range(2)]  # the first item's hints, in turn
    assert "vpclab lab reset 06 -l st06" in said[1], said  # the command issue 22 found without -l
    assert all(unnamed(h) == [] for h in said), said


def test_the_sessions_own_refusals_name_the_lab(ex06, monkeypatch):
    monkeypatch.setattr(session, "known_labs", lambda: [])
    with pytest.raises(NotFound) as e:
        session.live_lab(ex06, LAB)
    assert unnamed(e.value.hint) == [] and f"-l {LAB}" in e.value.hint, e.value.hint
    monkeypatch.setattr(session, "known_labs", lambda: [LAB])
    monkeypatch.setattr(session.host, "require_root", lambda what: None)
    with pytest.raises(Refused) as e:
        session.start(ex06, LAB)
    assert unnamed(e.value.hint) == [] and e.value.hint.count(f"-l {LAB}") == 2, e.value.hint


def test_lab_start_names_the_lab_even_when_it_is_the_default(capsys):
    from vpclab.cli.exercises import render_task

    doc = {"exercise": "06", "title": "t", "lab": "ex06", "task": labname.for_lab("vpclab clock advance -l LAB", "ex06"),
           "guide": "lab/06-cross-account/guide.md"}
    render_task(doc, "started")
    out = capsys.readouterr().out
    assert unnamed(out, "ex06") == [], out
