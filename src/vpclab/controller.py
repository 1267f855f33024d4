"""The use cases: validate, explain, up, down, status, lifecycle operations, cleanup.

Each function composes the pure core (loader, model, plan, analyze), the state
store and the kernel layer, and returns plain data for `cli` to render. Every
command that changes a lab holds the lab's lock from reading the model to the
end of the kernel apply; the model is written in one transaction first, then
the kernel is reconciled to it by a diff. A live operation marks the lab
`applying` in the transaction of its model edit, and `ready` once the kernel holds
it: one killed between the two is finished by the next command that reads the lab
(`settle`: status, ls, probe, explain, the next live operation...) before it answers,
with a full read-back and diff, as `up` repairs a killed build. So no command shows a
change the kernel does not hold.
The kernel and probe layers are imported only where they are used, so that
`validate`, `explain -f` and `--help` stay fast and need no root; so are the
loader, analyze, the planner and the lifecycle rules, so that `down` (and
every command that needs none of them) starts without importing them.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import os
from dataclasses import dataclass, field
from typing import Callable, List, Optional

from .errors import EnvironmentProblem, NotFound, Refused, StateError, VpclabError, did_you_mean, shown
from .model.filters import INTERNET_PREFIX
from .model.types import Lab
from .model.units import format_duration
from .plan import names
from .plan.objects import Plan
from .store import BadModel, Store, known_labs, lab_from_dict, lab_to_dict

Progress = Optional[Callable[[int, int, str], None]]


# ---- helpers ------------------------------------------------------------------------


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise EnvironmentProblem(f"`vpclab {what}` creates and reads network namespaces: it needs root",
                                 code="NotRoot", hint=f"run it as root, e.g. `sudo vpclab {what} ...`")


def running_labs() -> List[str]:
    """Labs with state, plus labs seen only in the kernel (crashed ones)."""
    from .kernel import inspect

    return sorted(set(known_labs()) | set(inspect.list_labs()))


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
    """The lab's model, checked by the store (a damaged state is a StateError); a live operation
    a kill left `applying` is finished first (`settle`)."""
    return settled_read(Store(lab))[0]


def model_for(lab: Optional[str] = None, file: Optional[str] = None) -> Lab:
    """The model of a topology file (no root needed) or of a running lab."""
    if file and lab:
        raise Refused("say either -f FILE (a topology) or -l LAB (a running lab), not both",
                      code="InvalidParameter")
    if file:
        from . import loader

        return loader.load(file)
    return load_model(resolve_lab(lab))


def digest(model: Lab) -> str:
    d = lab_to_dict(model)
    d.pop("source", None)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()


def netem_available() -> bool:
    from .kernel import features

    return features.netem_available()


# ---- validate / explain ---------------------------------------------------------------


def validate(file: str) -> Lab:
    from . import loader

    return loader.load(file)


def find_ref(model: Lab, ref: str, what: str, allow_ip: bool = False, allow_internet: bool = False):
    if model.instance(ref) is not None:
        return ref
    if allow_ip:
        try:
            ipaddress.IPv4Address(ref)
            return ref
        except ValueError:
            pass
    if allow_internet and model.internet is not None and isinstance(ref, str) and ref.startswith(INTERNET_PREFIX):
        from .loader_v2 import public_ref  # version 2: internet/<host> (explain)

        host = ref[len(INTERNET_PREFIX):]
        if host in model.internet.hosts:
            return ref
        hint = did_you_mean(host, model.internet.hosts)
        raise NotFound(f"{what} {public_ref(model, ref)}", code="InstanceNotFound",
                       hint=hint and hint.replace("mean '", "mean '" + INTERNET_PREFIX))
    raise NotFound(f"{what} '{shown(ref)}' is not an instance of lab {model.name} (use <vpc>/<instance>)",
                   code="InstanceNotFound", hint=did_you_mean(ref, [i.ref for i in model.instances()]))


def check_proto(proto: str, port: Optional[int]) -> None:
    if proto in ("tcp", "udp") and port is None:
        raise Refused(f"--proto {proto} needs --port", code="MissingParameter")
    if proto == "icmp" and port is not None:
        raise Refused("--port goes with --proto tcp or udp", code="InvalidParameter")


def explain(src: str, dst: str, proto: str = "icmp", port: Optional[int] = None, file: Optional[str] = None,
            lab: Optional[str] = None) -> "analyze.Verdict":
    check_proto(proto, port)
    model = model_for(lab, file)
    check_ends(model, src, dst, internet=True)
    from . import analyze

    return analyze.explain(model, src, dst, proto, port)


def check_ends(model: Lab, src: str, dst: str, internet: bool = False) -> None:
    """SRC is an instance, DST an instance or an address, and DST is not SRC itself (probe, explain).
    `internet`: either end may also be `internet/<host>` (explain; probes do not send from or to it yet)."""
    find_ref(model, src, "source", allow_internet=internet)
    find_ref(model, dst, "destination", allow_ip=True, allow_internet=internet)
    from .model import rules

    for v in rules.check_probe_ends(model, src, dst):
        raise Refused(v.message, code=v.code)


# ---- build and reconcile -------------------------------------------------------------------


@dataclass
class ApplyReport:
    lab: str
    actions: List = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    dry_run: bool = False


def wants_delay(model: Lab) -> bool:
    """Whether any cross-region peering has a latency to apply (only then is netem probed)."""
    return bool(model.latency_ms) and any(
        model.is_cross_region(p) and model.latency_between(model.vpcs[p.vpc].region, model.vpcs[p.peer_vpc].region)
        for p in model.peerings.values())


def desired(model: Lab) -> Plan:
    from .plan.planner import plan as make_plan

    return make_plan(model, netem=wants_delay(model) and netem_available())


def actual(lab: str, run_dir) -> set:
    from .kernel import inspect

    return inspect.read_lab(lab, run_dir)


APPLIED = "applied"  # store key: the model the kernel was last brought to in full
DELETING = "deleting"  # store status: `down` or `cleanup` has started to remove the lab
APPLYING = "applying"  # store status: a live operation wrote its model edit; the kernel may not hold it yet
PENDING = "pending"  # store key: that operation ({"action", "target"}), written with the edit; else null

# Test hook (fault injection; tests/kernel/test_crash_live_ops.py, bench/crash_soak.py):
# VPCLAB_TEST_HOOK=state-written:kill makes a live operation SIGKILL itself right after
# its state write and before its kernel apply; `state-written:stop` SIGSTOPs it there (the
# caller then kills or continues it). Unset, it costs one environment lookup.
TEST_HOOK = "VPCLAB_TEST_HOOK"


def _test_hook(point: str) -> None:
    want = os.environ.get(TEST_HOOK)
    if want and want.partition(":")[0] == point:
        import signal

        os.kill(os.getpid(), signal.SIGSTOP if want.partition(":")[2] == "stop" else signal.SIGKILL)


def settle(store: Store, progress: Progress = None) -> bool:
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
            _finish_pending(store, progress)
    return True


def _finish_pending(store: Store, progress: Progress = None) -> None:
    """`settle`'s work; the caller holds the lock."""
    tx = store.read()
    try:
        model, st = tx.model_and_status()
        pending = tx.get(PENDING) if st == APPLYING else None
    finally:
        tx.close()
    if st != APPLYING:
        return
    from . import builds

    with builds.building(store.lab):
        report = reconcile(model, store, progress)  # full read-back: the apply may have begun
    what = pending if isinstance(pending, dict) else {}
    with store.tx() as tx:
        tx.put_text(APPLIED, tx.text("model"))  # the model just applied (the lock is held)
        tx.set_status("ready")
        tx.put(PENDING, None)
        tx.event(model.clock, None, "repair", " ".join(str(what[k]) for k in ("action", "target") if what.get(k)),
                 "ok", f"finished an interrupted operation: {len(report.actions)} kernel actions")
    _meter(model, store)


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


