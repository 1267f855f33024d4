"""`vpclab diff` and filters: which instances a change of security groups, network ACLs or EIPs
can touch, and the group or ACL rule behind a verdict such a change moved.

- `touched`: a security group's rules reach only the instances that carry it; a network ACL's
  rules or bindings only the instances of the subnets it is (or was) bound to; an instance's
  groups or EIP only that instance (a rule naming a group matches its members' addresses, so a
  member that joins or leaves is itself touched). Traffic between two other instances never
  meets them. A NAT gateway or the Internet changing touches a whole VPC (`diff` keeps that).
- `causes`: at the filter either verdict's reason names (group or ACL, direction), the rule that
  takes the packet in each version, by index and text (`rule 1 `tcp/3306 from 10.0.1.0/24
  accept` of sg-db`), or "no rule matches", and whether that rule was added, removed or edited.
"""
from __future__ import annotations

import ipaddress
from typing import Dict, List, Optional, Set, Tuple

from ..model.filter_rules import rule_text
from ..model.types import Lab
from .match import EPHEMERAL, Packet, _applies
from .verdict import NETWORK_ACL_DENY, SECURITY_GROUP_DENY, Verdict


def internet_changed(old: Lab, new: Lab) -> bool:
    """The lab's Internet (its range, its hosts) differs: every path to or from it may change."""
    def net(lab):
        n = lab.internet
        return None if n is None else (n.cidr, sorted((h.name, h.ip, tuple(h.ports)) for h in n.hosts.values()))
    return net(old) != net(new)


def touched(old: Lab, new: Lab, vpc: str) -> Optional[Dict[str, Set[str]]]:
    """The instances (refs) of `vpc` whose traffic a filter difference there can change, each with
    the ways it can: "in" (what arrives at it), "out" (what it sends). A security group is stateful:
    its ingress rules judge only requests arriving, its egress rules only requests sent. An ACL
    (stateless: replies too), an instance's groups or its EIP: both. None when the difference is
    not confined to groups, ACLs, instances' groups and EIPs (a NAT gateway: the whole VPC)."""
    ov, nv = old.vpcs.get(vpc), new.vpcs.get(vpc)
    if ov is None or nv is None or ov.nat_gateways != nv.nat_gateways:
        return None
    ways: Dict[str, Set[str]] = {}  # group -> "in"/"out" whose rules differ
    for g in set(ov.security_groups) | set(nv.security_groups):
        a, b = ov.security_groups.get(g), nv.security_groups.get(g)
        if a is None or b is None:
            ways[g] = {"in", "out"}
        else:
            ways[g] = {w for w, d in (("in", "ingress"), ("out", "egress")) if a.rules(d) != b.rules(d)}
    subnets = set()
    for name in set(ov.network_acls) | set(nv.network_acls):
        x, y = ov.network_acls.get(name), nv.network_acls.get(name)
        if x != y:
            subnets |= set(x.subnets if x else ()) | set(y.subnets if y else ())
    out: Dict[str, Set[str]] = {}
    for name in set(ov.instances) & set(nv.instances):  # added or removed: `diff` compares both models' only
        i, j = ov.instances[name], nv.instances[name]
        if i.security_groups != j.security_groups or i.eip != j.eip or i.subnet in subnets or j.subnet in subnets:
            out[f"{vpc}/{name}"] = {"in", "out"}
            continue
        w = set().union(*(ways.get(g, ()) for g in set(i.security_groups) | set(j.security_groups)))
        if w:
            out[f"{vpc}/{name}"] = w
    return out


def _filter_points(v: Verdict) -> List[Tuple[str, str, str]]:
    """(kind, where, direction) of the filter a verdict's reason names: `where` is the instance
    (a security group) or VPC/SUBNET (a network ACL)."""
    r = v.reason
    if r.code == SECURITY_GROUP_DENY:
        return [("sg", r.where, r.direction)]
    if r.code == NETWORK_ACL_DENY:
        return [("acl", r.where, r.direction)]
    return []


def _rules_at(lab: Lab, kind: str, where: str, direction: str):
    """(owner words, [(label, rule), ...]) of the filter at `where` in `lab`; None: nothing filters there."""
    vpc_name, _, name = where.partition("/")
    vpc = lab.vpcs.get(vpc_name)
    if vpc is None:
        return None
    if kind == "sg":
        inst = vpc.instances.get(name)
        if inst is None or not inst.security_groups:
            return None
        return vpc, [((g, i), r) for g in inst.security_groups if g in vpc.security_groups
                     for i, r in enumerate(vpc.security_groups[g].rules(direction))]
    acl = vpc.acl_of(name)
    if acl is None:
        return None
    return vpc, [((acl.name, i), r) for i, r in enumerate(acl.rules(direction))]


def _decider(lab: Lab, kind: str, where: str, direction: str, pkt: Packet):
    """The rule that takes `pkt` (its first port) at that filter: ((owner, index), rule); (None, None)
    when no rule matches (dropped); None when nothing filters there."""
    found = _rules_at(lab, kind, where, direction)
    if found is None:
        return None
    vpc, rules = found
    port = None if pkt.ports is None else pkt.ports[0]
    for label, rule in rules:
        if _applies(vpc, rule, pkt) and (port is None or rule.ports is None or rule.ports[0] <= port <= rule.ports[1]):
            return label, rule
    return None, None


