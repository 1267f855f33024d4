"""The live operations on security groups, network ACLs and EIPs (CLI.md version 2), on a
`Lab` in memory, like `lifecycle` for peerings and routes.

Each operation checks the rules of `filter_rules` (the same ones a topology file meets)
and raises `Refused` with the cloud's code; a refused operation leaves the model as it
was. Persisting and applying to the kernel is the controller's (`filters_live`).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import List, Optional

from ..errors import NotFound, Refused, did_you_mean, shown
from . import filter_rules as FR
from .filters import ACL_DIRECTIONS, ACTIONS, FILTER_PROTOS, SG_DIRECTIONS, FilterRule, Internet
from .lifecycle import find_vpc
from .rules import Violation
from .types import Lab, Vpc

ALREADY_BOUND_EIP = "InvalidInstanceId.AlreadyBindEip"  # Tencent's code: the instance already has one


@dataclass
class FilterChange:
    """What an operation did: `name` the target (for the event log), `state` a one-line detail."""

    name: str
    state: str
    data: dict = field(default_factory=dict)


def _refuse(violations: List[Violation]) -> None:
    if violations:
        raise Refused(violations[0].message, code=violations[0].code)


def _name(value, what: str) -> str:
    if not isinstance(value, str):
        raise Refused(f"{what} must be a name, not {shown(value, as_repr=True)}", code="InvalidParameterValue")
    return value


def _split(ref: str, what: str):
    if not isinstance(ref, str) or ref.count("/") != 1:
        raise Refused(f"{what} '{shown(ref)}' must be written VPC/NAME", code="InvalidParameterValue")
    return ref.split("/")


def _find(lab: Lab, ref: str, what: str, table: str):
    """VPC/NAME -> (the VPC, its `table`[NAME]), or the cloud's ResourceNotFound with a hint."""
    vname, name = _split(ref, what)
    v = find_vpc(lab, vname)
    found = getattr(v, table).get(name)
    if found is None:
        raise NotFound(f"{what} '{shown(name)}' does not exist in {v.name}", code=FR.NOT_FOUND,
                       hint=did_you_mean(name, getattr(v, table)))
    return v, found


def find_group(lab: Lab, ref: str):
    return _find(lab, ref, "security group", "security_groups")


def find_acl(lab: Lab, ref: str):
    return _find(lab, ref, "network ACL", "network_acls")


def find_instance(lab: Lab, ref: str):
    return _find(lab, ref, "instance", "instances")


def make_rule(kind: str, direction: str, proto: Optional[str], port, peer, action: Optional[str]) -> FilterRule:
    """A rule from what a person typed, refused exactly as the same text in a file would be."""
    proto = proto or "all"
    if not isinstance(proto, str) or proto not in FILTER_PROTOS:
        raise Refused(f"--proto '{shown(proto)}' must be one of {', '.join(FILTER_PROTOS)}",
                      code="InvalidParameterValue")
    if not isinstance(action, (str, type(None))) or action not in ACTIONS:
        raise Refused(f"--action '{shown(action)}' must be accept or drop" if action else "a rule needs --action "
                      "accept or drop", code="InvalidParameterValue" if action else "MissingParameter")
    if peer is None:
        raise Refused(f"a {direction} rule needs --{FR.PEER_KEY[direction]}", code="MissingParameter")
    ports, bad = FR.parse_ports(port, proto)
    _refuse([bad] if bad else [])
    text, bad = FR.parse_peer(peer, kind)
    if bad is not None:
        raise Refused(f"--{FR.PEER_KEY[direction]} {bad.message}", code=bad.code)
    return FilterRule(proto, ports, text, action)


def _index(index, rules, adding: bool) -> int:
    top = len(rules) if adding else len(rules) - 1
    if index is None:
        return len(rules)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= top:
        where = f"0..{top}" if top >= 0 else "none: the direction has no rules"
        raise Refused(f"--index {shown(index, as_repr=True)} is out of range ({where})", code=FR.RANGE)
    return index