def reconcile(model: Lab, store: Store, progress: Progress = None, dry_run: bool = False,
              before: Optional[Lab] = None) -> ApplyReport:
    """Make the kernel hold exactly what `model` needs; only the difference is applied.

    Without `before`, the difference is taken against what the kernel holds (a
    full read-back: `up`, and repair after a crash). With `before`, the model the
    kernel is known to hold, it is plan(before) -> plan(model): no read-back, so a
    live operation touches and reads only what it changes.
    """
    from .kernel import engine

    report = ApplyReport(model.name, dry_run=dry_run)
    want = desired(model)
    have = desired(before).objects if before is not None else actual(model.name, store.dir)
    from .plan import diff as plandiff

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
       source: Optional[str] = None, mark=None, window: Optional[float] = None) -> ApplyReport:
    """Build (or reconcile) the lab of `file`. `fresh`: refuse a lab that already exists
    (UnsupportedOperation.LabRunning) instead of taking it over. `source`: the file to
    record as the lab's topology when `file` is a temporary renamed copy of it.

    From its start, a build marks itself (builds.py): a neighbour's teardown gives
    way to it (bounded). `mark`: a builds.Marker the caller took earlier (the CLI
    takes it before importing this module). `window`: the usage meter's sample window in
    seconds (`up --window`), over the topology's `billing: window`."""
    if mark is not None:
        return _up(file, dry_run, progress, fresh, source, mark, window)
    from . import builds

    with builds.marked(dry_run) as mark:
        return _up(file, dry_run, progress, fresh, source, mark, window)


