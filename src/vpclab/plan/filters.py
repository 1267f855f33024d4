"""model -> the kernel objects of version 2: filters, EIPs, NAT gateways, the Internet.

Called by plan.planner; a version-1 model (no groups, ACLs, EIPs, NAT gateways nor
Internet) gets nothing from here, so its plan is exactly what it was.

nftables: one table `inet vpclab` per namespace that needs one (plan.objects.Ruleset),
every rule standing for a model rule with a counter and its RuleRef comment.

- Security groups, in the instance's namespace (stateful, conntrack):
    chain input  (filter, hook input, prio 0, policy accept)
        ct state established,related counter accept      "vpclab sg VPC/INST ingress established"
        iifname "lo" counter accept                       "vpclab sg VPC/INST ingress loopback"
        <each ingress rule of each group, in the instance's order>
            [ip saddr PEER] [proto/port] counter accept|drop   RuleRef: "vpclab sg VPC/GROUP ingress I"
        counter drop                                      "vpclab sg VPC/INST ingress -"
    chain output (filter, hook output, prio 0, policy accept): the same with egress,
        oifname "lo" and ip daddr PEER.
  A group peer is its members' private addresses (an empty group matches 0.0.0.0 only).
- Network ACLs, in the VPC router (stateless: no ct match anywhere):
    chain forward (filter, hook forward, prio 0, policy accept)
        per bound subnet S, in subnet order:
        ip saddr S ip daddr != S counter jump acl-out-S   (every subnet's, then)
        ip daddr S ip saddr != S counter jump acl-in-S    (every subnet's)
    chain acl-in-S / acl-out-S (regular chains)
        <each rule> [ip saddr|daddr PEER] [proto/port] counter return|drop
                                                          "vpclab acl VPC/ACL inbound|outbound I S"
        counter drop                                      "vpclab acl VPC/ACL inbound|outbound - S"
  `accept` is `return` so that leaving one subnet and entering another meets both ACLs.
- EIPs and NAT gateways, in the VPC router (its conntrack does the NAT):
    chain prerouting (nat, hook prerouting, prio -100)
        iifname GPORT ip daddr EIP counter dnat ip to PRIVATE       "vpclab eip VPC/INST"
    chain postrouting (nat, hook postrouting, prio 100)
        oifname GPORT rt ip nexthop NATHOP ip saddr SUBNETS counter snat ip to NATEIP   "vpclab nat VPC/NAT"
        oifname GPORT rt ip nexthop EIPHOP ip saddr PRIVATE counter snat ip to EIP      "vpclab eip VPC/INST"
    chain internet-guard (filter, hook postrouting, prio 101: after the NAT)
        oifname GPORT ip saddr != INTERNET_CIDR counter drop        "vpclab internet private-source"
- The Internet: namespace `vpclab-<lab>-internet`, forwarding on, never linked to the
  root namespace. Its hosts' addresses on `lo` (their listeners run there); one veth
  `<lab>-g-<vpc>` to each VPC router that has an EIP or a NAT gateway; routes: each
  EIP and NAT address /32 via that router, a blackhole for the rest of the public range
  and a blackhole default (nothing leaves the lab).
- Routing in a VPC router with an Internet link (TOPOLOGY "The path to the Internet"):
  a route to a NAT gateway goes out the link via that gateway's hop (an address of the
  Internet's end, so `rt ip nexthop` tells the NAT that routed it); an instance with an
  EIP has a `from IP/32` rule (after the peerings', before the subnets') to a copy of
  its subnet's table whose last route is not the blackhole default but the link via
  the EIP hop: the local route and the subnet's table win, then the EIP, else drop.
  Traffic arriving over a peering keeps its ingress table: no NAT, no Internet.
"""
from __future__ import annotations

import ipaddress
from typing import Dict, List, Optional

from ..errors import Refused
from ..model.filters import DEFAULT_INTERNET_CIDR, Internet
from ..model.types import Lab, Vpc
from . import names
from .names import RuleRef
from . import nftjson as J
from .numbers import DEFAULT, MAIN_TABLE, table_ids
from .objects import Address, Netns, NftChain, Route, Rule, Ruleset, Service, Veth