def _edit_rules(lab: Lab, v: Vpc, kind: str, owner, direction: str, rule: Optional[FilterRule], index,
                adding: bool) -> FilterChange:
    directions = SG_DIRECTIONS if kind == "sg" else ACL_DIRECTIONS
    if not isinstance(direction, str) or direction not in directions:
        raise Refused(f"--direction '{shown(direction)}' must be {' or '.join(directions)}",
                      code="InvalidParameterValue")
    rules = owner.rules(direction)
    what = f"{'security group' if kind == 'sg' else 'network ACL'} {v.name}/{owner.name} {direction}"
    if adding:
        at = _index(index, rules, True)
        new = rules[:at] + [rule] + rules[at:]
        _refuse(FR.check_rules(lab, v, kind, owner.name, direction, new))
        rules.insert(at, rule)
        return FilterChange(f"{v.name}/{owner.name}", f"{direction} rule {at} added: {FR.rule_text(rule, direction)}",
                            {"index": at})
    if index is None and rule is None:
        raise Refused("rule del needs --index N or the rule's fields (--proto, --port, --source/--destination, "
                      "--action)", code="MissingParameter")
    if index is not None:
        at = _index(index, rules, False)
        if rule is not None and rules[at] != rule:
            raise NotFound(f"{what} rule {at} is {FR.rule_text(rules[at], direction)}, not "
                           f"{FR.rule_text(rule, direction)}", code=FR.NOT_FOUND)
    else:
        at = next((i for i, r in enumerate(rules) if r == rule), None)
        if at is None:
            raise NotFound(f"{what} has no rule {FR.rule_text(rule, direction)}", code=FR.NOT_FOUND)
    gone = rules.pop(at)
    return FilterChange(f"{v.name}/{owner.name}", f"{direction} rule {at} deleted: {FR.rule_text(gone, direction)}",
                        {"index": at})


# ---- security groups ---------------------------------------------------------------------------


def _rule(lab: Lab, kind: str, ref: str, direction: str, adding: bool, index, proto, port, peer,
          action) -> FilterChange:
    """Add a rule to, or delete one from (by index, or by its fields), a group (`sg`) or an ACL."""
    v, owner = (find_group if kind == "sg" else find_acl)(lab, ref)
    fields = (proto, port, peer, action) != (None, None, None, None)
    rule = make_rule(kind, direction, proto, port, peer, action) if adding or fields else None
    return _edit_rules(lab, v, kind, owner, direction, rule, index, adding)


def sg_rule(lab: Lab, ref: str, direction: str, adding: bool, index=None, proto=None, port=None, peer=None,
            action=None) -> FilterChange:
    return _rule(lab, "sg", ref, direction, adding, index, proto, port, peer, action)


def sg_attach(lab: Lab, inst_ref: str, group: str) -> FilterChange:
    v, inst = find_instance(lab, inst_ref)
    _name(group, "the security group")
    if group in inst.security_groups:
        raise Refused(f"instance {inst.ref} already carries security group {group}", code=FR.DUPLICATE)
    _refuse(FR.check_group_name(lab, v, group, f"instance {inst.ref}"))
    inst.security_groups.append(group)
    return FilterChange(inst.ref, f"security groups: {', '.join(inst.security_groups)}")


def sg_detach(lab: Lab, inst_ref: str, group: str) -> FilterChange:
    v, inst = find_instance(lab, inst_ref)
    _name(group, "the security group")
    if group not in inst.security_groups:
        raise NotFound(f"instance {inst.ref} does not carry security group '{shown(group)}' (it carries: "
                       f"{', '.join(inst.security_groups) or 'none'})", code=FR.NOT_FOUND)
    inst.security_groups.remove(group)
    left = ", ".join(inst.security_groups) or "none: not filtered"
    return FilterChange(inst.ref, f"security groups: {left}")


# ---- network ACLs -----------------------------------------------------------------------------------


