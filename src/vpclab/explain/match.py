"""Matching one packet against security group and network ACL rules, for `explain`.

`sg_check` and `acl_check` answer None when a packet passes, else the Reason that names the
group or ACL, the direction and the rule index (None: no rule matched). The first rule that
matches decides; a packet no rule matches is dropped. A rule's `port` is the packet's
destination port; a reply goes to the request's source port, one of the ephemeral ports
32768-65535 (`EPHEMERAL`), so a reply stands for all of them: a rule takes (accepts or
drops) the part its range covers, the next rules see the rest, and the reply passes only
when every one of those ports is accepted (`first_drop`).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from . import verdict as V
from ..model.filter_rules import rule_text
from ..model.filters import FilterRule
from ..model.types import Instance, Lab, Subnet, Vpc

EPHEMERAL = (32768, 65535)  # the request's source port: Linux's ephemeral range and the crafted probes'


Ports = Tuple[int, int]


@dataclass(frozen=True)
class Packet:
    """What a filter sees: proto, the destination port range (None for ICMP), the far end.

    A request has one port; a reply stands for all its possible ports (`EPHEMERAL`): it
    passes only if a reply to every one of them passes (a client may use any of them).
    """

    proto: str
    ports: Optional[Ports]
    peer: ipaddress.IPv4Address
    reply: bool = False

    def text(self, way: str, ports: Optional[Ports] = None) -> str:
        if self.proto == "icmp":
            what = "icmp" + (" echo reply" if self.reply else "")
        elif self.reply and (ports is None or ports == EPHEMERAL):
            what = f"the {self.proto} reply (to an ephemeral port {EPHEMERAL[0]}-{EPHEMERAL[1]})"
        elif self.reply:
            what = (f"the {self.proto} replies to ports {_span(ports)} (of the ephemeral ports "
                    f"{EPHEMERAL[0]}-{EPHEMERAL[1]}: a client whose source port falls there gets no reply)")
        else:
            what = f"{self.proto}/{self.ports[0]}"
        return f"{what} {way} {self.peer}"


def _span(ports: Ports) -> str:
    return str(ports[0]) if ports[0] == ports[1] else f"{ports[0]}-{ports[1]}"


def packet(proto: str, port: Optional[int], peer, reply: bool) -> Packet:
    if proto == "icmp":
        return Packet(proto, None, peer, reply)
    return Packet(proto, EPHEMERAL if reply else (port, port), peer, reply)


def members(vpc: Vpc, group: str) -> List[ipaddress.IPv4Address]:
    """The private addresses of the instances that carry `group`."""
    return [i.ip for i in vpc.instances.values() if group in i.security_groups and i.ip is not None]


def _applies(vpc: Vpc, rule: FilterRule, pkt: Packet) -> bool:
    """The rule's protocol and peer fit the packet (its ports are looked at by `first_drop`)."""
    if rule.proto != "all" and rule.proto != pkt.proto:
        return False
    if rule.ports is not None and pkt.ports is None:
        return False
    net = rule.peer_network
    if net is not None:
        return pkt.peer in net
    return pkt.peer in members(vpc, rule.peer)


def _cut(left: List[Ports], r: Ports) -> Tuple[List[Ports], List[Ports]]:
    """`left` split into the parts inside and outside `r`."""
    inside, outside = [], []
    for lo, hi in left:
        a, b = max(lo, r[0]), min(hi, r[1])
        if a > b:
            outside.append((lo, hi))
            continue
        inside.append((a, b))
        if lo < a:
            outside.append((lo, a - 1))
        if b < hi:
            outside.append((b + 1, hi))
    return inside, outside


