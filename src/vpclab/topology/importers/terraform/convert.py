"""Resolving a plan's resources into the topology's objects, with a note for whatever cannot be carried."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from ....errors import Refused
from ....model.filters import INTERNET
from . import ccn as ccns
from .accounts import Accounts
from .filters import Filters
from .plan import (
    ACCEPT,
    ACL,
    CCN,
    DEFAULT_REGION,
    ENTRY,
    INSTANCE,
    NAT,
    Names,
    Note,
    PEER,
    REJECT,
    Res,
    Resolver,
    Result,
    SG,
    SUBNET,
    TABLE_ASSOC,
    SUPPORTED,
    TABLE,
    USER_INFO,
    VPC,
    lab_name,
    resources,
)
from ..check import validate as _validate
from .render import _Out, render

# scope -> (types, longest name, first character a letter): VPCs, peerings and NAT gateways share
# one scope (a route's next hop and a path's hop must name one thing), each other kind has its own.
SCOPES = {"net": ((VPC, PEER, NAT, CCN), {VPC: 24, PEER: 60, NAT: 24, CCN: 60}), "table": ((TABLE,), {TABLE: 32}),
          "subnet": ((SUBNET,), {SUBNET: 32}), "instance": ((INSTANCE,), {INSTANCE: 32}), "sg": ((SG,), {SG: 24}),
          "acl": ((ACL,), {ACL: 24})}
LETTER_FIRST = (VPC, NAT, SG, ACL)
WORDS = {NAT: "nat", PEER: "pcx", CCN: "ccn"}  # added to a NAT gateway's or a peering's name that a VPC also has


class _Converter:
    def __init__(self, doc: dict, source: str):
        self.res = resources(doc, source)
        self.rv = Resolver(doc, self.res)
        self.notes: List[Note] = []
        self.out = _Out()
        self.by_type: Dict[str, List[Res]] = {}
        for r in self.res:
            self.by_type.setdefault(r.type, []).append(r)
            if r.type == USER_INFO:
                continue  # read for the account it names (accounts.py)
            if r.type.startswith("data."):
                self.notes.append(Note(r.address, "data source: read by Terraform, nothing to build (ignored)"))
            elif r.type not in SUPPORTED:
                self.notes.append(Note(r.address, f"{r.type}: not modelled by vpclab (not imported)"))
        self.names = Names()
        self.names.reserved = {"net": {INTERNET}, "table": {"default"}}
        for scope, (types, maxlen) in SCOPES.items():
            for t in types:
                for r in self.by_type.get(t, []):
                    self.names.want(scope, r, maxlen[t], t in LETTER_FIRST, WORDS.get(t, ""))
        self.names.resolve(self.notes, Note)

    def link(self, r: Res, attr: str, want: str) -> Tuple[Optional[Res], Optional[str]]:
        t, named, why = self.rv.target(r, attr)
        if t is None:
            self.notes.append(Note(r.address, f"unresolved: {why} (not imported)"))
            return None, None
        if t.type != want and not (want == TABLE and t.type == VPC and named == "default_route_table_id"):
            self.notes.append(Note(r.address, f"unresolved: {attr} points at {t.address}, not a {want} "
                                              "(not imported)"))
            return None, None
        if t.vpclab is None and want in (VPC, SUBNET, TABLE, INSTANCE, PEER):
            self.notes.append(Note(r.address, f"unresolved: {attr} points at {t.address}, which was not imported "
                                              "(not imported)"))
            return None, None
        return t, named


def convert(doc: dict, source: str = "plan.json", lab: Optional[str] = None) -> Result:
    c = _Converter(doc, source)
    rv, notes, out, by_type, names, link = c.rv, c.notes, c.out, c.by_type, c.names, c.link
    accounts = Accounts(rv, by_type, notes)
    account_names = accounts.names()

    # VPCs, each in its provider configuration's account
    for r in by_type.get(VPC, []):
        key = rv.config.provider_key(r.calls, r.type, r.name)
        account = accounts.of(r, account_names)
        region = rv.config.region(key)
        if region is None:
            region = DEFAULT_REGION
            notes.append(Note(r.address, f"partial: its provider's region is not in the file; put in region "
                                         f"'{DEFAULT_REGION}'"))
        cidr = r.values.get("cidr_block")
        if not isinstance(cidr, str):
            notes.append(Note(r.address, "unresolved: cidr_block is unknown before apply (not imported)"))
            continue
        r.vpclab = names[r]
        out.vpcs[r.vpclab] = {"account": account, "region": region, "cidr": cidr, "subnets": {},
                              "route_tables": {}, "instances": {}}
        out.where[("vpc", r.vpclab)] = r.address
        for lst, v in ((out.accounts, account), (out.regions, region)):
            if v not in lst:
                lst.append(v)

    # route tables
    tables: Dict[int, Tuple[str, str]] = {}  # id(Res) -> (vpc, table)
    for r in by_type.get(TABLE, []):
        v, _ = link(r, "vpc_id", VPC)
        if v is None:
            continue
        r.vpclab = names[r]
        out.vpcs[v.vpclab]["route_tables"][r.vpclab] = {"routes": []}
        out.where[("table", v.vpclab, r.vpclab)] = r.address
        tables[id(r)] = (v.vpclab, r.vpclab)

    def table_of(r: Res) -> Optional[Tuple[str, str]]:
        t, named = link(r, "route_table_id", TABLE)
        if t is None:
            return None
        return (t.vpclab, "default") if t.type == VPC else tables[id(t)]

    # subnets
    subnets: Dict[int, Tuple[str, str]] = {}  # id(Res) -> (vpc, subnet)
    for r in by_type.get(SUBNET, []):
        v, _ = link(r, "vpc_id", VPC)
        cidr = r.values.get("cidr_block")
        if v is None:
            continue
        if not isinstance(cidr, str):
            notes.append(Note(r.address, "unresolved: cidr_block is unknown before apply (not imported)"))
            continue
        body = {"cidr": cidr}
        if r.values.get("route_table_id") or rv.config.expression(r, "route_table_id") is not None:
            t = table_of(r)
            if t is None:
                continue
            if t[0] != v.vpclab:
                notes.append(Note(r.address, f"unresolved: its route table is in {t[0]}, not in {v.vpclab} "
                                             "(not imported)"))
                continue
            if t[1] != "default":
                body["route_table"] = t[1]
        r.vpclab = names[r]
        out.vpcs[v.vpclab]["subnets"][r.vpclab] = body
        out.where[("subnet", v.vpclab, r.vpclab)] = r.address
        subnets[id(r)] = (v.vpclab, r.vpclab)

    # a subnet's table from a tencentcloud_route_table_association: it wins over the subnet's own
    associated: Dict[int, str] = {}  # id(subnet Res) -> the association's address
    for r in by_type.get(TABLE_ASSOC, []):
        s, _ = link(r, "subnet_id", SUBNET)
        t = table_of(r) if s is not None else None
        if s is None or t is None:
            continue
        vpc, subnet = subnets[id(s)]
        if t[0] != vpc:
            notes.append(Note(r.address, f"unresolved: its route table is in {t[0]}, not in {vpc} (not imported)"))
            continue
        if id(s) in associated:
            notes.append(Note(r.address, f"partial: {s.address} is associated by {associated[id(s)]} too; "
                                         "the first in address order kept (not imported)"))
            continue
        associated[id(s)] = r.address
        body = out.vpcs[vpc]["subnets"][subnet]
        body.pop("route_table", None)
        if t[1] != "default":
            body["route_table"] = t[1]

    # peerings, with their accept / reject operations (whatever ids those carry: see plan.ALIAS_IDS)
    answered: Dict[int, Dict[str, str]] = {}  # id(peering) -> {"accepted"|"rejected": operation address}
    for op, what in ((ACCEPT, "accepted"), (REJECT, "rejected")):
        for r in by_type.get(op, []):
            p, _ = rv.target(r, "peering_connection_id")[:2]
            if p is None or p.type != PEER:
                notes.append(Note(r.address, "unresolved: peering_connection_id names no "
                                             f"{PEER} of the plan (not imported)"))
                continue
            answered.setdefault(id(p), {})[what] = r.address
    for r in by_type.get(PEER, []):
        a, _ = link(r, "source_vpc_id", VPC)
        b, _ = link(r, "destination_vpc_id", VPC)
        if a is None or b is None:
            continue
        r.vpclab = names[r]
        body: Dict[str, Any] = {"vpc": a.vpclab, "peer_vpc": b.vpclab}
        va, vb = out.vpcs[a.vpclab], out.vpcs[b.vpclab]
        bw = r.values.get("bandwidth")
        if va["region"] != vb["region"]:
            body["bandwidth"] = f"{bw}Mbps" if isinstance(bw, (int, float)) and not isinstance(bw, bool) else None
            if body["bandwidth"] is None:
                notes.append(Note(r.address, "partial: cross-region without a known bandwidth (the file will "
                                             "say so)"))
                del body["bandwidth"]
        elif bw:
            notes.append(Note(r.address, f"partial: bandwidth {bw} on a regional peering is not carried "
                                         "(regional peerings have no cap)"))
        ops = answered.get(id(r), {})
        if va["account"] == vb["account"]:
            for what, addr in ops.items():
                notes.append(Note(addr, f"partial: {r.address} is within account {va['account']}, ACTIVE at "
                                        f"creation: nothing to be {what} (ignored)"))
        elif len(ops) == 2:
            body["accepted"] = False
            notes.append(Note(r.address, f"partial: both accepted ({ops['accepted']}) and rejected "
                                         f"({ops['rejected']}); imported as PENDING"))
        elif "rejected" in ops:
            body["rejected"] = True  # its routes stay, blackholes (BLACKHOLE_ROUTE names the REJECTED peering)
        else:
            body["accepted"] = "accepted" in ops
            if not ops:
                notes.append(Note(r.address, f"partial: across accounts ({va['account']} -> {vb['account']}) and "
                                             f"no accept operation in the plan: PENDING (`vpclab peering accept` "
                                             "makes it ACTIVE)"))
        out.peerings[r.vpclab] = body
        out.where[("peering", r.vpclab)] = r.address

    # NAT gateways (their addresses come with the EIPs, below); routes need their names
    for r in by_type.get(NAT, []):
        v = rv.target(r, "vpc_id")[0]
        if v is not None and v.vpclab is not None:
            r.vpclab = names[r]

    # CCNs, their attachments and limits (ccn.py); named first, as a USER_CCN route names one
    ccns.name_ccns(c)
    ccns.convert(c, out, accounts, account_names)

    # routes: to a peering, a NAT gateway or a CCN (USER_CCN)
    hop_types = {"PEERCONNECTION": PEER, "NAT": NAT, "USER_CCN": CCN}
    for r in by_type.get(ENTRY, []):
        kind = str(r.values.get("next_type") or "").upper()
        if kind not in hop_types:
            why = ("vpclab sends what no route matches from an instance with an EIP to the Internet, as this "
                   "route would" if kind == "EIP" else "the topology's next hops are peerings, NAT gateways and CCNs")
            notes.append(Note(r.address, f"next_type {kind or 'unknown'}: {why} (not imported)"))
            continue
        t = table_of(r)
        p, _ = link(r, "next_hub", hop_types[kind])
        dst = r.values.get("destination_cidr_block")
        if t is None or p is None:
            continue
        if p.vpclab is None:
            notes.append(Note(r.address, f"unresolved: next_hub points at {p.address}, which was not imported "
                                         "(not imported)"))
            continue
        if not isinstance(dst, str):
            notes.append(Note(r.address, "unresolved: destination_cidr_block is unknown (not imported)"))
            continue
        vpc, table = t
        routes = out.vpcs[vpc]["route_tables"].setdefault(table, {"routes": []})["routes"]
        routes.append({"destination": dst, "next_hop": p.vpclab})
        out.where[("route", vpc, table, len(routes) - 1)] = r.address

    # instances, with their security groups
    f = Filters(c)
    f.read_groups()
    instances: Dict[int, Tuple[str, str]] = {}
    for r in by_type.get(INSTANCE, []):
        s, _ = link(r, "subnet_id", SUBNET)
        if s is None:
            continue
        vpc = subnets[id(s)][0]
        if r.values.get("vpc_id") is not None or rv.config.expression(r, "vpc_id") is not None:
            v, _ = rv.target(r, "vpc_id")[:2]
            if v is not None and v.vpclab != vpc:
                notes.append(Note(r.address, f"unresolved: vpc_id is {v.vpclab} but its subnet is in {vpc} "
                                             "(not imported)"))
                continue
        body: Dict[str, Any] = {"subnet": s.vpclab}
        if isinstance(r.values.get("private_ip"), str) and r.values["private_ip"]:
            body["ip"] = r.values["private_ip"]
        r.vpclab = names[r]
        out.vpcs[vpc]["instances"][r.vpclab] = body
        groups = f.instance_groups(r, vpc)
        if groups:
            body["security_groups"] = groups
        out.where[("instance", vpc, r.vpclab)] = r.address
        instances[id(r)] = (vpc, r.vpclab)
    f.check_groups()
    f.read_acls(subnets)
    f.read_public(instances, tables)
    f.check_snat(subnets, instances)

    if not out.vpcs:
        raise Refused(f"{source}: no {VPC} could be imported, so there is no topology",
                      code="MissingParameter", hint="; ".join(str(n) for n in notes[:5]) or None)
    name = lab or lab_name(source)
    text, lines = render(out, name, source, doc)
    counts = {"vpcs": len(out.vpcs), "peerings": len(out.peerings), "ccns": len(out.ccns),
              "instances": sum(len(v["instances"]) for v in out.vpcs.values())}
    _validate(text, lines, source)
    return Result(text, name, notes, counts)
