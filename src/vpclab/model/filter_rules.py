"""The version-2 rules of the cloud (security groups, network ACLs, EIPs, NAT gateways, the
Internet), each with its Tencent error code; the companion of `rules` for version 1.

Like `rules`, every check returns `Violation`s and never raises: the loader turns them
into `FILE:LINE: CODE: message` problems, the live operations (`model.filter_ops`) raise
the first. Parsing of the two rule fields people type (a port, a source/destination) is
here too, so a file and the command line accept and refuse exactly the same text.
"""
from __future__ import annotations

import ipaddress
from typing import Dict, Iterable, List, Optional, Tuple

from ..errors import shown
from .filters import (
    ACL_DIRECTIONS,
    INTERNET,
    INTERNET_PREFIX,
    MAX_HOST_PORTS,
    MAX_LISTENERS,
    MAX_RULES_PER_DIRECTION,
    SG_DIRECTIONS,
    FilterRule,
    Internet,
    NetworkAcl,
    SecurityGroup,
)
from .codes import (COMBINATION, CONFLICT, DUPLICATE, DUPLICATE_POLICY, MALFORMED, NEXT_HOP_INVALID, NOT_FOUND,
                    LISTENER_LIMIT, NOT_IN_RANGE, POLICY_LIMIT, RANGE, VPC_CIDR_CONFLICT,
                    Violation)
from .types import ITEM_NAME, RESERVED_VPC_RANGES, Lab, Route, Vpc
from .units import NumberError, parse_whole

MAX_INTERNET_PREFIX = 30  # the Internet needs room for its own address and a few hosts

PEER_KEY = {"ingress": "source", "inbound": "source", "egress": "destination", "outbound": "destination"}


# ---- the two fields people type -------------------------------------------------------


def parse_ports(value, proto: Optional[str]) -> Tuple[Optional[Tuple[int, int]], Optional[Violation]]:
    """A rule's `port` (a number, "A-B", "all" or None) -> (ports, None) or (None, Violation).

    None means all ports. A port with proto icmp or all, a port outside 1-65535 and a
    range whose low end is above its high end are `InvalidParameterValue.Range`.
    """
    if value is None or (isinstance(value, str) and value.strip().lower() == "all"):
        return None, None
    lo = hi = None
    if isinstance(value, int) and not isinstance(value, bool):
        lo = hi = value
    elif isinstance(value, str):
        a, sep, b = value.strip().partition("-")
        try:  # the one bounded parser: a 5,000-digit port is "not a port", never a conversion crash
            lo = parse_whole(a.strip())
            hi = parse_whole(b.strip()) if sep else lo
        except NumberError:
            lo = None
    if lo is None:
        return None, Violation(RANGE, f"port {shown(value, as_repr=not isinstance(value, str))} is not a port, "
                               "a range A-B or 'all'")
    if not (1 <= lo <= 65535 and 1 <= hi <= 65535):
        return None, Violation(RANGE, f"port {shown(value)} is outside 1-65535")
    if lo > hi:
        return None, Violation(RANGE, f"port range {lo}-{hi} runs backwards (write {hi}-{lo})")
    if proto in ("icmp", "all"):
        return None, Violation(RANGE, f"proto {proto} takes no port (ports are for tcp and udp); "
                               f"drop 'port: {shown(value)}' or name tcp or udp")
    return (lo, hi), None


def parse_peer(text, kind: str) -> Tuple[Optional[str], Optional[Violation]]:
    """A rule's source/destination -> its canonical text: a CIDR ("10.1.0.0/16"; a bare
    address means /32) or, for a security group (`kind` "sg"), a group name, checked later
    against the VPC's groups."""
    if isinstance(text, bool) or not isinstance(text, str) or not text.strip():
        return None, Violation(MALFORMED, f"{shown(text, as_repr=True)} is not a CIDR"
                               + (" or a security group name" if kind == "sg" else ""))
    text = text.strip()
    if text[0].isdigit():
        try:
            return str(ipaddress.IPv4Network(text, strict=True)), None
        except ValueError as e:
            return None, Violation(MALFORMED, f"'{shown(text)}' is not an IPv4 CIDR ({shown(str(e), 120)})")
    if kind == "sg" and ITEM_NAME.match(text):
        return text, None
    if kind == "sg":
        return None, Violation(MALFORMED, f"'{shown(text)}' is neither an IPv4 CIDR nor a security group name")
    return None, Violation(MALFORMED, f"'{shown(text)}' is not an IPv4 CIDR (a network ACL names addresses only)")