def first_drop(vpc: Vpc, rules: Sequence[Tuple[object, FilterRule]], pkt: Packet):
    """None when every port of `pkt` passes `rules` (first match decides, no match drops), else
    (label of the dropping rule, or None for "no rule matched"; the first dropped port range of
    a reply, None for a request or ICMP). `rules` are (label, rule) pairs in order."""
    left: List[Optional[Ports]] = [pkt.ports] if pkt.ports is not None else [None]
    for label, rule in rules:
        if not _applies(vpc, rule, pkt):
            continue
        if pkt.ports is None:
            hit, rest = left, []
        else:
            hit, rest = _cut(left, rule.ports or (0, 65535))
        if not hit:
            continue
        if rule.action != "accept":
            return label, hit[0] if pkt.reply else None
        left = rest
        if not left:
            return None
    return None, left[0] if pkt.reply else None


def sg_check(lab: Lab, inst: Instance, direction: str, pkt: Packet) -> Optional[V.Reason]:
    """None when `inst`'s groups let `pkt` pass in `direction`, else SECURITY_GROUP_DENY."""
    if not inst.security_groups:
        return None
    vpc = lab.vpcs[inst.vpc]
    way = "from" if direction == "ingress" else "to"
    rules = [((gname, i), rule) for gname in inst.security_groups
             for i, rule in enumerate(vpc.security_groups[gname].rules(direction)
                                      if gname in vpc.security_groups else ())]
    drop = first_drop(vpc, rules, pkt)
    if drop is None:
        return None
    label, ports = drop
    if label is not None:
        gname, i = label
        rule = vpc.security_groups[gname].rules(direction)[i]
        return V.Reason(V.SECURITY_GROUP_DENY, inst.ref, None,
                        f"security group {gname} of {inst.ref}, {direction} rule {i} "
                        f"({rule_text(rule, direction)}), drops {pkt.text(way, ports)}",
                        group=gname, direction=direction, rule=i, ports=ports)
    names = ", ".join(inst.security_groups)
    return V.Reason(V.SECURITY_GROUP_DENY, inst.ref, None,
                    f"no {direction} rule of {inst.ref}'s security groups ({names}) accepts {pkt.text(way, ports)}; "
                    "a packet no rule matches is dropped", group=",".join(inst.security_groups),
                    direction=direction, rule=None, ports=ports)


def acl_check(lab: Lab, vpc: Vpc, subnet: Subnet, direction: str, pkt: Packet) -> Optional[V.Reason]:
    """None when the ACL bound to `subnet` (if any) lets `pkt` pass, else NETWORK_ACL_DENY. A
    reply passes only when the replies to all ephemeral ports do (`Reason.ports`: the dropped ones)."""
    acl = vpc.acl_of(subnet.name)
    if acl is None:
        return None
    rules = acl.rules(direction)
    drop = first_drop(vpc, list(enumerate(rules)), pkt)
    if drop is None:
        return None
    i, ports = drop
    way = "from" if direction == "inbound" else "to"
    where = f"{vpc.name}/{subnet.name}"
    stateless = (f"; network ACLs are stateless: the reply needs its own {direction} rule" if pkt.reply else "")
    if i is not None:
        return V.Reason(V.NETWORK_ACL_DENY, where, None,
                        f"network ACL {acl.name} of subnet {where}, {direction} rule {i} "
                        f"({rule_text(rules[i], direction)}), drops {pkt.text(way, ports)}{stateless}",
                        acl=acl.name, direction=direction, rule=i, ports=ports)
    return V.Reason(V.NETWORK_ACL_DENY, where, None,
                    f"no {direction} rule of network ACL {acl.name} (subnet {where}) accepts {pkt.text(way, ports)}; a "
                    f"packet no rule matches is dropped{stateless}", acl=acl.name, direction=direction, rule=None,
                    ports=ports)


def crossing(lab: Lab, vpc: Vpc, a: Subnet, b: Optional[Subnet], pkt_out: Packet, pkt_in: Packet):
    """ACL outbound of `a`, then ACL inbound of `b`, when the packet crosses from a to b (None: b outside)."""
    if b is not None and a.name == b.name:
        return None
    return acl_check(lab, vpc, a, "outbound", pkt_out) or (
        acl_check(lab, vpc, b, "inbound", pkt_in) if b is not None else None)
