"""A command the tool prints for an exercise names the lab it was given for (CLI.md v3).

A check file writes `-l LAB` in each command of its task and hints; `lab start`, `lab check`
and `lab hint` print the student's own lab there (`-l st06`), so a command copied from a hint
never acts on somebody else's `ex06` on a shared machine.
"""
from __future__ import annotations

from dataclasses import replace

from .catalog import Exercise

PLACEHOLDER = "-l LAB"


def for_lab(text, lab: str):
    """`text` with each `-l LAB` naming `lab` (None stays None)."""
    return text.replace(PLACEHOLDER, f"-l {lab}") if isinstance(text, str) else text


def named(ex: Exercise, lab: str) -> Exercise:
    """A copy of `ex` whose task and hints name `lab`."""
    items = [replace(i, hints=[for_lab(h, lab) for h in i.hints]) for i in ex.items]
    return replace(ex, task=for_lab(ex.task, lab), items=items)