def rule_text(rule: FilterRule, direction: str) -> str:
    """A rule as a person writes it: `tcp/80 from 10.1.0.0/16 accept`."""
    port = "" if rule.ports is None else f"/{rule.port_text()}"
    way = "from" if PEER_KEY.get(direction) == "source" else "to"
    return f"{rule.proto}{port} {way} {rule.peer} {rule.action}"


# ---- security groups ------------------------------------------------------------------


def group_owner(lab: Lab, name: str) -> Optional[Vpc]:
    """The first VPC (other than none) that has a group called `name`."""
    for v in lab.vpcs.values():
        if name in v.security_groups:
            return v
    return None


def check_group_name(lab: Lab, vpc: Vpc, name: str, who: str, line: int = 0) -> List[Violation]:
    """`who` ("instance vpc-a/cvm-1", "sg-web ingress rule 2") names group `name` of `vpc`."""
    if name in vpc.security_groups:
        return []
    other = group_owner(lab, name)
    if other is not None:
        return [Violation(COMBINATION, f"{who}: security group '{name}' belongs to {other.name}; only groups of "
                          f"{vpc.name} may be named here", line)]
    mine = ", ".join(sorted(vpc.security_groups)[:10]) or "none"
    return [Violation(NOT_FOUND, f"{who}: security group '{shown(name)}' does not exist in {vpc.name} "
                      f"(its groups: {mine})", line)]


def check_rules(lab: Lab, vpc: Vpc, kind: str, owner: str, direction: str, rules: List[FilterRule],
                line: int = 0, written: Optional[Dict[int, int]] = None) -> List[Violation]:
    """One direction of a group (`kind` "sg") or an ACL ("acl"): ports, peers, duplicates, the limit.

    `written` maps id(rule) to its index as the file wrote it, when the loader left out
    rules it could not read (messages then still name the rule the author sees)."""
    written = written or {}
    out: List[Violation] = []
    what = f"{'security group' if kind == 'sg' else 'network ACL'} {vpc.name}/{owner} {direction}"
    seen: Dict[tuple, int] = {}
    for n, r in enumerate(rules):
        i = written.get(id(r), n)
        where = f"{what} rule {i}"
        if r.ports is not None and r.proto in ("icmp", "all"):
            out.append(Violation(RANGE, f"{where}: proto {r.proto} takes no port", r.line or line))
        if r.ports is not None and not (1 <= r.ports[0] <= r.ports[1] <= 65535):
            out.append(Violation(RANGE, f"{where}: port range {r.port_text()} is not within 1-65535, low to high",
                                 r.line or line))
        if r.peer_network is None:
            if kind == "sg":
                out += check_group_name(lab, vpc, r.peer, where, r.line or line)
            else:
                out.append(Violation(MALFORMED, f"{where}: '{shown(r.peer)}' is not a CIDR (a network ACL names "
                                     "addresses only)", r.line or line))
        key = (r.proto, r.ports, _peer_key(r), r.action)
        if kind == "sg" and key in seen:
            out.append(Violation(DUPLICATE_POLICY, f"{where} ({rule_text(r, direction)}) is the same as rule "
                                 f"{seen[key]}", r.line or line))
        seen.setdefault(key, i)
    if len(rules) > MAX_RULES_PER_DIRECTION:
        extra = rules[MAX_RULES_PER_DIRECTION]
        out.append(Violation(POLICY_LIMIT, f"{what} has {len(rules)} rules; at most {MAX_RULES_PER_DIRECTION} per "
                             "direction", extra.line or line))
    return out


