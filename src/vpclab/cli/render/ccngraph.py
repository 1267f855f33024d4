"""The Cloud Connect Networks in `vpclab graph` (version 3): a CCN is a node of its own, linked to
the router of each VPC attached to it (green: ACTIVE, orange dashed: PENDING, grey dotted:
REJECTED or EXPIRED); its label names the owner, the region pairs its members span with their
cap each way (inside one region: uncapped) and every disabled route with why. A router's table
lists what the CCN delivers into it, red with `(disabled)` where it is disabled there. Shared by
the DOT (render/dot.py) and `graph --json` (render/graph.py)."""
from __future__ import annotations

from html import escape
from typing import Callable, List, Optional

from ...model import ccn as model
from ...model.types import ACTIVE, PENDING, Lab

GREEN, RED, ORANGE, GREY = "#1a7f37", "#cf222e", "#bc4c00", "#8c959f"
EDGE = {ACTIVE: f'color="{GREEN}" penwidth=2', PENDING: f'color="{ORANGE}" style=dashed penwidth=2'}
OTHER_EDGE = f'color="{GREY}" style=dotted'


def ccn_id(name: str) -> str:
    return f"ccn:{name}"


def node_of(lab: Lab, name: str) -> Optional[str]:
    """The CCN's node for a path element (`ccn-core (ap-guangzhou -> ap-shanghai)`) or a reason's
    `where` (`ccn-core`), else None."""
    base = str(name).split(" (", 1)[0]
    return ccn_id(base) if base in model.ccns(lab) else None


def _mbps(kbps: int) -> str:
    return f"{kbps / 1e6:g} Gbps" if kbps >= 1_000_000 else f"{kbps / 1000:g} Mbps"


def pair_texts(lab: Lab, c: model.Ccn) -> List[str]:
    """`ap-guangzhou <-> ap-shanghai 100 Mbps` per region pair of the ACTIVE members (one cap
    each way when they differ: outer-region mode)."""
    regions = sorted({lab.vpcs[a.vpc].region for a in c.active() if a.vpc in lab.vpcs})
    out = []
    for i, r1 in enumerate(regions):
        for r2 in regions[i + 1:]:
            there, back = c.bandwidth_kbps(r1, r2), c.bandwidth_kbps(r2, r1)
            cap = _mbps(there) if there == back else f"{_mbps(there)} / {_mbps(back)} back"
            out.append(f"{r1} <-> {r2} {cap}")
    return out


def label(lab: Lab, c: model.Ccn) -> str:
    h = lambda s: escape(str(s), quote=True)  # noqa: E731
    rows = [f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="13"><B>{h(c.name)}</B></FONT> (CCN)</TD></TR>',
            f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="10">account {h(c.account)}</FONT></TD></TR>']
    pairs = pair_texts(lab, c)
    for t in pairs or (["one region: uncapped"] if c.active() else []):
        rows.append(f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="10">{h(t)}</FONT></TD></TR>')
    for r in model.routes(lab, c):
        if not r.enabled:
            rows.append(f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="10" COLOR="{RED}">\u2717 {h(r.key)} disabled: '
                        f'{h(r.why)}</FONT></TD></TR>')
    return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">{"".join(rows)}</TABLE>>'


def delivered_rows(lab: Lab, vpc_name: str, table: str) -> List[tuple]:
    """(text, colour) of each route the VPC's CCN delivers into `table`, for its router's label."""
    out = []
    for d in model.delivered(lab, lab.vpcs[vpc_name], table):
        tail = "" if d.enabled else " (disabled)"
        out.append((f"{d.destination} \u2192 {d.route.ccn} (CCN){tail}", GREEN if d.enabled else RED))
    return out


def dot_lines(lab: Lab, router_id: Callable[[str], str], stop: Optional[str] = None) -> List[str]:
    q = lambda s: '"' + str(s).replace('"', r"\"") + '"'  # noqa: E731
    out = []
    for c in model.ccns(lab).values():
        mark = f' color="{RED}" penwidth=3' if stop == ccn_id(c.name) else f' color="{GREEN}" penwidth=2'
        out.append(f'  {q(ccn_id(c.name))} [label={label(lab, c)} shape=box style="rounded,filled" '
                   f'fillcolor="#f6f8fa"{mark}];')
        for a in c.attachments:
            if a.vpc not in lab.vpcs:
                continue
            off = [r.destination for r in model.routes(lab, c) if r.vpc == a.vpc and not r.enabled]
            text = a.state + (f"\\n\u2717 {', '.join(map(str, off))} disabled" if off else "")
            out.append(f"  {q(router_id(a.vpc))} -- {q(ccn_id(c.name))} [label={q(text)} fontsize=10 "
                       f"{EDGE.get(a.state, OTHER_EDGE)}];")
    return out


def legend_rows(lab: Lab) -> List[tuple]:
    cs = list(model.ccns(lab).values())
    if not cs:
        return []
    states = {a.state for c in cs for a in c.attachments}
    rows = [("\u25a2 CCN", "#24292f", "a Cloud Connect Network: its region pairs and caps, its disabled routes")]
    if ACTIVE in states:
        rows.append(("\u2501\u2501\u2501", GREEN, "a VPC attached to the CCN, ACTIVE"))
    if PENDING in states:
        rows.append(("\u254d\u254d\u254d", ORANGE, "an attachment PENDING the CCN owner's accept"))
    if states - {ACTIVE, PENDING}:
        rows.append(("\u2508\u2508\u2508", GREY, "an attachment REJECTED or EXPIRED: no routes"))
    if any(not r.enabled for c in cs for r in model.routes(lab, c)):
        rows.append(("\u2717", RED, "a disabled CCN route (it carries nothing)"))
    return rows


def json_parts(lab: Lab, nodes: list, edges: list) -> None:
    """`graph --json`: a `ccn` node per CCN (its account, region pairs with caps, routes) and a
    `ccn_attachment` edge from each attached VPC, with its state and its disabled routes."""
    for c in model.ccns(lab).values():
        rs = model.routes(lab, c)
        nodes.append({"id": ccn_id(c.name), "kind": "ccn", "name": c.name, "account": c.account,
                      "region_pairs": pair_texts(lab, c),
                      "routes": [{"route": r.key, "enabled": r.enabled, "why": r.why or None} for r in rs]})
        for a in c.attachments:
            edges.append({"from": a.vpc, "to": ccn_id(c.name), "kind": "ccn_attachment", "ccn": c.name,
                          "state": a.state, "disabled_routes": [r.key for r in rs if r.vpc == a.vpc and not r.enabled]})
