"""The route walk of explain: a static path walk over the model, like a cloud reachability analyzer.

Forward: source instance -> its subnet's route table (longest prefix; the local
VPC route always wins) -> the peering (must be ACTIVE) -> the peer VPC, where
traffic from a peering is delivered only to that VPC's own subnets (not
transitive) -> the destination (a CLB is not reachable across regions; a closed
TCP or UDP port still answers, by RST or port unreachable: note NO_LISTENER).
Return: the same walk from the destination's subnet table back to the source.
The verdict and its reason use the vocabulary of CLI.md; `probe` classifies real
packets with the same shape, and the two are cross-checked.
"""
from __future__ import annotations

import ipaddress
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Set

from ..model import listeners
from . import ccn
from ..model.types import ACTIVE, PENDING, Instance, Lab, Peering, Route, Vpc

from .verdict import (BLACKHOLE_ROUTE, CLB_CROSS_REGION, NO_LISTENER, NO_RETURN, NO_ROUTE, NOT_TRANSITIVE,
                      PEERING_NOT_ACTIVE, REACHABLE, UNREACHABLE, Leg, Reason, Verdict)

@dataclass
class _Step:
    """Where one direction of a walk ended."""

    ok: bool
    path: List[str]
    vpc: Optional[Vpc] = None
    reason: Optional[Reason] = None
    crossed: List[Peering] = field(default_factory=list)


def lookup(vpc: Vpc, table: str, dst: ipaddress.IPv4Address, lab: Optional[Lab] = None) -> Optional[Route]:
    """Longest-prefix match among the table's routes and, given the lab, the routes its CCN delivers
    enabled there (explain/ccn.py); the local route is checked first."""
    best = None
    t = vpc.route_tables.get(table)
    for r in (t.routes if t is not None else []) + ccn.table_routes(lab, vpc, table):
        if dst in r.destination and (best is None or r.destination.prefixlen > best.destination.prefixlen):
            best = r
    return best


def walk(lab: Lab, src_vpc: Vpc, table: str, dst_ip, start: str) -> _Step:
    """From an instance of `src_vpc` (subnet table `table`) towards `dst_ip`."""
    path = [start, src_vpc.name]
    if dst_ip in src_vpc.cidr:
        return _Step(True, path, src_vpc)
    r = lookup(src_vpc, table, dst_ip, lab)
    if r is None:
        return _Step(False, path, src_vpc, ccn.no_route(lab, src_vpc, table, dst_ip)
                     or _no_route(lab, src_vpc, table, dst_ip))
    c = ccn.named(lab, r.next_hop)
    if c is not None:  # version 3: over the CCN (explain/ccn.py)
        ok, path, vpc, reason = ccn.walk(lab, src_vpc, c, dst_ip, path)
        return _Step(ok, path, vpc, reason)
    p = lab.peerings.get(r.next_hop)
    if p is None or p.state != ACTIVE:
        state = p.state if p else "missing"
        code = PEERING_NOT_ACTIVE if state == PENDING else BLACKHOLE_ROUTE
        return _Step(False, path, src_vpc, Reason(
            code, src_vpc.name, table,
            f"route {r.destination} via {r.next_hop} is a blackhole: the peering is {state}"))
    peer = lab.vpcs[p.other(src_vpc.name)]
    path += [p.name, peer.name]
    if dst_ip in peer.cidr and peer.subnet_of(dst_ip) is None:
        return _Step(False, path, peer, Reason(
            NO_ROUTE, peer.name, "peering-ingress", f"{dst_ip} is in {peer.name}'s CIDR but in none of its subnets"),
            [p])
    if peer.subnet_of(dst_ip) is None:
        # The peer VPC's ingress table holds only its own subnets: no transit, no edge.
        return _Step(False, path, peer, Reason(
            NOT_TRANSITIVE, peer.name, "peering-ingress",
            f"{dst_ip} is not in {peer.name}'s subnets; traffic from {p.name} is delivered only inside "
            f"{peer.name} (peering is not transitive){ccn.peering_note(lab, peer, dst_ip)}"), [p])
    return _Step(True, path, peer, None, [p])


