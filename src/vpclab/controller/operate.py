"""The live operations on a running lab, declared once in one table: `OPERATIONS`.

Each operation has a name (the command's words and the action its events log: "peering
accept", "sg rule add"), its parameters, its model edit (model/lifecycle.py,
model/filter_ops.py), what its event names, and its plan scope. The one entry is
`run(lab, NAME, *args, **kw)`, which the CLI, the Python API and the web view all call
(`peering_create`, `route_add`, ... below are `run` under the operation's name):

1. every argument is checked (`check_args`): a wrong type is refused before anything runs;
2. under the lab's lock, the model edit runs in one state transaction (refused with the
   cloud's code, changing nothing, and logged either way in `events`);
3. the edit marks a `ready` lab `applying` and records the operation (key `pending`) in the
   same transaction; the kernel apply that follows ends with `ready` again. A lab left
   `applying` (a predecessor killed in between) is finished first (controller/settle.py);
4. only the difference is applied to the kernel. When the kernel is known to hold the model
   as it was before (the last command finished its apply), an operation with a plan scope
   plans that part alone before and after (a group or ACL change: its VPC's nftables
   tables), any other plan(before) -> plan(after). Otherwise a command died between its
   state write and its apply, and this one repairs the kernel with a full read-back.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

from ..errors import NotFound, Refused, shown
from ..kernel import engine
from ..model import ccn as ccn_model
from ..model import ccn_ops, filter_ops, lifecycle
from ..model.codec import lab_from_dict, lab_to_dict
from ..model.types import Lab
from ..model.units import NumberError, format_duration, parse_whole
from ..plan import ccn as plan_ccn
from ..plan import diff as plandiff
from ..plan import filters as plan_filters
from ..plan import names as plan_names
from ..plan.numbers import table_ids
from ..plan.objects import Route
from ..state import builds, labs
from ..state.store import APPLIED, APPLYING, DELETING, PENDING, READY, Store
from . import build, host, settle

REQUIRED = object()  # a parameter's default: none, the caller must give it

Scope = Callable[[Lab], Optional[list]]


def _requester(model: Lab, result) -> Optional[str]:
    """The account a peering operation acted as without --as: the requester's (CLI.md)."""
    vpc = getattr(result, "vpc", None)
    return model.vpcs[vpc].account if isinstance(vpc, str) and vpc in model.vpcs else None


@dataclass(frozen=True)
class Operation:
    """One live operation (see the module doc)."""

    name: str
    params: Tuple[tuple, ...]  # (name, kind for check_args or None: passed as given[, default]), in call order
    edit: Callable[..., object]  # edit(model, *arguments in `params` order): the model edit
    target: Callable[[dict], Optional[str]]  # what its event names (None: the edit's result names it)
    scope: Optional[Callable[[dict], Scope]] = None  # the plan of the only part it can touch
    actor: Optional[str] = None  # the parameter naming the account it acts as (logged)
    default_actor: Callable[[Lab, object], Optional[str]] = _requester  # logged without one
    may_bill: bool = False  # scoped, yet it can give the lab something to bill: the usage meter is ensured
    refused_actor: Optional[Callable[[Lab, dict], Optional[str]]] = None  # logged with a refusal, without one

    def bind(self, args: tuple, kw: dict) -> Dict[str, object]:
        """The arguments by name, as a Python call binds them (a TypeError as Python's)."""
        names = [p[0] for p in self.params]
        if len(args) > len(names):
            raise TypeError(f"{self.name} takes {len(names)} arguments after the lab, not {len(args)}")
        out = dict(zip(names, args))
        for k, v in kw.items():
            if k not in names or k in out:
                raise TypeError(f"{self.name} got {'an unexpected' if k not in names else 'a second'} argument {k!r}")
            out[k] = v
        for p in self.params:
            if p[0] not in out:
                if len(p) < 3:
                    raise TypeError(f"{self.name} needs the argument {p[0]!r}")
                out[p[0]] = p[2]
        return {n: out[n] for n in names}


# ---- the table ----------------------------------------------------------------------------------


def _arg(name: str) -> Callable[[dict], Optional[str]]:
    return lambda a: a[name]


def _vpc(ref: str) -> Scope:
    """The scope of a change to `ref` (VPC/NAME): the plan of that VPC's nftables tables; None
    (the whole lab is planned) for a VPC the lab does not have (the change refuses it)."""
    vpc = ref.split("/")[0] if ref.count("/") == 1 else None

    def part(model):
        return plan_filters.vpc_rulesets(model, vpc) if vpc in model.vpcs else None
    return part


def _vpc_of(name: str) -> Callable[[dict], Scope]:
    """A group or ACL change touches only its own VPC's tables: a group names only groups of its
    own VPC, an ACL binds only its VPC's subnets. (An EIP also changes routes, rules and the
    Internet's namespace: it has no scope.)"""
    return lambda a: _vpc(a[name])


