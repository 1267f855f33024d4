"""The model's JSON form, as the state store keeps it: `lab_to_dict` and a strict `lab_from_dict`.

Decoding trusts nothing: the state file may have been truncated, edited or
scrambled. Every key `lab_to_dict` writes must be there with its type, names must
be names (they become namespace and interface names), and every reference inside
the model (a subnet's route table, an instance's subnet, a peering's VPCs) must
resolve, so that no later command meets a KeyError or a None. The version-2 parts must
also keep the rules a topology file keeps (an EIP inside the Internet's range, that
range clear of the reserved ones, a host's ports within the limit...): the loader's own
checks, `filter_rules.validate`, run over the decoded lab. Anything else raises
`BadModel` with the place (`vpcs[1].instances[0].ip`) or the rule's code, and what is
wrong; the store turns it into a StateError naming the lab and its file.
"""
from __future__ import annotations

import ipaddress
import math
from typing import Any, Optional

from .filters import (
    ACTIONS,
    FILTER_PROTOS,
    FilterRule,
    Internet,
    InternetHost,
    NatGateway,
    NetworkAcl,
    SecurityGroup,
)
from . import ccn as ccn_rules
from . import filter_rules, listeners
from .ccn import Attachment, Ccn
from .filter_rules import parse_peer
from .rules import as_address
from .types import (
    ACCOUNT_NAME,
    ITEM_NAME,
    KINDS,
    LAB_NAME,
    PEERING_NAME,
    PROTOS,
    RESULTS,
    STATES,
    VPC_NAME,
    Expectation,
    Instance,
    Lab,
    Peering,
    Route,
    RouteTable,
    Subnet,
    Vpc,
)


class BadModel(ValueError):
    """The JSON is not a model `lab_to_dict` could have written."""


def lab_to_dict(lab: Lab) -> dict:
    return {
        "name": lab.name,
        "accounts": lab.accounts,
        "regions": lab.regions,
        "latency_ms": lab.latency_ms,
        "clock": lab.clock,
        "source": lab.source,
        "vpcs": [
            {
                "name": v.name, "account": v.account, "region": v.region, "cidr": str(v.cidr),
                "subnets": [{"name": s.name, "cidr": str(s.cidr), "route_table": s.route_table}
                            for s in v.subnets.values()],
                "route_tables": [{"name": t.name, "routes": [{"destination": str(r.destination),
                                                              "next_hop": r.next_hop} for r in t.routes]}
                                 for t in v.route_tables.values()],
                "instances": [{"name": i.name, "subnet": i.subnet, "ip": str(i.ip), "kind": i.kind, "port": i.port,
                               "backends": i.backends, "security_groups": i.security_groups,
                               "eip": str(i.eip) if i.eip else None,
                               **({"listen": [listeners.text(e) for e in i.listen]} if i.listen else {})}
                              for i in v.instances.values()],
                "security_groups": [{"name": g.name, "ingress": _rules(g.ingress), "egress": _rules(g.egress)}
                                    for g in v.security_groups.values()],
                "network_acls": [{"name": a.name, "subnets": a.subnets, "inbound": _rules(a.inbound),
                                  "outbound": _rules(a.outbound)} for a in v.network_acls.values()],
                "nat_gateways": [{"name": n.name, "eip": str(n.eip)} for n in v.nat_gateways.values()],
            }
            for v in lab.vpcs.values()
        ],
        "peerings": [
            {"name": p.name, "vpc": p.vpc, "peer_vpc": p.peer_vpc, "bandwidth_kbps": p.bandwidth_kbps,
             "state": p.state, "created_at": p.created_at, "index": p.index}
            for p in lab.peerings.values()
        ],
        "internet": None if lab.internet is None else {
            "cidr": str(lab.internet.cidr),
            "hosts": [{"name": h.name, "ip": str(h.ip), "ports": h.ports} for h in lab.internet.hosts.values()]},
        "expectations": [{"src": e.src, "dst": e.dst, "proto": e.proto, "port": e.port, "result": e.result,
                          "line": e.line} for e in lab.expectations],
        **({"billing": lab.billing} if lab.billing is not None else {}),  # absent: v1 digests unchanged
        **({"ccns": [_ccn_to_dict(c) for c in lab.ccns.values()]} if lab.ccns else {}),  # version 3
    }


def _ccn_to_dict(c: Ccn) -> dict:
    return {"name": c.name, "account": c.account, "index": c.index, "created_at": c.created_at,
            "limit_type": c.limit_type, "limits": dict(c.limits), "disabled": list(c.disabled),
            "enabled": list(c.enabled),
            "attachments": [{"vpc": a.vpc, "state": a.state, "publish": a.publish, "attached_at": a.attached_at}
                            for a in c.attachments]}


