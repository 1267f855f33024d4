"""`vpclab graph`: the model as a Graphviz diagram (DOT; SVG/PNG through `dot` when installed)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ...controller import outfiles
from ...errors import EnvironmentProblem, Refused, shown
from ...model.types import Lab
from . import ccngraph
from . import dot as teaching
from .filters import dot_lines, instance_label, json_parts, subnet_label

STYLE = {"ACTIVE": 'color="darkgreen" penwidth=2', "PENDING": 'color="orange" style=dashed'}


def _q(s: str) -> str:
    return '"' + str(s).replace('"', r"\"") + '"'


def subnet_id(vpc: str, subnet: str) -> str:
    """A subnet's node id: apart from instance refs (`vpc/name`), which may use the same name."""
    return f"subnet:{vpc}/{subnet}"


def dot(lab: Lab, overlay=None) -> str:
    """The teaching diagram (render/dot.py); `overlay`: a probe's or explain's JSON result to draw on it."""
    return teaching.dot(lab, overlay)


def plain_dot(lab: Lab) -> str:
    """The first, plain diagram (kept for comparison; `dot` draws the teaching one)."""
    out = [f"graph {_q('vpclab-' + lab.name)} {{", '  graph [rankdir=LR fontname="Helvetica"];',
           '  node [fontname="Helvetica" shape=box style=rounded];', '  edge [fontname="Helvetica"];']
    regions = {}
    for v in lab.vpcs.values():
        regions.setdefault(v.region, []).append(v)
    for r, vpcs in regions.items():
        out.append(f"  subgraph {_q('cluster_' + r)} {{ label={_q(r)}; style=dashed;")
        for v in vpcs:
            out.append(f"    subgraph {_q('cluster_' + v.name)} {{ label={_q(f'{v.name} {v.cidr} ({v.account})')}; style=solid;")
            for s in v.subnets.values():
                out.append(f"      {_q(subnet_id(v.name, s.name))} [label={_q(f'{s.name} {s.cidr}' + subnet_label(v, s))} "
                           "shape=ellipse];")
            for i in v.instances.values():
                out.append(f"      {_q(i.ref)} [label={_q(f'{i.name} ({i.kind}) {i.ip}' + instance_label(i))}];")
                out.append(f"      {_q(subnet_id(v.name, i.subnet))} -- {_q(i.ref)};")
            out.append(f"      {_q(v.name)} [label={_q(v.name + ' router')} shape=diamond];")
            for s in v.subnets.values():
                out.append(f"      {_q(v.name)} -- {_q(subnet_id(v.name, s.name))};")
            out.append("    }")
        out.append("  }")
    for p in lab.peerings.values():
        bw = f" {p.bandwidth_mbps} Mbps" if p.bandwidth_kbps else ""
        style = STYLE.get(p.state, 'color="gray" style=dotted')
        out.append(f"  {_q(p.vpc)} -- {_q(p.peer_vpc)} [label={_q(f'{p.name} {p.state}{bw}')} {style}];")
    out += dot_lines(lab)  # the Internet, its hosts, NAT gateways, EIPs
    out.append("}")
    return "\n".join(out) + "\n"


def to_json(lab: Lab) -> dict:
    """The graph `dot` draws, as data: nodes with an id and a kind, edges between ids.

    Kinds: region, vpc (its router), subnet, instance. Edges: `contains` (region ->
    VPC), `attached` (VPC router -> subnet, subnet -> instance) and `peering` (VPC ->
    peer VPC, with its id, state and bandwidth). Ids are the names the CLI takes
    (`vpc`, `vpc/instance`); subnets and regions have `subnet:` and `region:` ids.
    """
    nodes, edges = [], []
    for r in dict.fromkeys(v.region for v in lab.vpcs.values()):
        nodes.append({"id": f"region:{r}", "kind": "region", "name": r})
    for v in lab.vpcs.values():
        nodes.append({"id": v.name, "kind": "vpc", "name": v.name, "cidr": str(v.cidr), "account": v.account,
                      "region": v.region})
        edges.append({"from": f"region:{v.region}", "to": v.name, "kind": "contains"})
        for s in v.subnets.values():
            sid = subnet_id(v.name, s.name)
            nodes.append({"id": sid, "kind": "subnet", "name": s.name, "vpc": v.name, "cidr": str(s.cidr),
                          "route_table": s.route_table})
            edges.append({"from": v.name, "to": sid, "kind": "attached"})
        for i in v.instances.values():
            nodes.append({"id": i.ref, "kind": "instance", "name": i.name, "vpc": v.name, "subnet": i.subnet,
                          "instance_kind": i.kind, "ip": str(i.ip) if i.ip is not None else None, "port": i.port})
            edges.append({"from": subnet_id(v.name, i.subnet), "to": i.ref, "kind": "attached"})
    for p in lab.peerings.values():
        edges.append({"from": p.vpc, "to": p.peer_vpc, "kind": "peering", "id": p.name, "state": p.state,
                      "bandwidth_mbps": p.bandwidth_mbps})
    json_parts(lab, nodes, edges)  # groups, ACLs, EIPs, NAT gateways, the Internet
    ccngraph.json_parts(lab, nodes, edges)  # version 3: `ccn` nodes, `ccn_attachment` edges
    return {"lab": lab.name, "nodes": nodes, "edges": edges}


WHAT = "the graph"


def write(text: str, output: str) -> None:
    """Write the diagram to `output` through outfiles's checked opener (never through a link,
    never into a FIFO); SVG/PNG: Graphviz writes to its stdout, piped into the opener's
    temporary file, never to the user's path."""
    fmt = Path(output).suffix.lstrip(".").lower()
    if fmt in ("", "dot", "gv"):
        outfiles.write_text(output, text, WHAT)
        return
    if shutil.which("dot") is None:
        raise EnvironmentProblem(f"writing {fmt.upper()} needs Graphviz", code="ToolMissing",
                                 hint="apt-get install graphviz, or write a .dot file")
    with outfiles.replacing(output, WHAT) as f:
        p = subprocess.run(["dot", f"-T{fmt}"], input=text.encode(), stdout=f, stderr=subprocess.PIPE)
        if p.returncode != 0:  # raised inside: the temporary file goes, the old file stays
            raise Refused(f"Graphviz could not write {shown(output, outfiles.PATH_SHOWN)}: "
                          f"{shown(p.stderr.decode(errors='replace').strip(), 300)}",
                          code="InvalidParameterValue", hint="try .svg, .png or .dot")
