"""How the diagram shows filters and the Internet: security groups and EIPs on instances,
network ACLs on subnets, the Internet with its hosts and the NAT gateways (DOT lines,
legend rows and the nodes and edges of `graph --json`). The diagram and the graph of a lab
without them stay as they were; these add lines, rows and keys beside theirs.
"""
from __future__ import annotations

from typing import List

from ...model.types import Lab


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


def nat_id(vpc: str, nat: str) -> str:
    return f"nat:{vpc}/{nat}"


def dot_lines(lab: Lab, router=lambda vpc: vpc, nat_nodes: bool = True) -> List[str]:
    """The Internet, its hosts and the NAT gateways, with their links to the VPC routers
    (`router(vpc)` is a router's node id in the diagram). `nat_nodes=False`: the caller declared
    each NAT gateway's node inside its VPC's box; only its links are drawn here."""
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
            nid = nat_id(v.name, n.name)
            if nat_nodes:
                out.append(f"  {_q(nid)} [label={_q(f'{n.name} (NAT) {n.eip}')} shape=hexagon];")
            out.append(f"  {_q(router(v.name))} -- {_q(nid)} -- internet [style=dashed];")
        if any(i.eip is not None for i in v.instances.values()):
            eips = ", ".join(str(i.eip) for i in v.instances.values() if i.eip is not None)
            # No edge label (it could land on a box title): each EIP is named on its instance.
            out.append(f"  {_q(router(v.name))} -- internet [style=dashed tooltip={_q('EIP ' + eips)}];")
    return out


def legend_rows(lab: Lab) -> List[tuple]:
    """The diagram legend's rows for the Internet, groups and ACLs the lab has: (sample, colour, text)."""
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
    """Add the filters' and the Internet's nodes and edges to `graph --json` (in place): groups and EIPs on instance
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