def _peer_key(rule: FilterRule):
    """The peer as a duplicate check compares it: its network (parsed once per text, cached:
    the state decoder runs these checks on every read), or a group's name."""
    net = rule.peer_network
    return rule.peer if net is None else net


def check_group(lab: Lab, vpc: Vpc, group: SecurityGroup, written=None) -> List[Violation]:
    out = []
    for d in SG_DIRECTIONS:
        out += check_rules(lab, vpc, "sg", group.name, d, group.rules(d), group.line, written)
    return out


def check_instance_groups(lab: Lab, vpc: Vpc, inst, line: Optional[int] = None) -> List[Violation]:
    out, seen = [], set()
    line = inst.line if line is None else line
    for name in inst.security_groups:
        if name in seen:
            out.append(Violation(DUPLICATE, f"instance {inst.ref}: security group '{name}' is listed twice", line))
            continue
        seen.add(name)
        out += check_group_name(lab, vpc, name, f"instance {inst.ref}", line)
    return out


# ---- network ACLs ------------------------------------------------------------------------


def check_acl(lab: Lab, vpc: Vpc, acl: NetworkAcl, bound: Dict[str, str], written=None) -> List[Violation]:
    """`bound` maps the subnets already bound (by ACLs before this one) to their ACL; updated."""
    out = []
    for sub in acl.subnets:
        if sub not in vpc.subnets:
            out.append(Violation(NOT_FOUND, f"network ACL {vpc.name}/{acl.name}: subnet '{shown(sub)}' does not "
                                 f"exist in {vpc.name}", acl.line))
        elif sub in bound:
            how = "twice by it" if bound[sub] == acl.name else f"already to {bound[sub]}"
            out.append(Violation(DUPLICATE, f"network ACL {vpc.name}/{acl.name}: subnet {sub} is bound {how}; a "
                                 "subnet is bound to at most one ACL", acl.line))
        else:
            bound[sub] = acl.name
    for d in ACL_DIRECTIONS:
        out += check_rules(lab, vpc, "acl", acl.name, d, acl.rules(d), acl.line, written)
    return out


# ---- the Internet, EIPs, NAT gateways -------------------------------------------------------


def check_internet(lab: Lab, net: Internet) -> List[Violation]:
    out = []
    for r in RESERVED_VPC_RANGES:
        if net.cidr.overlaps(r):
            out.append(Violation(CONFLICT, f"internet cidr {net.cidr} overlaps reserved {r}", net.line))
            return out
    if net.cidr.prefixlen > MAX_INTERNET_PREFIX:
        out.append(Violation(RANGE, f"internet cidr {net.cidr} is too small: the prefix must be at most "
                             f"/{MAX_INTERNET_PREFIX}", net.line))
    for v in lab.vpcs.values():
        if v.cidr.overlaps(net.cidr) and net.line:
            out.append(Violation(CONFLICT, f"internet cidr {net.cidr} overlaps VPC {v.name} {v.cidr}: public and "
                                 "private ranges must not overlap", net.line))
        elif v.cidr.overlaps(net.cidr):  # no `internet:` key: the EIPs or NAT gateways imply the default range
            out.append(Violation(CONFLICT, f"VPC {v.name} {v.cidr} overlaps the lab's Internet, {net.cidr}: the lab "
                                 "has EIPs or NAT gateways, so it has an Internet, with this default range when the "
                                 "file has no `internet: {cidr: ...}`; public and private ranges must not overlap",
                                 v.line))
    return out


def public_addresses(lab: Lab) -> Iterable[Tuple[str, ipaddress.IPv4Address, int]]:
    """(who, address, line) for every public address of the lab: hosts, NAT gateways, EIPs."""
    if lab.internet is not None:
        for h in lab.internet.hosts.values():
            yield f"Internet host {h.ref}", h.ip, h.line
    for v in lab.vpcs.values():
        for n in v.nat_gateways.values():
            yield f"NAT gateway {v.name}/{n.name}", n.eip, n.line
        for i in v.instances.values():
            if i.eip is not None:
                yield f"the EIP of {i.ref}", i.eip, i.line