def _up(file: str, dry_run: bool, progress: Progress, fresh: bool, source: Optional[str],
        mark=None, window: Optional[float] = None) -> ApplyReport:
    from . import loader

    model = loader.load(file)
    if window is not None:  # `up --window`: a lab-only sample window for the usage meter
        from .usage import prices

        model.billing = dict(model.billing or prices.empty())
        model.billing["window_s"] = float(window)
    if source is not None:
        model.source = file = source
    # Stored absolute: `ls` and `status` are read from any directory.
    model.source = os.path.abspath(model.source) if model.source else model.source
    if dry_run and os.geteuid() != 0:
        return _from_nothing(model, "not root: showing the actions for an empty kernel")
    require_root("up")
    store = Store(model.name)
    if dry_run:
        if _status(store) == DELETING:
            return _from_nothing(model, f"lab {model.name} is half removed (an interrupted `vpclab down`): "
                                        "`up` removes it first, then builds it from the file", desired)
        return reconcile(_current_or(model, store), store, dry_run=True)
    notes = []
    if mark is not None:
        mark.named(model.name)
    with store.lock():
        if fresh and store.exists():  # checked under the lock: a lab built meanwhile is not taken over
            raise Refused(f"lab {model.name} is already running", code="UnsupportedOperation.LabRunning",
                          hint=f"remove it first (`vpclab down {model.name}`) or choose another lab name")
        if _status(store) == DELETING:  # a `down` was killed half-way: finish it, then build anew
            _teardown(model.name, store, yield_to_builds=False)  # this is a build: never wait for itself
            store.remove()
            notes.append(f"lab {model.name} was half removed (an interrupted `vpclab down`): "
                         f"removed it, then built it from {file}")
        with store.tx() as tx:
            old = tx.model(required=False)
            if _same_file(tx, old, model):
                if digest(old) != digest(model):
                    notes.append(f"lab {model.name} keeps its live changes since {file} (see `vpclab events`); "
                                 f"`vpclab down {model.name}` first to start again from the file")
                old.source = model.source  # the path it was built from this time, absolute
                model = old  # same file: keep the live state (accepted peerings, routes, clock)
            else:
                if old is not None:
                    notes.append(f"lab {model.name} was running from another topology ({old.source}); "
                                 f"it now follows {file}, and its live changes are gone")
                tx.put("source_digest", digest(model))
            tx.save_model(model)
            tx.set_status("building")
            tx.event(model.clock, None, "up", file, "started")
        report = reconcile(model, store, progress)
        report.warnings[:0] = notes
        with store.tx() as tx:
            tx.put(APPLIED, lab_to_dict(model))
            tx.set_status("ready")
            tx.put(PENDING, None)  # a live operation a kill left `applying` is in the model just built
            tx.event(model.clock, None, "up", file, "ok", f"{len(report.actions)} actions")
        _meter(model, store)
    return report