def acl_rule(lab: Lab, ref: str, direction: str, adding: bool, index=None, proto=None, port=None, peer=None,
             action=None) -> FilterChange:
    return _rule(lab, "acl", ref, direction, adding, index, proto, port, peer, action)


def acl_bind(lab: Lab, ref: str, subnet: str) -> FilterChange:
    v, a = find_acl(lab, ref)
    _name(subnet, "the subnet")
    if subnet not in v.subnets:
        raise NotFound(f"subnet '{shown(subnet)}' does not exist in {v.name}", code=FR.NOT_FOUND,
                       hint=did_you_mean(subnet, v.subnets))
    other = v.acl_of(subnet)
    if other is not None:
        how = "already bound to it" if other is a else f"already bound to {other.name}; unbind it first"
        raise Refused(f"subnet {v.name}/{subnet} is {how} (a subnet is bound to at most one ACL)",
                      code=FR.DUPLICATE)
    a.subnets.append(subnet)
    return FilterChange(f"{v.name}/{a.name}", f"bound to {subnet}")


def acl_unbind(lab: Lab, ref: str, subnet: str) -> FilterChange:
    v, a = find_acl(lab, ref)
    _name(subnet, "the subnet")
    if subnet not in a.subnets:
        raise NotFound(f"network ACL {v.name}/{a.name} is not bound to subnet '{shown(subnet)}' (bound: "
                       f"{', '.join(a.subnets) or 'none'})", code=FR.NOT_FOUND)
    a.subnets.remove(subnet)
    return FilterChange(f"{v.name}/{a.name}", f"unbound from {subnet}: not filtered")


# ---- EIPs ------------------------------------------------------------------------------------------------


def _taken(lab: Lab) -> dict:
    return {ip: who for who, ip, _ in FR.public_addresses(lab)}


def eip_associate(lab: Lab, inst_ref: str, address: Optional[str] = None) -> FilterChange:
    v, inst = find_instance(lab, inst_ref)
    if inst.eip is not None:
        raise Refused(f"instance {inst.ref} already has EIP {inst.eip}; disassociate it first",
                      code=ALREADY_BOUND_EIP)
    net = lab.internet or Internet()
    taken = _taken(lab)
    if address is None:
        ip = next((h for h in net.cidr.hosts() if h not in taken), None)
        if ip is None:
            raise Refused(f"no free address is left in the internet cidr {net.cidr}", code="AddressQuotaLimitExceeded")
    else:
        try:
            if not isinstance(address, str):
                raise ValueError(address)
            ip = ipaddress.IPv4Address(address)
        except ValueError:
            raise Refused(f"'{shown(address)}' is not an IPv4 address", code=FR.MALFORMED)
    if lab.internet is None:
        # a version-1 lab gets the default Internet with its first EIP
        for c in FR.check_internet(lab, net) + FR.check_names(Lab(name=lab.name, vpcs=lab.vpcs, internet=net)):
            raise Refused(c.message, code=c.code)
    probe = Lab(name=lab.name, internet=net)
    _refuse(FR.check_public_address(probe, f"the EIP of {inst.ref}", ip, 0, taken))
    lab.internet = net
    inst.eip = ip
    return FilterChange(inst.ref, f"EIP {ip}", {"eip": str(ip)})


def eip_disassociate(lab: Lab, inst_ref: str, address: Optional[str] = None) -> FilterChange:
    v, inst = find_instance(lab, inst_ref)
    if inst.eip is None:
        raise NotFound(f"instance {inst.ref} has no EIP", code=FR.NOT_FOUND)
    if address is not None and str(inst.eip) != str(address).strip():
        raise NotFound(f"instance {inst.ref}'s EIP is {inst.eip}, not {shown(address)}", code=FR.NOT_FOUND)
    ip, inst.eip = inst.eip, None
    return FilterChange(inst.ref, f"EIP {ip} released", {"eip": str(ip)})

