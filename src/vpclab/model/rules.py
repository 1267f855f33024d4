"""The rules of CLOUD-RULES.md (and the topology's own), each with its cloud error code.

Every check returns a list of `Violation(code, message, line)`; it never raises.
The loader turns violations into `FILE:LINE: CODE: message` problems for a whole
file; the live commands (peering create, route add) raise the first one as a
refusal. So a rule is written once and holds for files and live operations alike.
"""
from __future__ import annotations

import bisect
import ipaddress
from typing import Dict, Iterable, List, Optional

from .types import (
    RESERVED_VPC_RANGES,
    LIVE_STATES,
    STATES,
    TERMINAL_STATES,
    MAX_BANDWIDTH_KBPS,
    MAX_PEERINGS_PER_VPC,
    MIN_BANDWIDTH_KBPS,
    REJECTED,
    Instance,
    Lab,
    Peering,
    Route,
    Subnet,
    Vpc,
)
from ..errors import shown
from .units import BW_OUT_OF_RANGE as BW_RANGE
from .filter_rules import check_nat_route
from . import ccn

from .codes import (  # noqa: F401  (the codes of these rules, named here too)
    ALREADY_EXIST, CIDR_CONFLICT, CLB_BACKEND, CLB_CROSS_VPC, COMBINATION, DUPLICATE, IP_IN_USE, IP_NOT_IN_SUBNET,
    IP_RESERVED, MISSING, NEXT_HOP_INVALID, NOT_FOUND, NOT_IN_PEER, PURVIEW, QUOTA, SELF_PROBE, STATE_CHANGE,
    SUBNET_CONFLICT, SUBNET_FULL, SUBNET_RANGE, VPC_CIDR_CONFLICT, VPC_CIDR_RESERVED, Violation)

MIN_SUBNET_PREFIX, MAX_SUBNET_PREFIX = 16, 28



# ---- peerings ----------------------------------------------------------------


def check_bandwidth(lab: Lab, vpc: Vpc, peer: Vpc, bandwidth_kbps: Optional[int], line: int = 0) -> List[Violation]:
    cross = vpc.region != peer.region
    if cross and bandwidth_kbps is None:
        return [Violation(MISSING, f"cross-region peering {vpc.name} ({vpc.region}) - {peer.name} ({peer.region}) "
                          "needs a bandwidth cap (1Mbps..10Gbps)", line)]
    if not cross and bandwidth_kbps is not None:
        return [Violation(COMBINATION, f"regional peering {vpc.name} - {peer.name} takes no bandwidth "
                          "(regional bandwidth has no cap)", line)]
    if cross and not (MIN_BANDWIDTH_KBPS <= bandwidth_kbps <= MAX_BANDWIDTH_KBPS):
        return [Violation(BW_RANGE, f"bandwidth {bandwidth_kbps / 1000:g}Mbps is outside 1Mbps..10Gbps", line)]
    return []


def check_new_peering(lab: Lab, p: Peering, others: Iterable[Peering]) -> List[Violation]:
    """Creation rules for `p` against the peerings that already exist (`others`)."""
    line = p.line
    out: List[Violation] = []
    a, b = lab.vpcs.get(p.vpc), lab.vpcs.get(p.peer_vpc)
    for name, v in ((p.vpc, a), (p.peer_vpc, b)):
        if v is None:
            out.append(Violation(NOT_FOUND, f"peering {p.name}: VPC '{name}' does not exist", line))
    if out:
        return out
    if a.name == b.name:
        return [Violation(COMBINATION, f"peering {p.name}: a VPC cannot peer with itself ({a.name})", line)]
    out += check_bandwidth(lab, a, b, p.bandwidth_kbps, line)
    if a.cidr.overlaps(b.cidr):
        out.append(Violation(CIDR_CONFLICT, f"peering {p.name}: {a.name} {a.cidr} overlaps {b.name} {b.cidr}", line))
    live = [o for o in others if o.state in LIVE_STATES and o.name != p.name]
    for o in live:
        if o.joins(a.name, b.name):
            out.append(Violation(ALREADY_EXIST, f"peering {p.name}: {a.name} and {b.name} are already peered by "
                                 f"{o.name} ({o.state})", line))
            return out
    cross = a.region != b.region
    for side, far in ((a, b), (b, a)):
        for o in live:
            if side.name not in (o.vpc, o.peer_vpc):
                continue
            z = lab.vpcs.get(o.other(side.name))
            if z is None or z.name == far.name:
                continue
            if (cross or lab.is_cross_region(o)) and z.cidr.overlaps(far.cidr):
                which = p.name if cross else o.name
                out.append(Violation(CIDR_CONFLICT, f"peering {p.name}: {far.name} {far.cidr} overlaps {z.name} "
                                     f"{z.cidr}, another peer of {side.name}; the peers of a VPC must not overlap "
                                     f"when a peering is cross-region ({which})", line))
    for v in (a, b):
        n = sum(1 for o in live if v.name in (o.vpc, o.peer_vpc))
        if n >= MAX_PEERINGS_PER_VPC:
            out.append(Violation(QUOTA, f"peering {p.name}: {v.name} already has {n} peerings (PENDING and ACTIVE "
                                 f"count; the quota is {MAX_PEERINGS_PER_VPC})", line))
    return out


