"""Resolving a plan's resources into the topology's objects, with a note for whatever cannot be carried."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from ....errors import Refused
from .plan import (
    ACCEPT,
    DEFAULT_REGION,
    ENTRY,
    INSTANCE,
    Note,
    PEER,
    REJECT,
    Res,
    Resolver,
    Result,
    SUBNET,
    SUPPORTED,
    TABLE,
    UNTIL_FILTERING,
    VPC,
    _slug,
    _unique,
    lab_name,
    resources,
)
from .render import _Out, _validate, render


def convert(doc: dict, source: str = "plan.json", lab: Optional[str] = None) -> Result:
    res = resources(doc, source)
    rv = Resolver(doc, res)
    notes: List[Note] = []
    out = _Out()
    by_type: Dict[str, List[Res]] = {}
    for r in res:
        by_type.setdefault(r.type, []).append(r)
        if r.type.startswith("data."):
            notes.append(Note(r.address, "data source: read by Terraform, nothing to build (ignored)"))
        elif r.type in UNTIL_FILTERING:
            notes.append(Note(r.address, f"{r.type}: not imported (security groups, ACLs, EIPs and NAT gateways "
                                         "are not in the topology format yet)"))
        elif r.type not in SUPPORTED:
            notes.append(Note(r.address, f"{r.type}: not modelled by vpclab (not imported)"))

    def link(r: Res, attr: str, want: str) -> Tuple[Optional[Res], Optional[str]]:
        t, named, why = rv.target(r, attr)
        if t is None:
            notes.append(Note(r.address, f"unresolved: {why} (not imported)"))
            return None, None
        if t.type != want and not (want == TABLE and t.type == VPC and named == "default_route_table_id"):
            notes.append(Note(r.address, f"unresolved: {attr} points at {t.address}, not a {want} (not imported)"))
            return None, None
        if t.vpclab is None:
            notes.append(Note(r.address, f"unresolved: {attr} points at {t.address}, which was not imported "
                                         "(not imported)"))
            return None, None
        return t, named

    # Accounts: a peering with a destination_uin crosses accounts; its destination VPC is
    # that account's (provider aliases may differ in region only, so they do not decide).
    owner: Dict[int, str] = {}
    for r in by_type.get(PEER, []):
        uin = r.values.get("destination_uin")
        b = rv.target(r, "destination_vpc_id")[0]
        if uin and b is not None:
            owner[id(b)] = f"uin-{uin}"

    # VPCs
    taken: set = set()
    for r in by_type.get(VPC, []):
        key = rv.config.provider_key(r.calls, r.type, r.name)
        account = owner.get(id(r), "default")
        region = rv.config.region(key)
        if region is None:
            region = DEFAULT_REGION
            notes.append(Note(r.address, f"partial: its provider's region is not in the file; put in region "
                                         f"'{DEFAULT_REGION}'"))
        cidr = r.values.get("cidr_block")
        if not isinstance(cidr, str):
            notes.append(Note(r.address, "unresolved: cidr_block is unknown before apply (not imported)"))
            continue
        r.vpclab = _unique(_slug(r, 24, True), taken, 24)
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
        names = set(out.vpcs[v.vpclab]["route_tables"]) | {"default"}
        r.vpclab = _unique(_slug(r, 32, False), names, 32)
        out.vpcs[v.vpclab]["route_tables"][r.vpclab] = {"routes": []}
        out.where[("table", v.vpclab, r.vpclab)] = r.address
        tables[id(r)] = (v.vpclab, r.vpclab)

    def table_of(r: Res) -> Optional[Tuple[str, str]]:
        t, named = link(r, "route_table_id", TABLE)
        if t is None:
            return None
        return (t.vpclab, "default") if t.type == VPC else tables[id(t)]

    # subnets
    subnet_vpc: Dict[int, str] = {}
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
        r.vpclab = _unique(_slug(r, 32, False), set(out.vpcs[v.vpclab]["subnets"]), 32)
        out.vpcs[v.vpclab]["subnets"][r.vpclab] = body
        out.where[("subnet", v.vpclab, r.vpclab)] = r.address
        subnet_vpc[id(r)] = v.vpclab

    # peerings, with their accept / reject operations
    answered: Dict[int, str] = {}
    for op, what in ((ACCEPT, "accepted"), (REJECT, "rejected")):
        for r in by_type.get(op, []):
            p, _ = rv.target(r, "peering_connection_id")[:2]
            if p is None or p.type != PEER:
                notes.append(Note(r.address, "unresolved: peering_connection_id names no "
                                             f"{PEER} of the plan (not imported)"))
                continue
            answered[id(p)] = what
            r.vpclab = what
    taken = set()
    for r in by_type.get(PEER, []):
        a, _ = link(r, "source_vpc_id", VPC)
        b, _ = link(r, "destination_vpc_id", VPC)
        if a is None or b is None:
            continue
        r.vpclab = _unique(_slug(r, 60, False), taken, 60)
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
        if va["account"] != vb["account"]:
            state = answered.get(id(r))
            body["accepted"] = state == "accepted"
            if state == "rejected":
                notes.append(Note(r.address, "partial: rejected; imported as not accepted (PENDING): neither "
                                             "carries traffic"))
        out.peerings[r.vpclab] = body
        out.where[("peering", r.vpclab)] = r.address

    # routes
    for r in by_type.get(ENTRY, []):
        kind = str(r.values.get("next_type") or "").upper()
        if kind != "PEERCONNECTION":
            notes.append(Note(r.address, f"next_type {kind or 'unknown'}: only PEERCONNECTION routes are in the "
                                         "topology format yet (not imported)"))
            continue
        t = table_of(r)
        p, _ = link(r, "next_hub", PEER)
        dst = r.values.get("destination_cidr_block")
        if t is None or p is None:
            continue
        if not isinstance(dst, str):
            notes.append(Note(r.address, "unresolved: destination_cidr_block is unknown (not imported)"))
            continue
        vpc, table = t
        routes = out.vpcs[vpc]["route_tables"].setdefault(table, {"routes": []})["routes"]
        routes.append({"destination": dst, "next_hop": p.vpclab})
        out.where[("route", vpc, table, len(routes) - 1)] = r.address

    # instances
    for r in by_type.get(INSTANCE, []):
        s, _ = link(r, "subnet_id", SUBNET)
        if s is None:
            continue
        vpc = subnet_vpc[id(s)]
        if r.values.get("vpc_id") is not None or rv.config.expression(r, "vpc_id") is not None:
            v, _ = rv.target(r, "vpc_id")[:2]
            if v is not None and v.vpclab != vpc:
                notes.append(Note(r.address, f"unresolved: vpc_id is {v.vpclab} but its subnet is in {vpc} "
                                             "(not imported)"))
                continue
        body = {"subnet": s.vpclab}
        if isinstance(r.values.get("private_ip"), str) and r.values["private_ip"]:
            body["ip"] = r.values["private_ip"]
        if r.values.get("allocate_public_ip") or r.values.get("internet_max_bandwidth_out"):
            notes.append(Note(r.address, "partial: allocate_public_ip: the topology format has no public IP "
                                         "(eip) yet; imported with its private address only"))
        r.vpclab = _unique(_slug(r, 32, False), set(out.vpcs[vpc]["instances"]), 32)
        out.vpcs[vpc]["instances"][r.vpclab] = body
        out.where[("instance", vpc, r.vpclab)] = r.address

    if not out.vpcs:
        raise Refused(f"{source}: no {VPC} could be imported, so there is no topology",
                      code="MissingParameter", hint="; ".join(str(n) for n in notes[:5]) or None)
    name = lab or lab_name(source)
    text, lines = render(out, name, source, doc)
    counts = {"vpcs": len(out.vpcs), "peerings": len(out.peerings),
              "instances": sum(len(v["instances"]) for v in out.vpcs.values())}
    _validate(text, lines, source)
    return Result(text, name, notes, counts)


# ---- rendering and validation ---------------------------------------------------------------------
