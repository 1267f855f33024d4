"""Removing labs: `down` (one lab), `cleanup` (what crashed or killed commands left).

A removal marks the state `deleting` first, so that a command killed half-way leaves a
lab that `ls` and `status` show as such, `cleanup` removes and `down` or `up` finish;
then it removes the lab's processes and namespaces, then its state and lock.
"""
from __future__ import annotations

import os
import signal
import time
from typing import List, Optional

from ..errors import Refused, StateError
from ..kernel import holders, netns, services
from ..kernel import teardown as kernel_teardown
from ..plan import names
from ..state import builds, gone
from ..state.labs import status_of
from ..state.store import APPLYING, DELETING, READY, Store
from ..usage import meterctl
from . import host


def down(lab: Optional[str], wait: bool = True, typo_check: bool = False) -> dict:
    """Remove every kernel object, process and state file of the lab; fine if already gone.

    With `wait` (the default) it returns once the kernel has destroyed the lab's
    namespaces; without, once they are unnamed (the kernel finishes in the background).
    With `typo_check` (the CLI), a name that is no lab but close to a running one is
    refused (state/gone.py); `already_down` says the lab was not there.
    """
    host.require_root("down")
    if lab is not None and typo_check:
        running = host.running_labs()
        if lab not in running:
            gone.check_absent(lab, running)
    if lab is None:
        running = host.running_labs()
        if len(running) != 1:
            if not running:
                return {"lab": None, "removed": False, "held_by": [], "already_down": True}
            raise Refused(f"{len(running)} labs are running ({', '.join(running)}): say which one",
                          code="InvalidParameter.LabAmbiguous")
        lab = running[0]
    store = Store(lab)  # refuses a name that is not a lab name
    with store.lock():
        removed, held = remove(lab, store, wait)
    return {"lab": lab, "removed": removed, "held_by": held, "already_down": not removed}


def remove(lab: str, store: Store, wait: bool = True):
    """Tear the lab down and delete its state (the caller holds its lock); (anything
    removed, holders) as `remove_objects` gives them.

    The state says `deleting` first: a command killed half-way leaves a lab that
    `ls` and `status` show as such, `cleanup` removes and `down` or `up` finish.
    """
    if store.exists():
        try:
            with store.tx() as tx:
                tx.set_status(DELETING)
        except StateError:
            pass  # a damaged state cannot be marked; it is removed all the same
    removed, held = remove_objects(lab, store, wait)
    store.remove()  # under the lock: a command waiting for it finds no lab, not half of one
    store.forget_lock()
    if removed:
        gone.mark(lab, store.run)  # a second `down` of it is "already down", never taken for a typo
    builds.forget(lab, store.run)
    return removed, held


def remove_objects(lab: str, store: Store, wait: bool = True, yield_to_builds: bool = True):
    """Remove the lab's processes and namespaces; (anything removed, holders).

    Holders (kernel/holders.py) are processes, fds and bind mounts that are not the
    lab's and keep a namespace alive after its name is gone: they are reported, never
    signalled, and the removal does not wait for namespaces they keep. With
    `yield_to_builds` (and `wait`), it gives way to other labs' builds: it starts once
    none runs, and its namespaces go to the kernel between builds (state/builds.py; at
    most builds.yield_seconds() of waiting in all).
    """
    giving = builds.Yield(builds.yield_seconds(), lab, store.run) if yield_to_builds and wait else None
    try:
        if giving is not None:
            giving.wait()  # a build in progress first: this teardown's work would slow it down
        return _remove_now(lab, store, wait, giving)
    finally:
        if giving is not None:
            giving.close()


def _remove_now(lab: str, store: Store, wait: bool, giving):
    services.stop(store.dir)
    meterctl.stop(store.dir)
    prefix = names.lab_prefix(lab)
    mine = kernel_teardown.pids_inside(prefix, lab)
    for pid in mine:  # started with `vpclab exec`: they go with the lab
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 2
    while any(os.path.exists(f"/proc/{pid}/ns/net") for pid in mine) and time.monotonic() < deadline:
        time.sleep(0.01)  # a killed process leaves its namespace when it has exited
    ids = holders.namespace_ids(netns.list_names(prefix))
    held = [dict(vars(h), text=h.describe()) for h in holders.holders(ids)]
    n = kernel_teardown.remove_lab_namespaces(prefix, wait=wait and not held,
                                              busy=giving.busy if giving is not None and not held else None)
    return bool(n) or store.exists(), held


def cleanup(labs: Optional[List[str]] = None) -> dict:
    """Remove labs left by crashed or killed commands: not `ready` (`building`, `deleting`,
    a damaged state, or no state), and nobody holds their lock. An `applying` lab (a live
    operation killed before its kernel apply) is kept: the next command that reads it
    finishes the operation.

    `labs` limits it to those labs (tests, scripts); by default every lab on the host.
    Returns {"removed": [...], "kept": [...] (ready or busy), "absent": [...] (named, but
    no such lab), "held_by": [...] (see `down`)}.
    """
    host.require_root("cleanup")
    present = host.running_labs()
    out = {"removed": [], "kept": [], "absent": [], "held_by": []}
    for lab in labs if labs else present:
        store = Store(lab)  # refuses a name that is not a lab name
        if lab not in present:
            out["absent"].append(lab)
            continue
        if status_of(store) in (READY, APPLYING):
            out["kept"].append(lab)
            continue
        with store.lock(blocking=False) as got:
            if not got or status_of(store) in (READY, APPLYING):
                out["kept"].append(lab)  # a command is working on it, or finished it meanwhile
                continue
            out["held_by"] += remove(lab, store)[1]
        out["removed"].append(lab)
    return out