def _meter(model: Lab, store: Store) -> None:
    """The usage meter (`vpclab usage`, usage/meterctl.py) runs while a lab has something
    to bill: a cross-region peering, or a `billing:` section. A lab of regional peerings
    alone is free and costs no meter process (its usage says so)."""
    if getattr(model, "billing", None) is not None or any(
            model.is_cross_region(p) for p in model.peerings.values()):
        from .usage import meterctl

        meterctl.ensure(model.name, store.dir)


def _from_nothing(model: Lab, warning: str, planner: Optional[Callable[[Lab], Plan]] = None) -> ApplyReport:
    """A dry run's report: the actions that build `model` on an empty kernel (`planner`: the
    kernel-independent plan unless given)."""
    from .plan import diff as plandiff
    from .plan.planner import plan as make_plan

    planner = planner or make_plan
    report = ApplyReport(model.name, dry_run=True)
    report.actions = plandiff.diff(planner(model).objects, [])
    report.warnings.append(warning)
    return report


def _same_file(tx, old: Optional[Lab], model: Lab) -> bool:
    """The running lab was built from this very topology (its live changes are kept)."""
    return old is not None and tx.get("source_digest") == digest(model)


def _current_or(model: Lab, store: Store) -> Lab:
    """The running lab's model if it came from the same file, else the file's (dry runs)."""
    if store.exists():
        tx = store.read()
        try:
            old = tx.model(required=False)
            if _same_file(tx, old, model):
                return old
        finally:
            tx.close()
    return model


def down(lab: Optional[str], wait: bool = True, typo_check: bool = False) -> dict:
    """Remove every kernel object, process and state file of the lab; fine if already gone.

    With `wait` (the default) it returns once the kernel has destroyed the lab's
    namespaces; without, once they are unnamed (the kernel finishes in the background).
    With `typo_check` (the CLI), a name that is no lab but close to a running one is
    refused (gone.py); `already_down` says the lab was not there.
    """
    from . import gone

    require_root("down")
    if lab is not None and typo_check:
        labs = running_labs()
        if lab not in labs:
            gone.check_absent(lab, labs)
    if lab is None:
        labs = running_labs()
        if len(labs) != 1:
            if not labs:
                return {"lab": None, "removed": False, "held_by": [], "already_down": True}
            raise Refused(f"{len(labs)} labs are running ({', '.join(labs)}): say which one",
                          code="InvalidParameter.LabAmbiguous")
        lab = labs[0]
    store = Store(lab)  # refuses a name that is not a lab name
    with store.lock():
        removed, held = _remove(lab, store, wait)
    return {"lab": lab, "removed": removed, "held_by": held, "already_down": not removed}


def _remove(lab: str, store: Store, wait: bool = True):
    """Tear the lab down and delete its state (the caller holds its lock); (anything
    removed, holders) as `_teardown` gives them.

    The state says `deleting` first: a command killed half-way leaves a lab that
    `ls` and `status` show as such, `cleanup` removes and `down` or `up` finish.
    """
    if store.exists():
        try:
            with store.tx() as tx:
                tx.set_status(DELETING)
        except StateError:
            pass  # a damaged state cannot be marked; it is removed all the same
    from . import gone

    removed, held = _teardown(lab, store, wait)
    store.remove()  # under the lock: a command waiting for it finds no lab, not half of one
    store.forget_lock()
    if removed:
        gone.mark(lab)  # a second `down` of it is "already down", never taken for a typo
    from . import builds

    builds.forget(lab)
    return removed, held


def _teardown(lab: str, store: Store, wait: bool = True, yield_to_builds: bool = True):
    """Remove the lab's processes and namespaces; (anything removed, holders).

    Holders (kernel/holders.py) are processes, fds and bind mounts that are not the
    lab's and keep a namespace alive after its name is gone: they are reported, never
    signalled, and the removal does not wait for namespaces they keep. With
    `yield_to_builds` (and `wait`), it gives way to other labs' builds: it starts once
    none runs, and its namespaces go to the kernel between builds (builds.py; at most
    builds.yield_seconds() of waiting in all).
    """
    from . import builds

    giving = builds.Yield(builds.yield_seconds(), lab) if yield_to_builds and wait else None
    try:
        if giving is not None:
            giving.wait()  # a build in progress first: this teardown's work would slow it down
        return _teardown_now(lab, store, wait, giving)
    finally:
        if giving is not None:
            giving.close()


