"""How `status` and `graph` show version 2: security groups (per instance), network ACLs
(per subnet), EIPs, NAT gateways and the Internet's hosts.

Data only (dicts for `--json`, DOT lines, graph nodes); printing stays in `cli_filters`.
Every key of version 1 stays as it was; these add new keys beside them.
"""
from __future__ import annotations

from typing import List

from ..model.filter_rules import PEER_KEY
from ..model.filters import ACL_DIRECTIONS, SG_DIRECTIONS, FilterRule
from ..model.types import Lab


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


# ---- graph -----------------------------------------------------------------------------------------


def _q(s: str) -> str:
    return '"' + str(s).replace('"', r"\"") + '"'


def instance_label(inst) -> str:
    """What an instance's node adds to its label: its groups and EIP."""
    extra = ""
    if inst.security_groups:
        extra += "\\nsg: " + ", ".join(inst.security_groups)
    if inst.eip is not None:
        extra += f"\\neip {inst.eip}"
    return extra


def subnet_label(vpc, subnet) -> str:
    acl = vpc.acl_of(subnet.name)
    return f"\\nacl: {acl.name}" if acl is not None else ""


def dot_lines(lab: Lab, router=lambda vpc: vpc) -> List[str]:
    """The Internet, its hosts and the NAT gateways, with their links to the VPC routers
    (`router(vpc)` is a router's node id in the diagram)."""
    net = lab.internet
    if net is None:
        return []
    out = [f"  internet [label={_q(f'Internet {net.cidr}')} shape=doubleoctagon];"]
    for h in net.hosts.values():
        ports = ", ".join(str(p) for p in h.ports) or "icmp"
        out.append(f"  {_q(h.ref)} [label={_q(f'{h.name} {h.ip} ({ports})')}];")
        out.append(f"  internet -- {_q(h.ref)};")
    for v in lab.vpcs.values():
        for n in v.nat_gateways.values():
            nid = f"nat:{v.name}/{n.name}"
            out.append(f"  {_q(nid)} [label={_q(f'{n.name} (NAT) {n.eip}')} shape=hexagon];")
            out.append(f"  {_q(router(v.name))} -- {_q(nid)} -- internet [style=dashed];")
        if any(i.eip is not None for i in v.instances.values()):
            eips = ", ".join(str(i.eip) for i in v.instances.values() if i.eip is not None)
            # No edge label (it could land on a box title): each EIP is named on its instance.
            out.append(f"  {_q(router(v.name))} -- internet [style=dashed tooltip={_q('EIP ' + eips)}];")
    return out


def legend_rows(lab: Lab) -> List[tuple]:
    """The diagram legend's rows for what the lab has of version 2: (sample, colour, text)."""
    rows = []
    if lab.internet is not None:
        rows.append(("\u254d\u254d\u254d", "#24292f", "a VPC's way to the lab's Internet: by its instances' EIPs "
                     "or by a NAT gateway (hexagon)"))
        rows.append(("Internet", "#24292f", "a namespace of the lab that holds the public range and its "
                     "hosts (never linked to this machine)"))
    vpcs = lab.vpcs.values()
    if any(i.security_groups for v in vpcs for i in v.instances.values()):
        rows.append(("sg:", "#24292f", "the instance's security groups (stateful: a reply always passes)"))
    if any(v.acl_of(s.name) is not None for v in vpcs for s in v.subnets.values()):
        rows.append(("acl:", "#24292f", "the network ACL bound to the subnet (stateless: replies need rules)"))
    return rows


def json_parts(lab: Lab, nodes: list, edges: list) -> None:
    """Add the version-2 nodes and edges to `graph --json` (in place): groups and EIPs on instance
    nodes, the ACL on subnet nodes; `internet`, `internet_host` and `nat_gateway` nodes."""
    by_id = {n["id"]: n for n in nodes}
    for v in lab.vpcs.values():
        for s in v.subnets.values():
            n = by_id.get(f"subnet:{v.name}/{s.name}")
            if n is not None:
                acl = v.acl_of(s.name)
                n["network_acl"] = acl.name if acl is not None else None
        for i in v.instances.values():
            n = by_id.get(i.ref)
            if n is not None:
                n["security_groups"] = list(i.security_groups)
                n["eip"] = str(i.eip) if i.eip is not None else None
    net = lab.internet
    if net is None:
        return
    nodes.append({"id": "internet", "kind": "internet", "name": "internet", "cidr": str(net.cidr)})
    for h in net.hosts.values():
        nodes.append({"id": h.ref, "kind": "internet_host", "name": h.name, "ip": str(h.ip), "ports": list(h.ports)})
        edges.append({"from": "internet", "to": h.ref, "kind": "attached"})
    for v in lab.vpcs.values():
        for g in v.nat_gateways.values():
            nid = f"nat:{v.name}/{g.name}"
            nodes.append({"id": nid, "kind": "nat_gateway", "name": g.name, "vpc": v.name, "eip": str(g.eip)})
            edges.append({"from": v.name, "to": nid, "kind": "attached"})
            edges.append({"from": nid, "to": "internet", "kind": "internet"})
        if any(i.eip is not None for i in v.instances.values()):
            edges.append({"from": v.name, "to": "internet", "kind": "internet",
                          "eips": [str(i.eip) for i in v.instances.values() if i.eip is not None]})
