"""The version-2 keys of a topology file: `internet`, a VPC's `security_groups`,
`network_acls` and `nat_gateways`, an instance's `security_groups` and `eip`.

`loader` calls in here while it walks the YAML tree, with its `_Reader` (which collects
problems as FILE:LINE: CODE: message); this module turns the new keys into the model of
`model.filters` and then runs the rules of `model.filter_rules`. A file without any of
these keys builds exactly the version-1 model: `Lab.internet` stays None and nothing is
filtered.
"""
from __future__ import annotations

import ipaddress
from typing import List, Optional

from ..errors import shown
from ..model import filter_rules
from ..model.filters import (
    ACTIONS,
    FILTER_PROTOS,
    INTERNET_PREFIX,
    FilterRule,
    Internet,
    InternetHost,
    NatGateway,
    NetworkAcl,
    SecurityGroup,
)
from ..model.types import ITEM_NAME, VPC_NAME, Instance, Lab, Vpc

from ..model.codes import MALFORMED, MISSING, NOT_FOUND, TYPE  # noqa: F401  (named here too)

# ---- the lab's Internet ----------------------------------------------------------------------


def read_internet(r, lab: Lab, doc) -> None:
    if "internet" not in doc:
        return
    line = doc.lines.get("internet", 1)
    m = r.mapping(doc.get("internet"), "internet", line)
    if m is None:
        lab.internet = Internet(line=line)
        return
    m.line = line
    r.keys(m, "internet", "internet")
    net = Internet(line=line)
    if m.get("cidr") is not None:
        cidr = r.network(m, "cidr", "internet")
        if cidr is not None:
            net.cidr = cidr
            net.line = m.lines.get("cidr", line)
    for name, body, hline in r.items(m, "hosts", "internet hosts"):
        hm = r.entry(name, "Internet host", VPC_NAME, body, hline, "internet_host", f"Internet host {name}")
        if hm is None:
            continue
        ip = _address(r, hm, "ip", f"Internet host {name}")
        ports = _port_list(r, hm, f"Internet host {name}")
        if ip is not None:
            net.hosts[name] = InternetHost(name, ip, ports, hline)
            if "ports" in hm:  # so a limit on the ports cites the key's own line
                r.__dict__.setdefault("key_lines", {})[(id(net.hosts[name]), "ports")] = hm.lines.get("ports", hline)
    lab.internet = net


def _address(r, m, key: str, what: str) -> Optional[ipaddress.IPv4Address]:
    text = r.string(m, key, what)
    if text is None:
        return None
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        r.problem(MALFORMED, f"{what}: {key} '{shown(text)}' is not an IPv4 address", m.lines.get(key, m.line))
        return None


def _port_list(r, m, what: str) -> List[int]:
    value = m.get("ports")
    if value is None:
        return []
    line = m.lines.get("ports", m.line)
    if not isinstance(value, list):
        value, lines = [value], [line]
    else:
        lines = value.lines
    out, seen = [], set()
    for p, pline in zip(value, lines):
        p = int(p) if isinstance(p, float) and p.is_integer() and 1 <= p <= 65535 else p  # 80.0 is 80 (the schema's)
        if isinstance(p, bool) or not isinstance(p, int):
            r.problem(TYPE, f"{what}: ports must be a list of port numbers, not {shown(p, as_repr=True)}", pline)
        elif not 1 <= p <= 65535:
            r.problem(filter_rules.RANGE, f"{what}: port {p} is outside 1-65535", pline)
        elif p in seen:
            r.problem(filter_rules.DUPLICATE, f"{what}: port {p} is listed twice", pline)
        else:
            out.append(p)
            seen.add(p)
    return out


# ---- a VPC's groups, ACLs and NAT gateways ------------------------------------------------------


def read_vpc(r, vpc: Vpc, m) -> None:
    for name, body, line in r.items(m, "security_groups", f"VPC {vpc.name} security_groups"):
        what = f"security group {vpc.name}/{name}"
        gm = r.entry(name, "security group", VPC_NAME, body, line, "security_group", what)
        if gm is None:
            continue
        vpc.security_groups[name] = SecurityGroup(name, vpc.name, _rules(r, gm, "ingress", "sg", what),
                                                  _rules(r, gm, "egress", "sg", what), line)
    for name, body, line in r.items(m, "network_acls", f"VPC {vpc.name} network_acls"):
        what = f"network ACL {vpc.name}/{name}"
        am = r.entry(name, "network ACL", VPC_NAME, body, line, "network_acl", what)
        if am is None:
            continue
        vpc.network_acls[name] = NetworkAcl(name, vpc.name, _names(r, am, "subnets", what),
                                            _rules(r, am, "inbound", "acl", what),
                                            _rules(r, am, "outbound", "acl", what), line)
    for name, body, line in r.items(m, "nat_gateways", f"VPC {vpc.name} nat_gateways"):
        what = f"NAT gateway {vpc.name}/{name}"
        nm = r.entry(name, "NAT gateway", VPC_NAME, body, line, "nat_gateway", what)
        if nm is None:
            r.unreadable_peerings.add(name)  # a route via it is not reported a second time
            continue
        eip = _address(r, nm, "eip", what)
        if eip is None:
            r.unreadable_peerings.add(name)
            continue
        vpc.nat_gateways[name] = NatGateway(name, vpc.name, eip, nm.lines.get("eip", line))


