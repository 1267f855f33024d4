"""Telling a lab already down from a typo: `vpclab down tow` while `two` runs.

`down` is idempotent: a second `down` of a lab, or a precautionary `down` in a CI
script before its `up`, exits 0. But `down tow` when `two` runs is a typo that,
answered "lab tow is down", leaves `two` running while the student believes it
gone. The rule, for a NAME with no lab (no state, no namespace):

- NAME was removed on this machine since boot (a tombstone under
  /run/vpclab/.gone/, written whenever a lab is removed): already down, exit 0;
- else, a running lab's name is close to NAME (the CLI's usual "did you mean",
  not counting a numbered series: `ci1` is no typo of `ci2`): refused, exit 2,
  LabNotFound with the suggestion;
- else: nothing to remove, exit 0 (a precaution, or a script run twice after a reboot).

Tombstones are empty files; /run is tmpfs, so they go with a reboot, and those
older than a day are pruned when a new one is written.
"""
from __future__ import annotations

import re
import time
from typing import Iterable, Optional

from ..errors import NotFound, did_you_mean, shown
from . import rundir
from .rundir import RunDir

KEEP_S = 24 * 3600


def mark(lab: str, run: Optional[RunDir] = None) -> None:
    """Remember that `lab` was removed (best effort: a tombstone only refines a message)."""
    d = rundir.given(run).gone
    try:
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        (d / lab).touch()
        now = time.time()
        for f in d.iterdir():
            if now - f.stat().st_mtime > KEEP_S:
                f.unlink()
    except OSError:
        pass


def was_removed(lab: str, run: Optional[RunDir] = None) -> bool:
    return (rundir.given(run).gone / lab).is_file()


def _digits_only(a: str, b: str) -> bool:
    """Two names that differ only in their digits (ci1, ci2): a numbered series, not a typo."""
    return a != b and re.sub(r"\d+", "#", a) == re.sub(r"\d+", "#", b)


def close_lab(lab: str, running: Iterable[str]) -> Optional[str]:
    """The 'did you mean' hint naming a running lab close to `lab`, or None."""
    candidates = [r for r in running if not _digits_only(lab, r)]
    return did_you_mean(lab, candidates)


def check_absent(lab: str, running: Iterable[str], run: Optional[RunDir] = None) -> None:
    """`lab` is not running: refuse a likely typo of a running lab (see the module doc)."""
    if was_removed(lab, run):
        return
    hint = close_lab(lab, running)
    if hint:
        raise NotFound(f"no lab '{shown(lab)}' runs: nothing removed", code="LabNotFound", hint=hint)
