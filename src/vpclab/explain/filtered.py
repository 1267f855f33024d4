"""`explain` for labs with version-2 features: security groups, network ACLs, EIPs, NAT
gateways and the lab's Internet. `explain()` (explain/__init__.py) hands a question here whenever the lab
has any of them (a version-1 lab never comes here, so its answers stay what they were).

The walk follows the packet, in the order the kernel meets things:
  request:  source SG egress -> the VPC router's decision (local route, route table, EIP,
            see below) -> the source subnet's ACL outbound -> [peering | NAT gateway or
            EIP SNAT -> the Internet -> EIP DNAT] -> the destination subnet's ACL inbound
            -> destination SG ingress -> a listener (a closed port still answers: note).
  reply:    (SGs are stateful: the reply of an allowed flow passes both groups)
            destination subnet's ACL outbound -> the routes back (or the Internet, undoing
            the NAT) -> the source subnet's ACL inbound. ACLs are stateless: the reply is
            filtered in its own direction, so a missing reply rule gives `no-return`.
An ACL filters only traffic crossing its subnet's boundary: not between two instances of
one subnet. A rule's `port` is the packet's destination port; a reply goes to the
request's source port, one of the ephemeral ports 32768-65535, and the reply passes only
when the replies to all of them do (a reply rule needs e.g. 1024-65535; one covering part
of them gives `no-return` with the lost ports). The matching itself is in `filter_match`;
this module walks the path.

The router's decision toward an address outside the VPC (TOPOLOGY.md, version 2):
  1. the subnet's route table, longest prefix (a peering or a NAT gateway);
  2. else, if the source has an EIP: out to the Internet with the EIP as source;
  3. else dropped: NO_PUBLIC_IP toward a public address, NO_ROUTE otherwise.
A NAT gateway serves only its own VPC's subnets (a peer cannot reach it: a route over a
peering only ever leads into the peer's CIDR, and nothing arriving over a peering is sent
on), and it takes no incoming connections. The reply of a flow that came in through an
EIP leaves through that EIP (the router keeps the connection).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import List, Optional

from . import ccn, routes
from . import verdict as V
from .match import acl_check, crossing, packet, sg_check
from ..model.codec import lab_to_dict  # _vpc_filter_sig: one description of the objects, the codec's
from ..model.filter_rules import rule_text
from ..model.filters import INTERNET, INTERNET_PREFIX, InternetHost  # noqa: F401 (re-exported)
from ..model.types import Instance, Lab, Vpc


def in_use(lab: Lab) -> bool:
    """Whether `lab` has anything of version 2 (else explain() takes routes.answer, the route walk alone)."""
    if lab.internet is not None:
        return True
    return any(v.security_groups or v.network_acls or v.nat_gateways for v in lab.vpcs.values())


# ---- the ends of a question ----------------------------------------------------------------------


@dataclass
class _End:
    """A source or destination: an instance, an Internet host, or a bare address."""

    ref: str
    ip: ipaddress.IPv4Address
    inst: Optional[Instance] = None
    host: Optional[InternetHost] = None


def _resolve(lab: Lab, ref: str, role: str) -> _End:
    inst = lab.instance(ref)
    if inst is not None:
        return _End(inst.ref, inst.ip, inst=inst)
    if ref.startswith(INTERNET_PREFIX) and lab.internet is not None:
        host = lab.internet.hosts.get(ref[len(INTERNET_PREFIX):])
        if host is not None:
            return _End(host.ref, host.ip, host=host)
    if role == "dst":
        try:
            return _End(ref, ipaddress.IPv4Address(ref))
        except ValueError:
            pass
    raise KeyError(ref)


def is_public(lab: Lab, ip) -> bool:
    return lab.internet is not None and ip in lab.internet.cidr


# ---- the walk ---------------------------------------------------------------------------------------


@dataclass
class _Arrival:
    """Where a request ended up."""

    ok: bool
    path: List[str]
    reason: Optional[V.Reason] = None
    dest: Optional[_End] = None
    seen_source: Optional[ipaddress.IPv4Address] = None
    via_internet: bool = False
    public_src: Optional[ipaddress.IPv4Address] = None  # the source's address on the Internet
    nat: Optional[str] = None  # the source VPC's NAT gateway the request used
    dvpc: Optional[Vpc] = None
    crossed: list = field(default_factory=list)
    last: Optional[str] = None  # last hop when not ok (default: the path's end)


def answer(lab: Lab, src: str, dst: str, proto: str = "icmp", port: Optional[int] = None) -> V.Verdict:
    """The verdict for src -> dst in a lab with version-2 features. KeyError for an unknown end."""
    s = _resolve(lab, src, "src")
    d = _resolve(lab, dst, "dst")

    def verdict(result, fwd: V.Leg, ret: V.Leg, reason: V.Reason, note=None, seen=None) -> V.Verdict:
        # An address inside a VPC is named by the instance that holds it (as in version 1); a
        # public address stays what was asked (which EIP was used is the point).
        private = arrival.dest is not None and arrival.dest.inst is not None and not is_public(lab, d.ip)
        name = arrival.dest.ref if private else d.ref
        return V.Verdict(s.ref, name, proto, port, result, fwd, ret, reason, None, note,
                         None if seen is None else str(seen))

    arrival = _request(lab, s, d, proto, port)
    if not arrival.ok:  # `seen_source` set: it reached the destination, whose security group dropped it
        return verdict(V.UNREACHABLE, V.Leg(False, arrival.last or arrival.path[-1], arrival.path), V.Leg(),
                       arrival.reason, seen=arrival.seen_source)
    t = arrival.dest
    fpath = arrival.path
    note = None
    if not _listens(lab, t, proto, port):
        answer = "the datagram is answered by ICMP port unreachable" if proto == "udp" else \
            "the SYN is answered by RST"
        note = V.Reason(V.NO_LISTENER, t.ref, None, f"nothing listens on {proto}/{port} at {t.ref}: {answer}")
    # A closed UDP port answers with ICMP port unreachable: that is the packet the ACLs see.
    back = _reply(lab, s, arrival, "icmp" if note is not None and proto == "udp" else proto, port)
    seen = arrival.seen_source
    if not back.ok:
        return verdict(V.NO_RETURN, V.Leg(True, t.ref, fpath), V.Leg(False, back.last or back.path[-1], back.path),
                       back.reason, note, seen)
    return verdict(V.REACHABLE, V.Leg(True, t.ref, fpath), V.Leg(True, s.ref, back.path), V.Reason(), note, seen)


def _listens(lab: Lab, t: _End, proto: str, port) -> bool:
    if proto == "icmp":
        return True
    if t.host is not None:
        return port in t.host.ports
    return routes.listens(lab, t.inst, proto, port)


def _request(lab: Lab, s: _End, d: _End, proto: str, port) -> _Arrival:
    if s.host is not None:  # from the Internet: only public addresses are reachable
        path = [s.ref, INTERNET]
        if d.inst is not None:  # an instance named: the Internet reaches it through its EIP alone
            if d.inst.eip is None:
                return _Arrival(False, path, _no_eip(d.inst))
            return _over_internet(lab, path, d.inst.eip, s.ip, proto, port, None)
        return _over_internet(lab, path, d.ip, s.ip, proto, port, None)
    src = s.inst
    svpc = lab.vpcs[src.vpc]
    ssub = svpc.subnets[src.subnet]
    path = [src.ref]
    deny = sg_check(lab, src, "egress", packet(proto, port, d.ip, False))
    if deny is not None:
        return _Arrival(False, path, deny)
    path.append(svpc.name)
    out = packet(proto, port, d.ip, False)
    inn = packet(proto, port, src.ip, False)
    if d.ip in svpc.cidr:  # the local route always wins
        dsub = svpc.subnet_of(d.ip)
        there = routes.holder(svpc, d.ip)
        if there is None or dsub is None or (d.inst is not None and d.inst is not there):
            return _Arrival(False, path, _nobody(lab, svpc, d, there), dvpc=svpc)
        deny = crossing(lab, svpc, ssub, dsub, out, inn)
        if deny is not None:
            return _Arrival(False, path, deny, last=svpc.name)
        return _deliver(lab, path, there, src.ip, svpc, [], proto, port)
    table = ssub.route_table
    route = routes.lookup(svpc, table, d.ip, lab)
    if route is not None and route.next_hop in svpc.nat_gateways:
        deny = acl_check(lab, svpc, ssub, "outbound", out)
        if deny is not None:
            return _Arrival(False, path, deny)
        nat = svpc.nat_gateways[route.next_hop]
        return _over_internet(lab, path + [nat.name, INTERNET], d.ip, nat.eip, proto, port, nat.name)
    if route is None:
        if src.eip is not None and lab.internet is not None:
            deny = acl_check(lab, svpc, ssub, "outbound", out)
            if deny is not None:
                return _Arrival(False, path, deny)
            return _over_internet(lab, path + [INTERNET], d.ip, src.eip, proto, port, None)
        if is_public(lab, d.ip):
            return _Arrival(False, path, _no_public_ip(lab, svpc, src, table, d))
    step = routes.walk(lab, svpc, table, d.ip, src.ref)
    if not step.ok and not step.crossed:
        return _Arrival(False, step.path, step.reason)
    deny = acl_check(lab, svpc, ssub, "outbound", out)
    if deny is not None:
        return _Arrival(False, path, deny)
    if not step.ok:
        return _Arrival(False, step.path, step.reason)
    dvpc = step.vpc
    there = routes.holder(dvpc, d.ip)
    if there is None or (d.inst is not None and d.inst is not there):
        return _Arrival(False, step.path, _nobody(lab, dvpc, d, there), dvpc=dvpc)
    if there.kind == "clb" and any(lab.is_cross_region(p) for p in step.crossed):
        p = step.crossed[0]
        return _Arrival(False, step.path, V.Reason(
            V.CLB_CROSS_REGION, dvpc.name, None,
            f"{there.ref} is a load balancer; CLB does not support cross-region peering ({p.name}: "
            f"{lab.vpcs[p.vpc].region} - {lab.vpcs[p.peer_vpc].region})"))
    deny = acl_check(lab, dvpc, dvpc.subnets[there.subnet], "inbound", inn)
    if deny is not None:
        return _Arrival(False, step.path, deny)
    return _deliver(lab, step.path, there, src.ip, dvpc, step.crossed, proto, port)


def _deliver(lab: Lab, path, there: Instance, seen, dvpc: Vpc, crossed, proto, port, public_src=None,
             nat=None) -> _Arrival:
    """At the destination instance: its groups' ingress rules see the source as `seen`
    (`public_src` set: the request came over the Internet, through `there`'s EIP). A request
    they drop did reach the instance: `unreachable`, with `seen` as its seen source."""
    pkt = packet(proto, port, seen, False)
    deny = sg_check(lab, there, "ingress", pkt)
    path = path + [there.ref]
    if deny is not None:
        if deny.rule is not None:
            how = rule_text(lab.vpcs[there.vpc].security_groups[deny.group].rules("ingress")[deny.rule], "ingress")
        else:
            how = f"none accepts {pkt.text('from')}"
        deny.detail = V.dropped_on_arrival(there.ref, seen, deny.group, "ingress", deny.rule, how)
        return _Arrival(False, path, deny, dvpc=dvpc, seen_source=seen)
    return _Arrival(True, path, None, _End(there.ref, there.ip, inst=there), seen, public_src is not None,
                    public_src, nat, dvpc, list(crossed))


def _over_internet(lab: Lab, path, dst_ip, public_src, proto, port, nat) -> _Arrival:
    """From the Internet (source address `public_src`) to `dst_ip`."""
    net = lab.internet
    for h in net.hosts.values():
        if h.ip == dst_ip:
            return _Arrival(True, path + [h.ref], None, _End(h.ref, h.ip, host=h), public_src, True, public_src, nat)
    for v in lab.vpcs.values():
        for i in v.instances.values():
            if i.eip == dst_ip:
                dsub = v.subnets[i.subnet]
                deny = acl_check(lab, v, dsub, "inbound", packet(proto, port, public_src, False))
                if deny is not None:
                    return _Arrival(False, path + [v.name], deny)
                return _deliver(lab, path + [v.name], i, public_src, v, [], proto, port, public_src, nat)
        for g in v.nat_gateways.values():
            if g.eip == dst_ip:
                return _Arrival(False, path + [v.name], V.Reason(
                    V.NO_ROUTE, v.name, None, f"{dst_ip} is NAT gateway {v.name}/{g.name}'s address: a NAT gateway "
                    "only translates connections its own subnets open, and takes none from outside"))
    if lab.vpc_of_ip(dst_ip) is not None:
        detail = (f"{dst_ip} is a private address: the Internet does not route it (over the Internet, use the "
                  "destination's EIP; privately, a peering)")
    else:
        detail = f"nothing on the lab's Internet ({net.cidr}) has the address {dst_ip}"
    return _Arrival(False, path, V.Reason(V.NO_ROUTE, INTERNET, None, detail))


def _nobody(lab: Lab, vpc: Vpc, d: _End, there: Optional[Instance]) -> V.Reason:
    """The version-1 wording for an address the routes lead to where the asked-for instance is not."""
    if d.inst is None:
        detail = f"no instance has address {d.ip} in {vpc.name}"
    elif d.inst.vpc == vpc.name:
        detail = f"no instance has address {d.ip} in {vpc.name}"
    else:
        detail = f"the routes lead {d.ip} to {vpc.name}, not to {d.inst.vpc}"
    if there is not None and d.inst is not None and there is not d.inst:
        detail += f"; there it is {there.ref}"
    disabled = ccn.elsewhere(lab, vpc, d.inst.vpc, d.ip) if d.inst is not None and d.inst.vpc != vpc.name else None
    return disabled or V.Reason(V.NO_ROUTE, vpc.name, None, detail)


def _no_eip(inst: Instance) -> V.Reason:
    """An Internet host asked for an instance without an EIP (TOPOLOGY.md v3, Internet sources)."""
    what = "load balancer" if inst.kind == "clb" else "instance"
    return V.Reason(V.NO_PUBLIC_IP, INTERNET, None, (
        f"{inst.ref} has no EIP: from the Internet a{'n' * (what == 'instance')} {what} is reached only through "
        f"its EIP, and the Internet does not route its private address {inst.ip}"))


def _no_public_ip(lab: Lab, vpc: Vpc, src: Instance, table: str, d: _End) -> V.Reason:
    named = d.ref if d.ref == str(d.ip) else f"{d.ref} ({d.ip})"
    detail = (f"{named} is a public address; {src.ref} has no EIP and table {table} has no route to a NAT "
              "gateway for it")
    peers_nat = sorted(f"{lab.vpcs[p.other(vpc.name)].name}/{g}" for p in lab.peerings_of(vpc.name)
                       for g in lab.vpcs[p.other(vpc.name)].nat_gateways if p.other(vpc.name) in lab.vpcs)
    if peers_nat:
        detail += f" (a peer's NAT gateway, {', '.join(peers_nat)}, cannot be used through a peering)"
    return V.Reason(V.NO_PUBLIC_IP, vpc.name, table, detail)


def _reply(lab: Lab, s: _End, arr: _Arrival, proto: str, port) -> _Arrival:
    """The reply from `arr.dest` back to `s`."""
    t = arr.dest
    if arr.via_internet:
        path = [t.ref]
        if t.inst is not None:  # out through its EIP (the router keeps the connection)
            dvpc = lab.vpcs[t.inst.vpc]
            path.append(dvpc.name)
            deny = acl_check(lab, dvpc, dvpc.subnets[t.inst.subnet], "outbound",
                             packet(proto, port, arr.public_src, True))
            if deny is not None:
                return _Arrival(False, path, deny)
            here = t.inst.eip
        else:
            here = t.ip
        path.append(INTERNET)
        if s.host is not None:
            return _Arrival(True, path + [s.ref])
        svpc = lab.vpcs[s.inst.vpc]
        path += ([arr.nat] if arr.nat else []) + [svpc.name]
        deny = acl_check(lab, svpc, svpc.subnets[s.inst.subnet], "inbound", packet(proto, port, here, True))
        if deny is not None:
            return _Arrival(False, path, deny)
        return _Arrival(True, path + [s.ref])
    # over private addresses: back by the routes
    src, there, dvpc = s.inst, t.inst, arr.dvpc
    svpc = lab.vpcs[src.vpc]
    ssub, dsub = svpc.subnets[src.subnet], dvpc.subnets[there.subnet]
    out = packet(proto, port, src.ip, True)
    inn = packet(proto, port, there.ip, True)
    if dvpc is svpc:
        deny = crossing(lab, svpc, dsub, ssub, out, inn)
        if deny is not None:
            return _Arrival(False, [there.ref, svpc.name], deny)
        return _Arrival(True, [there.ref, svpc.name, src.ref])
    dtable = dsub.route_table
    route = routes.lookup(dvpc, dtable, src.ip, lab)
    toward_internet = (route is not None and route.next_hop in dvpc.nat_gateways) or (
        route is None and there.eip is not None and lab.internet is not None)
    if toward_internet:  # as the request does: it leaves the subnet (its ACL) before the Internet drops it
        deny = acl_check(lab, dvpc, dsub, "outbound", out)
        if deny is not None:
            return _Arrival(False, [there.ref, dvpc.name], deny)
    if route is not None and route.next_hop in dvpc.nat_gateways:
        return _Arrival(False, [there.ref, dvpc.name], V.Reason(
            V.NO_ROUTE, dvpc.name, dtable,
            f"the reply to {src.ip} takes route {route.destination} via NAT gateway {route.next_hop}, toward the "
            "Internet, which does not route private addresses; it needs a route back over the peering"))
    back = routes.walk(lab, dvpc, dtable, src.ip, there.ref)
    if not back.ok and not back.crossed:
        return _Arrival(False, back.path, back.reason)
    deny = acl_check(lab, dvpc, dsub, "outbound", out)
    if deny is not None:
        return _Arrival(False, [there.ref, dvpc.name], deny)
    if not back.ok:
        return _Arrival(False, back.path, back.reason)
    if src.kind == "clb" and any(lab.is_cross_region(p) for p in back.crossed):
        p = back.crossed[0]
        return _Arrival(False, back.path, V.Reason(
            V.CLB_CROSS_REGION, svpc.name, None,
            f"the reply to {src.ref}, a load balancer, comes over cross-region {p.name}; CLB does not support "
            "cross-region peering"), last=svpc.name)
    if back.vpc.name != svpc.name:
        return _Arrival(False, back.path, V.Reason(
            V.NO_ROUTE, dvpc.name, dtable, f"the reply to {src.ip} is routed to {back.vpc.name}, not to {svpc.name}"))
    deny = acl_check(lab, svpc, ssub, "inbound", inn)
    if deny is not None:
        return _Arrival(False, back.path, deny)
    return _Arrival(True, back.path + [src.ref])


def is_host_ref(lab: Lab, ref: str) -> bool:
    """Whether `ref` is `internet/<host>` of `lab`."""
    return lab.internet is not None and lab.internet.host(ref) is not None


def _vpc_filter_sig(lab: Lab, name: str):
    v = lab.vpcs.get(name)
    if v is None:
        return None
    doc = next(x for x in lab_to_dict(Lab(name="sig", vpcs={name: v}))["vpcs"])
    for i in doc["instances"]:
        i.pop("ip", None)
    for rules in [g[d] for g in doc["security_groups"] for d in ("ingress", "egress")] + \
            [a[d] for a in doc["network_acls"] for d in ("inbound", "outbound")]:
        for r in rules:
            r.pop("line", None)  # where a rule was written (a line, or FILE:LINE under include:) is no change
    return repr((doc["security_groups"], doc["network_acls"], doc["nat_gateways"],
                 [(i["name"], i["security_groups"], i["eip"]) for i in doc["instances"]]))


def dirty_vpcs(old: Lab, new: Lab) -> set:
    """For `vpclab diff`: the VPCs whose version-2 objects differ (groups, ACLs, NAT gateways,
    instances' groups and EIPs); every VPC when the Internet differs. A difference there can
    change any pair with an end in that VPC (paths over the Internet or a peering end there)."""
    def net(lab):
        n = lab.internet
        return None if n is None else (n.cidr, sorted((h.name, h.ip, tuple(h.ports)) for h in n.hosts.values()))

    if net(old) != net(new):
        return set(old.vpcs) | set(new.vpcs)
    return filter_changed_vpcs(old, new)


def filter_changed_vpcs(old: Lab, new: Lab) -> set:
    """The VPCs whose own version-2 objects differ (groups, ACLs, NAT gateways, instances' groups
    and EIPs), whatever the Internet does: what `diff` may blame on a VPC's filters."""
    return {n for n in set(old.vpcs) | set(new.vpcs) if _vpc_filter_sig(old, n) != _vpc_filter_sig(new, n)}


def public_destinations(lab: Lab) -> List[str]:
    """The destinations of version 2 a matrix asks besides the instances: every Internet host
    (`internet/<host>`) and every EIP (as its address), in lab order."""
    out = [h.ref for h in lab.internet.hosts.values()] if lab.internet is not None else []
    return out + [str(i.eip) for v in lab.vpcs.values() for i in v.instances.values() if i.eip is not None]
