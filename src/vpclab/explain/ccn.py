"""The CCN part of the route walk (CLOUD-RULES.md version 3), called from explain/routes.py.

A VPC's route table holds, beside its own routes, the routes its CCN delivers enabled
(`table_routes`). A packet that takes one goes to the CCN, which forwards it by its own enabled
routes (longest prefix) to the attachment that published the route, in the region pair the
path names (`ccn-core (ap-guangzhou -> ap-shanghai)`). There it is delivered to that VPC's own
subnets only: the CCN carries no peering traffic, and a peering carries no CCN traffic.

Reasons: CCN_ROUTE_DISABLED (the route that would carry the packet is disabled: which one, in
the CCN or in which table), CCN_ATTACHMENT_NOT_ACTIVE (an end's attachment is PENDING, REJECTED
or EXPIRED), NOT_TRANSITIVE (into a VPC over the CCN, out over a peering, or the reverse),
NO_ROUTE otherwise.
"""
from __future__ import annotations

import ipaddress
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Tuple

from ..model import ccn as model
from ..model.types import ACTIVE, Lab, Route, Vpc
from .verdict import CCN_ATTACHMENT_NOT_ACTIVE, CCN_ROUTE_DISABLED, NO_ROUTE, NOT_TRANSITIVE, Reason

_CACHE: Dict[int, dict] = {}  # id(lab) -> {ccn name: its routes, (vpc, table): delivered}, while cached(lab)


@contextmanager
def cached(lab: Lab) -> Iterator[None]:
    """Many explains of one unchanging lab compute each CCN's routes once (re-entrant)."""
    if id(lab) in _CACHE:
        yield
        return
    _CACHE[id(lab)] = {}
    try:
        yield
    finally:
        del _CACHE[id(lab)]


def ccn_routes(lab: Lab, c: model.Ccn) -> List[model.CcnRoute]:
    memo = _CACHE.get(id(lab))
    if memo is None:
        return model.routes(lab, c)
    if c.name not in memo:
        memo[c.name] = model.routes(lab, c)
    return memo[c.name]


def delivered(lab: Lab, vpc: Vpc, table: str) -> List[model.Delivered]:
    if not model.ccns(lab):
        return []
    memo = _CACHE.get(id(lab))
    if memo is not None and (vpc.name, table) in memo:
        return memo[(vpc.name, table)]
    mine = model.ccn_of(lab, vpc.name)
    got = model.delivered(lab, vpc, table, ccn_routes(lab, mine[0])) if mine else []
    if memo is not None:
        memo[(vpc.name, table)] = got
    return got


def table_routes(lab: Optional[Lab], vpc: Vpc, table: str) -> List[Route]:
    """The enabled routes the CCN delivers into `vpc`'s `table`, as routes whose next hop is the CCN."""
    if lab is None:
        return []
    return [Route(d.destination, d.route.ccn) for d in delivered(lab, vpc, table) if d.enabled]


def named(lab: Lab, hop: str) -> Optional[model.Ccn]:
    return model.ccns(lab).get(hop)


def hop(c: model.Ccn, src: Vpc, dst: Vpc) -> str:
    """The path's element for the CCN: its name and the region pair it carries the packet between."""
    return f"{c.name} ({src.region} -> {dst.region})"


def _state(c: model.Ccn, vpc: str) -> str:
    a = c.attachment(vpc)
    return a.state if a is not None else "not attached"


def walk(lab: Lab, vpc: Vpc, c: model.Ccn, dst, path: List[str]) -> Tuple[bool, List[str], Optional[Vpc],
                                                                            Optional[Reason]]:
    """From `vpc`, whose route for `dst` names CCN `c`: (delivered?, path, where it ended, reason)."""
    if _state(c, vpc.name) != ACTIVE:  # a USER_CCN route of a VPC whose attachment is not ACTIVE
        return False, path, vpc, Reason(CCN_ATTACHMENT_NOT_ACTIVE, c.name, None, (
            f"{vpc.name}'s attachment to {c.name} is {_state(c, vpc.name)}: the CCN carries nothing for it"))
    rs = ccn_routes(lab, c)
    r = model.effective(rs, dst)
    if r is None or r.vpc == vpc.name:
        return False, path + [c.name], vpc, stuck(lab, c, rs, dst, vpc, None)
    far = lab.vpcs[r.vpc]
    path = path + [hop(c, vpc, far), far.name]
    if far.subnet_of(dst) is not None:
        return True, path, far, None
    better = _disabled_for(rs, dst, r)
    if better is not None:
        return False, path, far, Reason(CCN_ROUTE_DISABLED, c.name, None, (
            f"{c.name} carries {dst} to {far.name} by {r.key}, which holds no subnet for it; route {better.key} "
            f"({better.id}), which would carry it to {better.vpc}, is disabled ({better.why})"))
    peering = _peering_for(lab, far, dst)
    if peering is not None:
        return False, path, far, Reason(NOT_TRANSITIVE, far.name, "ccn-ingress", (
            f"{dst} is not in {far.name}'s subnets; traffic from {c.name} is delivered only inside {far.name}, "
            f"never over {peering} (the CCN does not carry peering traffic)"))
    return False, path, far, Reason(NO_ROUTE, far.name, "ccn-ingress", (
        f"{c.name} carries {dst} to {far.name} by {r.key}, but {dst} is in none of {far.name}'s subnets"))