def check_public_address(lab: Lab, who: str, ip, line: int, taken: Dict) -> List[Violation]:
    """One public address against `internet.cidr` and the addresses in `taken` (address -> who); updated."""
    net = lab.internet.cidr if lab.internet is not None else None
    if net is None or ip not in net:
        return [Violation(NOT_IN_RANGE, f"{who}: {ip} is outside the internet cidr {net}", line)]
    if ip in (net.network_address, net.broadcast_address):
        return [Violation(NOT_IN_RANGE, f"{who}: {ip} is the {'network' if ip == net.network_address else 'broadcast'}"
                          f" address of {net}, not a usable address", line)]
    if ip in taken:
        return [Violation(DUPLICATE, f"{who}: {ip} is already used by {taken[ip]}", line)]
    taken[ip] = who
    return []


def check_nat_route(lab: Lab, vpc: Vpc, table: str, route: Route) -> List[Violation]:
    """A route whose next hop names a NAT gateway (of any VPC); [] when it names none."""
    owner = next((v for v in lab.vpcs.values() if route.next_hop in v.nat_gateways), None)
    if owner is None:
        return []
    if owner.name != vpc.name:
        return [Violation(NEXT_HOP_INVALID, f"route {route.destination} in {vpc.name}/{table}: next hop "
                          f"{route.next_hop} is a NAT gateway of {owner.name}; a route may only use its own VPC's "
                          "NAT gateways", route.line)]
    if route.destination.subnet_of(vpc.cidr):
        return [Violation(VPC_CIDR_CONFLICT, f"route {route.destination} in {vpc.name}/{table} is inside the VPC's "
                          f"own CIDR {vpc.cidr} (the local route already covers it)", route.line)]
    return []


def check_names(lab: Lab) -> List[Violation]:
    """Names a version-2 lab cannot share: a NAT gateway's with a peering's (a route's next hop
    must name one thing) or a VPC's (a hop of a path must name one thing), a VPC's or a NAT
    gateway's with the lab's Internet (`internet/<host>`, its namespace, the `internet` hop of a
    path)."""
    out = []
    for v in lab.vpcs.values():
        for n in v.nat_gateways.values():
            if n.name == INTERNET:
                out.append(Violation(DUPLICATE, f"NAT gateway {v.name}/{n.name}: the name belongs to the lab's "
                                     f"Internet, the hop after every NAT gateway on a path; rename the gateway",
                                     n.line))
            elif n.name in lab.peerings:
                out.append(Violation(DUPLICATE, f"NAT gateway {v.name}/{n.name}: {n.name} is also the name of a "
                                     "peering, and a route's next hop must name one of them; rename the gateway",
                                     n.line))
            elif n.name in lab.vpcs:
                out.append(Violation(DUPLICATE, f"NAT gateway {v.name}/{n.name}: {n.name} is also the name of a VPC, "
                                     f"and a path through the gateway ({v.name} -> {n.name} -> {INTERNET}) would read "
                                     f"as passing through VPC {n.name}; rename the gateway", n.line))
    if lab.internet is not None and INTERNET in lab.vpcs:
        out.append(Violation(DUPLICATE, f"VPC {INTERNET}: the name belongs to the lab's Internet (its hosts "
                             f"are {INTERNET}/<host>); rename the VPC", lab.vpcs[INTERNET].line))
    return out


# ---- what the lab's service daemon listens on ----------------------------------------------------