def _rules(rules) -> list:
    return [{"proto": r.proto, "ports": list(r.ports) if r.ports else None, "peer": r.peer, "action": r.action,
             "line": r.line} for r in rules]


# ---- strict decoding -------------------------------------------------------------------


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class _Obj:
    """One JSON object of the model, read key by key with its place for messages."""

    def __init__(self, value: Any, where: str):
        if not isinstance(value, dict):
            raise BadModel(f"{where} is {type(value).__name__}, not an object")
        self.d, self.where = value, where

    def _raw(self, key: str, optional: bool):
        if key not in self.d:
            if optional:
                return None
            raise BadModel(f"{self.where}: '{key}' is missing")
        return self.d[key]

    def get(self, key: str, kind, what: str, optional: bool = False):
        v = self._raw(key, optional)
        if v is None and optional:
            return None
        ok = isinstance(v, kind) and not isinstance(v, bool) if kind is not bool else isinstance(v, bool)
        if ok and isinstance(v, float) and not math.isfinite(v):
            ok = False
        if not ok:
            raise BadModel(f"{self.where}.{key} is {_show(v)}, not {what}")
        return v

    def text(self, key: str, optional: bool = False) -> Optional[str]:
        return self.get(key, str, "a string", optional)

    def name(self, key: str, pattern) -> str:
        v = self.text(key)
        if not pattern.match(v):
            raise BadModel(f"{self.where}.{key} {_show(v)} is not a valid name")
        return v

    def number(self, key: str, lo: float = 0) -> float:
        v = self.get(key, (int, float), "a number")
        if v < lo:
            raise BadModel(f"{self.where}.{key} is {v}, below {lo}")
        return v

    def integer(self, key: str, lo: int, hi: int, optional: bool = False) -> Optional[int]:
        v = self.get(key, int, "an integer", optional)
        if v is not None and not lo <= v <= hi:
            raise BadModel(f"{self.where}.{key} is {v}, outside {lo}..{hi}")
        return v

    def choice(self, key: str, choices) -> str:
        v = self.text(key)
        if v not in choices:
            raise BadModel(f"{self.where}.{key} is {_show(v)}, not one of {', '.join(choices)}")
        return v

    def network(self, key: str) -> ipaddress.IPv4Network:
        return self._parsed(key, ipaddress.IPv4Network, "an IPv4 CIDR")

    def address(self, key: str) -> ipaddress.IPv4Address:
        return self._parsed(key, ipaddress.IPv4Address, "an IPv4 address")

    def _parsed(self, key: str, parse, what: str):
        v = self.text(key)
        got = _PARSED.get((parse, v))  # a lab repeats its CIDRs: ipaddress parses each text once
        if got is not None:
            return got
        try:
            got = parse(v)
        except ValueError:
            raise BadModel(f"{self.where}.{key} {_show(v)} is not {what}") from None
        if len(_PARSED) < _CACHED:
            _PARSED[(parse, v)] = got
        return got

    def items(self, key: str):
        v = self.get(key, list, "a list")
        return [_Obj(x, f"{self.where}.{key}[{n}]") for n, x in enumerate(v)]

    def strings(self, key: str, pattern=None) -> list:
        v = self.get(key, list, "a list")
        for n, x in enumerate(v):
            if not isinstance(x, str) or (pattern is not None and not pattern.match(x)):
                raise BadModel(f"{self.where}.{key}[{n}] {_show(x)} is not a valid name")
        return list(v)


_PARSED: dict = {}  # (parser, text) -> its IPv4Network/IPv4Address (immutable values): decoding
_PEERS: dict = {}  # (text, kind) -> a rule peer's canonical text; both bounded by _CACHED
_CACHED = 100_000


def _peer(text, kind: str):
    got = _PEERS.get((text, kind)) if isinstance(text, str) else None
    if got is not None:
        return got, None
    peer, bad = parse_peer(text, kind)
    if bad is None and len(_PEERS) < _CACHED:
        _PEERS[(text, kind)] = peer
    return peer, bad


def _add(table: dict, name: str, value, where: str) -> None:
    if name in table:
        raise BadModel(f"{where}: '{name}' appears twice")
    table[name] = value


