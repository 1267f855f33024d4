"""Filtering and the Internet from a plan: security groups and their rules, network ACLs and their
subnets, EIPs (and an instance's public IP), NAT gateways and their SNAT rules.

Each maps onto the topology's version-2 keys (docs/topology.md):

- `tencentcloud_security_group` -> `security_groups:` of every VPC where an imported instance
  uses it (`orderly_security_groups`, or the older `security_groups`), or where a rule of such a
  group names it as its source (`source_security_id`, `source_sgid`); its rules come from
  `tencentcloud_security_group_rule_set` (ordered blocks), `_lite_rule` (`ACTION#CIDR#PORT#PROTO`)
  and `_rule` (one rule each, in address order);
- `tencentcloud_vpc_acl` -> `network_acls:` of its VPC, `ingress`/`egress` -> `inbound`/`outbound`,
  `tencentcloud_vpc_acl_attachment` -> its `subnets`;
- `tencentcloud_eip` + `tencentcloud_eip_association`, or `allocate_public_ip` -> an instance's `eip`;
- `tencentcloud_nat_gateway` -> `nat_gateways:` (its first EIP); `tencentcloud_nat_gateway_snat` is
  checked against the routes (vpclab translates every subnet routed to the gateway).

Whatever does not map (an IPv6 or template rule, an EIP on a load balancer, an SNAT rule
without a route) is a note naming the resource's address.
"""
from __future__ import annotations

import hashlib
import ipaddress
from typing import Dict, List, Optional, Tuple

from ....errors import shown
from ....model.filters import DEFAULT_INTERNET_CIDR
from ....model.types import RESERVED_VPC_RANGES
from .plan import (ACL, ACL_ATTACH, EIP, EIP_ASSOC, INSTANCE, LITE_RULE, NAT, RULE_SET, SG, SG_ATTACH, SG_RULE, SNAT,
                   SUBNET, Note, Res)

PROTOS = {"TCP": "tcp", "UDP": "udp", "ICMP": "icmp", "ALL": "all", "": "all"}


def rules(r: Res, what: str, action, peer, port, proto, peer_key: str, notes: List[Note]) -> List[dict]:
    """One cloud rule -> the topology's rules (a port list `80,443` is one rule per port); [] with
    a note when it cannot be carried."""
    def skip(why: str) -> List[dict]:
        notes.append(Note(r.address, f"partial: {what}: {why}; the rule is left out (not imported)"))
        return []

    act = str(action or "").strip().upper()
    if act not in ("ACCEPT", "DROP"):
        return skip(f"action {shown(action, as_repr=True)} is neither ACCEPT nor DROP")
    p = PROTOS.get(str(proto or "").strip().upper())
    if p is None:
        return skip(f"protocol {shown(proto, as_repr=True)} is not modelled (tcp, udp, icmp, all)")
    if not isinstance(peer, str) or not peer.strip():
        return skip("no IPv4 CIDR or group")
    peer = peer.strip()
    if peer[0].isdigit():
        try:
            net = ipaddress.IPv4Network(peer, strict=False)
        except ValueError:
            return skip(f"{shown(peer, as_repr=True)} is not an IPv4 CIDR")
        peer = str(net)
    ports: List[Optional[object]] = [None]
    text = str(port if port is not None else "").strip()
    if text and text.upper() != "ALL":
        if p not in ("tcp", "udp"):
            return skip(f"a port ({shown(text)}) with protocol {p}")
        ports = []
        for part in text.split(","):
            part = part.strip()
            ports.append(int(part) if part.isdigit() and len(part) <= 5 else part)
    return [{"proto": p, **({"port": x} if x is not None else {}), peer_key: peer, "action": act.lower()}
            for x in ports]


def split_lite(text) -> Tuple[Optional[str], ...]:
    """`ACCEPT#10.0.0.0/8#80,443#TCP[#DESCRIPTION]` -> (action, cidr, port, proto)."""
    parts = text.split("#") if isinstance(text, str) else []
    return tuple(parts[:4]) if len(parts) >= 4 else (None, None, None, None)