def _teardown_now(lab: str, store: Store, wait: bool, giving):
    import signal
    import time

    from . import services
    from .kernel import holders, netns, teardown

    from .usage import meterctl

    services.stop(store.dir)
    meterctl.stop(store.dir)
    prefix = names.lab_prefix(lab)
    mine = teardown.pids_inside(prefix, lab)
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
    n = teardown.remove_lab_namespaces(prefix, wait=wait and not held,
                                       busy=giving.busy if giving is not None and not held else None)
    return bool(n) or store.exists(), held


DAMAGED = "damaged"  # the status `ls` and `cleanup` give a lab whose state cannot be read


def _status(store: Store) -> Optional[str]:
    """The lab's status, or DAMAGED when its state (model included) cannot be read."""
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


def cleanup(labs: Optional[List[str]] = None) -> dict:
    """Remove labs left by crashed or killed commands: not `ready` (`building`, `deleting`,
    a damaged state, or no state), and nobody holds their lock. An `applying` lab (a live
    operation killed before its kernel apply) is kept: the next command that reads it
    finishes the operation.

    `labs` limits it to those labs (tests, scripts); by default every lab on the host.
    Returns {"removed": [...], "kept": [...] (ready or busy), "absent": [...] (named, but
    no such lab), "held_by": [...] (see `down`)}.
    """
    require_root("cleanup")
    present = running_labs()
    out = {"removed": [], "kept": [], "absent": [], "held_by": []}
    for lab in labs if labs else present:
        store = Store(lab)  # refuses a name that is not a lab name
        if lab not in present:
            out["absent"].append(lab)
            continue
        if _status(store) in ("ready", APPLYING):
            out["kept"].append(lab)
            continue
        with store.lock(blocking=False) as got:
            if not got or _status(store) in ("ready", APPLYING):
                out["kept"].append(lab)  # a command is working on it, or finished it meanwhile
                continue
            out["held_by"] += _remove(lab, store)[1]
        out["removed"].append(lab)
    return out


# ---- reading a lab ------------------------------------------------------------------------


def peering_rows(model: Lab) -> List[dict]:
    return [{"id": p.name, "vpc": p.vpc, "peer_vpc": p.peer_vpc, "state": p.state,
             "bandwidth_mbps": p.bandwidth_mbps, "created_at": p.created_at, "expires_at": p.expires_at,
             "cross_region": model.is_cross_region(p),
             "created_at_text": format_duration(p.created_at),
             "expires_at_text": format_duration(p.expires_at) if p.expires_at is not None else None}
            for p in model.peerings.values()]


def route_rows(model: Lab, vpc: Optional[str] = None) -> List[dict]:
    from .model import lifecycle

    if vpc is not None:
        lifecycle.find_vpc(model, vpc)
    rows = []
    for v in model.vpcs.values():
        if vpc is not None and v.name != vpc:
            continue
        for t in v.route_tables.values():
            for r in t.routes:
                rows.append({"vpc": v.name, "table": t.name, "destination": str(r.destination),
                             "next_hop": r.next_hop, "state": lifecycle.route_state(model, r)})
    return rows


def status(lab: Optional[str]) -> dict:
    from . import kernelnames

    name = resolve_lab(lab)
    model, st, pending = settled_read(Store(name), tolerate=True)
    doc = {
        "lab": name,
        "status": st,
        "clock": model.clock,
        "source": model.source,
        "vpcs": [{"name": v.name, "account": v.account, "region": v.region, "cidr": str(v.cidr),
                  "namespace": names.vpc_ns(name, v.name),
                  "subnets": [{"name": s.name, "cidr": str(s.cidr), "route_table": s.route_table,
                               "gateway": str(s.gateway)} for s in v.subnets.values()],
                  "instances": [{"name": i.name, "kind": i.kind, "ip": str(i.ip), "subnet": i.subnet,
                                 "port": i.service_port, "namespace": names.instance_ns(name, v.name, i.name)}
                                for i in v.instances.values()]}
                 for v in model.vpcs.values()],
        "peerings": peering_rows(model),
        "routes": route_rows(model),
    }
    # What `ip rule` / `ip route` in the routers call them (kernelnames.py): new keys only.
    for v in doc["vpcs"]:
        kn = kernelnames.subnets(model, v["name"])
        for sub in v["subnets"]:
            sub.update(kn[sub["name"]])
        for i in v["instances"]:
            i["interface"] = names.instance_port(name, i["name"])
    for row in doc["peerings"]:
        row.update(kernelnames.peering(model, model.peerings[row["id"]]))
    if st == APPLYING:  # its repair failed: the model shown is the one before the operation
        doc["pending"] = pending
    from . import filters_view

    return filters_view.extend_status(doc, model)


