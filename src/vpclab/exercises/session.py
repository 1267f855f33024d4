"""Exercise labs: start, reset, list, check and hint, on top of the controller.

An exercise runs as an ordinary lab built from its `start.yaml`, named `exNN`
unless the caller names it (tests give each run its own name). The lab's store
remembers which exercise it is (key `exercise`) and how many hints of each item
were shown (key `exercise_hints`), so `lab list` finds renamed runs and
`lab hint` moves on to the next hint of the same item.
"""
from __future__ import annotations

from typing import List, Optional

from ..controller import build, events, host, static, status, teardown
from ..controller.status import known_labs
from ..errors import NotFound, Refused, VpclabError
from . import catalog, grader, labname, hints
from .catalog import Exercise

EXERCISE_KEY = "exercise"
HINTS_KEY = "exercise_hints"


def _get(lab: str, key: str, default=None):
    return status.read_note(lab, key, default)


def _put(lab: str, key: str, value) -> None:
    status.write_note(lab, key, value)


def running(ex: Exercise, name: Optional[str] = None) -> List[str]:
    """The running labs of this exercise (the one named, or every one)."""
    out = []
    for lab in known_labs():
        if name is not None and lab != name:
            continue
        try:
            if (_get(lab, EXERCISE_KEY) or {}).get("slug") == ex.slug:
                out.append(lab)
        except VpclabError:
            continue  # removed meanwhile
    return out


def listing() -> List[dict]:
    rows = []
    for ex in catalog.all_exercises():
        labs = running(ex)
        rows.append({"number": ex.number, "name": ex.slug, "title": ex.title, "running": bool(labs), "labs": labs,
                     "items": len(ex.items), "guide": str(ex.guide)})
    return rows


def start(ex: Exercise, name: Optional[str] = None, progress=None) -> dict:
    lab = ex.default_lab if name is None else name  # an empty name is refused, never exNN
    status.check_lab(lab)  # refuses a name that is not a lab name
    host.require_root("lab start")
    if lab in known_labs():
        raise Refused(f"lab {lab} is already running", code="UnsupportedOperation.ExerciseRunning",
                      hint=f"`vpclab lab check {ex.number} -l {lab}` grades it, `vpclab lab reset {ex.number} -l {lab}` "
                           "rebuilds it")
    # Marked first: a start that is interrupted half-way is still this exercise's lab,
    # which `lab reset` rebuilds (and `down`/`cleanup` remove).
    _put(lab, EXERCISE_KEY, {"slug": ex.slug, "number": ex.number})
    model = static.validate(str(ex.start))
    model.name = lab  # the exercise's start file under the lab's name, relabelled in memory
    report = build.up(str(ex.start), progress=progress, model=model)
    return {"exercise": ex.number, "name": ex.slug, "lab": lab, "title": ex.title, "task": labname.for_lab(ex.task, lab),
            "guide": str(ex.guide), "warnings": report.warnings}


def reset(ex: Exercise, name: Optional[str] = None, progress=None) -> dict:
    lab = ex.default_lab if name is None else name  # an empty name is refused, never exNN
    if lab in known_labs():
        _require_exercise(ex, lab)
        teardown.down(lab)
    return start(ex, lab, progress)


def _require_exercise(ex: Exercise, lab: str) -> None:
    got = (_get(lab, EXERCISE_KEY) or {}).get("slug")
    if got != ex.slug:
        raise Refused(f"lab {lab} is not exercise {ex.number}" + (f" (it is {got})" if got else ""),
                      code="InvalidParameter.ExerciseMismatch",
                      hint=f"name exercise {ex.number}'s lab with -l, or start it under a name of your own: "
                           f"`vpclab lab start {ex.number} -l NAME`")


def live_lab(ex: Exercise, name: Optional[str] = None) -> str:
    """The running lab of `ex`: the one named, `exNN`, or the only run of it."""
    if name is None and ex.default_lab not in known_labs():
        runs = running(ex)
        name = runs[0] if len(runs) == 1 else None
    lab = ex.default_lab if name is None else name  # an empty name is refused, never exNN
    if lab not in known_labs():
        raise NotFound(f"exercise {ex.number} is not started (no lab {lab})", code="ExerciseNotStarted",
                       hint=f"start it with `vpclab lab start {ex.number} -l {lab}`")
    _require_exercise(ex, lab)
    return lab


def check(ex: Exercise, name: Optional[str] = None, with_hints: bool = True) -> dict:
    """The checklist; `with_hints` False: exam mode, pass or fail per item and nothing more.
    Logged (`lab check NN`, how many hold, the failing items) for the teacher's `vpclab events`."""
    lab = live_lab(ex, name)
    ex = labname.named(ex, lab)  # its hints' commands name this lab
    results = grader.grade(ex, lab)
    passed = sum(r.ok for r in results)
    failing = [r.item.id for r in results if not r.ok]
    events.log(lab, f"lab check {ex.number}", None, "solved" if not failing else f"{passed} of {len(results)} hold",
               ("failing: " + ", ".join(failing) if failing else "") + ("" if with_hints else " (exam: no hints)"))
    doc = {"exercise": ex.number, "name": ex.slug, "lab": lab, "title": ex.title, "passed": passed,
           "failed": len(results) - passed, "items": [r.to_json(with_hints) for r in results]}
    if not with_hints:
        doc["exam"] = True
    return doc


def hint(ex: Exercise, name: Optional[str] = None) -> dict:
    """The next hint for the first failing item: each call shows the next of its hints."""
    lab = live_lab(ex, name)
    ex = labname.named(ex, lab)  # its hints' commands name this lab
    failing = grader.first_failing(grader.grade(ex, lab))
    if failing is None:
        return {"exercise": ex.number, "lab": lab, "item": None, "hint": None, "solved": True}
    shown = _get(lab, HINTS_KEY) or {}
    n = shown.get(failing.item.id, 0)
    shown[failing.item.id] = n + 1
    _put(lab, HINTS_KEY, shown)
    # among the hints that hold in the lab's current state (hints.py)
    text, number, of = hints.nth(failing.item.hints, failing.item.whens, failing.facts, failing.got, n)
    return {"exercise": ex.number, "lab": lab, "item": failing.item.id, "title": failing.item.title,
            "got": failing.got, "hint": text, "number": number, "of": of, "solved": False}
