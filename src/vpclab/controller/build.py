"""Building a lab: `up`, and `reconcile`, which brings the kernel to a model by a diff.

`up` holds the lab's lock from reading the model to the end of the kernel apply. The
store records the build's two intentions, each one transaction: `begin_build` (the model
to build, status `building`) before the kernel is touched, `finish_build` (the applied
model, status `ready`) after. A command killed between the two is repaired by the next
one (or by `up`), which diffs against the kernel again.
"""
from __future__ import annotations

import contextlib
import gc
import os
from dataclasses import dataclass, field
from typing import Callable, List, Optional

from ..errors import Refused
from ..kernel import engine, features, inspect
from ..model.codes import LAB_RUNNING
from ..model.types import Lab
from ..plan import diff as plandiff
from ..plan.objects import Plan
from ..plan.planner import plan as make_plan
from ..state import builds
from ..state.labs import status_of
from ..state.store import DELETING, Store
from ..topology import billing
from ..topology import load as loader
from ..usage import ccn as ccn_usage, meterctl
from . import host, teardown

Progress = Optional[Callable[[int, int, str], None]]


@dataclass
class ApplyReport:
    lab: str
    actions: List = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    dry_run: bool = False


def netem_available() -> bool:
    return features.netem_available()


def wants_delay(model: Lab) -> bool:
    """Whether any cross-region peering has a latency to apply (only then is netem probed)."""
    return bool(model.latency_ms) and any(
        model.is_cross_region(p) and model.latency_between(model.vpcs[p.vpc].region, model.vpcs[p.peer_vpc].region)
        for p in model.peerings.values())


def desired(model: Lab) -> Plan:
    return make_plan(model, netem=wants_delay(model) and netem_available())


def actual(lab: str, run_dir) -> set:
    return inspect.read_lab(lab, run_dir)


def reconcile(model: Lab, store: Store, progress: Progress = None, dry_run: bool = False,
              before: Optional[Lab] = None) -> ApplyReport:
    """Make the kernel hold exactly what `model` needs; only the difference is applied.

    Without `before`, the difference is taken against what the kernel holds (a
    full read-back: `up`, and repair after a crash). With `before`, the model the
    kernel is known to hold, it is plan(before) -> plan(model): no read-back, so a
    live operation touches and reads only what it changes.
    """
    report = ApplyReport(model.name, dry_run=dry_run)
    want = desired(model)
    have = desired(before).objects if before is not None else actual(model.name, store.dir)
    actions = plandiff.diff(want.objects, have)
    report.actions = actions
    if wants_delay(model) and not netem_available():
        report.warnings.append("this kernel has no netem: cross-region latency is not applied (see `vpclab doctor`)")
    if dry_run:
        return report
    # A full reconcile (no `before`) always asks the services' supervisor too: it checks that
    # every service's namespace is the one it serves (one recreated under the same name is not).
    engine.apply(actions, progress=progress,
                 context=engine.Context(model.name, store.dir, want.objects, full=before is None))
    return report


def up(file: str, dry_run: bool = False, progress: Progress = None, fresh: bool = False,
       source: Optional[str] = None, mark=None, window: Optional[float] = None,
       model: Optional[Lab] = None) -> ApplyReport:
    """Build (or reconcile) the lab of `file`. `fresh`: refuse a lab that already exists
    (UnsupportedOperation.LabRunning) instead of taking it over. `source`: the file to
    record as the lab's topology when `file` is a temporary renamed copy of it. `model`:
    the topology of `file` already loaded (and relabelled: `api.Lab.up`), not read again.

    From its start, a build marks itself (state/builds.py): a neighbour's teardown gives
    way to it (bounded). `mark`: a builds.Marker the caller took earlier (the CLI
    takes it before importing this module). `window`: the usage meter's sample window in
    seconds (`up --window`), over the topology's `billing: window`."""
    with collector_paused():
        if mark is not None:
            return _up(file, dry_run, progress, fresh, source, mark, window, model)
        with builds.marked(dry_run) as mark:
            return _up(file, dry_run, progress, fresh, source, mark, window, model)