def _vpc(v: _Obj) -> Vpc:
    vpc = Vpc(v.name("name", VPC_NAME), v.name("account", ACCOUNT_NAME), v.name("region", VPC_NAME),
              v.network("cidr"))
    for t in v.items("route_tables"):
        table = RouteTable(t.name("name", ITEM_NAME), [Route(r.network("destination"), r.name("next_hop", PEERING_NAME))
                                                       for r in t.items("routes")])
        _add(vpc.route_tables, table.name, table, t.where)
    for s in v.items("subnets"):
        sub = Subnet(s.name("name", ITEM_NAME), s.network("cidr"), s.name("route_table", ITEM_NAME))
        if sub.route_table not in vpc.route_tables:
            raise BadModel(f"{s.where}: route table '{sub.route_table}' is not a table of {vpc.name}")
        _add(vpc.subnets, sub.name, sub, s.where)
    for i in v.items("instances"):
        inst = Instance(i.name("name", ITEM_NAME), vpc.name, i.name("subnet", ITEM_NAME), i.address("ip"),
                        i.choice("kind", KINDS), i.integer("port", 1, 65535, optional=True),
                        i.strings("backends"))
        if inst.subnet not in vpc.subnets:
            raise BadModel(f"{i.where}: subnet '{inst.subnet}' is not a subnet of {vpc.name}")
        _add(vpc.instances, inst.name, inst, i.where)
        # Version 2 keys: absent in a state file written before them (version-1 meaning).
        if "security_groups" in i.d:
            inst.security_groups = i.strings("security_groups", ITEM_NAME)
        if i.d.get("eip") is not None:
            inst.eip = i.address("eip")
        for entry in i.strings("listen") if "listen" in i.d else ():  # version 3
            parsed = listeners.parse(entry)
            if parsed is None or not 1 <= parsed[1] <= 65535:
                raise BadModel(f"{i.where}.listen has {_show(entry)}, not PROTO/PORT")
            inst.listen.append(parsed)
    for g in _optional_items(v, "security_groups"):
        group = SecurityGroup(g.name("name", ITEM_NAME), vpc.name, _decode_rules(g, "ingress", "sg"),
                              _decode_rules(g, "egress", "sg"))
        _add(vpc.security_groups, group.name, group, g.where)
    for a in _optional_items(v, "network_acls"):
        acl = NetworkAcl(a.name("name", ITEM_NAME), vpc.name, a.strings("subnets", ITEM_NAME),
                         _decode_rules(a, "inbound", "acl"), _decode_rules(a, "outbound", "acl"))
        for sub in acl.subnets:
            if sub not in vpc.subnets:
                raise BadModel(f"{a.where}: subnet '{sub}' is not a subnet of {vpc.name}")
        _add(vpc.network_acls, acl.name, acl, a.where)
    for n in _optional_items(v, "nat_gateways"):
        nat = NatGateway(n.name("name", ITEM_NAME), vpc.name, n.address("eip"))
        _add(vpc.nat_gateways, nat.name, nat, n.where)
    for g in vpc.security_groups.values():
        for r in g.ingress + g.egress:
            if r.peer_network is None and r.peer not in vpc.security_groups:
                raise BadModel(f"{v.where}: group '{g.name}' names group '{r.peer}', not a group of {vpc.name}")
    for inst in vpc.instances.values():
        for name in inst.security_groups:
            if name not in vpc.security_groups:
                raise BadModel(f"{v.where}: instance '{inst.name}' names group '{name}', not a group of {vpc.name}")
    return vpc


def _optional_items(obj: _Obj, key: str):
    return obj.items(key) if key in obj.d else []


def _decode_rules(obj: _Obj, key: str, kind: str) -> list:
    out = []
    for r in obj.items(key):
        ports = None
        if r.d.get("ports") is not None:
            pair = r.get("ports", list, "a list")
            if len(pair) != 2 or not all(isinstance(x, int) and not isinstance(x, bool) and 1 <= x <= 65535
                                         for x in pair) or pair[0] > pair[1]:
                raise BadModel(f"{r.where}.ports is {_show(pair)}, not a port range")
            ports = (pair[0], pair[1])
        peer, bad = _peer(r.text("peer"), kind)  # a CIDR, or (security groups) a group name
        if bad is not None:
            raise BadModel(f"{r.where}.peer: {bad.message}")
        out.append(FilterRule(r.choice("proto", FILTER_PROTOS), ports, peer, r.choice("action", ACTIONS),
                              r.integer("line", 0, 2 ** 31, optional=True) or 0))
    return out