def _port(port):
    """A port as the CLI or a caller gives it: a number, "A-B", "all" or None (checked by the rules).

    A string of digits becomes its number through the one bounded parser; one it refuses (5,000
    digits) is left as text, which the rules refuse as they refuse it in a file."""
    if isinstance(port, str) and port.strip().isdigit():
        try:
            return parse_whole(port.strip())
        except NumberError:
            return port
    return port


def _rule(edit, adding: bool):
    """A rule edit of a group or an ACL; `peer` is the rule's source (ingress, inbound) or
    destination (egress, outbound)."""
    return lambda m, ref, direction, index, proto, port, peer, rule_action: edit(
        m, ref, direction, adding, index, proto, _port(port), peer, rule_action)


def _event(event: str):
    return lambda m, pid, account: lifecycle.apply_event(m, pid, event, account)


def _by_event(event: str):
    """Who a peering event acts as without --as: the side whose step it is (lifecycle)."""
    return lambda m, p: lifecycle.default_account(m, p, event) if p is not None else None


def _route(a: dict) -> str:
    return f"{a['vpc']}/{a['table']} {a['destination']}"


def _ccn_part(model: Lab) -> list:
    """Every kernel object a CCN decides: its routers, links and caps, the routes it delivers, the
    VPCs' CCN ingress tables (plan/ccn.py), and each route whose next hop is neither a peering
    nor a NAT gateway of its VPC (a USER_CCN route, or a blackhole), as the planner makes them.
    Planned for every CCN: a lab has a few. Nothing else in a lab follows from a CCN."""
    out = plan_ccn.objects(model, build.wants_delay(model) and build.netem_available())
    for vpc in model.vpcs.values():
        for tname, tid in table_ids(vpc).items():
            for r in vpc.route_tables[tname].routes:
                if r.next_hop in model.peerings or r.next_hop in vpc.nat_gateways:
                    continue
                out.append(plan_ccn.user_route(model, vpc, tid, r) or Route(
                    plan_names.vpc_ns(model.name, vpc.name), tid, str(r.destination), type="blackhole"))
    return out


def _ccn_scope(_args: dict) -> Scope:
    """A CCN operation touches only what CCNs decide (`_ccn_part`): the routers of the VPCs whose
    routes change, the CCN's routers; never a filter, a peering or an instance."""
    return _ccn_part


def _ccn_owner(model: Lab, result) -> Optional[str]:
    """Who a CCN operation acts as without --as: the CCN's owner (the VPC's account for attach
    and detach, `_requester`)."""
    if isinstance(result, ccn_model.Ccn):
        return result.account
    for c in ccn_model.ccns(model).values():
        if c.name == getattr(result, "ccn", None) or any(a is result for a in c.attachments):
            return c.account
    return None


def _ccn_entitled(vpc_side: bool = False) -> Callable[[Lab, dict], Optional[str]]:
    """Who a refused CCN operation acted as without --as: the CCN's owner (the VPC's for attach and
    detach), when the names exist."""
    def actor(model: Lab, a: dict) -> Optional[str]:
        if vpc_side and a.get("vpc") in model.vpcs:
            return model.vpcs[a["vpc"]].account
        c = ccn_model.ccns(model).get(a.get("ccn") or "")
        return c.account if c is not None else (model.accounts[0] if "ccn" not in a else None)
    return actor


def _ccn(name: str, params: tuple, edit, target, vpc_side: bool = False, may_bill: bool = False) -> "Operation":
    """A CCN row: scoped to what CCNs decide, acting as --as or the entitled account (the CCN's
    owner; the VPC's for attach and detach, `vpc_side`), logged with it, refused or not."""
    return Operation(name, params, edit, target, _ccn_scope, actor="account",
                     default_actor=_requester if vpc_side else _ccn_owner, may_bill=may_bill,
                     refused_actor=_ccn_entitled(vpc_side))


def _ccn_pair(a: dict) -> str:
    return f"{a['ccn']} {a['vpc']}"


_PEERING = (("pid", "str"), ("account", "str?", None))
_CCN_VPC = (("ccn", "str"), ("vpc", "str"), ("account", "str?", None))
_CCN_ROUTE = (("ccn", "str"), ("route", "str"), ("account", "str?", None))
_RULE = (("ref", "str"), ("direction", "str"), ("index", "int?", None), ("proto", "str?", None),
         ("port", None, None), ("peer", "str?", None), ("rule_action", "str?", None))
_ATTACH, _BIND = (("instance", "str"), ("group", "str")), (("acl", "str"), ("subnet", "str"))
_EIP = (("instance", "str"), ("address", "str?", None))
_PAIR = {"instance": lambda a: f"{a['instance']} {a['group']}", "acl": lambda a: f"{a['acl']} {a['subnet']}"}