def _peer(lab: Lab, v: Verdict, at_src: bool):
    """The far end's address as the filter at one end sees it: at the source, the destination as
    addressed; at the destination, the source as it arrived (its seen source when known)."""
    if at_src:
        inst = lab.instance(v.dst)
        return inst.ip if inst is not None else _address(lab, v.dst)
    if v.seen_source:
        return _address(lab, v.seen_source)
    inst = lab.instance(v.src)
    return inst.ip if inst is not None else _address(lab, v.src)


def _address(lab: Lab, ref: str):
    try:
        return ipaddress.IPv4Address(ref)
    except ValueError:
        host = lab.internet.host(ref) if lab.internet is not None else None
        return host.ip if host is not None else None


def _words(decided, direction: str, rules, other_rules, now: bool) -> str:
    """What decides the packet at a filter: `rule 1 `tcp/3306 from 10.0.1.0/24 accept` of sg-db accepts it`."""
    if decided is None:
        return "nothing filters it (no group or ACL there)"
    label, rule = decided
    if label is None:
        return "no rule matches it (dropped)" if now else "no rule matched it (dropped)"
    owner, i = label
    text = rule_text(rule, direction)
    verb = ("accepts" if now else "accepted") if rule.action == "accept" else ("drops" if now else "dropped")
    twin = other_rules.get(label)  # the rule at the same place in the other version
    same_length = sum(1 for o, _ in rules if o == owner) == sum(1 for o, _ in other_rules if o == owner)
    if any(rule_text(r, direction) == text for r in other_rules.values()):
        new_or_gone = ""
    elif twin is not None and same_length:  # edited in place
        new_or_gone = f" (was `{rule_text(twin, direction)}`)" if now else \
            f" (since changed to `{rule_text(twin, direction)}`)"
    else:
        new_or_gone = " (added)" if now else " (removed since)"
    return f"rule {i} `{text}` of {owner}{new_or_gone} {verb} it"


def causes(old: Lab, new: Lab, vo: Verdict, vn: Verdict) -> List[dict]:
    """For a verdict a filter moved: the group or ACL, direction and exact rule (index and text)
    that decides the packet in each version, at the filter either verdict's reason names."""
    out, seen = [], set()
    for kind, where, direction in _filter_points(vo) + _filter_points(vn):
        if (kind, where, direction) in seen or where is None:
            continue
        seen.add((kind, where, direction))
        at_src = where == vn.src or (kind == "acl" and where in (_subnet_ref(new, vn.src), _subnet_ref(old, vo.src)))
        reply = direction in ("inbound", "outbound") and ((at_src and direction == "inbound") or
                                                         (not at_src and direction == "outbound"))
        peer = _peer(new, vn, at_src) or _peer(old, vo, at_src)
        if peer is None:
            continue
        ports = None if vn.proto == "icmp" else (EPHEMERAL if reply else (vn.port, vn.port))
        pkt = Packet(vn.proto, ports, peer, reply)
        a, b = _decider(old, kind, where, direction, pkt), _decider(new, kind, where, direction, pkt)
        key = lambda x: None if x is None else (x[0], x[1] and rule_text(x[1], direction))
        if key(a) == key(b):
            continue
        rules_o = dict((_rules_at(old, kind, where, direction) or (None, []))[1])
        rules_n = dict((_rules_at(new, kind, where, direction) or (None, []))[1])
        owners = _owners(new, kind, where) or _owners(old, kind, where)
        what = (f"security group {owners} of {where}" if kind == "sg" else f"network ACL {owners} of subnet {where}")
        detail = (f"{what}, {direction}{' (the reply)' if reply else ''}: {_words(a, direction, rules_o, rules_n, False)}"
                  f"; now {_words(b, direction, rules_n, rules_o, True)}")
        out.append({"kind": "security_group" if kind == "sg" else "network_acl", "where": where,
                    "group" if kind == "sg" else "acl": owners, "direction": direction,
                    "leg": "reply" if reply else "request",
                    "old": _rule_json(a, direction), "new": _rule_json(b, direction), "detail": detail})
    return out


def _owners(lab: Lab, kind: str, where: str) -> Optional[str]:
    """The group names of an instance (joined by commas) or the ACL bound to a subnet."""
    vpc_name, _, name = where.partition("/")
    vpc = lab.vpcs.get(vpc_name)
    if vpc is None:
        return None
    if kind == "sg":
        inst = vpc.instances.get(name)
        return ",".join(inst.security_groups) if inst is not None and inst.security_groups else None
    acl = vpc.acl_of(name)
    return acl.name if acl is not None else None


def _rule_json(decided, direction: str):
    if decided is None:
        return None
    label, rule = decided
    if label is None:
        return {"owner": None, "rule": None, "text": None, "action": "drop"}
    return {"owner": label[0], "rule": label[1], "text": rule_text(rule, direction), "action": rule.action}


def _subnet_ref(lab: Lab, ref: str) -> Optional[str]:
    inst = lab.instance(ref)
    return f"{inst.vpc}/{inst.subnet}" if inst is not None else None
