"""Reading labs: `status`, `ls`, `events`, and the rows of `peering list` and `route list`.

Data only (dicts for `--json`); printing stays in cli/. The `status` document has the
keys of version 1, and beside them those of the security groups (per instance), network
ACLs (per subnet), EIPs, NAT gateways and the Internet's hosts.

The faces (cli/, api/, ui/) and exercises/ read a lab's name and model through here too
(`resolve_lab`, `known_labs` and the statuses are state/'s; `load_model` is settle's: a live
operation a kill interrupted is finished before the model is read), and keep
notes of their own in its state (`read_note`, `write_note`: the exercise a lab is).
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

from ..errors import NotFound, StateError
from ..model import ccn as ccn_model
from ..model import ccn_ops, lifecycle
from ..model.filter_rules import PEER_KEY
from ..model.filters import ACL_DIRECTIONS, SG_DIRECTIONS, FilterRule
from ..model.types import Lab
from ..model.units import format_duration
from ..plan import kernelnames, names
from ..state.labs import DAMAGED, known_labs, resolve_lab
from ..state.store import APPLYING, DELETING, Store, check_name
from . import settle
from .settle import load_model

__all__ = ["status", "ls", "state_file", "check_lab", "read_note", "write_note", "peering_rows",
           "route_rows", "ccn_rows", "ccn_route_rows", "rule_row", "extend_status", "uses_v2", "resolve_lab",
           "load_model", "known_labs", "DAMAGED", "DELETING", "APPLYING"]


def peering_rows(model: Lab) -> List[dict]:
    return [{"id": p.name, "vpc": p.vpc, "peer_vpc": p.peer_vpc, "state": p.state,
             "bandwidth_mbps": p.bandwidth_mbps, "created_at": p.created_at, "expires_at": p.expires_at,
             "cross_region": model.is_cross_region(p),
             "created_at_text": format_duration(p.created_at),
             "expires_at_text": format_duration(p.expires_at) if p.expires_at is not None else None,
             # by the lab clock (clock advance moves it): how old, and how long until it expires
             "age_s": max(0, model.clock - p.created_at),
             "expires_in_s": p.expires_at - model.clock if p.expires_at is not None else None}
            for p in model.peerings.values()]


def route_rows(model: Lab, vpc: Optional[str] = None) -> List[dict]:
    if vpc is not None:
        lifecycle.find_vpc(model, vpc)
    rows = []
    for v in model.vpcs.values():
        if vpc is not None and v.name != vpc:
            continue
        on = ccn_model.ccn_of(model, v.name)
        table_of = ccn_model.routes(model, on[0]) if on is not None else None
        for t in v.route_tables.values():
            for r in t.routes:
                rows.append({"vpc": v.name, "table": t.name, "destination": str(r.destination),
                             "next_hop": r.next_hop, "state": lifecycle.route_state(model, r), "type": "USER"})
            # version 3: what the VPC's CCN delivers into the table, next hop the CCN (`disabled`: why)
            for d in ccn_model.delivered(model, v, t.name, table_of) if on is not None else ():
                rows.append({"vpc": v.name, "table": t.name, "destination": str(d.destination),
                             "next_hop": d.route.ccn, "state": "active" if d.enabled else "disabled",
                             "type": "CCN", "ccn_route": d.route.key, "why": d.why or None})
    return rows


def ccn_rows(model: Lab) -> List[dict]:
    """`ccn list`: every CCN, its attachments in attach order (state, publish, region) and its caps."""
    out = []
    for c in ccn_model.ccns(model).values():
        out.append({"id": c.name, "account": c.account, "limit_type": c.limit_type,
                    "created_at": c.created_at,
                    "attachments": [{"vpc": a.vpc, "account": model.vpcs[a.vpc].account if a.vpc in model.vpcs
                                     else None, "region": model.vpcs[a.vpc].region if a.vpc in model.vpcs else None,
                                     "state": a.state, "publish": a.publish, "attached_at": a.attached_at}
                                    for a in c.attachments],
                    "bandwidth_limits": [{"regions" if c.limit_type == ccn_model.INTER else "region":
                                          key.split("/") if c.limit_type == ccn_model.INTER else key,
                                          "bandwidth_mbps": kbps / 1000} for key, kbps in c.limits.items()],
                    "default_bandwidth_mbps": ccn_model.DEFAULT_BANDWIDTH_KBPS / 1000,
                    "region_pairs": _region_pairs(model, c)})
    return out


def _region_pairs(model: Lab, c) -> List[dict]:
    """Each pair of regions the CCN's ACTIVE attachments span, with its cap each way (Mbps)."""
    regions = sorted({model.vpcs[a.vpc].region for a in c.active() if a.vpc in model.vpcs})
    return [{"regions": [r1, r2], "mbps": c.bandwidth_kbps(r1, r2) / 1000, "mbps_back": c.bandwidth_kbps(r2, r1) / 1000}
            for i, r1 in enumerate(regions) for r2 in regions[i + 1:]]


def ccn_route_rows(model: Lab, ccn: Optional[str] = None) -> List[dict]:
    """`ccn route list`: the CCN's route table (DescribeCcnRoutes), disabled routes with why."""
    if ccn is not None:
        ccn_ops.find_ccn(model, ccn)  # ResourceNotFound, with the names there are
    return [{"ccn": c.name, "id": r.id, "route": r.key, "destination": str(r.destination), "vpc": r.vpc,
             "region": r.region, "enabled": r.enabled, "state": "enabled" if r.enabled else "disabled",
             "why": r.why or None}
            for c in ccn_model.ccns(model).values() if ccn is None or c.name == ccn
            for r in ccn_model.routes(model, c)]