OPERATIONS: Dict[str, Operation] = {op.name: op for op in (
    Operation("peering create", (("vpc", "str"), ("peer_vpc", "str"), ("bandwidth_kbps", "int?", None),
                                 ("name", "str?", None), ("account", "str?", None)),
              lifecycle.create, _arg("name"), actor="account"),
    Operation("peering accept", _PEERING, _event("accept"), _arg("pid"), actor="account",
              default_actor=_by_event("accept")),
    Operation("peering reject", _PEERING, _event("reject"), _arg("pid"), actor="account",
              default_actor=_by_event("reject")),
    Operation("peering delete", _PEERING, _event("delete"), _arg("pid"), actor="account",
              default_actor=_by_event("delete")),
    Operation("peering modify", (("pid", "str"), ("bandwidth_kbps", "int?"), ("account", "str?", None)),
              lifecycle.modify, _arg("pid"), actor="account"),
    Operation("route add", (("vpc", "str"), ("destination", "str"), ("next_hop", "str"), ("table", "str", "default")),
              lifecycle.add_route, _route),
    Operation("route del", (("vpc", "str"), ("destination", "str"), ("next_hop", "str?", None),
                            ("table", "str", "default")), lifecycle.del_route, _route),
    Operation("clock advance", (("seconds", "number"),), lifecycle.advance_clock,
              lambda a: format_duration(a["seconds"])),
    Operation("sg rule add", _RULE, _rule(filter_ops.sg_rule, True), _arg("ref"), _vpc_of("ref")),
    Operation("sg rule del", _RULE, _rule(filter_ops.sg_rule, False), _arg("ref"), _vpc_of("ref")),
    Operation("acl rule add", _RULE, _rule(filter_ops.acl_rule, True), _arg("ref"), _vpc_of("ref")),
    Operation("acl rule del", _RULE, _rule(filter_ops.acl_rule, False), _arg("ref"), _vpc_of("ref")),
    Operation("sg attach", _ATTACH, filter_ops.sg_attach, _PAIR["instance"], _vpc_of("instance")),
    Operation("sg detach", _ATTACH, filter_ops.sg_detach, _PAIR["instance"], _vpc_of("instance")),
    Operation("acl bind", _BIND, filter_ops.acl_bind, _PAIR["acl"], _vpc_of("acl")),
    Operation("acl unbind", _BIND, filter_ops.acl_unbind, _PAIR["acl"], _vpc_of("acl")),
    Operation("eip associate", _EIP, filter_ops.eip_associate, _arg("instance")),
    Operation("eip disassociate", _EIP, filter_ops.eip_disassociate, _arg("instance")),
    # version 3: the Cloud Connect Network (model/ccn_ops.py)
    _ccn("ccn create", (("name", "str?", None), ("account", "str?", None)), ccn_ops.create, _arg("name")),
    _ccn("ccn delete", (("ccn", "str"), ("account", "str?", None)), ccn_ops.delete, _arg("ccn")),
    _ccn("ccn attach", _CCN_VPC + (("publish", "str", ccn_model.SUBNETS),), ccn_ops.attach, _ccn_pair,
         vpc_side=True, may_bill=True),
    _ccn("ccn detach", _CCN_VPC, ccn_ops.detach, _ccn_pair, vpc_side=True),
    _ccn("ccn accept", _CCN_VPC, ccn_ops.accept, _ccn_pair, may_bill=True),
    _ccn("ccn reject", _CCN_VPC, ccn_ops.reject, _ccn_pair),
    _ccn("ccn route enable", _CCN_ROUTE, ccn_ops.enable_route, lambda a: f"{a['ccn']} {a['route']}"),
    _ccn("ccn route disable", _CCN_ROUTE, ccn_ops.disable_route, lambda a: f"{a['ccn']} {a['route']}"),
    _ccn("ccn bandwidth", (("ccn", "str"), ("region", "str"), ("dst_region", "str"), ("bandwidth_kbps", "int?"),
                           ("account", "str?", None)),
         ccn_ops.set_bandwidth, lambda a: f"{a['ccn']} {a['region']}/{a['dst_region']}"),
)}


# ---- the one entry ------------------------------------------------------------------------------


def run(lab: Optional[str], name: str, *args, progress=None, **kw):
    """Run the live operation `name` (a key of OPERATIONS) on `lab` (None: the only lab running);
    its arguments after the lab in the table's order, or by name. Returns what the model edit
    returns (a Peering, a Route, a FilterChange, the peerings a clock advance expired)."""
    op = OPERATIONS.get(name) if isinstance(name, str) else None
    if op is None:
        raise Refused(f"no live operation {shown(name, as_repr=True)}", code="InvalidParameterValue",
                      hint="one of: " + ", ".join(OPERATIONS))
    values = op.bind(args, kw)
    check_args(lab=(lab, "str?"), **{p[0]: (values[p[0]], p[1]) for p in op.params if p[1] is not None})
    return execute(lab, op, values, progress)


