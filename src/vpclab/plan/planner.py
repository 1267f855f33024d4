"""model -> every kernel object a lab needs (ARCHITECTURE.md "Kernel mapping").

- VPC: a namespace with forwarding on. A subnet is routed, not bridged (as in
  the cloud, it has no broadcast domain): its gateway address sits on the
  router's `lo` as a /32, and a policy rule `from <subnet>` picks the subnet's
  route table. Each instance's veth ends in the router, which answers ARP for
  the whole subnet (proxy ARP, no proxy delay) and holds a host route to the
  instance (/32 via its veth) in the main table; a blackhole there covers the
  rest of the subnet. Two instances of one subnet talk through the router.
- Route table: kernel table 100+n. Each of the VPC's subnets is a `throw` there
  (the lookup goes on to the main table's host routes), a blackhole covers the
  rest of the VPC CIDR (the local route always wins), one route per peering
  route (via the peer's link address when the peering is ACTIVE, else a
  blackhole) and ends in `blackhole default`: nothing falls through to `main`.
- Peering: only an ACTIVE one exists in the kernel, as a veth between the two VPC
  namespaces with a 169.254.x.y/30. Traffic arriving on it is looked up in an
  ingress table that holds only the VPC's own subnets: not transitive, by routing
  alone. Its `iif` rules come before the subnets' `from` rules, so a packet that
  arrives over a peering never reaches a subnet's table with a route to elsewhere.
  Cross-region ingress also blackholes the VPC's CLB addresses.
- Cross-region: a tbf cap on both ends (and netem delay where the kernel has it);
  rate, burst and queue limit come from `shaping`, the one shaping policy.
- Instance: a namespace, a veth to the router, its address with the subnet's
  prefix and a default route to the gateway.
- Services: listeners for cdb/cmem and CLB backends, and the CLB balancer.
- Version 2 (plan/filters.py): nftables tables for security groups, ACLs, EIPs and NAT
  gateways, routes to NAT gateways, the Internet's namespace; nothing for a version-1 lab.
"""
from __future__ import annotations

from typing import Dict, List

from ..errors import Refused
from ..model import listeners
from ..model.types import ACTIVE, Lab, Peering
from . import ccn, filters, names
from .objects import Address, Netns, Plan, Qdisc, Route, Rule, Service, Sysctl, Veth

from .numbers import (DEFAULT, INGRESS_TABLE, INGRESS_XR_TABLE, MAIN_TABLE, PEERING_RULE_PRIO, SUBNET_RULE_PRIO,
                      link_addresses, table_ids)
from .shaping import shaping