ROUTER_HOP = "169.254.255.254"  # the VPC router's end of its Internet link (/32)
EIP_HOP = "169.254.255.253"  # the Internet's end: the next hop of EIP traffic
NAT_HOP_BASE = int(ipaddress.IPv4Address("169.254.254.1"))  # + the gateway's index: its next hop
EIP_TABLE_OFFSET = 1000  # an EIP instance's copy of table T is T + 1000
EIP_RULE_PRIO = 18000  # + k: after every peering rule (1000 + index), before the subnets' (20000 + k)
ESTABLISHED = "established"


def internet_of(lab: Lab) -> Optional[Internet]:
    """The lab's Internet; a default one when EIPs or NAT gateways are given without `internet:`."""
    if lab.internet is not None:
        return lab.internet
    if any(i.eip for i in lab.instances()) or any(v.nat_gateways for v in lab.vpcs.values()):
        return Internet(DEFAULT_INTERNET_CIDR)
    return None


def needs_internet(vpc: Vpc) -> bool:
    return bool(vpc.nat_gateways) or any(i.eip for i in vpc.instances.values())


def nat_hop(vpc: Vpc, nat: str) -> str:
    return str(ipaddress.IPv4Address(NAT_HOP_BASE + sorted(vpc.nat_gateways).index(nat)))


def nat_route(lab: Lab, vpc: Vpc, table: int, r) -> Optional[Route]:
    """The kernel route of a route whose next hop is one of the VPC's NAT gateways, else None."""
    if r.next_hop not in vpc.nat_gateways:
        return None
    return Route(names.vpc_ns(lab.name, vpc.name), table, str(r.destination), via=nat_hop(vpc, r.next_hop),
                 dev=names.internet_port(lab.name, vpc.name))


def objects(lab: Lab, planned: List) -> List:
    """Everything version 2 adds to `planned` (the version-1 plan of the same lab)."""
    out: List = []
    internet = internet_of(lab)
    if internet is not None:
        if names.INTERNET in lab.vpcs:
            raise Refused(f"VPC {names.INTERNET!r} would share its namespace with the lab's Internet",
                          code="InvalidParameterValue.NameCollision", hint="rename the VPC")
        out += _internet(lab, internet, planned)
    for vpc in lab.vpcs.values():
        groups = _Groups(vpc)
        for i in vpc.instances.values():
            if i.security_groups:
                out.append(groups.ruleset(lab, i))
        rs = _router_ruleset(lab, vpc, internet)
        if rs is not None:
            out.append(rs)
    return out


def vpc_rulesets(lab: Lab, vpc_name: str) -> List[Ruleset]:
    """The nftables tables of one VPC (its router's and its instances'), as `objects` plans
    them: a live filter change (`sg rule add`, `acl bind`, ...) diffs these before and after
    instead of planning the whole lab twice. Group and ACL changes never reach another VPC
    (a group names only groups of its own VPC); an EIP change also changes routes: plan it all."""
    vpc = lab.vpcs[vpc_name]
    groups = _Groups(vpc)
    out: List = [groups.ruleset(lab, i) for i in vpc.instances.values() if i.security_groups]
    rs = _router_ruleset(lab, vpc, internet_of(lab))
    return out + ([rs] if rs is not None else [])


# ---- security groups ------------------------------------------------------------------

def _verdict(action: str, in_jump: bool = False) -> dict:
    if action == "accept":
        return J.RETURN if in_jump else J.ACCEPT
    return J.DROP


class _Groups:
    """The security groups of one VPC: each group direction's rules made once, whatever the
    number of instances carrying it (the scale lab plans 200 instances' tables in ms)."""

    def __init__(self, vpc: Vpc):
        self.vpc = vpc
        self.members: Dict[str, List[str]] = {}
        for i in vpc.instances.values():
            if i.ip is not None:
                for g in i.security_groups:
                    self.members.setdefault(g, []).append(f"{i.ip}/32")
        self.made: Dict[tuple, tuple] = {}

    def _peer(self, peer: str, which) -> List[dict]:
        if peer in self.vpc.security_groups or "/" not in peer and not peer[:1].isdigit():
            members = self.members.get(peer)
            return J.addr_match(which, members) if members else [J.match(which, "0.0.0.0")]
        return J.addr_match(which, [peer])

    def rules(self, gname: str, direction: str, which) -> tuple:
        key = (gname, direction)
        got = self.made.get(key)
        if got is None:
            g = self.vpc.security_groups[gname]
            got = self.made[key] = tuple(
                (J.canonical(J.rule(self._peer(fr.peer, which), J.proto_match(fr.proto, fr.ports), J.COUNTER,
                                    _verdict(fr.action))),
                 RuleRef("sg", self.vpc.name, g.name, direction, k).comment())
                for k, fr in enumerate(g.rules(direction)))
        return got

    def ruleset(self, lab: Lab, inst) -> Ruleset:
        vpc = self.vpc
        chains = []
        for direction, chain, lo_key, which in (("ingress", "input", "iifname", J.SADDR),
                                                ("egress", "output", "oifname", J.DADDR)):
            own = f"vpclab sg {vpc.name}/{inst.name} {direction}"
            rules = [(_ESTABLISHED, f"{own} {ESTABLISHED}"), (_LOOPBACK[lo_key], f"{own} loopback")]
            for gname in inst.security_groups:
                if gname in vpc.security_groups:
                    rules += self.rules(gname, direction, which)
            rules.append((_DROP, RuleRef("sg", vpc.name, inst.name, direction, None).comment()))
            chains.append(NftChain(chain, tuple(rules), chain, "filter", 0, "accept"))
        return Ruleset(names.instance_ns(lab.name, vpc.name, inst.name), tuple(chains))  # input < output


