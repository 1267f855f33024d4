"""Every exercise, three times, on real namespaces: the broken start, a plausible wrong
fix, and the reference solution (CI for the `lab/NN-*/check.yaml` files).

Each run has its own random lab name (`vpclab lab start NN -l NAME`) and is always
torn down. The wrong fix must leave exactly the items its check file names failing,
each with its hint printed; the solution must make every item hold. The solution's
time (its commands and the final check) is printed: `pytest -s` shows it.
"""
from __future__ import annotations

import json
import shlex
import subprocess
import time

import pytest

from labkit import VPCLAB, assert_gone, lab_name, needs_root, run
from vpclab.exercises import catalog, hints

pytestmark = needs_root

EXERCISES = catalog.all_exercises()


def with_lab(cmd: str, lab: str):
    """A check file's command as argv, aimed at `lab` (`-l` goes before an exec's `--`)."""
    argv = shlex.split(cmd)
    at = argv.index("--") if "--" in argv else len(argv)
    return argv[:at] + ["-l", lab] + argv[at:]


def run_all(cmds, lab: str):
    for cmd in cmds:
        p = subprocess.run([VPCLAB, *with_lab(cmd, lab)], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, f"`vpclab {cmd}` exited {p.returncode}:\n{p.stdout}\n{p.stderr}"


def check(ex, lab: str):
    """(exit code, JSON document, human output) of `lab check`."""
    p = run("lab", "check", ex.number, "-l", lab, "--json")
    h = run("lab", "check", ex.number, "-l", lab)
    assert "Traceback" not in p.stderr + h.stderr
    assert h.returncode == p.returncode
    return p.returncode, json.loads(p.stdout), h.stdout


def failing(doc):
    return [i["id"] for i in doc["items"] if not i["ok"]]


def assert_current_hint(item, now: dict, start: dict, lab: str) -> None:
    """The hint `lab check` printed for a failing item is computed from the lab's state now:
    one of the item's hints whose `when` holds for the facts just seen (never the fallback: a
    wrong fix the check file plans for has a hint); a reason code it names is the one the probe
    shows now; a start hint whose `when` no longer holds is not repeated; and where the lab
    failed on the source the destination saw, the hint names the source it saw now."""
    facts = now["facts"]
    current = [h.replace("-l LAB", f"-l {lab}") for h in hints.current(item.hints, item.whens, facts)]
    assert current and now["hint"] == current[0], (item.id, now, current)
    for code in hints.named_codes(now["hint"]):
        assert code == facts.get("code"), f"{item.id}: the hint names {code}, the lab shows {facts.get('code')}"
    start_when = next((w for h, w in zip(item.hints, item.whens)
                       if hints.fill(h, start["facts"]).replace("-l LAB", f"-l {lab}") == start["hint"]), None)
    if start["hint"] is not None and start_when and not hints.matches(start_when, facts):
        assert now["hint"] != start["hint"], f"{item.id}: the start's hint is stale now: {now['hint']}"
    want = item.spec.get("seen_source")
    if want is not None and facts.get("seen_source") not in (None, str(want)):
        assert facts["seen_source"] in now["hint"], f"{item.id}: the hint is not about what was seen: {now}"


@pytest.mark.long(12)  # the twelve labs: about two minutes together
@pytest.mark.parametrize("ex", EXERCISES, ids=[e.slug for e in EXERCISES])
def test_exercise_start_wrong_fix_solution(ex):
    lab = lab_name()
    try:
        run("lab", "start", ex.number, "-l", lab, check=0)
        # 1. the broken start
        code, doc, _ = check(ex, lab)
        assert code == 1, f"exercise {ex.number} is solved at its start"
        assert doc["lab"] == lab and doc["failed"] >= 1
        at_start = {i["id"]: i for i in doc["items"]}
        # 2. a plausible wrong fix: exactly the named items fail, each with a hint about the
        # lab's state now (not the start's: issue 22, lab 09's "job-a has no EIP" after the EIP)
        run_all(ex.wrong_fix, lab)
        code, doc, human = check(ex, lab)
        assert code == 1, f"the wrong fix of exercise {ex.number} passes its check"
        assert failing(doc) == ex.wrong_fails, doc
        for item_id in ex.wrong_fails:
            got = next(i for i in doc["items"] if i["id"] == item_id)
            assert_current_hint(ex.item(item_id), got, at_start[item_id], lab)
            assert got["hint"].split(":")[0] in human, f"hint of {item_id} not printed:\n{human}"
        # 3. reset, then the reference solution
        run("lab", "reset", ex.number, "-l", lab, check=0)
        code, doc, _ = check(ex, lab)
        assert code == 1, "reset did not bring the broken start back"
        t0 = time.monotonic()
        run_all(ex.solution, lab)
        run("lab", "check", ex.number, "-l", lab, "--json")
        seconds = time.monotonic() - t0
        code, doc, human = check(ex, lab)
        assert code == 0, f"the solution of exercise {ex.number} fails: {failing(doc)}\n{human}"
        assert doc["failed"] == 0 and doc["passed"] == len(ex.items)
        print(f"\nSOLUTION-TIME {ex.slug}: {seconds:.2f} s ({len(ex.solution)} commands, then the check)")
    finally:
        run("down", lab)
    assert_gone(lab)


def test_refusals_and_errors():
    """Unknown exercise, not started, started twice, a lab of another exercise: exit 2 with a code."""
    lab = lab_name()
    p = run("lab", "check", "99", "--json")
    assert p.returncode == 2 and json.loads(p.stdout)["error"]["code"] == "ExerciseNotFound"
    p = run("lab", "check", "03", "-l", lab)
    assert p.returncode == 2 and "ExerciseNotStarted" in p.stderr and "Traceback" not in p.stderr
    try:
        run("lab", "start", "03", "-l", lab, check=0)
        p = run("lab", "start", "03", "-l", lab)
        assert p.returncode == 2 and "UnsupportedOperation.ExerciseRunning" in p.stderr
        p = run("lab", "check", "01", "-l", lab)
        assert p.returncode == 2 and "ExerciseMismatch" in p.stderr
        listed = json.loads(run("lab", "list", "--json", check=0).stdout)["exercises"]
        row = next(r for r in listed if r["number"] == "03")
        assert row["running"] and lab in row["labs"]
        # hints move on, one per call, then stay on the last
        hints = [json.loads(run("lab", "hint", "03", "-l", lab, "--json", check=0).stdout)["hint"] for _ in range(3)]
        ex = catalog.find("03")
        named = [h.replace("-l LAB", f"-l {lab}") for h in ex.item("a-b").hints]  # a hint names the lab
        assert hints == named + named[-1:]
    finally:
        run("down", lab)
    assert_gone(lab)


def test_start_records_the_exercise_file_and_reads_a_flow_style_start(tmp_path):
    """The lab's topology is the exercise's start file (not the renamed copy, removed at once),
    and a start file written in flow style (`{lab: x, ...}`) is renamed like a block one."""
    import dataclasses
    from pathlib import Path

    import yaml

    from labkit import run_json
    from vpclab.exercises import session

    ex = catalog.find("03")
    flow = tmp_path / "start.yaml"
    flow.write_text(yaml.safe_dump(yaml.safe_load(ex.start.read_text()), default_flow_style=True))
    assert flow.read_text().startswith("{")
    cli_lab, api_lab = lab_name(), lab_name()
    try:
        run("lab", "start", ex.number, "-l", cli_lab, check=0)
        doc = run_json("status", "-l", cli_lab)
        assert Path(doc["source"]).resolve() == ex.start.resolve()
        ups = [e for e in run_json("events", "-l", cli_lab)["events"] if e["action"] == "up"]
        assert ups and all(Path(e["target"]).resolve() == ex.start.resolve() for e in ups), ups
        out = session.start(dataclasses.replace(ex, start=flow), api_lab)
        assert out["lab"] == api_lab
        doc = run_json("status", "-l", api_lab)
        assert doc["lab"] == api_lab and Path(doc["source"]) == flow and flow.exists()
        code, result, _ = check(ex, api_lab)
        assert code == 1 and result["failed"] >= 1  # the broken start, under its own name
    finally:
        run("down", cli_lab)
        run("down", api_lab)
    assert_gone(cli_lab)
    assert_gone(api_lab)