class _Frozen:
    """What many explains of one unchanging lab share: who peers with whom, which VPC alone
    holds an address. Built in one pass; per explain it saves a pass over every peering and
    every VPC, which a 4-million-pair matrix cannot afford."""

    def __init__(self, lab: Lab):
        self.lab = lab
        self.peers: Dict[str, Set[str]] = {}
        for p in lab.peerings.values():
            if p.state == ACTIVE:
                self.peers.setdefault(p.vpc, set()).add(p.peer_vpc)
                self.peers.setdefault(p.peer_vpc, set()).add(p.vpc)
        self.only: Dict[ipaddress.IPv4Address, Optional[Vpc]] = {}

    def only_vpc_of_ip(self, ip) -> Optional[Vpc]:
        """The VPC holding `ip` when no other VPC's range holds it too (VPCs may overlap)."""
        if ip not in self.only:
            held = [v for v in self.lab.vpcs.values() if ip in v.cidr]
            self.only[ip] = held[0] if len(held) == 1 else None
        return self.only[ip]


_FROZEN: Dict[int, _Frozen] = {}  # id(lab) -> its shared answers, while `frozen(lab)` holds


@contextmanager
def frozen(lab: Lab) -> Iterator[None]:
    """Explain many pairs of `lab`, which nobody changes meanwhile, faster (re-entrant)."""
    if id(lab) in _FROZEN:
        yield
        return
    _FROZEN[id(lab)] = _Frozen(lab)
    try:
        with ccn.cached(lab):
            yield
    finally:
        del _FROZEN[id(lab)]


def _no_route(lab: Lab, vpc: Vpc, table: str, dst_ip) -> Reason:
    """NO_ROUTE: `vpc`'s table has no route for the address. Never NOT_TRANSITIVE: that is a
    packet that entered a VPC over a peering and would leave over another (`walk`); a source
    without a route never sends the packet anywhere. When the address's VPC is a peer of one of
    `vpc`'s peers, the detail says why a route through them would not help either."""
    detail = f"no route to {dst_ip} in table {table}"
    f = _FROZEN.get(id(lab))
    if f is None or f.lab is not lab:
        f = _Frozen(lab)
    target = f.only_vpc_of_ip(dst_ip)
    if target is not None and target.name != vpc.name:
        peers = f.peers  # VPC -> its ACTIVE peers
        mine = peers.get(vpc.name, set())
        if target.name not in mine:
            via = sorted(m for m in mine if target.name in peers.get(m, ()))
            if via:
                detail += (f" ({vpc.name} is not peered with {target.name}; {target.name} is a peer of "
                           f"{', '.join(via)}, and peering is not transitive: {vpc.name} needs a peering "
                           f"of its own with {target.name})")
    return Reason(NO_ROUTE, vpc.name, table, detail + ccn.member_note(lab, vpc, dst_ip))


def _find(lab: Lab, ref: str):
    """(instance, address) for a `<vpc>/<inst>` ref; (None, address) for an IPv4 address,
    whose instance is only known once the routes have said which VPC it lands in."""
    inst = lab.instance(ref)
    if inst is not None:
        return inst, inst.ip
    try:
        return None, ipaddress.IPv4Address(ref)
    except ValueError:
        raise KeyError(ref)


def holder(vpc: Vpc, ip) -> Optional[Instance]:
    for i in vpc.instances.values():
        if i.ip == ip:
            return i
    return None


def listens(lab: Lab, inst: Instance, proto: str, port: Optional[int]) -> bool:
    """Whether `inst` runs a listener for proto/port (`listen:`, cdb/cmem/clb, and CLB backends)."""
    return listeners.listens(lab, inst, proto, port)