_ESTABLISHED = J.canonical([J.match({"ct": {"key": "state"}}, [ESTABLISHED, "related"], "in"), J.COUNTER, J.ACCEPT])
_LOOPBACK = {k: J.canonical([J.match(J.meta(k), "lo"), J.COUNTER, J.ACCEPT]) for k in ("iifname", "oifname")}
_DROP = J.canonical([J.COUNTER, J.DROP])


# ---- the VPC router: ACLs, EIPs, NAT gateways --------------------------------------------

def _acl_chains(vpc: Vpc) -> List[NftChain]:
    # Every outbound jump comes before every inbound one: a packet between two bound subnets
    # leaves its own subnet (the source's outbound ACL) before it enters the other.
    jumps: Dict[str, list] = {"outbound": [], "inbound": []}
    chains = []
    made: Dict[tuple, List[str]] = {}  # (acl, direction) -> its rules' expressions, made once
    for s in vpc.subnets.values():
        acl = vpc.acl_of(s.name)
        if acl is None:
            continue
        net = J._net(str(s.cidr))
        for direction, prefix, mine, other in (("outbound", "acl-out-", J.SADDR, J.DADDR),
                                               ("inbound", "acl-in-", J.DADDR, J.SADDR)):
            name = prefix + s.name
            jumps[direction].append(J.canonical([J.match(mine, net), J.match(other, net, "!="), J.COUNTER,
                                                 J.jump(name)]))
            exprs = made.get((acl.name, direction))
            if exprs is None:
                which = J.SADDR if direction == "inbound" else J.DADDR
                exprs = made[(acl.name, direction)] = [
                    J.canonical(J.rule(J.addr_match(which, [fr.peer]), J.proto_match(fr.proto, fr.ports), J.COUNTER,
                                       _verdict(fr.action, in_jump=True)))
                    for fr in acl.rules(direction)]
            rules = [(e, RuleRef("acl", vpc.name, acl.name, direction, k, s.name).comment())
                     for k, e in enumerate(exprs)]
            rules.append((_DROP, RuleRef("acl", vpc.name, acl.name, direction, None, s.name).comment()))
            chains.append(NftChain(name, tuple(rules)))
    ordered = jumps["outbound"] + jumps["inbound"]
    if not ordered:
        return []
    return [NftChain("forward", tuple((j, None) for j in ordered), "forward", "filter", 0, "accept")] + chains