def listeners(lab: Lab) -> List[Tuple[str, int, int]]:
    """(owner, port, line) of every listener of the lab's service daemon, each (owner, port) once,
    as the plan makes them (plan.planner.services, plan.filters._internet): a cdb/cmem's service
    port, a CLB's port and that port on each of its backends, each port of an instance's `listen:`,
    each port of each Internet host."""
    out: Dict[Tuple[str, int], int] = {}
    for vpc in lab.vpcs.values():
        for i in vpc.instances.values():
            for _, port in i.listen:
                out.setdefault((i.ref, port), i.line)
            if i.kind in ("cdb", "cmem"):
                out.setdefault((i.ref, i.service_port), i.line)
            elif i.kind == "clb" and i.port is not None:
                out.setdefault((i.ref, i.port), i.line)
                for b in i.backends:
                    if b in vpc.instances:
                        out.setdefault((vpc.instances[b].ref, i.port), vpc.instances[b].line)
    if lab.internet is not None:
        for h in lab.internet.hosts.values():
            for port in h.ports:
                out.setdefault((h.ref, port), h.line)
    return [(owner, port, line) for (owner, port), line in out.items()]


def check_listeners(lab: Lab, key_lines: Optional[Dict] = None) -> List[Violation]:
    """At most MAX_HOST_PORTS listeners on one Internet host or instance, MAX_LISTENERS in the lab:
    each is a TCP and a UDP socket of the lab's one service daemon, which has a file budget."""
    key_lines = key_lines or {}
    out = []
    found = listeners(lab)
    counts: Dict[str, List[int]] = {}
    for owner, _, line in found:
        counts.setdefault(owner, [0, line])[0] += 1
    hosts = lab.internet.hosts if lab.internet is not None else {}
    for owner, (n, line) in counts.items():
        if n <= MAX_HOST_PORTS:
            continue
        host = hosts.get(owner[len(INTERNET_PREFIX):]) if owner.startswith(INTERNET_PREFIX) else None
        if host is not None:
            out.append(Violation(LISTENER_LIMIT, f"Internet host {host.name}: {n} ports; a host listens on at most "
                                 f"{MAX_HOST_PORTS} (each port is a TCP and a UDP socket of the lab's service daemon)",
                                 key_lines.get((id(host), "ports"), host.line)))
        else:
            out.append(Violation(LISTENER_LIMIT, f"instance {owner} listens on {n} ports (its listen: and the CLBs "
                                 f"it backs); an instance listens on at most {MAX_HOST_PORTS}", line))
    if len(found) > MAX_LISTENERS and not out:
        owner, port, line = found[MAX_LISTENERS]
        out.append(Violation(LISTENER_LIMIT, f"the lab has {len(found)} listeners (Internet host ports, cdb and cmem "
                             f"instances, listen: ports, CLBs and their backends); a lab has at most "
                             f"{MAX_LISTENERS}, and {owner} port {port} is listener {MAX_LISTENERS + 1}", line))
    return out


def is_nat_hop(lab: Lab, vpc: Vpc, next_hop: str) -> bool:
    return next_hop in vpc.nat_gateways


# ---- the whole lab ----------------------------------------------------------------------------


def validate(lab: Lab, written: Optional[Dict[int, int]] = None, key_lines: Optional[Dict] = None) -> List[Violation]:
    """Every version-2 rule over a lab (routes to NAT gateways are `rules.check_route`'s).
    `written`: see `check_rules`; `key_lines`: (id(instance), key) -> the line of that key."""
    key_lines = key_lines or {}
    out: List[Violation] = []
    if lab.internet is not None:
        out += check_internet(lab, lab.internet)
    out += check_names(lab)
    out += check_listeners(lab, key_lines)
    for vpc in lab.vpcs.values():
        for g in vpc.security_groups.values():
            out += check_group(lab, vpc, g, written)
        bound: Dict[str, str] = {}
        for a in vpc.network_acls.values():
            out += check_acl(lab, vpc, a, bound, written)
        for i in vpc.instances.values():
            out += check_instance_groups(lab, vpc, i, key_lines.get((id(i), "security_groups"), i.line))
    taken: Dict = {}
    eip_lines = {ip: key_lines.get((id(i), "eip")) for v in lab.vpcs.values() for i in v.instances.values()
                 for ip in [i.eip] if ip is not None}
    for who, ip, line in public_addresses(lab):
        if who.startswith("the EIP of "):
            line = eip_lines.get(ip) or line
        out += check_public_address(lab, who, ip, line, taken)
    return out