# ---- probes --------------------------------------------------------------------


def as_address(text) -> Optional[ipaddress.IPv4Address]:
    """`text` as an IPv4 address, or None when it is not one (an instance ref, say)."""
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        return None


def check_probe_ends(lab: Lab, src: str, dst: str, line: int = 0) -> List[Violation]:
    """A probe from an instance to itself or to its own address proves nothing: its own
    kernel answers without a packet leaving it. One rule for probe, explain and `expect:`."""
    s = lab.instance(src)
    if s is None and lab.internet is not None:  # version 2: an Internet host
        h = lab.internet.host(src)
        s = h and Instance(src, "", "", h.ip)
        d = lab.internet.host(dst) or next((x for x in lab.internet.hosts.values() if x.ip == as_address(dst)), None)
        if h is not None and d is not None and d is not h:  # version 3: an Internet host as the source
            return [Violation(SELF_PROBE, f"{src} -> {dst}: both are hosts of the lab's Internet, one namespace: the "
                              "packet never crosses the lab's network; ask for an EIP or an instance", line)]
    own = {a for a in (s.ip, s.eip) if a is not None} if s is not None else set()
    if s is None or (dst != src and as_address(dst) not in own):
        return []
    what = "the source itself" if dst == src else f"{src}'s own {'EIP' if as_address(dst) == s.eip else 'address'}"
    return [Violation(SELF_PROBE, f"{src} -> {dst}: the destination is {what}, which answers without a packet "
                      "leaving it; probe another instance or address", line)]


# ---- routes ------------------------------------------------------------------


def check_route(lab: Lab, vpc: Vpc, table: str, route: Route, siblings: Iterable[Route],
                in_file: bool = False) -> List[Violation]:
    """A route in `table` of `vpc`, against the routes already in that table (`siblings`). A file
    (`in_file`) may hold a route to a peering it says is `rejected: true`: the route was added while
    the peering was PENDING, and the rejection left it a blackhole (as an imported plan has it)."""
    line = route.line
    ccn_problems = ccn.check_user_route(lab, vpc, table, route, in_file)  # version 3: USER_CCN, EcmpWithCcnRoute
    if ccn_problems or route.next_hop in ccn.ccns(lab):
        return ccn_problems or _duplicate_route(vpc, table, route, siblings)
    if route.next_hop in vpc.nat_gateways or (route.next_hop not in lab.peerings and any(
            route.next_hop in v.nat_gateways for v in lab.vpcs.values())):  # version 2: a NAT gateway
        out = check_nat_route(lab, vpc, table, route)
        return out or _duplicate_route(vpc, table, route, siblings)
    p = lab.peerings.get(route.next_hop)
    if p is not None and p.state in TERMINAL_STATES and vpc.name in (p.vpc, p.peer_vpc) and not (
            in_file and p.state == REJECTED):
        return [Violation(NEXT_HOP_INVALID, f"route {route.destination} in {vpc.name}/{table}: next hop "
                          f"{p.name} is {p.state}; it can never carry traffic again", line)]
    if p is None or vpc.name not in (p.vpc, p.peer_vpc):
        mine = sorted(x.name for x in lab.peerings_of(vpc.name, STATES))
        hint = f"peerings of {vpc.name}: {', '.join(mine[:10]) or 'none'}" + (", ..." if len(mine) > 10 else "")
        if vpc.nat_gateways:
            hint += f"; NAT gateways: {', '.join(sorted(vpc.nat_gateways)[:10])}"
        elif lab.internet is not None:  # version 2: a next hop may be a NAT gateway
            hint += "; NAT gateways: none"
        what = "a peering or NAT gateway" if vpc.nat_gateways or lab.internet is not None else "a peering"
        return [Violation(NEXT_HOP_INVALID, f"route {route.destination} in {vpc.name}/{table}: next hop "
                          f"'{shown(route.next_hop)}' is not {what} of {vpc.name} ({hint})", line)]
    if route.destination.overlaps(vpc.cidr):
        return [Violation(VPC_CIDR_CONFLICT, f"route {route.destination} in {vpc.name}/{table} overlaps the VPC's own "
                          f"CIDR {vpc.cidr} (the local route already covers it)", line)]
    peer = lab.vpcs.get(p.other(vpc.name))
    if peer is not None and not route.destination.subnet_of(peer.cidr):
        return [Violation(NOT_IN_PEER, f"route {route.destination} in {vpc.name}/{table}: not inside {peer.name}'s "
                          f"CIDR {peer.cidr}, the VPC across {p.name}", line)]
    return _duplicate_route(vpc, table, route, siblings)


