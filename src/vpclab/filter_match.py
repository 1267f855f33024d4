"""Matching one packet against security group and network ACL rules, for `explain`.

`sg_check` and `acl_check` answer None when a packet passes, else the Reason that names the
group or ACL, the direction and the rule index (None: no rule matched). The first rule that
matches decides; a packet no rule matches is dropped. A rule's `port` is the packet's
destination port; a reply goes to the request's source port, one of the ephemeral ports
32768-65535 (`EPHEMERAL`), so a rule matches a reply only when its range covers all of them.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import List, Optional, Tuple

from . import analyze as A
from .model.filters import FilterRule
from .model.types import Instance, Lab, Subnet, Vpc

EPHEMERAL = (32768, 65535)  # the request's source port: Linux's ephemeral range and the crafted probes'


@dataclass(frozen=True)
class Packet:
    """What a filter sees: proto, the destination port range (None for ICMP), the far end."""

    proto: str
    ports: Optional[Tuple[int, int]]
    peer: ipaddress.IPv4Address
    reply: bool = False

    def text(self, way: str) -> str:
        if self.proto == "icmp":
            what = "icmp" + (" echo reply" if self.reply else "")
        elif self.reply:
            what = f"the {self.proto} reply (to an ephemeral port {EPHEMERAL[0]}-{EPHEMERAL[1]})"
        else:
            what = f"{self.proto}/{self.ports[0]}"
        return f"{what} {way} {self.peer}"


def packet(proto: str, port: Optional[int], peer, reply: bool) -> Packet:
    if proto == "icmp":
        return Packet(proto, None, peer, reply)
    return Packet(proto, EPHEMERAL if reply else (port, port), peer, reply)


def members(vpc: Vpc, group: str) -> List[ipaddress.IPv4Address]:
    """The private addresses of the instances that carry `group`."""
    return [i.ip for i in vpc.instances.values() if group in i.security_groups and i.ip is not None]


def matches(vpc: Vpc, rule: FilterRule, pkt: Packet) -> bool:
    if rule.proto != "all" and rule.proto != pkt.proto:
        return False
    if rule.ports is not None:
        if pkt.ports is None or not (rule.ports[0] <= pkt.ports[0] and pkt.ports[1] <= rule.ports[1]):
            return False
    net = rule.peer_network
    if net is not None:
        return pkt.peer in net
    return pkt.peer in members(vpc, rule.peer)


def _rule_text(rule: FilterRule, direction: str) -> str:
    from .model.filter_rules import rule_text
    return rule_text(rule, direction)


def sg_check(lab: Lab, inst: Instance, direction: str, pkt: Packet) -> Optional[A.Reason]:
    """None when `inst`'s groups let `pkt` pass in `direction`, else SECURITY_GROUP_DENY."""
    if not inst.security_groups:
        return None
    vpc = lab.vpcs[inst.vpc]
    way = "from" if direction == "ingress" else "to"
    for gname in inst.security_groups:
        g = vpc.security_groups.get(gname)
        for i, rule in enumerate(g.rules(direction) if g is not None else ()):
            if matches(vpc, rule, pkt):
                if rule.action == "accept":
                    return None
                return A.Reason(A.SECURITY_GROUP_DENY, inst.ref, None,
                                f"security group {gname} of {inst.ref}, {direction} rule {i} "
                                f"({_rule_text(rule, direction)}), drops {pkt.text(way)}",
                                group=gname, direction=direction, rule=i)
    names = ", ".join(inst.security_groups)
    return A.Reason(A.SECURITY_GROUP_DENY, inst.ref, None,
                    f"no {direction} rule of {inst.ref}'s security groups ({names}) accepts {pkt.text(way)}; "
                    "a packet no rule matches is dropped", group=",".join(inst.security_groups),
                    direction=direction, rule=None)


def acl_check(lab: Lab, vpc: Vpc, subnet: Subnet, direction: str, pkt: Packet) -> Optional[A.Reason]:
    """None when the ACL bound to `subnet` (if any) lets `pkt` pass, else NETWORK_ACL_DENY."""
    acl = vpc.acl_of(subnet.name)
    if acl is None:
        return None
    way = "from" if direction == "inbound" else "to"
    where = f"{vpc.name}/{subnet.name}"
    stateless = (f"; network ACLs are stateless: the reply needs its own {direction} rule" if pkt.reply else "")
    for i, rule in enumerate(acl.rules(direction)):
        if matches(vpc, rule, pkt):
            if rule.action == "accept":
                return None
            return A.Reason(A.NETWORK_ACL_DENY, where, None,
                            f"network ACL {acl.name} of subnet {where}, {direction} rule {i} "
                            f"({_rule_text(rule, direction)}), drops {pkt.text(way)}{stateless}",
                            acl=acl.name, direction=direction, rule=i)
    return A.Reason(A.NETWORK_ACL_DENY, where, None,
                    f"no {direction} rule of network ACL {acl.name} (subnet {where}) accepts {pkt.text(way)}; a "
                    f"packet no rule matches is dropped{stateless}", acl=acl.name, direction=direction, rule=None)


def crossing(lab: Lab, vpc: Vpc, a: Subnet, b: Optional[Subnet], pkt_out: Packet, pkt_in: Packet):
    """ACL outbound of `a`, then ACL inbound of `b`, when the packet crosses from a to b (None: b outside)."""
    if b is not None and a.name == b.name:
        return None
    return acl_check(lab, vpc, a, "outbound", pkt_out) or (
        acl_check(lab, vpc, b, "inbound", pkt_in) if b is not None else None)