def _names(r, m, key: str, what: str, pattern=ITEM_NAME) -> List[str]:
    value = m.get(key)
    if value is None:
        return []
    line = m.lines.get(key, m.line)
    if not isinstance(value, list):
        r.problem(TYPE, f"{what}: {key} must be a list of names, not {shown(value, as_repr=True)}", line)
        return []
    out = []
    for v, vline in zip(value, value.lines):
        if isinstance(v, str) and pattern.match(v):
            out.append(v)
        else:
            entry = "an empty entry" if v is None else f"entry {shown(v, as_repr=True)}"
            r.problem(TYPE if not isinstance(v, str) else "InvalidParameterValue",
                      f"{what}: {key} has {entry}, which is not a name", vline)
    return out


def _rules(r, m, direction: str, kind: str, what: str) -> List[FilterRule]:
    value = m.get(direction)
    if value is None:
        return []
    line = m.lines.get(direction, m.line)
    if not isinstance(value, list):
        r.problem(TYPE, f"{what}: {direction} must be a list of rules, not {_kind(value)}", line)
        return []
    peer_key = filter_rules.PEER_KEY[direction]
    out = []
    for i, (item, rline) in enumerate(zip(value, value.lines)):
        where = f"{what} {direction} rule {i}"
        rm = r.mapping(item, where, rline)
        if rm is None:
            continue
        rm.line = rline
        r.keys(rm, f"rule_{peer_key}", where)
        proto = r.choice(rm, "proto", where, FILTER_PROTOS, "all")
        action = r.choice(rm, "action", where, ACTIONS, None)
        ports, bad = filter_rules.parse_ports(rm.get("port"), proto)
        if bad is not None:
            r.problem(bad.code, f"{where}: {bad.message}", rm.lines.get("port", rline))
            proto = None
        peer = None
        if rm.get(peer_key) is not None:
            peer, bad = filter_rules.parse_peer(rm.get(peer_key), kind)
            if bad is not None:
                r.problem(bad.code, f"{where}: {peer_key} {bad.message}", rm.lines.get(peer_key, rline))
        if proto and action and peer:
            rule = FilterRule(proto, ports, peer, action, rline)
            r.__dict__.setdefault("written_index", {})[id(rule)] = i
            out.append(rule)
    return out  # a rule left out was reported: nothing is built, and messages keep the written index


def _kind(v) -> str:
    return "a mapping" if isinstance(v, dict) else "a list" if isinstance(v, list) else f"{shown(v, as_repr=True)}"


# ---- an instance's groups and EIP ------------------------------------------------------------------


def read_instance(r, vpc: Vpc, inst: Instance, m) -> None:
    what = f"instance {vpc.name}/{inst.name}"
    inst.security_groups = _names(r, m, "security_groups", what, VPC_NAME)
    if m.get("eip") is not None:
        inst.eip = _address(r, m, "eip", what)
    lines = r.__dict__.setdefault("key_lines", {})  # so a rule's problem cites the key's own line
    for key in ("security_groups", "eip"):
        if key in m:
            lines[(id(inst), key)] = m.lines.get(key, m.line)


# ---- after the whole file -------------------------------------------------------------------------


def finish(r, lab: Lab) -> None:
    """The lab's default Internet, then every version-2 rule as a FILE:LINE problem."""
    uses_public = any(v.nat_gateways or any(i.eip for i in v.instances.values()) for v in lab.vpcs.values())
    if lab.internet is None and uses_public:
        lab.internet = Internet()  # EIPs and NAT gateways imply the lab's Internet, default range
    for v in filter_rules.validate(lab, getattr(r, "written_index", None), getattr(r, "key_lines", None)):
        r.problem(v.code, v.message, v.line)


def public_ref(lab: Lab, ref: str) -> Optional[str]:
    """None when `ref` is a valid public destination (`internet/<host>`, or an address in the
    Internet's range), else why not; "" when `ref` is not a public reference at all."""
    if ref.startswith(INTERNET_PREFIX):
        name = ref[len(INTERNET_PREFIX):]
        if lab.internet is None:
            return f"'{shown(ref)}' names an Internet host, but the lab has no internet"
        if name not in lab.internet.hosts:
            known = ", ".join(sorted(lab.internet.hosts)[:10]) or "none"
            return f"'{shown(ref)}': no such Internet host (hosts: {known})"
        return None
    try:
        ip = ipaddress.IPv4Address(ref)
    except ValueError:
        return ""
    if lab.internet is not None and ip in lab.internet.cidr:
        return None
    return ""