def ls() -> List[dict]:
    """Every lab with state; a damaged one is listed with status `damaged` and its `error`."""
    out = []
    for name in known_labs():
        try:
            model, st, _ = settled_read(Store(name), tolerate=True, required=False)
        except NotFound:
            continue  # removed meanwhile
        except StateError as e:
            out.append({"lab": name, "vpcs": None, "instances": None, "peerings": None, "status": DAMAGED,
                        "source": None, "error": e.message, "hint": e.hint})
            continue
        if model is None:
            continue  # its first `up` has not written the model yet
        out.append({"lab": name, "vpcs": len(model.vpcs), "instances": len(model.instances()),
                    "peerings": len(model.peerings), "status": st,
                    "source": model.source or None})  # absolute since `up` stores it so
    return out


def events(lab: Optional[str]) -> List[dict]:
    name = resolve_lab(lab)
    tx = Store(name).read()
    try:
        return tx.events()
    finally:
        tx.close()


# ---- live operations ---------------------------------------------------------------------------


def operate(lab: Optional[str], action: str, target: Optional[str], actor: Optional[str],
            change: Callable[[Lab], object], progress: Progress = None,
            default_actor: Optional[Callable[[Lab, object], Optional[str]]] = None,
            scope: Optional[Callable[[Lab], Optional[list]]] = None):
    """Run one lifecycle operation: change the model in one transaction, then apply the difference.

    The model edit marks a `ready` lab `applying` (status) and records the operation
    (key `pending`) in its transaction; the kernel apply that follows ends with `ready`
    again. A lab left `applying` (this command's predecessor was killed in between) is
    finished first (`settle`), as every command that reads the lab does. When the kernel
    is known to hold the model as it was before (the last command finished its apply),
    only plan(before) -> plan(after) is applied; otherwise (a killed `up` left the lab
    `building`) the kernel is repaired with a full read-back. A refusal changes nothing
    and is still logged.
    `default_actor(model, peering)` names the actor logged when `actor` is None
    (default: the requester's account). `scope(model)`: the plan of the only part of
    the lab `change` can touch (a live filter change: one VPC's nftables tables), or
    None when it cannot tell; given, that part alone is planned before and after and
    diffed, instead of the whole lab twice (the model is decoded once).
    """
    require_root(action.split()[0])
    default_actor = default_actor or _default_actor
    name = resolve_lab(lab)
    store = Store(name)
    with store.lock():
        if not store.exists():  # removed by `down` while this command waited for the lock
            raise NotFound(f"lab '{name}' is not running", code="LabNotFound")
        st = _status_only(store)
        if st == DELETING:
            raise NotFound(f"lab '{name}' is half removed: a `vpclab down` of it was interrupted",
                           code="LabNotFound", hint=f"`vpclab down {name}` or `vpclab cleanup {name}` finishes it")
        if st == APPLYING:  # the last operation was killed before the kernel held it: finish it first
            _finish_pending(store, progress)
        before = part = None
        try:
            with store.tx() as tx:
                model = tx.model()
                applied = tx.text(APPLIED)  # the kernel holds the model iff the two texts are one
                if applied is not None and applied == tx.text("model"):
                    part = _part(scope, model)
                    if part is None:
                        before = lab_from_dict(json.loads(applied))
                result = change(model)
                text = json.dumps(lab_to_dict(model))
                tx.put_text("model", text)
                what = target if target else _target(result)
                if tx.status == "ready":  # `building` stays so: `up` has yet to finish
                    tx.set_status(APPLYING)
                tx.put(PENDING, {"action": action, "target": what})
                tx.event(model.clock, actor or default_actor(model, result), action, what, "ok", _detail(result))
        except Refused as e:
            with store.tx() as tx:
                m = tx.model()
                tx.event(m.clock, actor or default_actor(m, m.peerings.get(target or "")), action, target,
                         f"refused: {e.code}", e.message)
            raise
        _test_hook("state-written")
        from . import builds

        with builds.building(name):
            if part is not None:  # the part before and after; the rest of the lab cannot have changed
                from .kernel import engine
                from .plan import diff as plandiff

                engine.apply(plandiff.diff(scope(model), part), progress=progress,
                             context=engine.Context(name, store.dir, (), full=False))
            else:
                reconcile(model, store, progress, before=before)
        with store.tx() as tx:
            tx.put_text(APPLIED, text)
            if tx.status == APPLYING:
                tx.set_status("ready")
            tx.put(PENDING, None)
        if part is None:
            _meter(model, store)  # a lab's first peering may be made live (a scoped change makes none)
    return result


