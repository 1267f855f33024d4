"""The run directory's reading side: which labs have state, which one a command is about,
its model and its status.

Statuses: those a lab's state holds (store.py: BUILDING, READY, DELETING) and DAMAGED, the
one `ls` and `cleanup` give a lab whose state cannot be read.
"""
from __future__ import annotations

from typing import List, Optional

from ..errors import NotFound, Refused, StateError, did_you_mean, shown
from ..model.types import LAB_NAME, Lab
from . import rundir
from .rundir import RunDir, private
from .store import Store, require_root

DAMAGED = "damaged"


def known_labs(run: Optional[RunDir] = None) -> List[str]:
    """The labs with state in the run dir (a lab seen only in the kernel is not one)."""
    run = rundir.given(run)
    require_root(run)
    if not run.root.is_dir():
        return []
    private(run.root, 0o700)
    return sorted(p.name for p in run.root.iterdir() if LAB_NAME.match(p.name) and (p / "state.db").exists())


def resolve_lab(lab: Optional[str]) -> str:
    """The lab a command is about: `-l LAB`, or the only one running."""
    labs = known_labs()
    if lab is not None:  # an explicit name, even an empty one, is never "the only lab"
        if lab not in labs:
            raise NotFound(f"lab '{shown(lab)}' is not running", code="LabNotFound",
                           hint=did_you_mean(lab, labs) or ("running: " + ", ".join(labs) if labs else
                                                             "start one with `vpclab up FILE`"))
        return lab
    if len(labs) == 1:
        return labs[0]
    if not labs:
        raise NotFound("no lab is running", code="LabNotFound", hint="start one with `vpclab up FILE`")
    raise Refused(f"{len(labs)} labs are running ({', '.join(labs)}): say which with -l LAB",
                  code="InvalidParameter.LabAmbiguous")


def load_model(lab: str) -> Lab:
    """The lab's model, checked by the store (a damaged state is a StateError)."""
    tx = Store(lab).read()
    try:
        return tx.model()
    finally:
        tx.close()


def status_of(store: Store) -> Optional[str]:
    """The lab's status, or DAMAGED when its state (model included) cannot be read; None
    when it has no state."""
    if not store.exists():
        return None
    try:
        tx = store.read()
        try:
            return tx.model_and_status()[1]
        finally:
            tx.close()
    except NotFound:
        return None  # removed meanwhile
    except StateError:
        return DAMAGED


def stored_status(store: Store) -> Optional[str]:
    """The lab's status as stored, without decoding its model (the caller decodes it once)."""
    tx = store.read()
    try:
        return tx.status
    finally:
        tx.close()