def _nat_chains(lab: Lab, vpc: Vpc, internet: Internet) -> List[NftChain]:
    gport = names.internet_port(lab.name, vpc.name)
    oif, iif = J.match(J.meta("oifname"), gport), J.match(J.meta("iifname"), gport)
    nexthop = {"rt": {"key": "nexthop", "family": "ip"}}
    pre, post = [], []
    for ngw in sorted(vpc.nat_gateways):
        served = [str(s.cidr) for s in vpc.subnets.values()
                  if any(r.next_hop == ngw for r in vpc.route_tables.get(s.route_table, _NO_TABLE).routes)]
        if not served:
            continue
        post.append((J.canonical([oif, J.match(nexthop, nat_hop(vpc, ngw)), *J.addr_match(J.SADDR, served), J.COUNTER,
                                  {"snat": {"family": "ip", "addr": str(vpc.nat_gateways[ngw].eip)}}]),
                     f"vpclab nat {vpc.name}/{ngw}"))
    for i in vpc.instances.values():
        if i.eip is None or i.ip is None:
            continue
        tag = f"vpclab eip {vpc.name}/{i.name}"
        pre.append((J.canonical([iif, J.match(J.DADDR, str(i.eip)), J.COUNTER,
                                 {"dnat": {"family": "ip", "addr": str(i.ip)}}]), tag))
        post.append((J.canonical([oif, J.match(nexthop, EIP_HOP), J.match(J.SADDR, str(i.ip)), J.COUNTER,
                                  {"snat": {"family": "ip", "addr": str(i.eip)}}]), tag))
    guard = [(J.canonical([oif, J.match(J.SADDR, J._net(internet.cidr), "!="), J.COUNTER, J.DROP]),
              "vpclab internet private-source")]
    return [NftChain("prerouting", tuple(pre), "prerouting", "nat", -100, "accept"),
            NftChain("postrouting", tuple(post), "postrouting", "nat", 100, "accept"),
            NftChain("internet-guard", tuple(guard), "postrouting", "filter", 101, "accept")]


class _NoTable:
    routes: list = []


_NO_TABLE = _NoTable()


def _router_ruleset(lab: Lab, vpc: Vpc, internet: Optional[Internet]) -> Optional[Ruleset]:
    chains = _acl_chains(vpc)
    if internet is not None and needs_internet(vpc):
        chains += _nat_chains(lab, vpc, internet)
    if not chains:
        return None
    return Ruleset(names.vpc_ns(lab.name, vpc.name), tuple(sorted(chains, key=lambda c: c.name)))


# ---- the Internet and the routes to it ---------------------------------------------------

def _internet(lab: Lab, internet: Internet, planned: List) -> List:
    L = lab.name
    ins = names.internet_ns(L)
    out: List = [Netns(ins, forwarding=True)]
    for h in internet.hosts.values():
        out.append(Address(ins, "lo", f"{h.ip}/32"))
        for port in h.ports:
            out.append(Service(ins, h.ref, "listener", str(h.ip), port))
    out.append(Route(ins, MAIN_TABLE, str(internet.cidr), type="blackhole"))
    out.append(Route(ins, MAIN_TABLE, DEFAULT, type="blackhole"))
    tables: Dict[str, List[Route]] = {}
    for o in planned:
        if isinstance(o, Route) and o.table >= 100:
            tables.setdefault(o.ns, []).append(o)
    for vpc in lab.vpcs.values():
        if not needs_internet(vpc):
            continue
        vns = names.vpc_ns(L, vpc.name)
        port = names.internet_port(L, vpc.name)
        a, b = sorted((vns, ins))
        out.append(Veth(a, port, b, port))
        out.append(Address(vns, port, f"{ROUTER_HOP}/32"))
        out.append(Address(ins, port, f"{EIP_HOP}/32"))
        for ngw in sorted(vpc.nat_gateways):
            out.append(Address(ins, port, f"{nat_hop(vpc, ngw)}/32"))
            out.append(Route(ins, MAIN_TABLE, f"{vpc.nat_gateways[ngw].eip}/32", via=ROUTER_HOP, dev=port))
        eip_insts = [i for i in vpc.instances.values() if i.eip is not None and i.ip is not None]
        for i in eip_insts:
            out.append(Route(ins, MAIN_TABLE, f"{i.eip}/32", via=ROUTER_HOP, dev=port))
        # each table an EIP instance uses, copied with the Internet as its last resort

        tids = table_ids(vpc)
        copied = set()
        for k, i in enumerate(eip_insts):
            tid = tids[vpc.subnets[i.subnet].route_table]
            out.append(Rule(vns, EIP_RULE_PRIO + k, None, tid + EIP_TABLE_OFFSET, src=f"{i.ip}/32"))
            if tid in copied:
                continue
            copied.add(tid)
            last_resort = True  # the table's own blackhole default comes first; a route of the user's stays
            for r in tables.get(vns, ()):
                if r.table != tid:
                    continue
                if last_resort and r.dst == DEFAULT and r.type == "blackhole":
                    last_resort = False
                    r = Route(vns, tid, DEFAULT, via=EIP_HOP, dev=port)
                out.append(Route(r.ns, tid + EIP_TABLE_OFFSET, r.dst, r.type, r.via, r.dev))
    return out
