"""What a probe asks, and where it watches: `Target` (one question: source instance,
destination, protocol and port), its capture points (every VPC router and the lab's Internet
the request or reply may cross, then the destination), and the matrix's questions.
"""
from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from typing import List, Optional, Tuple, Union

from ..errors import Refused
from .. import explain
from ..explain.match import EPHEMERAL
from ..model.codes import IP_RESERVED
from ..model.filters import INTERNET, InternetHost
from ..model.types import Instance, Lab
from ..plan import names
from ..probe.types import CRAFTED_PORTS, CapturePoint, ProbeSpec
from . import static


class HostSource:
    """An Internet host as a probe's source (TOPOLOGY.md v3, "Internet hosts as sources"): it
    sends from the lab's Internet namespace with its own address, and has what a Target reads
    of a source instance but no VPC, subnet, group or EIP."""

    vpc = subnet = eip = service_port = None
    security_groups: tuple = ()
    kind = "internet"

    def __init__(self, host: InternetHost):
        self.host, self.name, self.ip, self.ref = host, host.name, host.ip, host.ref


def source_ns(lab: str, src) -> str:
    """The namespace a source sends from: its instance's, or the lab's Internet for a host."""
    if isinstance(src, HostSource):
        return names.internet_ns(lab)
    return names.instance_ns(lab, src.vpc, src.name)


@dataclass
class Target:
    """One question: src (an instance or an Internet host) -> dst (instance, address, EIP or
    Internet host), proto/port.

    `dst_ref` is the destination as explain names it (an instance, `internet/<host>`, or
    an address as asked: a public address stays the address); `dst` the instance that
    holds the address (through its EIP too), `host` the Internet host. From an Internet
    host an instance named is probed at its EIP (`dst_ip`; its private address when it has
    none: the Internet's kernel has no route for it).
    """

    src: Union[Instance, HostSource]
    dst_ref: str
    dst_ip: ipaddress.IPv4Address
    dst: Optional[Instance]
    proto: str
    port: Optional[int]
    host: Optional[InternetHost] = None

    def spec(self, lab: str, expected: Optional[explain.Verdict] = None) -> ProbeSpec:
        return ProbeSpec(source_ns(lab, self.src), _text(self.src.ip),
                         _text(self.dst_ip), self.proto, self.port, reply_ports(expected))

    @property
    def point(self) -> Optional[str]:
        """The label of the destination's capture point (None: no known holder to watch)."""
        if self.dst is not None:
            return self.dst.ref
        return self.host.ref if self.host is not None else None

    @property
    def public(self) -> bool:
        """Whether the destination is reached over the lab's Internet (an EIP or a host)."""
        return self.host is not None or (self.dst is not None and self.dst.eip == self.dst_ip)

    @property
    def from_internet(self) -> bool:
        """Whether the source is an Internet host (it lives in the Internet's namespace)."""
        return isinstance(self.src, HostSource)


_text = functools.lru_cache(maxsize=1 << 16)(str)  # an address's text (ipaddress's str() is slow)


def target(model: Lab, src: str, dst: str, proto: str, port: Optional[int]) -> Target:
    static.check_proto(proto, port)
    net = model.internet
    h = net.host(dst) if net is not None else None
    # an Internet host is probed at its address (the same checks as for any address); it may
    # also be the source (version 3)
    static.check_ends(model, src, str(h.ip) if h is not None else dst, internet=True)
    s = model.instance(src) or HostSource(net.host(src))
    if h is not None:
        return Target(s, h.ref, h.ip, None, proto, port, host=h)
    d = model.instance(dst)
    if d is not None:
        # from the Internet an instance is reached at its EIP (the model says why not without one)
        ip = d.eip if isinstance(s, HostSource) and d.eip is not None else d.ip
        return Target(s, d.ref, ip, d, proto, port)
    ip = ipaddress.IPv4Address(dst)
    if net is not None and ip in net.cidr:  # a public address: an Internet host's, an EIP, a NAT gateway's
        host = next((h for h in net.hosts.values() if h.ip == ip), None)
        holder = next((i for i in model.instances() if i.eip == ip), None)
        return Target(s, str(ip), ip, holder, proto, port, host=host)
    if model.vpc_of_ip(ip) is None:
        raise Refused(f"{ip} is not inside any VPC of lab {model.name}: vpclab probes only the lab's own addresses",
                      code="InvalidParameterValue")
    for sub in model.vpc_of_ip(ip).subnets.values():
        # The lab's VPC router holds each subnet's gateway and would answer for it (explain
        # cannot: the cloud reserves these addresses), so probing them proves nothing.
        if ip in (sub.cidr.network_address, sub.gateway, sub.cidr.broadcast_address):
            raise Refused(f"{ip} is reserved in {sub.cidr} (network, gateway and broadcast addresses): "
                          f"probe an instance or a free address", code=IP_RESERVED)
    # Which instance an address means depends on where the source's routes take it
    # (VPCs that are not peered may overlap): the one explain lands on.
    inst = model.instance(explain.explain(model, s.ref, str(ip), proto, port).dst)
    return Target(s, inst.ref if inst else str(ip), ip, inst, proto, port)


