"""A live operation killed between its state write and its kernel apply, finished before anyone reads.

A live operation (controller/operate.py) marks the lab `applying` in the transaction of its
model edit, and `ready` once the kernel holds it. One killed in between is finished by the
next command that reads the lab (`settled_read`: status, ls, probe, explain, usage, the next
live operation...) before it answers, with a full read-back and diff, as `up` repairs a
killed build. So no command shows a change the kernel does not hold.
"""
from __future__ import annotations

import json
import os
import signal

from ..errors import VpclabError
from ..model.codec import BadModel, lab_from_dict
from ..model.types import Lab
from ..state import builds
from ..state.store import APPLIED, APPLYING, PENDING, READY, Store
from . import build

# Test hook (fault injection; tests/kernel/controller/test_crash_live_ops.py, bench/crash_soak.py):
# VPCLAB_TEST_HOOK=state-written:kill makes a live operation SIGKILL itself right after
# its state write and before its kernel apply; `state-written:stop` SIGSTOPs it there (the
# caller then kills or continues it). Unset, it costs one environment lookup.
TEST_HOOK = "VPCLAB_TEST_HOOK"


def test_hook(point: str) -> None:
    want = os.environ.get(TEST_HOOK)
    if want and want.partition(":")[0] == point:
        os.kill(os.getpid(), signal.SIGSTOP if want.partition(":")[2] == "stop" else signal.SIGKILL)


def settle(store: Store, progress: build.Progress = None) -> bool:
    """Finish a live operation left `applying` (killed between its state write and its kernel
    apply, or its apply failed) before anyone reads the lab. Under the lab's lock, so one
    still running is waited for; then, if the lab is still `applying`, the kernel is brought
    to the model by a full read-back and diff (as `up` repairs a killed build), and the lab
    is `ready` again, with a `repair` event. False (nothing done) when this thread holds the
    lock itself. A kernel error of the repair is raised; the lab stays `applying`."""
    if store.locked_here():
        return False
    with store.lock():
        if store.exists():  # else removed meanwhile: the caller's read says so
            finish_pending(store, progress)
    return True


def finish_pending(store: Store, progress: build.Progress = None) -> None:
    """`settle`'s work; the caller holds the lock."""
    tx = store.read()
    try:
        model, st = tx.model_and_status()
        pending = tx.get(PENDING) if st == APPLYING else None
    finally:
        tx.close()
    if st != APPLYING:
        return
    with builds.building(store.lab, store.run):
        report = build.reconcile(model, store, progress)  # full read-back: the apply may have begun
    what = pending if isinstance(pending, dict) else {}
    with store.tx() as tx:
        tx.put_text(APPLIED, tx.text("model"))  # the model just applied (the lock is held)
        tx.set_status(READY)
        tx.put(PENDING, None)
        tx.event(model.clock, None, "repair", " ".join(str(what[k]) for k in ("action", "target") if what.get(k)),
                 "ok", f"finished an interrupted operation: {len(report.actions)} kernel actions")
    build.meter(model, store)


def settled_read(store: Store, tolerate: bool = False, required: bool = True):
    """(model, status, pending) of a lab, settled first when it is `applying` (see `settle`).

    `tolerate` (status, ls): when the repair fails, or cannot run here, the answer is the
    lab as the kernel last held it in full (the model before the operation), with status
    `applying` and the operation pending, never the change the kernel may lack. Without
    `required` (ls), (None, None, None) while a first `up` has not written the model."""
    for _ in range(3):  # another operation may be killed between the repair and the read
        tx = store.read()
        try:
            # status and ls show the status, checked; a reader of the model only asks if it is `applying`
            st = tx.status if tolerate else tx.get("status")
            model = tx.model(required=required or st is not None)
            if st != APPLYING:
                return model, st, None
            pending, applied = tx.get(PENDING), tx.text(APPLIED)
        finally:
            tx.close()
        try:
            if settle(store):
                continue
        except VpclabError:
            if not tolerate:
                raise
        if not tolerate:
            return model, st, pending
        try:
            held = lab_from_dict(json.loads(applied)) if applied is not None else model
        except (ValueError, BadModel) as e:
            raise store.damaged(f"its applied model is not valid: {e}")
        return held, st, pending
    return model, st, pending


def load_model(lab: str) -> Lab:
    """The lab's model, checked by the store (a damaged state is a StateError); a live operation
    a kill left `applying` is finished first (`settle`)."""
    return settled_read(Store(lab))[0]
