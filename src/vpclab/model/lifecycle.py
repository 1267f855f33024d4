"""The peering lifecycle as data, and the live operations on a lab model.

`TRANSITIONS` is the one table of CLOUD-RULES.md "Peering lifecycle"; `transition`
is the one place that enforces it ("Cannot transition from X to Y" is refused
with the cloud's code). The operations below (create, accept, reject, delete,
modify, clock advance, route add/del) change a `Lab` in memory and raise
`Refused` with the cloud's error code when a rule says no; a refused operation
leaves the model untouched. Persisting and applying to the kernel is the
controller's job.
"""
from __future__ import annotations

import ipaddress
import random
import string
from typing import List, Optional

from ..errors import NotFound, Refused, did_you_mean, shown
from . import ccn, ccn_ops, rules
from .codes import DUPLICATE, MALFORMED
from .types import (
    ACTIVE,
    DELETED,
    EXPIRED,
    PENDING,
    PEERING_NAME,
    PENDING_VALIDITY_S,
    REJECTED,
    Lab,
    Peering,
    Route,
)

# Who may trigger an event: the requester's account, the accepter's, either, or the clock.
REQUESTER, ACCEPTER, EITHER, CLOCK = "requester", "accepter", "either", "clock"

# (state, event) -> (new state, who may)
TRANSITIONS = {
    (PENDING, "accept"): (ACTIVE, ACCEPTER),
    (PENDING, "reject"): (REJECTED, ACCEPTER),
    (PENDING, "expire"): (EXPIRED, CLOCK),
    (PENDING, "delete"): (DELETED, EITHER),
    (ACTIVE, "delete"): (DELETED, EITHER),
    (PENDING, "modify"): (PENDING, REQUESTER),
    (ACTIVE, "modify"): (ACTIVE, REQUESTER),
}


def accounts_of(lab: Lab, p: Peering):
    """(requester account, accepter account) of a peering."""
    return lab.vpcs[p.vpc].account, lab.vpcs[p.peer_vpc].account


def check_account(lab: Lab, account: Optional[str]) -> None:
    if account is not None and account not in lab.accounts:
        raise Refused(f"account '{shown(account)}' is not an account of lab {lab.name} ({', '.join(lab.accounts)})",
                      code=rules.PURVIEW, hint=did_you_mean(account, lab.accounts))


def transition(lab: Lab, p: Peering, event: str, account: Optional[str]) -> str:
    """Check `event` on `p` by `account`; return the new state (does not set it)."""
    check_account(lab, account)
    req, acc = accounts_of(lab, p)
    if account is not None and account not in (req, acc):
        raise Refused(f"account '{shown(account)}' owns neither side of {p.name} ({req}, {acc})", code=rules.PURVIEW)
    step = TRANSITIONS.get((p.state, event))
    if step is None:
        allowed = sorted(e for (s, e) in TRANSITIONS if s == p.state and e != "expire")
        raise Refused(f"cannot {event} {p.name}: it is {p.state}"
                      + (f" (allowed: {', '.join(allowed)})" if allowed else " (a terminal state)"),
                      code=rules.STATE_CHANGE)
    new, who = step
    if who == CLOCK and account is not None:
        raise Refused("only the lab clock expires a peering", code=rules.STATE_CHANGE)
    if account is not None:
        if who == ACCEPTER and account != acc:
            raise Refused(f"only the accepter's account '{acc}' may {event} {p.name} (not '{shown(account)}')",
                          code=rules.PURVIEW)
        if who == REQUESTER and account != req:
            raise Refused(f"only the requester's account '{req}' may {event} {p.name} (not '{shown(account)}')",
                          code=rules.PURVIEW)
    return new


def find_peering(lab: Lab, pid: str) -> Peering:
    p = lab.peerings.get(pid)
    if p is None:
        raise NotFound(f"peering '{shown(pid)}' does not exist", code=rules.NOT_FOUND,
                       hint=did_you_mean(pid, lab.peerings))
    return p


def find_vpc(lab: Lab, name: str):
    v = lab.vpcs.get(name)
    if v is None:
        raise NotFound(f"VPC '{shown(name)}' does not exist", code=rules.NOT_FOUND, hint=did_you_mean(name, lab.vpcs))
    return v


def new_peering_id(lab: Lab, rng: Optional[random.Random] = None) -> str:
    """`pcx-` + 8 lowercase letters/digits, like Tencent's, unused in this lab."""
    rng = rng or random.SystemRandom()
    alphabet = string.ascii_lowercase + string.digits
    while True:
        pid = "pcx-" + "".join(rng.choice(alphabet) for _ in range(8))
        if pid not in lab.peerings:
            return pid


def _refuse_first(violations: List[rules.Violation]):
    if violations:
        v = violations[0]
        raise Refused(v.message, code=v.code)