def _part(scope, model: Lab) -> Optional[list]:
    """scope(model), or None (the whole lab is planned) when there is no scope or it cannot tell:
    a name the change is about to refuse."""
    if scope is None:
        return None
    try:
        return scope(model)
    except Refused:
        return None


def _status_only(store: Store) -> Optional[str]:
    """The lab's status as stored, without decoding its model (the caller decodes it once)."""
    tx = store.read()
    try:
        return tx.status
    finally:
        tx.close()


def _default_actor(model: Lab, result) -> Optional[str]:
    """The account a peering operation acted as without --as: the requester's (CLI.md)."""
    vpc = getattr(result, "vpc", None)
    return model.vpcs[vpc].account if isinstance(vpc, str) and vpc in model.vpcs else None


def _target(result) -> Optional[str]:
    return getattr(result, "name", None) or (str(result.destination) if hasattr(result, "destination") else None)


def _detail(result) -> Optional[str]:
    if hasattr(result, "state"):
        return result.state
    if isinstance(result, list):
        return ", ".join(p.name for p in result) or None
    return None


_KINDS = {"str": ((str,), "a string"), "str?": ((str, type(None)), "a string or None"),
          "int?": ((int, type(None)), "an integer or None"), "number": ((int, float), "a finite number")}


def check_args(**args) -> None:
    """Refuse a live operation's argument of the wrong type, before anything else runs.

    Each keyword is name=(value, kind): a kind of _KINDS, or a tuple of the values allowed.
    A Python caller can pass anything: a list where an account belongs must be this
    refusal, never a TypeError from a lookup nor a value SQLite cannot write to the event
    log. bool is no number here, and a float must be finite (a NaN clock never ends).
    """
    for name, (value, kind) in args.items():
        if isinstance(kind, tuple):
            if not (isinstance(value, str) and value in kind):
                raise Refused(f"{name} must be one of {', '.join(kind)}, not {shown(value, as_repr=True)}",
                              code="InvalidParameterValue")
            continue
        types, what = _KINDS[kind]
        if (not isinstance(value, types) or isinstance(value, bool)
                or (isinstance(value, float) and not math.isfinite(value))):
            raise Refused(f"{name} must be {what}, not {shown(value, as_repr=True)}", code="InvalidParameterValue")


def peering_create(lab, vpc, peer_vpc, bandwidth_kbps=None, name=None, account=None):
    from .model import lifecycle

    check_args(lab=(lab, "str?"), vpc=(vpc, "str"), peer_vpc=(peer_vpc, "str"),
               bandwidth_kbps=(bandwidth_kbps, "int?"), name=(name, "str?"), account=(account, "str?"))
    return operate(lab, "peering create", name, account,
                   lambda m: lifecycle.create(m, vpc, peer_vpc, bandwidth_kbps, name, account))


def peering_event(lab, event: str, pid: str, account=None):
    from .model import lifecycle

    check_args(lab=(lab, "str?"), event=(event, ("accept", "reject", "delete")), pid=(pid, "str"),
               account=(account, "str?"))
    return operate(lab, f"peering {event}", pid, account, lambda m: lifecycle.apply_event(m, pid, event, account),
                   default_actor=lambda m, p: lifecycle.default_account(m, p, event) if p is not None else None)