def status(lab: Optional[str]) -> dict:
    name = resolve_lab(lab)
    model, st, pending = settle.settled_read(Store(name), tolerate=True)
    doc = {
        "lab": name,
        "status": st,
        "clock": model.clock,
        "source": model.source,
        "vpcs": [{"name": v.name, "account": v.account, "region": v.region, "cidr": str(v.cidr),
                  "namespace": names.vpc_ns(name, v.name),
                  "subnets": [{"name": s.name, "cidr": str(s.cidr), "route_table": s.route_table,
                               "gateway": str(s.gateway)} for s in v.subnets.values()],
                  "instances": [{"name": i.name, "kind": i.kind, "ip": str(i.ip), "subnet": i.subnet,
                                 "port": i.service_port, "namespace": names.instance_ns(name, v.name, i.name)}
                                for i in v.instances.values()]}
                 for v in model.vpcs.values()],
        "peerings": peering_rows(model),
        "routes": route_rows(model),
    }
    if ccn_model.ccns(model):  # version 3: only a lab with CCNs has the keys
        doc["ccns"], doc["ccn_routes"] = ccn_rows(model), ccn_route_rows(model)
    # What `ip rule` / `ip route` in the routers call them (kernelnames.py): new keys only.
    for v in doc["vpcs"]:
        kn = kernelnames.subnets(model, v["name"])
        for sub in v["subnets"]:
            sub.update(kn[sub["name"]])
        for i in v["instances"]:
            i["interface"] = names.instance_port(name, i["name"])
    for row in doc["peerings"]:
        row.update(kernelnames.peering(model, model.peerings[row["id"]]))
    if st == APPLYING:  # its repair failed: the model shown is the one before the operation
        doc["pending"] = pending
    return extend_status(doc, model)


def ls() -> List[dict]:
    """Every lab with state; a damaged one is listed with status `damaged` and its `error`."""
    out = []
    for name in known_labs():
        try:
            model, st, _ = settle.settled_read(Store(name), tolerate=True, required=False)
        except NotFound:
            continue  # removed meanwhile
        except StateError as e:
            out.append({"lab": name, "vpcs": None, "instances": None, "peerings": None, "status": DAMAGED,
                        "source": None, "error": e.message, "hint": e.hint})
            continue
        if model is None:
            continue  # its first `up` has not written the model yet
        out.append({"lab": name, "vpcs": len(model.vpcs), "instances": len(model.instances()),
                    "peerings": len(model.peerings), "status": st,
                    "source": model.source or None})  # absolute since `up` stores it so
    return out


def state_file(lab: str) -> Path:
    """The file every command that changes lab `lab` writes (the web view watches it)."""
    return Store(lab).db_path


def check_lab(lab: str) -> None:
    """Refuse a name that is not a lab name (and, as every use of the state, a caller without root)."""
    check_name(lab)
    Store(lab)


def read_note(lab: str, key: str, default=None):
    """A value a caller keeps in the lab's state beside its model (`write_note`)."""
    tx = Store(lab).read()
    try:
        return tx.get(key, default)
    finally:
        tx.close()


def write_note(lab: str, key: str, value) -> None:
    """Keep `value` (JSON) under `key` in the lab's state, under the lab's lock."""
    store = Store(lab)
    with store.lock():
        with store.tx() as tx:
            tx.put(key, value)


# ---- version 2 in `status`: groups, ACLs, EIPs, NAT gateways, the Internet ----------------------------


def rule_row(index: int, r: FilterRule, direction: str) -> dict:
    return {"index": index, "proto": r.proto, "port": r.port_text() if r.ports is not None else "all",
            PEER_KEY[direction]: r.peer, "action": r.action}


def extend_status(doc: dict, model: Lab) -> dict:
    """Add the version-2 keys to a `status` document (in place; returned)."""
    for v, row in zip(model.vpcs.values(), doc["vpcs"]):
        row["security_groups"] = [{"name": g.name, **{d: [rule_row(i, r, d) for i, r in enumerate(g.rules(d))]
                                                      for d in SG_DIRECTIONS}} for g in v.security_groups.values()]
        row["network_acls"] = [{"name": a.name, "subnets": list(a.subnets),
                                **{d: [rule_row(i, r, d) for i, r in enumerate(a.rules(d))] for d in ACL_DIRECTIONS}}
                               for a in v.network_acls.values()]
        row["nat_gateways"] = [{"name": n.name, "eip": str(n.eip)} for n in v.nat_gateways.values()]
        for s in row["subnets"]:
            acl = v.acl_of(s["name"])
            s["network_acl"] = acl.name if acl is not None else None
        for i in row["instances"]:
            inst = v.instances[i["name"]]
            i["security_groups"] = list(inst.security_groups)
            i["eip"] = str(inst.eip) if inst.eip is not None else None
    net = model.internet
    doc["internet"] = None if net is None else {
        "cidr": str(net.cidr), "hosts": [{"name": h.name, "ref": h.ref, "ip": str(h.ip), "ports": list(h.ports)}
                                         for h in net.hosts.values()]}
    return doc


def uses_v2(doc: dict) -> bool:
    """Whether a status document has anything of version 2 to show."""
    return doc.get("internet") is not None or any(
        v.get("security_groups") or v.get("network_acls") or v.get("nat_gateways") for v in doc["vpcs"])