def _duplicate_route(vpc: Vpc, table: str, route: Route, siblings: Iterable[Route]) -> List[Violation]:
    for s in siblings:
        if s is not route and s.destination == route.destination:
            return [Violation(DUPLICATE, f"route {route.destination} in {vpc.name}/{table} is already in the table "
                              f"(next hop {s.next_hop})", route.line)]
    return []


# ---- VPCs, subnets, instances -------------------------------------------------


def check_vpc(lab: Lab, vpc: Vpc) -> List[Violation]:
    out = []
    for r in RESERVED_VPC_RANGES:
        if vpc.cidr.overlaps(r):
            how = "is inside" if vpc.cidr.subnet_of(r) else "overlaps"
            out.append(Violation(VPC_CIDR_RESERVED, f"VPC {vpc.name}: CIDR {vpc.cidr} {how} reserved {r}", vpc.line))
            break
    for s, earlier in _earlier_overlaps(list(vpc.subnets.values())):
        if not s.cidr.subnet_of(vpc.cidr):
            out.append(Violation(SUBNET_RANGE, f"subnet {vpc.name}/{s.name} {s.cidr} is not inside the VPC CIDR "
                                 f"{vpc.cidr}", s.line))
        elif not (MIN_SUBNET_PREFIX <= s.cidr.prefixlen <= MAX_SUBNET_PREFIX):
            out.append(Violation(SUBNET_RANGE, f"subnet {vpc.name}/{s.name} {s.cidr}: prefix must be "
                                 f"/{MIN_SUBNET_PREFIX}../{MAX_SUBNET_PREFIX}", s.line))
        for t in earlier:
            out.append(Violation(SUBNET_CONFLICT, f"subnet {vpc.name}/{s.name} {s.cidr} overlaps subnet "
                                 f"{t.name} {t.cidr}", s.line))
    return out


def _earlier_overlaps(subnets: List[Subnet]):
    """(subnet, the subnets before it that it overlaps, in order) for each subnet, in order.

    Two CIDR blocks overlap only when one contains the other: the blocks containing
    a subnet are found by their (prefix, network) key, the blocks inside it by a
    range of sorted start addresses. So the time is about n log n plus the overlaps
    found, not n squared (a file may list tens of thousands of subnets).
    """
    blocks: Dict[tuple, List[int]] = {}
    for i, s in enumerate(subnets):
        blocks.setdefault((s.cidr.prefixlen, int(s.cidr.network_address) >> (32 - s.cidr.prefixlen)), []).append(i)
    prefixes = sorted({p for p, _ in blocks})
    starts = sorted((int(s.cidr.network_address), i) for i, s in enumerate(subnets))
    keys = [k for k, _ in starts]
    for i, s in enumerate(subnets):
        lo, hi = int(s.cidr.network_address), int(s.cidr.broadcast_address)
        found = {j for _, j in starts[bisect.bisect_left(keys, lo):bisect.bisect_right(keys, hi)]}
        for p in prefixes:
            if p > s.cidr.prefixlen:
                break
            found.update(blocks.get((p, lo >> (32 - p)), ()))
        yield s, [subnets[j] for j in sorted(found) if j < i]


def reserved_addresses(s: Subnet):
    return {s.cidr.network_address, s.gateway, s.cidr.broadcast_address}


def check_instance(lab: Lab, vpc: Vpc, inst: Instance, taken: Dict) -> List[Violation]:
    """`taken` maps addresses already used in this VPC to their instance name."""
    s = vpc.subnets.get(inst.subnet)
    if s is None or inst.ip is None:
        return []
    if inst.ip not in s.cidr:
        return [Violation(IP_NOT_IN_SUBNET, f"instance {inst.ref}: {inst.ip} is not inside subnet {s.name} {s.cidr}",
                          inst.line)]
    if inst.ip in reserved_addresses(s):
        return [Violation(IP_RESERVED, f"instance {inst.ref}: {inst.ip} is reserved in {s.cidr} (network, gateway "
                          "and broadcast addresses)", inst.line)]
    if inst.ip in taken and taken[inst.ip] != inst.name:
        return [Violation(IP_IN_USE, f"instance {inst.ref}: {inst.ip} is already used by {taken[inst.ip]}",
                          inst.line)]
    return []