def _named(name: str):
    """`run` under the operation's name: the Python name of a live operation."""
    def call(lab, *args, **kw):
        return run(lab, name, *args, **kw)
    call.__name__ = call.__qualname__ = name.replace(" ", "_")
    call.__doc__ = f"run(lab, {name!r}, {', '.join(p[0] for p in OPERATIONS[name].params)})"
    return call


peering_create = _named("peering create")
peering_modify = _named("peering modify")
route_add = _named("route add")
route_del = _named("route del")
clock_advance = _named("clock advance")


def peering_event(lab, event: str, pid: str, account=None):
    """`peering accept|reject|delete` with the event as an argument (the CLI's, the web view's)."""
    check_args(lab=(lab, "str?"), event=(event, ("accept", "reject", "delete")))
    return run(lab, f"peering {event}", pid, account)


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


# ---- running one -----------------------------------------------------------------------------------


def execute(lab: Optional[str], op: Operation, args: Dict[str, object], progress=None):
    """Run `op` with its checked arguments: the model edit in one transaction, then the difference
    applied (see the module doc). A refusal changes nothing and is still logged."""
    host.require_root(op.name.split()[0])
    name = labs.resolve_lab(lab)
    store = Store(name)
    target, actor = op.target(args), args[op.actor] if op.actor else None
    scope = op.scope(args) if op.scope is not None else None
    with store.lock():
        if not store.exists():  # removed by `down` while this command waited for the lock
            raise NotFound(f"lab '{name}' is not running", code="LabNotFound")
        st = labs.stored_status(store)
        if st == DELETING:
            raise NotFound(f"lab '{name}' is half removed: a `vpclab down` of it was interrupted",
                           code="LabNotFound", hint=f"`vpclab down {name}` or `vpclab cleanup {name}` finishes it")
        if st == APPLYING:  # the last operation was killed before the kernel held it: finish it first
            settle.finish_pending(store, progress)
        before = part = None
        try:
            with store.tx() as tx:
                model = tx.model()
                applied = tx.text(APPLIED)  # the kernel holds the model iff the two texts are one
                if applied is not None and applied == tx.text("model"):
                    part = _part(scope, model)
                    if part is None:
                        before = lab_from_dict(json.loads(applied))
                result = op.edit(model, *args.values())
                text = json.dumps(lab_to_dict(model))
                tx.put_text("model", text)
                what = target if target else _target(result)
                if tx.status == READY:  # `building` stays so: `up` has yet to finish
                    tx.set_status(APPLYING)
                tx.put(PENDING, {"action": op.name, "target": what})
                tx.event(model.clock, actor or op.default_actor(model, result), op.name, what, "ok", _detail(result))
        except Refused as e:
            with store.tx() as tx:
                m = tx.model()
                who = actor or (op.refused_actor(m, args) if op.refused_actor is not None
                                else op.default_actor(m, m.peerings.get(target or "")))
                tx.event(m.clock, who, op.name, target, f"refused: {e.code}", e.message)
            raise
        settle.test_hook("state-written")
        with builds.building(name, store.run):
            if part is not None:  # the part before and after; the rest of the lab cannot have changed
                engine.apply(plandiff.diff(scope(model), part), progress=progress,
                             context=engine.Context(name, store.dir, (), full=False))
            else:
                build.reconcile(model, store, progress, before=before)
        with store.tx() as tx:
            tx.put_text(APPLIED, text)
            if tx.status == APPLYING:
                tx.set_status(READY)
            tx.put(PENDING, None)
        if part is None or op.may_bill:
            build.meter(model, store)  # a lab's first peering (or CCN across regions) may be made live
    return result


def _part(scope: Optional[Scope], model: Lab) -> Optional[list]:
    """scope(model), or None (the whole lab is planned) when there is no scope or it cannot tell:
    a name the change is about to refuse."""
    if scope is None:
        return None
    try:
        return scope(model)
    except Refused:
        return None


def _target(result) -> Optional[str]:
    return getattr(result, "name", None) or (str(result.destination) if hasattr(result, "destination") else None)


def _detail(result) -> Optional[str]:
    if hasattr(result, "state"):
        return result.state
    if isinstance(result, ccn_model.CcnRoute):  # ccn route enable|disable
        return "enabled" if result.enabled else f"disabled ({result.why})"
    if isinstance(result, list):
        return ", ".join(p.name for p in result) or None
    return None