def capture_points(model: Lab, t: Target, expected: explain.Verdict) -> List[CapturePoint]:
    """Every VPC router (and the lab's Internet) the request or reply may cross, then the destination."""
    order: List[str] = []
    dst_vpc = t.dst.vpc if t.dst is not None else getattr(model.vpc_of_ip(t.dst_ip), "name", None)
    net = model.internet is not None
    for hop in [t.src.vpc] + expected.forward.path + expected.ret.path + [dst_vpc] + ([INTERNET] if net else []):
        if (hop in model.vpcs or (net and hop == INTERNET)) and hop not in order:
            order.append(hop)
        for point in ccn_points(model, hop):  # version 3: a CCN's routers on the way ("ccn-core (R1 -> R2)")
            if point not in order:
                order.append(point)
    # An Internet host lives in the Internet's namespace: that point is the destination's (or,
    # from a host, the source's own, watched by the engine as the source).
    inside = t.host is not None or t.from_internet
    pts = [_internet_point(model.name, INTERNET if t.host is None else t.host.ref) if v == INTERNET
           else v if isinstance(v, CapturePoint) else _vpc_point(model.name, v)
           for v in order if not (v == INTERNET and inside)]
    if t.dst is not None:
        pts.append(_instance_point(model.name, t.dst.vpc, t.dst.name))
    elif t.host is not None:
        pts.append(_internet_point(model.name, t.host.ref))
    return pts


def ccn_points(model: Lab, hop: str) -> List[CapturePoint]:
    """The CCN routers a path's CCN hop crosses (`ccn-core (ap-guangzhou -> ap-shanghai)`: the
    CCN's router in each of the two regions), labelled `ccn-core ap-guangzhou`."""
    if not isinstance(hop, str):
        return []
    name, _, pair = hop.partition(" (")
    c = model.ccns.get(name) if pair else None
    if c is None:
        return []
    regions = [r.strip() for r in pair.rstrip(")").split("->")]
    return [CapturePoint(names.ccn_ns(model.name, c.index, r), None, f"{c.name} {r}")
            for r in dict.fromkeys(regions)]


@functools.lru_cache(maxsize=1 << 10)
def _internet_point(lab: str, label: str) -> CapturePoint:
    return CapturePoint(names.internet_ns(lab), None, label)


@functools.lru_cache(maxsize=1 << 14)
def _vpc_point(lab: str, vpc: str) -> CapturePoint:
    return CapturePoint(names.vpc_ns(lab, vpc), None, vpc)


@functools.lru_cache(maxsize=1 << 16)
def _instance_point(lab: str, vpc: str, inst: str) -> CapturePoint:
    return CapturePoint(names.instance_ns(lab, vpc, inst), None, f"{vpc}/{inst}")


def reply_ports(expected: Optional[explain.Verdict]) -> Optional[Tuple[int, int]]:
    """The source ports to probe from when explain says a filter drops the replies to some ports
    only (an ACL rule covering part of the ephemeral range): those, so that the packets show the
    drop; the crafted probes' own ports among them if there are any. None: any port will do."""
    ports = expected.reason.ports if expected is not None and expected.result == explain.NO_RETURN else None
    if ports is None or ports == EPHEMERAL:
        return None
    lo, hi = max(ports[0], CRAFTED_PORTS[0]), min(ports[1], CRAFTED_PORTS[1])
    return (lo, hi) if lo <= hi else ports


def ports_asked(d: Instance) -> List[Tuple[str, int]]:
    """The (protocol, port) questions the matrix asks of `d` beside ICMP: the service port of a
    service instance (TCP), then each of its `listen:` entries (version 3)."""
    out = [("tcp", d.service_port)] if d.service_port else []
    out += [e for e in d.listen if e not in out]
    return out


def matrix_targets(src: Instance, insts: List[Instance], hosts: Optional[List[InternetHost]] = None) -> List[Target]:
    """SRC to every other instance: ICMP, plus the service port of service instances and every
    `listen:` port; then to every other instance's EIP the same way, and to every Internet host
    (ICMP and its ports)."""
    out = []
    for d in insts:
        if d is src:
            continue
        out.append(Target(src, d.ref, d.ip, d, "icmp", None))
        out += [Target(src, d.ref, d.ip, d, proto, port) for proto, port in ports_asked(d)]
    for d in insts:
        if d is src or d.eip is None or d.eip == src.eip:
            continue
        out.append(Target(src, _text(d.eip), d.eip, d, "icmp", None))
        out += [Target(src, _text(d.eip), d.eip, d, proto, port) for proto, port in ports_asked(d)]
    for h in hosts or ():
        out.append(Target(src, h.ref, h.ip, None, "icmp", None, host=h))
        out += [Target(src, h.ref, h.ip, None, "tcp", port, host=h) for port in h.ports]
    return out


def host_targets(host: InternetHost, insts: List[Instance]) -> List[Target]:
    """The matrix rows from an Internet host (version 3): to every EIP, the only addresses of the
    lab's instances the Internet can reach: ICMP, plus the service port of service instances and
    every `listen:` port."""
    src = HostSource(host)
    out = []
    for d in insts:
        if d.eip is None:
            continue
        out.append(Target(src, _text(d.eip), d.eip, d, "icmp", None))
        out += [Target(src, _text(d.eip), d.eip, d, proto, port) for proto, port in ports_asked(d)]
    return out