def check_clb(lab: Lab, vpc: Vpc, inst: Instance) -> List[Violation]:
    if inst.kind != "clb":
        return []
    out = []
    for b in inst.backends:
        bvpc, sep, bname = b.rpartition("/")
        if sep and bvpc != vpc.name:
            out.append(Violation(CLB_CROSS_VPC, f"clb {inst.ref}: backend {shown(b)} is in another VPC; a CLB binds only "
                                 f"instances of its own VPC ({vpc.name})", inst.line))
            continue
        name = bname if sep else b
        target = vpc.instances.get(name)
        if target is None:
            elsewhere = [v.name for v in lab.vpcs.values() if name in v.instances and v.name != vpc.name]
            if elsewhere:
                out.append(Violation(CLB_CROSS_VPC, f"clb {inst.ref}: backend '{name}' is in {elsewhere[0]}, not in "
                                     f"{vpc.name}; cross-VPC binding is not supported", inst.line))
            else:
                out.append(Violation(NOT_FOUND, f"clb {inst.ref}: backend '{shown(name)}' does not exist in {vpc.name}",
                                     inst.line))
        elif target.kind == "clb" or target.name == inst.name:
            out.append(Violation(CLB_BACKEND, f"clb {inst.ref}: backend '{name}' is a load balancer itself",
                                 inst.line))
    return out


def assign_addresses(lab: Lab) -> List[Violation]:
    """Give every instance without an `ip` the next free address of its subnet."""
    out = []
    for vpc in lab.vpcs.values():
        used = {i.ip for i in vpc.instances.values() if i.ip is not None}
        free = {}  # subnet -> its free addresses, in order: each subnet is walked once
        for inst in vpc.instances.values():
            if inst.ip is not None:
                continue
            s = vpc.subnets.get(inst.subnet)
            if s is None:
                continue
            if s.name not in free:
                reserved = reserved_addresses(s)
                free[s.name] = (h for h in s.cidr.hosts() if h not in used and h not in reserved)
            host = next(free[s.name], None)
            if host is not None:
                inst.ip = host
                used.add(host)
            else:
                out.append(Violation(SUBNET_FULL, f"instance {inst.ref}: subnet {s.name} {s.cidr} has no free address",
                                     inst.line))
    return out


def validate(lab: Lab, unreadable_hops=frozenset()) -> List[Violation]:
    """Every model rule over a whole lab, in file order. Structural checks are the loader's.

    Routes whose next hop is in `unreadable_hops` (peerings the loader could not
    read) are skipped.
    """
    out: List[Violation] = []
    for vpc in lab.vpcs.values():
        out += check_vpc(lab, vpc)
        taken: Dict = {}
        for inst in vpc.instances.values():
            v = check_instance(lab, vpc, inst, taken)
            out += v
            if not v and inst.ip is not None:
                taken[inst.ip] = inst.name
            out += check_clb(lab, vpc, inst)
    out += assign_addresses(lab)
    for e in lab.expectations:
        out += check_probe_ends(lab, e.src, e.dst, e.line)
    seen: Dict[str, List[Peering]] = {}  # VPC -> the valid peerings so far that join it
    order = {name: i for i, name in enumerate(lab.peerings)}
    for p in lab.peerings.values():
        # The rules look only at peerings of p's two VPCs (at most the quota each), so
        # checking against those keeps a file of many peerings linear.
        mine = {o.name: o for o in seen.get(p.vpc, []) + seen.get(p.peer_vpc, [])}
        v = check_new_peering(lab, p, sorted(mine.values(), key=lambda o: order[o.name]))
        out += v
        if not v:
            for name in {p.vpc, p.peer_vpc}:
                seen.setdefault(name, []).append(p)
    for vpc in lab.vpcs.values():
        for tname, table in vpc.route_tables.items():
            checked: Dict = {}  # destination -> the valid route to it so far
            for r in table.routes:
                if r.next_hop in unreadable_hops:
                    continue
                v = check_route(lab, vpc, tname, r, [checked[r.destination]] if r.destination in checked else [],
                                in_file=True)
                out += v
                if not v:
                    checked[r.destination] = r
    return out