class Filters:
    """Filled by `convert` once VPCs, subnets and instances are known (their Res -> names)."""

    def __init__(self, conv):
        self.c = conv  # the converter: rv, by_type, names, out, notes, link, placed (id(Res) -> vpc)
        self.groups: Dict[int, Dict[str, List[dict]]] = {}  # id(SG) -> {"ingress": [...], "egress": [...]}
        self.group_refs: Dict[int, List[Res]] = {}  # id(SG) -> groups its rules name as source
        self.members: Dict[int, List[str]] = {}  # id(SG) -> VPCs of its instances
        self.attached: set = set()  # id(SG_ATTACH) of the attachments imported

    # ---- security groups ------------------------------------------------------------------

    def read_groups(self) -> None:
        c = self.c
        for r in c.by_type.get(SG, []):
            self.groups[id(r)] = {"ingress": [], "egress": []}
            self.group_refs[id(r)] = []
        sources: Dict[int, List[Res]] = {}
        for r in c.by_type.get(RULE_SET, []) + c.by_type.get(LITE_RULE, []) + c.by_type.get(SG_RULE, []):
            g, _ = c.link(r, "security_group_id", SG)
            if g is None:
                continue
            sources.setdefault(id(g), []).append(r)
            body = self.groups[id(g)]
            if r.type == RULE_SET:
                for d in ("ingress", "egress"):
                    for i, b in enumerate(r.values.get(d) or []):
                        b = b if isinstance(b, dict) else {}
                        body[d] += self._block(r, g, d, i, b)
            elif r.type == LITE_RULE:
                for d in ("ingress", "egress"):
                    for i, line in enumerate(r.values.get(d) or []):
                        action, cidr, port, proto = split_lite(line)
                        body[d] += rules(r, f"{d}[{i}]", action, cidr, port, proto,
                                         "source" if d == "ingress" else "destination", c.notes)
            else:
                d = str(r.values.get("type") or "").lower()
                if d not in ("ingress", "egress"):
                    c.notes.append(Note(r.address, f"partial: type {shown(r.values.get('type'), as_repr=True)} "
                                                   "is neither ingress nor egress (not imported)"))
                    continue
                peer = r.values.get("cidr_ip")
                if peer is None and (r.values.get("source_sgid") or c.rv.config.expression(r, "source_sgid")):
                    peer = self._group_peer(r, g, "source_sgid", None)
                body[d] += rules(r, "the rule", r.values.get("policy"), peer, r.values.get("port_range"),
                                 r.values.get("ip_protocol"), "source" if d == "ingress" else "destination", c.notes)
        for g in c.by_type.get(SG, []):
            if len(sources.get(id(g), [])) > 1:
                c.notes.append(Note(g.address, "partial: its rules come from " + ", ".join(
                    x.address for x in sources[id(g)][:4]) + ": taken in that order (the provider wants one rule "
                    "resource per group)"))

    def _block(self, r: Res, g: Res, d: str, i: int, b: dict) -> List[dict]:
        c = self.c
        key = "source" if d == "ingress" else "destination"
        for attr in ("ipv6_cidr_block", "address_template_id", "address_template_group", "service_template_id",
                     "service_template_group"):
            if b.get(attr):
                c.notes.append(Note(r.address, f"partial: {d}[{i}]: {attr} is not modelled (vpclab rules name "
                                               "IPv4 CIDRs and groups); the rule is left out (not imported)"))
                return []
        peer = b.get("cidr_block")
        if not peer and (b.get("source_security_id") or
                         c.rv.config.expression(r, "source_security_id", (d, i)) is not None):
            peer = self._group_peer(r, g, "source_security_id", (d, i))
            if peer is None:
                return []
        return rules(r, f"{d}[{i}]", b.get("action"), peer, b.get("port"), b.get("protocol"), key, c.notes)

    def _group_peer(self, r: Res, g: Res, attr: str, block) -> Optional[str]:
        t, _, why = self.c.rv.target(r, attr, block)
        if t is None or t.type != SG:
            where = f"{block[0]}[{block[1]}]" if block else "the rule"
            self.c.notes.append(Note(r.address, f"partial: {where}: {why or attr + ' names no security group'}; "
                                                "the rule is left out (not imported)"))
            return None
        self.group_refs[id(g)].append(t)
        return "\0sg:" + str(id(t))  # the group's name in each VPC it is placed in (see place)

    def instance_groups(self, r: Res, vpc: str) -> List[str]:
        """An instance's ordered groups (names), placing each in `vpc`."""
        c = self.c
        attr = "orderly_security_groups"
        if not r.values.get(attr) and c.rv.config.expression(r, attr) is None:
            attr = "security_groups"
        found, why = c.rv.targets(r, attr)
        for w in why:
            c.notes.append(Note(r.address, f"partial: {w} (that group is not imported)"))
        groups = [t for t, _ in found if t.type == SG]
        for a in c.by_type.get(SG_ATTACH, []):  # bound after its own groups, in address order (the cloud's:
            t, _, _ = c.rv.target(a, "instance_id")  # binding order is priority order)
            g = c.rv.target(a, "security_group_id")[0] if t is r else None
            if g is not None and g.type == SG and all(g is not x for x in groups):
                groups.append(g)
                self.attached.add(id(a))
        if attr == "security_groups" and len(groups) > 1:
            c.notes.append(Note(r.address, "partial: security_groups is a set, its order (which decides between "
                                           "conflicting rules) is the plan's; orderly_security_groups keeps one"))
        if not groups and c.by_type.get(SG):
            c.notes.append(Note(r.address, "partial: no security group of the plan; the cloud gives it the "
                                           "project's default group, which the plan does not show: imported "
                                           "unfiltered"))
        for g in groups:
            self.members.setdefault(id(g), [])
            if vpc not in self.members[id(g)]:
                self.members[id(g)].append(vpc)
            self.place(g, vpc)
        return [c.names[g] for g in groups]

    def place(self, g: Res, vpc: str) -> None:
        """Group `g` in `vpc` with its rules, and every group its rules name (they must be there too)."""
        c = self.c
        sgs = c.out.vpcs[vpc].setdefault("security_groups", {})
        name = c.names[g]
        if name in sgs:
            return
        body = {d: [] for d in ("ingress", "egress")}
        sgs[name] = body
        c.out.where[("sg", vpc, name)] = g.address
        for d, rs in self.groups.get(id(g), {}).items():
            for rule in rs:
                rule = dict(rule)
                for k in ("source", "destination"):
                    if isinstance(rule.get(k), str) and rule[k].startswith("\0sg:"):
                        ref = next(x for x in self.group_refs[id(g)] if str(id(x)) == rule[k][4:])
                        rule[k] = c.names[ref]
                        self.place(ref, vpc)
                body[d].append(rule)

    def check_groups(self) -> None:
        c = self.c
        for a in c.by_type.get(SG_ATTACH, []):
            if id(a) not in self.attached:
                t, _, why = c.rv.target(a, "instance_id")
                g, _, why_g = c.rv.target(a, "security_group_id")
                what = (why or why_g) if t is None or g is None else f"{t.address} or {g.address} is not imported"
                c.notes.append(Note(a.address, f"unresolved: {what} (not imported)"))
        for g in c.by_type.get(SG, []):
            if id(g) not in self.members and not any(c.names[g] in v.get("security_groups", {})
                                                     for v in c.out.vpcs.values()):
                c.notes.append(Note(g.address, "unsupported: no imported instance uses it, so it filters nothing "
                                               "(not imported)"))
            for ref in self.group_refs.get(id(g), []):
                there = self.members.get(id(ref), [])
                for vpc in self.members.get(id(g), []):
                    if [v for v in there if v != vpc]:
                        c.notes.append(Note(g.address, f"partial: a rule names group {c.names[ref]}, which has "
                                                       f"members in {', '.join(v for v in there if v != vpc)}; in "
                                                       f"{vpc} vpclab counts only its members there"))

    # ---- network ACLs ---------------------------------------------------------------------

    def read_acls(self, subnets: Dict[int, Tuple[str, str]]) -> None:
        c = self.c
        acls: Dict[int, Tuple[str, str]] = {}
        for r in c.by_type.get(ACL, []):
            v, _ = c.link(r, "vpc_id", "tencentcloud_vpc")
            if v is None:
                continue
            vpc, name = c.names[v], c.names[r]
            body = {"subnets": [], "inbound": [], "outbound": []}
            for d, key in (("ingress", "inbound"), ("egress", "outbound")):
                for i, line in enumerate(r.values.get(d) or []):
                    action, cidr, port, proto = split_lite(line)
                    body[key] += rules(r, f"{d}[{i}]", action, cidr, port, proto,
                                       "source" if d == "ingress" else "destination", c.notes)
            c.out.vpcs[vpc].setdefault("network_acls", {})[name] = body
            c.out.where[("acl", vpc, name)] = r.address
            acls[id(r)] = (vpc, name)
        bound: Dict[Tuple[str, str], str] = {}
        for r in c.by_type.get(ACL_ATTACH, []):
            a, _ = c.link(r, "acl_id", ACL)
            s, _ = c.link(r, "subnet_id", SUBNET)
            if a is None or s is None or id(a) not in acls or id(s) not in subnets:
                continue
            (vpc, acl), (svpc, sub) = acls[id(a)], subnets[id(s)]
            if vpc != svpc:
                c.notes.append(Note(r.address, f"unresolved: ACL {acl} is in {vpc}, subnet {sub} in {svpc} "
                                               "(not imported)"))
            elif (vpc, sub) in bound:
                c.notes.append(Note(r.address, f"partial: subnet {sub} is already bound to ACL {bound[vpc, sub]} "
                                               "(a subnet has one ACL; not imported)"))
            else:
                bound[vpc, sub] = acl
                c.out.vpcs[vpc]["network_acls"][acl]["subnets"].append(sub)

    # ---- EIPs, public IPs, NAT gateways -----------------------------------------------------

    def read_public(self, instances: Dict[int, Tuple[str, str]], tables) -> None:
        c = self.c
        wants: List[Tuple[str, Optional[str], tuple, Res]] = []  # (key, known address, where, resource)
        used: Dict[int, str] = {}  # id(EIP) -> who holds it
        for r in c.by_type.get(EIP_ASSOC, []):
            e, _ = c.link(r, "eip_id", EIP)
            if e is None:
                continue
            if r.values.get("network_interface_id") or c.rv.config.expression(r, "network_interface_id"):
                c.notes.append(Note(r.address, "unsupported: an EIP on an elastic network interface (ENIs are not "
                                               "modelled; not imported)"))
                continue
            t, _, why = c.rv.target(r, "instance_id")
            if t is None or t.type != INSTANCE or id(t) not in instances:
                what = f"{t.address} is not an imported CVM" if t is not None else why
                c.notes.append(Note(r.address, f"unsupported: {what} (vpclab gives EIPs to instances only; "
                                               "not imported)"))
                continue
            if id(e) in used:
                c.notes.append(Note(r.address, f"unresolved: {e.address} is already associated with {used[id(e)]} "
                                               "(not imported)"))
                continue
            vpc, inst = instances[id(t)]
            if any(w[2] == ("instance", vpc, inst) for w in wants):
                c.notes.append(Note(r.address, f"partial: {vpc}/{inst} already has a public address; this EIP is "
                                               "left out (one per instance)"))
                continue
            used[id(e)] = f"{vpc}/{inst}"
            wants.append((e.address, e.values.get("public_ip"), ("instance", vpc, inst), r))
        for t in c.by_type.get(INSTANCE, []):
            if id(t) not in instances or not t.values.get("allocate_public_ip"):
                continue
            vpc, inst = instances[id(t)]
            if any(w[2] == ("instance", vpc, inst) for w in wants):
                c.notes.append(Note(t.address, "partial: allocate_public_ip and an EIP association: the EIP is "
                                               "imported"))
                continue
            wants.append((t.address + "#public_ip", t.values.get("public_ip"), ("instance", vpc, inst), t))
        for r in c.by_type.get(NAT, []):
            v, _ = c.link(r, "vpc_id", "tencentcloud_vpc")
            if v is None:
                continue
            found, why = c.rv.targets(r, "assigned_eip_set")
            eips = [t for t, _ in found if t.type == EIP]
            literal = [x for x in r.values.get("assigned_eip_set") or [] if isinstance(x, str)]
            known = eips[0].values.get("public_ip") if eips else (literal[0] if literal else None)
            if len(eips) + (0 if eips else len(literal)) > 1:
                c.notes.append(Note(r.address, "partial: several EIPs; vpclab translates to the first one"))
            if not eips and not literal:
                c.notes.append(Note(r.address, "partial: no EIP of the plan in assigned_eip_set"
                                               + (f" ({why[0]})" if why else "") + "; given an address of the "
                                               "lab's Internet"))
            key = eips[0].address if eips else r.address
            if eips and id(eips[0]) in used:
                c.notes.append(Note(r.address, f"partial: {eips[0].address} is also {used[id(eips[0])]}'s; the "
                                               "gateway gets another address"))
                key, known = r.address, None
            elif eips:
                used[id(eips[0])] = f"NAT gateway {c.names[r]}"
            c.out.vpcs[c.names[v]].setdefault("nat_gateways", {})[c.names[r]] = {}
            c.out.where[("nat", c.names[v], c.names[r])] = r.address
            wants.append((key, known, ("nat", c.names[v], c.names[r]), r))
        for e in c.by_type.get(EIP, []):
            if id(e) not in used:
                c.notes.append(Note(e.address, "unsupported: not associated with an imported instance or NAT "
                                               "gateway (not imported)"))
        self._addresses(wants)

    def _addresses(self, wants) -> None:
        """Known public addresses where one range holds them all; the others allocated by a hash of
        their address in the range (stable: adding an EIP moves no other)."""
        c = self.c
        if not wants:
            return
        vpcs = [ipaddress.IPv4Network(v["cidr"], strict=False) for v in c.out.vpcs.values()]
        known = {}
        for key, ip, _, _ in wants:
            try:
                known[key] = ipaddress.IPv4Address(ip) if isinstance(ip, str) else None
            except ValueError:
                known[key] = None
        ips = sorted({ip for ip in known.values() if ip is not None})
        net = None
        if ips:
            prefix = min(24, 32 - (int(ips[0]) ^ int(ips[-1])).bit_length())
            cand = ipaddress.IPv4Network((int(ips[0]) >> (32 - prefix) << (32 - prefix), prefix))
            while cand.num_addresses - 66 < 2 * len(wants) and cand.prefixlen > 16:
                cand = cand.supernet()
            if prefix >= 16 and _free(cand, vpcs):
                net = cand
        if net is None:
            net = DEFAULT_INTERNET_CIDR
            while (net.num_addresses - 66) < 2 * len(wants) and net.prefixlen > 16:
                net = net.supernet()
            if not _free(net, vpcs):
                net = ipaddress.IPv4Network("198.18.0.0/16")
        taken = {ip for ip in known.values() if ip is not None and ip in net}
        given: set = set()
        for key, _, where, r in wants:
            ip = known[key]
            if ip is None or ip not in net or ip in given or ip in (net.network_address, net.broadcast_address):
                if ip is not None:
                    why = ("is already another's (an address belongs to one EIP or gateway)" if ip in given else
                           f"is not a usable address of the lab's Internet range {net} (one range holds every "
                           "public address)")
                    c.notes.append(Note(r.address, f"partial: public address {ip} {why}; given another"))
                ip = _slot(net, key, taken | given)
            taken.add(ip)
            given.add(ip)
            if where[0] == "instance":
                c.out.vpcs[where[1]]["instances"][where[2]]["eip"] = str(ip)
            else:
                c.out.vpcs[where[1]]["nat_gateways"][where[2]]["eip"] = str(ip)
        c.out.internet = str(net)

    def check_snat(self, subnets: Dict[int, Tuple[str, str]], instances) -> None:
        """SNAT rules against routes: vpclab translates every subnet routed to a gateway."""
        c = self.c
        for r in c.by_type.get(SNAT, []):
            n, _ = c.link(r, "nat_gateway_id", NAT)
            if n is None:
                continue
            kind = str(r.values.get("resource_type") or "").upper()
            attr, known = ("subnet_id", subnets) if kind == "SUBNET" else ("instance_id", instances)
            t, _, why = c.rv.target(r, attr)
            if t is None or id(t) not in known:
                c.notes.append(Note(r.address, f"unresolved: {why or attr + ' is not imported'} (not imported)"))
                continue
            vpc, name = known[id(t)]
            sub = name if kind == "SUBNET" else c.out.vpcs[vpc]["instances"][name]["subnet"]
            table = c.out.vpcs[vpc]["subnets"].get(sub, {}).get("route_table", "default")
            routes = c.out.vpcs[vpc]["route_tables"].get(table, {}).get("routes", [])
            if not any(x["next_hop"] == c.names[n] for x in routes):
                c.notes.append(Note(r.address, f"partial: subnet {vpc}/{sub} has no route to {c.names[n]} in its "
                                               f"table {table}, so no traffic reaches the gateway"))
            elif kind != "SUBNET":
                c.notes.append(Note(r.address, f"partial: an SNAT rule for one instance; vpclab translates all of "
                                               f"subnet {vpc}/{sub}, which routes to {c.names[n]}"))


def _free(net, vpcs) -> bool:
    return not any(net.overlaps(v) for v in vpcs) and not any(net.overlaps(r) for r in RESERVED_VPC_RANGES)


def _slot(net, key: str, taken: set):
    """An address of `net` from a hash of `key`: offsets 10 up to the last 56 (left for the
    Internet hosts a team adds), the next free one on a collision."""
    lo, hi = 10, net.num_addresses - 57
    n = hi - lo
    start = int(hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()[:8], 16) % n
    for i in range(n):
        ip = net.network_address + lo + (start + i) % n
        if ip not in taken:
            return ip
    raise ValueError(f"no free address in {net}")