def _disabled_for(rs, dst, than: Optional[model.CcnRoute] = None) -> Optional[model.CcnRoute]:
    """The most specific disabled route holding `dst`, more specific than `than` (if given)."""
    best = None
    for r in rs:
        if not r.enabled and dst in r.destination and (than is None or r.destination.prefixlen >
                                                       than.destination.prefixlen):
            if best is None or r.destination.prefixlen > best.destination.prefixlen:
                best = r
    return best


def _peering_for(lab: Lab, vpc: Vpc, dst) -> Optional[str]:
    for p in lab.peerings_of(vpc.name, (ACTIVE,)):
        other = lab.vpcs.get(p.other(vpc.name))
        if other is not None and dst in other.cidr:
            return p.name
    return None


def stuck(lab: Lab, c: model.Ccn, rs, dst, src: Vpc, table: Optional[str]) -> Reason:
    """Why CCN `c` has no enabled route for `dst` (reached from `src`, or `table` had none)."""
    off = _disabled_for(rs, dst)
    if off is not None:
        return Reason(CCN_ROUTE_DISABLED, c.name, None, (
            f"the only route of {c.name} to {dst} is {off.key} ({off.id}), and it is disabled in {c.name} "
            f"({off.why})"))
    waiting = _waiting(lab, c, dst)
    if waiting is not None:
        return waiting
    where, tab = (src.name, table) if table is not None else (c.name, None)
    return Reason(NO_ROUTE, where, tab, f"no route to {dst} in {c.name}: no attachment publishes it")


def _waiting(lab: Lab, c: model.Ccn, dst) -> Optional[Reason]:
    for a in c.attachments:
        v = lab.vpcs.get(a.vpc)
        if a.state != ACTIVE and v is not None and v.subnet_of(dst) is not None:
            return Reason(CCN_ATTACHMENT_NOT_ACTIVE, c.name, None, (
                f"{dst} is in {v.name}, whose attachment to {c.name} is {a.state}: its routes are not in the CCN"
                + (" (the CCN's owner has not accepted it)" if a.state == "PENDING" else "")))
    return None


def no_route(lab: Lab, vpc: Vpc, table: str, dst) -> Optional[Reason]:
    """A reason more telling than NO_ROUTE when `vpc`'s `table` has no route for `dst` and a CCN
    is involved: the delivered route is disabled in this table, or in the CCN, or an end's
    attachment is not ACTIVE. None: nothing of a CCN explains it."""
    if not model.ccns(lab):
        return None
    for d in delivered(lab, vpc, table):
        if not d.enabled and dst in d.destination:
            return Reason(CCN_ROUTE_DISABLED, vpc.name, table, (
                f"the route to {d.destination} delivered by {d.route.ccn} ({d.route.key}) is disabled in "
                f"{vpc.name}/{table}: {d.why}"))
    mine = model.ccn_of(lab, vpc.name, model.ATTACH_STATES)
    if mine is None:
        return None
    c, a = mine
    if a.state != ACTIVE:
        v = next((x for x in c.active() if lab.vpcs[x.vpc].subnet_of(dst) is not None), None)
        if v is not None:
            return Reason(CCN_ATTACHMENT_NOT_ACTIVE, c.name, None, (
                f"{vpc.name}'s attachment to {c.name} is {a.state}: {c.name} delivers it no routes "
                f"({dst} is in {v.vpc}, on {c.name})"))
        return None
    rs = ccn_routes(lab, c)
    if _disabled_for(rs, dst) is not None or _waiting(lab, c, dst) is not None:
        return stuck(lab, c, rs, dst, vpc, table)
    return None


def peering_note(lab: Lab, vpc: Vpc, dst) -> str:
    """For a packet that entered `vpc` over a peering: the CCN that would carry `dst`, if any."""
    mine = model.ccn_of(lab, vpc.name)
    if mine is None:
        return ""
    r = model.effective(ccn_routes(lab, mine[0]), dst)
    if r is None or r.vpc == vpc.name:
        return ""
    return f"; {mine[0].name} would carry it to {r.vpc}, but the CCN does not carry peering traffic"


def member_note(lab: Lab, vpc: Vpc, dst: ipaddress.IPv4Address) -> str:
    """For NO_ROUTE at a VPC off the CCN: a peer of it on a CCN that reaches `dst`."""
    for p in lab.peerings_of(vpc.name, (ACTIVE,)):
        peer = lab.vpcs.get(p.other(vpc.name))
        mine = model.ccn_of(lab, peer.name) if peer is not None else None
        if mine is None:
            continue
        r = model.effective(ccn_routes(lab, mine[0]), dst)
        if r is not None and r.vpc != peer.name:
            return (f" ({dst} is in {r.vpc}, on {mine[0].name} with {peer.name}, {vpc.name}'s peer over {p.name}; "
                    f"the CCN does not carry peering traffic: {vpc.name} needs an attachment of its own)")
    return ""


def elsewhere(lab: Lab, vpc: Vpc, meant: str, dst) -> Optional[Reason]:
    """The routes led `dst` to `vpc`, not to VPC `meant`: CCN_ROUTE_DISABLED when a disabled route
    of `meant` on a CCN with `vpc` would have carried it there (a route that came in disabled)."""
    mine = model.ccn_of(lab, vpc.name)
    if mine is None:
        return None
    off = next((r for r in ccn_routes(lab, mine[0]) if not r.enabled and r.vpc == meant and dst in r.destination),
               None)
    if off is None:
        return None
    return Reason(CCN_ROUTE_DISABLED, mine[0].name, None, (
        f"the routes lead {dst} to {vpc.name}; route {off.key} ({off.id}), which would carry it to {meant}, is "
        f"disabled in {mine[0].name} ({off.why})"))