def plan(lab: Lab, netem: bool = False) -> Plan:
    out: List = []
    add = out.append
    L = lab.name
    active = [p for p in lab.peerings.values() if p.state == ACTIVE]
    active_of: Dict[str, List[Peering]] = {}
    for p in active:
        active_of.setdefault(p.vpc, []).append(p)
        active_of.setdefault(p.peer_vpc, []).append(p)

    for vpc in lab.vpcs.values():
        ns = names.vpc_ns(L, vpc.name)
        add(Netns(ns, forwarding=True))
        tids = table_ids(vpc)
        subnet_routes = []
        for k, s in enumerate(vpc.subnets.values()):
            add(Address(ns, "lo", f"{s.gateway}/32"))
            add(Rule(ns, SUBNET_RULE_PRIO + k, None, tids[s.route_table], src=str(s.cidr)))
            add(Route(ns, MAIN_TABLE, str(s.cidr), type="blackhole"))  # no such host
            subnet_routes.append(str(s.cidr))

        vpc_cidr = str(vpc.cidr)
        covered = vpc_cidr in subnet_routes

        def local_routes(table: int, default: bool = True):
            for dst in subnet_routes:
                add(Route(ns, table, dst, type="throw"))
            if not covered:
                add(Route(ns, table, vpc_cidr, type="blackhole"))
            if default:
                add(Route(ns, table, DEFAULT, type="blackhole"))

        for tname, tid in tids.items():
            # a route of the table's own to 0.0.0.0/0 (a NAT gateway) replaces the blackhole default
            local_routes(tid, not any(str(r.destination) == DEFAULT for r in vpc.route_tables[tname].routes))
            for r in vpc.route_tables[tname].routes:
                p = lab.peerings.get(r.next_hop)
                if p is not None and p.state == ACTIVE:
                    req, acc = link_addresses(p)
                    via = acc if vpc.name == p.vpc else req
                    add(Route(ns, tid, str(r.destination), via=via, dev=names.peering_port(L, p.name)))
                elif vpc.nat_gateways and r.next_hop in vpc.nat_gateways:
                    add(filters.nat_route(lab, vpc, tid, r))
                elif r.next_hop in lab.ccns:  # version 3: a USER_CCN route (plan/ccn.py)
                    add(ccn.user_route(lab, vpc, tid, r))
                else:
                    add(Route(ns, tid, str(r.destination), type="blackhole"))

        mine = active_of.get(vpc.name, [])
        if any(not lab.is_cross_region(p) for p in mine):
            local_routes(INGRESS_TABLE)
        if any(lab.is_cross_region(p) for p in mine):
            local_routes(INGRESS_XR_TABLE)
            for i in vpc.instances.values():
                if i.kind == "clb":
                    add(Route(ns, INGRESS_XR_TABLE, f"{i.ip}/32", type="blackhole"))
        for p in mine:
            table = INGRESS_XR_TABLE if lab.is_cross_region(p) else INGRESS_TABLE
            add(Rule(ns, PEERING_RULE_PRIO + p.index, names.peering_port(L, p.name), table))

    for p in active:
        a, b = names.vpc_ns(L, p.vpc), names.vpc_ns(L, p.peer_vpc)
        port = names.peering_port(L, p.name)
        req, acc = link_addresses(p)
        # The kernel layer reads a veth between two VPCs back from the end whose
        # namespace name sorts first, so the plan names that end too.
        add(Veth(min(a, b), port, max(a, b), port))
        add(Address(a, port, f"{req}/30"))
        add(Address(b, port, f"{acc}/30"))
        if lab.is_cross_region(p) and p.bandwidth_kbps:
            delay = None
            if netem:
                delay = lab.latency_between(lab.vpcs[p.vpc].region, lab.vpcs[p.peer_vpc].region)
            for ns in (a, b):
                add(Qdisc(ns, port, *shaping(p.bandwidth_kbps), delay))

    out += ccn.objects(lab, netem)  # version 3: CCN routers, links, routes, caps (plan/ccn.py)

    eth = names.instance_eth(L)
    for vpc in lab.vpcs.values():
        vns = names.vpc_ns(L, vpc.name)
        for i in vpc.instances.values():
            s = vpc.subnets[i.subnet]
            ins = names.instance_ns(L, vpc.name, i.name)
            port = names.instance_port(L, i.name)
            add(Netns(ins))
            add(Veth(vns, port, ins, eth))
            add(Sysctl(vns, port, "proxy_arp", "1"))
            add(Sysctl(vns, port, "proxy_delay", "0"))  # answer at once, not after up to 0.8 s
            add(Route(vns, MAIN_TABLE, f"{i.ip}/32", dev=port))
            add(Address(ins, eth, f"{i.ip}/{s.cidr.prefixlen}"))
            add(Route(ins, MAIN_TABLE, DEFAULT, via=str(s.gateway), dev=eth))

    out += services(lab)
    out += filters.objects(lab, out)  # version 2: nothing for a version-1 model
    _check_names(out)
    return Plan(lab.name, out)


def _check_names(objects) -> None:
    """Hashed interface names could collide within a namespace: refuse rather than wire one
    instance in place of another."""
    seen = {}
    for o in objects:
        if o.is_link:
            for end in ((o.ns, o.ifname), (o.peer_ns, o.peer_ifname)):
                if end in seen and seen[end] is not o:
                    raise Refused(f"interface name {end[1]} in {end[0]} stands for two objects "
                                  f"({seen[end].describe()}; {o.describe()})", code="InvalidParameterValue.NameCollision",
                                  hint="rename one of the instances, subnets or peerings")
                seen[end] = o


def services(lab: Lab) -> List[Service]:
    """The listener processes: each CLB, and a listener on every other port an instance listens
    on (model/listeners.py: `listen:`, cdb/cmem, the port of each CLB it backs)."""
    out: Dict[tuple, Service] = {}
    for vpc in lab.vpcs.values():  # in version 1's order (its plans stay byte-identical)
        for i in vpc.instances.values():
            ns = names.instance_ns(lab.name, vpc.name, i.name)
            if i.kind in ("cdb", "cmem"):
                svc = Service(ns, i.ref, "listener", str(i.ip), i.service_port)
                out[svc.key] = svc
            elif i.kind == "clb":
                backends = tuple((str(vpc.instances[b].ip), i.port) for b in i.backends if b in vpc.instances)
                svc = Service(ns, i.ref, "clb", str(i.ip), i.port, backends)
                out[svc.key] = svc
                for b in i.backends:
                    bi = vpc.instances.get(b)
                    if bi is not None:
                        bsvc = Service(names.instance_ns(lab.name, vpc.name, b), bi.ref, "listener", str(bi.ip),
                                       i.port)
                        out.setdefault(bsvc.key, bsvc)
    for vpc in lab.vpcs.values():  # then `listen:` (version 3): the ports not served yet
        for i in vpc.instances.values():
            ns = names.instance_ns(lab.name, vpc.name, i.name)
            for port, protos in listeners.sockets(lab, i).items():
                svc = Service(ns, i.ref, "listener", str(i.ip), port, protos=protos)
                out.setdefault(svc.key, svc)
    return list(out.values())