@contextlib.contextmanager
def collector_paused():
    """Python's cyclic garbage collector off for the body. A build allocates tens of
    thousands of objects (the model, the plan, the requests) that hold no cycles, and each
    700 allocations started a collection that walked them all: 10-20% of `up`'s own CPU at
    50 VPCs, also in the nft threads. Reference counting still frees everything; cycles made
    meanwhile wait for the next collection after the body."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _up(file: str, dry_run: bool, progress: Progress, fresh: bool, source: Optional[str],
        mark=None, window: Optional[float] = None, model: Optional[Lab] = None) -> ApplyReport:
    if model is None:
        model = loader.load(file)
    if window is not None:  # `up --window`: a lab-only sample window for the usage meter
        model.billing = dict(model.billing or billing.empty())
        model.billing["window_s"] = float(window)
    if source is not None:
        model.source = file = source
    # Stored absolute: `ls` and `status` are read from any directory.
    model.source = os.path.abspath(model.source) if model.source else model.source
    if dry_run and os.geteuid() != 0:
        return _from_nothing(model, "not root: showing the actions for an empty kernel")
    host.require_root("up")
    store = Store(model.name)
    if dry_run:
        if status_of(store) == DELETING:
            return _from_nothing(model, f"lab {model.name} is half removed (an interrupted `vpclab down`): "
                                        "`up` removes it first, then builds it from the file", desired)
        return reconcile(store.same_file(model) or model, store, dry_run=True)
    notes = []
    if mark is not None:
        mark.named(model.name)
    with store.lock():
        if fresh and store.exists():  # checked under the lock: a lab built meanwhile is not taken over
            raise Refused(f"lab {model.name} is already running", code=LAB_RUNNING,
                          hint=f"remove it first (`vpclab down {model.name}`) or choose another lab name")
        if status_of(store) == DELETING:  # a `down` was killed half-way: finish it, then build anew
            teardown.remove_objects(model.name, store, yield_to_builds=False)  # a build never waits for itself
            store.remove()
            notes.append(f"lab {model.name} was half removed (an interrupted `vpclab down`): "
                         f"removed it, then built it from {file}")
        begun = store.begin_build(model, file)
        if begun.live:
            notes.append(f"lab {model.name} keeps its live changes since {file} (see `vpclab events`); "
                         f"`vpclab down {model.name}` first to start again from the file")
        elif not begun.kept and begun.before is not None:
            notes.append(f"lab {model.name} was running from another topology ({begun.before.source}); "
                         f"it now follows {file}, and its live changes are gone")
        model = begun.model  # same file: the live state (accepted peerings, routes, clock) is kept
        report = reconcile(model, store, progress)
        report.warnings[:0] = notes
        store.finish_build(model, file, len(report.actions))
        meter(model, store)
    return report


def meter(model: Lab, store: Store) -> None:
    """The usage meter (`vpclab usage`, usage/meterctl.py) runs while a lab has something
    to bill: a cross-region peering, a CCN across regions, or a `billing:` section. A lab of
    regional peerings alone is free and costs no meter process (its usage says so)."""
    if getattr(model, "billing", None) is not None or any(
            model.is_cross_region(p) for p in model.peerings.values()) or ccn_usage.pairs(model):
        meterctl.ensure(model.name, store.dir)


def _from_nothing(model: Lab, warning: str, planner: Optional[Callable[[Lab], Plan]] = None) -> ApplyReport:
    """A dry run's report: the actions that build `model` on an empty kernel (`planner`: the
    kernel-independent plan unless given)."""
    planner = planner or make_plan
    report = ApplyReport(model.name, dry_run=True)
    report.actions = plandiff.diff(planner(model).objects, [])
    report.warnings.append(warning)
    return report