def lab_from_dict(d: Any) -> Lab:
    """The model a `lab_to_dict` document describes; BadModel if it is not one."""
    top = _Obj(d, "model")
    lab = Lab(name=top.name("name", LAB_NAME), accounts=top.strings("accounts", ACCOUNT_NAME),
              regions=top.get("regions", dict, "an object"), latency_ms=top.get("latency_ms", dict, "an object"),
              clock=top.number("clock"), source=top.text("source", optional=True))
    for key, value in lab.regions.items():
        _Obj(value, f"model.regions.{key}")
    latency = _Obj(lab.latency_ms, "model.latency_ms")
    for key in latency.d:
        latency.number(key)
    for v in top.items("vpcs"):
        vpc = _vpc(v)
        _add(lab.vpcs, vpc.name, vpc, v.where)
    for p in top.items("peerings"):
        peering = Peering(p.name("name", PEERING_NAME), p.name("vpc", VPC_NAME), p.name("peer_vpc", VPC_NAME),
                          p.integer("bandwidth_kbps", 1, 2 ** 63, optional=True), p.choice("state", STATES),
                          p.number("created_at"), p.integer("index", 0, 2 ** 31))
        for side in (peering.vpc, peering.peer_vpc):
            if side not in lab.vpcs:
                raise BadModel(f"{p.where}: VPC '{side}' is not a VPC of the lab")
        _add(lab.peerings, peering.name, peering, p.where)
    if top.d.get("internet") is not None:
        net = _Obj(top.d["internet"], "model.internet")
        lab.internet = Internet(net.network("cidr"))
        for h in net.items("hosts"):
            host = InternetHost(h.name("name", ITEM_NAME), h.address("ip"), [
                p for p in h.get("ports", list, "a list")])
            if not all(isinstance(p, int) and not isinstance(p, bool) and 1 <= p <= 65535 for p in host.ports):
                raise BadModel(f"{h.where}.ports is {_show(host.ports)}, not a list of ports")
            _add(lab.internet.hosts, host.name, host, h.where)
    for e in top.items("expectations"):
        exp = Expectation(e.text("src"), e.text("dst"), e.choice("proto", PROTOS),
                          e.integer("port", 1, 65535, optional=True), e.choice("result", RESULTS),
                          e.integer("line", 0, 2 ** 31, optional=True) or 0)
        host = lab.internet is not None and lab.internet.host(exp.dst) is not None  # version 2: `internet/<host>`
        from_host = lab.internet is not None and lab.internet.host(exp.src) is not None  # version 3: as the source
        if (lab.instance(exp.src) is None and not from_host) or (lab.instance(exp.dst) is None
                                                                 and as_address(exp.dst) is None and not host):
            raise BadModel(f"{e.where}: {_show(exp.src)} -> {_show(exp.dst)} names no instance of the lab")
        lab.expectations.append(exp)
    if top.d.get("billing") is not None:
        lab.billing = _billing(_Obj(top.d["billing"], "model.billing"))
    for c in top.items("ccns") if "ccns" in top.d else ():  # version 3: absent before CCNs
        ccn = _ccn(c, lab)
        _add(lab.ccns, ccn.name, ccn, c.where)
    broken = filter_rules.validate(lab) + ccn_rules.validate(lab)  # the file rules, as the loader runs them
    if broken:
        more = f" (and {len(broken) - 1} more)" if len(broken) > 1 else ""
        raise BadModel(f"model: {broken[0].code}: {broken[0].message}{more}")
    return lab


def _ccn(c: _Obj, lab: Lab) -> Ccn:
    ccn = Ccn(c.name("name", ccn_rules.CCN_NAME), c.name("account", ACCOUNT_NAME),
              index=c.integer("index", 0, 2 ** 31), created_at=c.number("created_at"),
              limit_type=c.choice("limit_type", (ccn_rules.INTER, ccn_rules.OUTER)),
              disabled=c.strings("disabled"), enabled=c.strings("enabled"))
    if ccn.account not in lab.accounts:
        raise BadModel(f"{c.where}: account '{ccn.account}' is not an account of the lab")
    limits = _Obj(c.get("limits", dict, "an object"), f"{c.where}.limits")
    for key in limits.d:
        ccn.limits[key] = limits.integer(key, 1, 2 ** 63)
    for a in c.items("attachments"):
        att = Attachment(a.name("vpc", VPC_NAME), a.choice("state", ccn_rules.ATTACH_STATES),
                         a.choice("publish", ccn_rules.PUBLISH), a.number("attached_at"))
        if att.vpc not in lab.vpcs:
            raise BadModel(f"{a.where}: VPC '{att.vpc}' is not a VPC of the lab")
        if ccn.attachment(att.vpc) is not None:
            raise BadModel(f"{a.where}: '{att.vpc}' appears twice")
        ccn.attachments.append(att)
    return ccn


def _billing(b: _Obj) -> dict:
    """The normalised `billing:` (usage/prices.py writes it): types checked, nothing else."""
    prices, charge = _Obj(b.get("prices", dict, "an object"), "model.billing.prices"), \
        _Obj(b.get("charge_types", dict, "an object"), "model.billing.charge_types")
    for key in prices.d:
        prices.number(key)
    for key in charge.d:
        charge.text(key)
    return {"currency": b.text("currency", optional=True), "window_s": b.number("window_s"),
            "prices": prices.d, "charge_types": charge.d}