def create(lab: Lab, vpc: str, peer_vpc: str, bandwidth_kbps: Optional[int] = None, name: Optional[str] = None,
           account: Optional[str] = None) -> Peering:
    a, b = find_vpc(lab, vpc), find_vpc(lab, peer_vpc)
    check_account(lab, account)
    if account is not None and account != a.account:
        raise Refused(f"only {vpc}'s account '{a.account}' may request a peering from it (not '{shown(account)}')",
                      code=rules.PURVIEW)
    if name is not None and not PEERING_NAME.match(name):
        raise Refused(f"'{shown(name)}' is not a valid peering name (at most 60 letters, digits, '-' and '_')",
                      code="InvalidParameterValue")
    if name is not None and name in lab.peerings:
        raise Refused(f"a peering named '{name}' already exists ({lab.peerings[name].state})",
                      code=rules.ALREADY_EXIST)
    nat = next((v.name for v in lab.vpcs.values() if name is not None and name in v.nat_gateways), None)
    if nat is not None:
        raise Refused(f"'{name}' is the name of a NAT gateway of {nat}, and a route's next hop must name one "
                      "thing", code=DUPLICATE, hint="choose another name")
    p = Peering(
        name=name or f"{a.name} -> {b.name}",  # the id is drawn once the rules say yes
        vpc=a.name,
        peer_vpc=b.name,
        bandwidth_kbps=bandwidth_kbps,
        state=ACTIVE if a.account == b.account else PENDING,
        created_at=lab.clock,
        index=lab.next_peering_index(),
    )
    _refuse_first(rules.check_new_peering(lab, p, lab.peerings.values()))
    if name is None:
        p.name = new_peering_id(lab)
    lab.peerings[p.name] = p
    return p


def default_account(lab: Lab, p: Peering, event: str) -> str:
    """The account an event acts as without `--as`: the one entitled to it.

    accept and reject belong to the accepter, so they default to the accepter's
    account (a default that could never succeed taught nothing); delete and modify
    default to the requester's, as create does. An explicit account is never
    replaced: a wrong one is still refused.
    """
    req, acc = accounts_of(lab, p)
    step = TRANSITIONS.get((p.state, event))
    if step is None and event in ("accept", "reject"):
        return acc  # refused for its state anyway; the message names the state, not the account
    return acc if step is not None and step[1] == ACCEPTER else req


def apply_event(lab: Lab, pid: str, event: str, account: Optional[str] = None) -> Peering:
    """accept / reject / delete; `account` None means the account entitled to the event
    (see default_account)."""
    p = find_peering(lab, pid)
    if account is None:
        account = default_account(lab, p, event)
    p.state = transition(lab, p, event, account)
    return p


def modify(lab: Lab, pid: str, bandwidth_kbps: int, account: Optional[str] = None) -> Peering:
    p = find_peering(lab, pid)
    if account is None:
        account = accounts_of(lab, p)[0]
    new_state = transition(lab, p, "modify", account)
    a, b = lab.vpcs[p.vpc], lab.vpcs[p.peer_vpc]
    if a.region == b.region:
        raise Refused(f"{p.name} is regional: its bandwidth has no cap and cannot be modified",
                      code=rules.COMBINATION)
    _refuse_first(rules.check_bandwidth(lab, a, b, bandwidth_kbps))
    p.bandwidth_kbps = bandwidth_kbps
    p.state = new_state
    return p


def advance_clock(lab: Lab, seconds: float) -> List[Peering]:
    """Move the lab clock forward; PENDING peerings older than 7 days become EXPIRED."""
    if seconds < 0:
        raise Refused("the lab clock only moves forward", code="InvalidParameterValue")
    lab.clock += seconds
    ccn_ops.expire_due(lab)  # version 3: a CCN's pending requests expire by the same clock
    return expire_due(lab)


def expire_due(lab: Lab) -> List[Peering]:
    expired = []
    for p in lab.peerings.values():
        if p.state == PENDING and lab.clock - p.created_at >= PENDING_VALIDITY_S:
            p.state = transition(lab, p, "expire", None)
            expired.append(p)
    return expired


# ---- routes ------------------------------------------------------------------


def _table(lab: Lab, vpc: str, table: str):
    v = find_vpc(lab, vpc)
    t = v.route_tables.get(table)
    if t is None:
        raise NotFound(f"route table '{shown(table)}' does not exist in {vpc}", code=rules.NOT_FOUND,
                       hint=did_you_mean(table, v.route_tables))
    return v, t


def parse_cidr(text: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(str(text), strict=True)
    except ValueError as e:
        raise Refused(f"'{shown(text)}' is not an IPv4 CIDR ({shown(str(e), 120)})", code=MALFORMED)


def add_route(lab: Lab, vpc: str, destination: str, next_hop: str, table: str = "default") -> Route:
    v, t = _table(lab, vpc, table)
    r = Route(parse_cidr(destination), next_hop)
    _refuse_first(rules.check_route(lab, v, table, r, t.routes))
    t.routes.append(r)
    return r


def del_route(lab: Lab, vpc: str, destination: str, next_hop: Optional[str] = None, table: str = "default") -> Route:
    v, t = _table(lab, vpc, table)
    dst = parse_cidr(destination)
    for r in t.routes:
        if r.destination == dst and (next_hop is None or r.next_hop == next_hop):
            t.routes.remove(r)
            return r
    raise NotFound(f"no route to {dst}" + (f" via {shown(next_hop)}" if next_hop else "") + f" in {vpc}/{table}",
                   code=rules.NOT_FOUND)


def route_state(lab: Lab, r: Route) -> str:
    """`active` when its peering is ACTIVE (or it names an existing NAT gateway), else `blackhole`."""
    if any(r.next_hop in v.nat_gateways for v in lab.vpcs.values()) or r.next_hop in ccn.ccns(lab):
        return "active"
    p = lab.peerings.get(r.next_hop)
    return "active" if p is not None and p.state == ACTIVE else "blackhole"
