"""`vpclab graph`: the model as a Graphviz diagram (DOT; SVG/PNG through `dot` when installed)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .errors import EnvironmentProblem, Refused
from .model.types import Lab

STYLE = {"ACTIVE": 'color="darkgreen" penwidth=2', "PENDING": 'color="orange" style=dashed'}


def _q(s: str) -> str:
    return '"' + str(s).replace('"', r"\"") + '"'


def dot(lab: Lab) -> str:
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
                out.append(f"      {_q(v.name + '/' + s.name)} [label={_q(f'{s.name} {s.cidr}')} shape=ellipse];")
            for i in v.instances.values():
                out.append(f"      {_q(i.ref)} [label={_q(f'{i.name} ({i.kind}) {i.ip}')}];")
                out.append(f"      {_q(v.name + '/' + i.subnet)} -- {_q(i.ref)};")
            out.append(f"      {_q(v.name)} [label={_q(v.name + ' router')} shape=diamond];")
            for s in v.subnets.values():
                out.append(f"      {_q(v.name)} -- {_q(v.name + '/' + s.name)};")
            out.append("    }")
        out.append("  }")
    for p in lab.peerings.values():
        bw = f" {p.bandwidth_mbps} Mbps" if p.bandwidth_kbps else ""
        style = STYLE.get(p.state, 'color="gray" style=dotted')
        out.append(f"  {_q(p.vpc)} -- {_q(p.peer_vpc)} [label={_q(f'{p.name} {p.state}{bw}')} {style}];")
    out.append("}")
    return "\n".join(out) + "\n"


def write(text: str, output: str) -> None:
    fmt = Path(output).suffix.lstrip(".").lower()
    try:
        if fmt in ("", "dot", "gv"):
            Path(output).write_text(text)
            return
        if shutil.which("dot") is None:
            raise EnvironmentProblem(f"writing {fmt.upper()} needs Graphviz", code="ToolMissing",
                                     hint="apt-get install graphviz, or write a .dot file")
        p = subprocess.run(["dot", f"-T{fmt}", "-o", output], input=text.encode(), capture_output=True)
    except OSError as e:
        raise Refused(f"cannot write {output}: {e.strerror}", code="InvalidParameterValue")
    if p.returncode != 0:
        raise Refused(f"Graphviz could not write {output}: {p.stderr.decode(errors='replace').strip()}",
                      code="InvalidParameterValue", hint="try .svg, .png or .dot")