def answer(lab: Lab, src: str, dst: str, proto: str = "icmp", port: Optional[int] = None) -> Verdict:
    """The verdict for src -> dst of a lab without filters or an Internet (explain() picks this or
    filtered.answer). Raises KeyError for an unknown src/dst."""
    s = lab.instance(src)
    if s is None:
        raise KeyError(src)
    d, dst_ip = _find(lab, dst)
    svpc = lab.vpcs[s.vpc]
    stable = svpc.subnets[s.subnet].route_table

    def verdict(result, fwd: Leg, ret: Leg, reason: Reason, note=None) -> Verdict:
        name = d.ref if d is not None else str(dst_ip)
        # version 1 translates no address: a request that arrived came from the source's own
        seen = str(s.ip) if fwd.delivered else None
        return Verdict(src, name, proto, port, result, fwd, ret, reason, None, note, seen)

    fwd = walk(lab, svpc, stable, dst_ip, s.ref)
    if not fwd.ok:
        return verdict(UNREACHABLE, Leg(False, fwd.path[-1], fwd.path), Leg(), fwd.reason)
    dvpc = fwd.vpc
    there = holder(dvpc, dst_ip)  # who really has that address where the routes lead
    if d is None:
        d = there
    if d is None or d is s or d.vpc != dvpc.name:
        if d is s:
            detail = f"{dst_ip} is {s.ref}'s own address: the packet never leaves it"
        elif d is None:
            detail = f"no instance has address {dst_ip} in {dvpc.name}"
        elif dvpc is svpc:
            detail = (f"{dst_ip} is inside {svpc.name}'s own CIDR {svpc.cidr}: the local route keeps it in "
                      f"{svpc.name}, so it never reaches {d.ref} (the VPCs overlap)")
        else:
            detail = f"the routes lead {dst_ip} to {dvpc.name}, not to {d.vpc}"
        if there is not None and there is not d:
            detail += f"; there it is {there.ref}"
        disabled = ccn.elsewhere(lab, dvpc, d.vpc, dst_ip) if d is not None and d is not s and d.vpc != dvpc.name \
            else None
        return verdict(UNREACHABLE, Leg(False, dvpc.name, fwd.path), Leg(),
                       disabled or Reason(NO_ROUTE, dvpc.name, None, detail))
    if d.kind == "clb" and any(lab.is_cross_region(p) for p in fwd.crossed):
        p = fwd.crossed[0]
        return verdict(UNREACHABLE, Leg(False, dvpc.name, fwd.path), Leg(), Reason(
            CLB_CROSS_REGION, dvpc.name, None,
            f"{d.ref} is a load balancer; CLB does not support cross-region peering ({p.name}: "
            f"{lab.vpcs[p.vpc].region} - {lab.vpcs[p.peer_vpc].region})"))
    fpath = fwd.path + [d.ref]
    note = None
    if not listens(lab, d, proto, port):
        what = f"nothing listens on {proto}/{port} at {d.ref}"
        # A closed port still answers (TCP RST, UDP ICMP port unreachable): that is a reply.
        answer = "the datagram is answered by ICMP port unreachable" if proto == "udp" else "the SYN is answered by RST"
        note = Reason(NO_LISTENER, d.ref, None, f"{what}: {answer}")

    dtable = dvpc.subnets[d.subnet].route_table
    back = walk(lab, dvpc, dtable, s.ip, d.ref)
    if not back.ok:
        return verdict(NO_RETURN, Leg(True, d.ref, fpath), Leg(False, back.path[-1], back.path), back.reason, note)
    if s.kind == "clb" and any(lab.is_cross_region(p) for p in back.crossed):
        p = back.crossed[0]
        return verdict(NO_RETURN, Leg(True, d.ref, fpath), Leg(False, svpc.name, back.path), Reason(
            CLB_CROSS_REGION, svpc.name, None,
            f"the reply to {s.ref}, a load balancer, comes over cross-region {p.name}; CLB does not support "
            "cross-region peering"), note)
    if back.vpc.name != svpc.name:
        why = ccn.elsewhere(lab, back.vpc, svpc.name, s.ip) or Reason(
            NO_ROUTE, dvpc.name, dtable, f"the reply to {s.ip} is routed to {back.vpc.name}, not to {svpc.name}")
        return verdict(NO_RETURN, Leg(True, d.ref, fpath), Leg(False, back.vpc.name, back.path), why, note)
    return verdict(REACHABLE, Leg(True, d.ref, fpath), Leg(True, s.ref, back.path + [s.ref]), Reason(), note)
