"""A lab's CCNs as kernel objects (existing kinds only: namespace, veth, address, rule, route, qdisc).

- One CCN router per CCN **per region** (a namespace `vpclab-<lab>-ccn.<index>.<region>`), the
  routers of one CCN joined pairwise. Why per region: the cloud caps a region pair, shared by
  every VPC of the two regions; with one link per region pair that cap is one tbf per direction
  on that link (the peering's handler and `shaping` policy), exact whatever the number of VPCs.
  One router per CCN would put a pair's traffic on one veth per VPC, so a tbf there caps each
  VPC, not the pair (docs/architecture.md). Inside one region the VPCs meet in one router:
  uncapped.
- Each ACTIVE attachment: a veth between the VPC's router and its region's CCN router, with a
  /30 from the top of 169.254.0.0/16. In the VPC router, every enabled route the CCN delivers
  into a table is a kernel route there (via the CCN router), as is a USER_CCN route; traffic
  arriving from the CCN is looked up in a table holding only the VPC's own subnets, before any
  peering's rule: the CCN never carries it on over a peering. Traffic arriving over a peering is
  looked up in the peering's ingress table, which holds no CCN route: no transit either way, by
  routing alone.
- In each CCN router: one route per enabled CCN route, to the VPC (same region) or to the
  router of the VPC's region; a blackhole default (a disabled route is no route).
- Between two regions: a tbf on each end's egress at the CCN's cap for that direction (default
  1 Gbps; outer-region mode: the sending region's cap), with netem delay where the lab has it.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from ..errors import Refused
from ..model import ccn as model
from ..model.types import Lab, Route as ModelRoute, Vpc
from . import names
from .numbers import (CCN_INGRESS_TABLE, CCN_RULE_PRIO, DEFAULT, LINK_NET, MAIN_TABLE, ccn_link_addresses,
                      table_ids)
from .objects import Address, Netns, Qdisc, Route, Rule, Veth
from .shaping import shaping


def _veth(ns1: str, if1: str, ns2: str, if2: str) -> Veth:
    # the kernel layer reads a veth back from the end whose namespace name sorts first
    return Veth(ns1, if1, ns2, if2) if ns1 <= ns2 else Veth(ns2, if2, ns1, if1)


class _Numbers:
    """Link numbers, stable while the lab's VPCs and regions stay: a VPC's link is its position
    in the lab (it is on one CCN); a region pair's comes after every VPC's, per CCN."""

    def __init__(self, lab: Lab):
        self.vpc = {name: i for i, name in enumerate(lab.vpcs)}
        regions = sorted({v.region for v in lab.vpcs.values()})
        self.pairs = {(a, b): j for j, (a, b) in enumerate((a, b) for i, a in enumerate(regions)
                                                              for b in regions[i + 1:])}
        self.base = len(lab.vpcs)

    def pair(self, c: model.Ccn, r1: str, r2: str) -> int:
        return self.base + c.index * max(len(self.pairs), 1) + self.pairs[tuple(sorted((r1, r2)))]

    def highest(self, lab: Lab) -> int:
        return self.base + (max((c.index for c in model.ccns(lab).values()), default=0) + 1) * max(len(self.pairs), 1)


def _check_room(lab: Lab, n: _Numbers) -> None:
    peerings = max((p.index for p in lab.peerings.values()), default=-1) + 1
    if peerings + n.highest(lab) > LINK_NET.num_addresses // 4:
        raise Refused(f"lab {lab.name} needs {peerings} peering links and {n.highest(lab)} CCN links, more than "
                      f"the {LINK_NET.num_addresses // 4} /30s of {LINK_NET}", code="LimitExceeded")


def router_of(lab: Lab, c: model.Ccn, vpc: Vpc) -> Tuple[str, str, str]:
    """(CCN router namespace, the VPC's end's address in the VPC router, the router's address)
    for an ACTIVE attachment of `vpc`."""
    x, y = ccn_link_addresses(_Numbers(lab).vpc[vpc.name])
    return names.ccn_ns(lab.name, c.index, vpc.region), x, y


def user_route(lab: Lab, vpc: Vpc, table: int, r: ModelRoute) -> Optional[Route]:
    """A USER_CCN route of `vpc` (next hop its CCN), or None when `r` names no CCN: via the CCN
    router when the VPC's attachment is ACTIVE, else a blackhole."""
    c = model.ccns(lab).get(r.next_hop)
    if c is None:
        return None
    ns = names.vpc_ns(lab.name, vpc.name)
    a = c.attachment(vpc.name)
    if a is None or a.state != model.ACTIVE:
        return Route(ns, table, str(r.destination), type="blackhole")
    _, _, y = router_of(lab, c, vpc)
    return Route(ns, table, str(r.destination), via=y, dev=names.ccn_port(lab.name, c.index))


def objects(lab: Lab, netem: bool = False) -> List:
    if not model.ccns(lab):
        return []
    n = _Numbers(lab)
    _check_room(lab, n)
    out: List = []
    for c in model.ccns(lab).values():
        out += _one(lab, c, n, netem)
    return out


def _one(lab: Lab, c: model.Ccn, n: _Numbers, netem: bool) -> List:
    L = lab.name
    out: List = []
    add = out.append
    members = [lab.vpcs[a.vpc] for a in c.active() if a.vpc in lab.vpcs]
    if not members:
        return out
    rs = model.routes(lab, c)
    regions = sorted({v.region for v in members})
    router = {r: names.ccn_ns(L, c.index, r) for r in regions}
    for r in regions:
        add(Netns(router[r], forwarding=True))
        add(Route(router[r], MAIN_TABLE, DEFAULT, type="blackhole"))
    near: Dict[str, str] = {}  # VPC -> its address on its CCN link (the CCN router's next hop)
    vp = names.ccn_port(L, c.index)
    for v in members:
        vns, rns, rp = names.vpc_ns(L, v.name), router[v.region], names.ccn_vpc_port(L, v.name)
        x, y = ccn_link_addresses(n.vpc[v.name])
        near[v.name] = x
        add(_veth(vns, vp, rns, rp))
        add(Address(vns, vp, f"{x}/30"))
        add(Address(rns, rp, f"{y}/30"))
        subnets = [str(s.cidr) for s in v.subnets.values()]
        for dst in subnets:  # from the CCN: the VPC's own subnets only (no transit to a peering)
            add(Route(vns, CCN_INGRESS_TABLE, dst, type="throw"))
        if str(v.cidr) not in subnets:
            add(Route(vns, CCN_INGRESS_TABLE, str(v.cidr), type="blackhole"))
        add(Route(vns, CCN_INGRESS_TABLE, DEFAULT, type="blackhole"))
        add(Rule(vns, CCN_RULE_PRIO, vp, CCN_INGRESS_TABLE))
        for tname, tid in table_ids(v).items():
            for d in model.delivered(lab, v, tname, rs):
                if d.enabled:
                    add(Route(vns, tid, str(d.destination), via=y, dev=vp))
    far: Dict[Tuple[str, str], str] = {}  # (router's region, other region) -> the other router's address
    for (r1, r2) in ((a, b) for i, a in enumerate(regions) for b in regions[i + 1:]):
        a1, a2 = ccn_link_addresses(n.pair(c, r1, r2))
        p1, p2 = names.ccn_region_port(L, r2), names.ccn_region_port(L, r1)
        add(_veth(router[r1], p1, router[r2], p2))
        add(Address(router[r1], p1, f"{a1}/30"))
        add(Address(router[r2], p2, f"{a2}/30"))
        far[(r1, r2)], far[(r2, r1)] = a2, a1
        delay = lab.latency_between(r1, r2) if netem else None
        add(Qdisc(router[r1], p1, *shaping(c.bandwidth_kbps(r1, r2)), delay))
        add(Qdisc(router[r2], p2, *shaping(c.bandwidth_kbps(r2, r1)), delay))
    for r in rs:
        if not r.enabled or r.vpc not in near:
            continue
        for region in regions:
            if region == r.region:
                add(Route(router[region], MAIN_TABLE, str(r.destination), via=near[r.vpc],
                          dev=names.ccn_vpc_port(L, r.vpc)))
            else:
                add(Route(router[region], MAIN_TABLE, str(r.destination), via=far[(region, r.region)],
                          dev=names.ccn_region_port(L, r.region)))
    return out