def peering_modify(lab, pid: str, bandwidth_kbps: int, account=None):
    from .model import lifecycle

    check_args(lab=(lab, "str?"), pid=(pid, "str"), bandwidth_kbps=(bandwidth_kbps, "int?"), account=(account, "str?"))
    return operate(lab, "peering modify", pid, account, lambda m: lifecycle.modify(m, pid, bandwidth_kbps, account))


def route_add(lab, vpc, destination, next_hop, table="default"):
    from .model import lifecycle

    check_args(lab=(lab, "str?"), vpc=(vpc, "str"), destination=(destination, "str"), next_hop=(next_hop, "str"),
               table=(table, "str"))
    return operate(lab, "route add", f"{vpc}/{table} {destination}", None,
                   lambda m: lifecycle.add_route(m, vpc, destination, next_hop, table))


def route_del(lab, vpc, destination, next_hop=None, table="default"):
    from .model import lifecycle

    check_args(lab=(lab, "str?"), vpc=(vpc, "str"), destination=(destination, "str"), next_hop=(next_hop, "str?"),
               table=(table, "str"))
    return operate(lab, "route del", f"{vpc}/{table} {destination}", None,
                   lambda m: lifecycle.del_route(m, vpc, destination, next_hop, table))


def clock_advance(lab, seconds: float):
    from .model import lifecycle

    check_args(lab=(lab, "str?"), seconds=(seconds, "number"))
    return operate(lab, "clock advance", format_duration(seconds), None,
                   lambda m: lifecycle.advance_clock(m, seconds))


# ---- exec --------------------------------------------------------------------------------------


def exec_in(ref: str, argv: List[str], lab: Optional[str] = None):
    """Replace this process with `argv` inside the instance's (or VPC router's) namespace."""
    check_command(argv)
    require_root("exec")
    name = resolve_lab(lab)
    model = load_model(name)
    if "/" in ref:
        find_ref(model, ref, "instance")
        vpc, _, inst = ref.partition("/")
        ns, hostname = names.instance_ns(name, vpc, inst), f"{inst}.{vpc}"
    elif ref in model.vpcs:
        ns, hostname = names.vpc_ns(name, ref), ref
    else:
        refs = [i.ref for i in model.instances()] + list(model.vpcs)
        raise NotFound(f"'{shown(ref)}' is neither an instance (<vpc>/<instance>) nor a VPC of lab {name}",
                       code="InstanceNotFound", hint=did_you_mean(ref, refs))
    from .kernel import netns

    try:
        netns.enter(ns)
    except FileNotFoundError:
        raise NotFound(f"namespace {ns} of lab {name} is missing", code="ResourceNotFound",
                       hint="`vpclab up FILE` rebuilds what is missing")
    netns.private_sysfs()
    from .nsenter import own_hostname

    own_hostname(hostname)  # its own UTS namespace: `hostname` and a shell's prompt say cvm-1.vpc-a
    env = dict(os.environ, VPCLAB_LAB=name)  # the mark by which `down` knows the process is the lab's
    try:
        os.execvpe(argv[0], argv, env)
    except FileNotFoundError:
        raise EnvironmentProblem(f"command not found: {shown(argv[0])}", code="ToolMissing",
                                 hint="install it, e.g. `apt-get install iputils-ping iperf3 netcat-openbsd`")
    except OSError as e:
        raise Refused(f"cannot run {shown(argv[0])}: {e.strerror}", code="InvalidParameter")


def check_command(argv: List[str]) -> None:
    """What `exec` runs: a command name, and no argument the kernel cannot pass (a NUL)."""
    if not argv:
        raise Refused("nothing to run: vpclab exec INSTANCE -- CMD ...", code="MissingParameter")
    if not argv[0]:
        raise Refused("the command to run is empty: vpclab exec INSTANCE -- CMD ...", code="InvalidParameterValue")
    bad = next((a for a in argv if "\0" in a), None)
    if bad is not None:
        raise Refused(f"an argument holds a NUL character, which no command can receive: {shown(bad)}",
                      code="InvalidParameterValue")


def doctor() -> List[tuple]:
    """[(check, ok, what degrades without it)]: kernel features, tools, privileges."""
    from .kernel import features

    return features.detect()
