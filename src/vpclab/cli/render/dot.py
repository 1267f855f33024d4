"""The diagram `vpclab graph` draws: a Graphviz DOT text that teaches.

What it shows, and how it keeps labels off box titles:
- each region a dashed box, each VPC a box filled with its account's colour and
  titled with its name, CIDR and account; inside it the subnets, the instances
  and the VPC's router;
- the router lists its route tables and their peering routes, green when active,
  red when a blackhole; a side of a peering that has no route back to a peer that
  routes to it gets a red row "no route back to CIDR";
- each peering is a box of its own between the two routers (its id, state and
  cap), joined to each router by one line per side: green when that side routes
  through it, red and dashed when that side has no route back, orange dashed
  while PENDING, grey when nothing routes through it or it is terminal;
- a CLB points at its backends (blue arrows);
- `overlay(...)` draws a probe's (or explain's) two legs as arrows and marks
  where a leg stopped, with the reason, in a note beside that hop.
Every text is a node label, a cluster title or the graph's own label (the legend):
Graphviz never lets nodes overlap each other or a cluster's title, and there are
no edge labels, so no label can sit on a box title.
"""
from __future__ import annotations

from html import escape
from typing import Dict, List, Optional, Tuple

from ...model.lifecycle import route_state
from ...model.types import ACTIVE, PENDING, Lab, Peering
from . import ccngraph, filters
from .filters import dot_lines, legend_rows, subnet_label

GREEN, RED, ORANGE, GREY, BLUE = "#1a7f37", "#cf222e", "#bc4c00", "#8c959f", "#0969da"
FORWARD, RETURN = "#0969da", "#8250df"
ACCOUNT_FILLS = ["#ddf4ff", "#fff8c5", "#fbefff", "#fff1e5", "#eaeef2", "#f0f9ff"]  # blue, yellow, purple, ...; never green or red (states)
STATE_FILLS = {ACTIVE: "#dafbe1", PENDING: "#fff8c5"}


def _q(s: str) -> str:
    """A DOT string; `\\n` in it is a line break (names never hold a backslash: the loader's rules)."""
    return '"' + str(s).replace('"', r"\"") + '"'


def _h(s) -> str:
    return escape(str(s), quote=True)


def subnet_id(vpc: str, subnet: str) -> str:
    return f"subnet:{vpc}/{subnet}"


def peering_id(p: str) -> str:
    return f"peering:{p}"


def router_id(vpc: str) -> str:
    return vpc  # the name the CLI takes (and graph --json uses)


# ---- what each side of a peering routes --------------------------------------------------------------


def routes_via(lab: Lab, vpc: str, p: Peering) -> List[Tuple[str, str]]:
    """[(table, destination)] of `vpc`'s routes through peering `p`."""
    return [(t.name, str(r.destination)) for t in lab.vpcs[vpc].route_tables.values() for r in t.routes
            if r.next_hop == p.name]


def side_state(lab: Lab, p: Peering, vpc: str) -> str:
    """How `vpc`'s side of `p` is drawn: ok, missing (no route back), pending, unused, terminal."""
    other = p.peer_vpc if vpc == p.vpc else p.vpc
    mine, theirs = routes_via(lab, vpc, p), routes_via(lab, other, p)
    if p.state not in (ACTIVE, PENDING):
        return "terminal"
    if not mine:
        return "missing" if theirs else "unused"
    return "ok" if p.state == ACTIVE else "pending"


SIDE_STYLE = {
    "ok": f'color="{GREEN}" penwidth=2.5',
    "pending": f'color="{ORANGE}" style=dashed penwidth=2',
    "missing": f'color="{RED}" style=dashed penwidth=2.5',
    "unused": f'color="{GREY}" penwidth=1.5',
    "terminal": f'color="{GREY}" style=dotted penwidth=1.5',
}


# ---- nodes -----------------------------------------------------------------------------------------


def router_label(lab: Lab, vpc_name: str, marked: bool) -> str:
    vpc = lab.vpcs[vpc_name]
    rows = [f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="13"><B>{_h(vpc_name)}</B></FONT>  {_h(vpc.cidr)}</TD></TR>',
            f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="10">account {_h(vpc.account)} · the VPC\'s router:</FONT>'
            '</TD></TR>']
    users: Dict[str, List[str]] = {}
    for s in vpc.subnets.values():
        users.setdefault(s.route_table, []).append(s.name)
    for t in vpc.route_tables.values():
        if not t.routes and t.name not in users:
            continue
        who = f" ({', '.join(users[t.name])})" if t.name in users else " (no subnet)"
        rows.append(f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="10">table {_h(t.name)}{_h(who)}</FONT></TD></TR>')
        for r in t.routes:
            state = route_state(lab, r)
            colour = GREEN if state == "active" else RED
            tail = "" if state == "active" else " (blackhole)"
            rows.append(f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="10" COLOR="{colour}">'
                        f'{_h(r.destination)} \u2192 {_h(r.next_hop)}{tail}</FONT></TD></TR>')
        for text, colour in ccngraph.delivered_rows(lab, vpc_name, t.name):  # version 3: the CCN's routes
            rows.append(f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="10" COLOR="{colour}">{_h(text)}</FONT></TD></TR>')
    for p in lab.peerings.values():
        if vpc_name in (p.vpc, p.peer_vpc) and side_state(lab, p, vpc_name) == "missing":
            other = lab.vpcs[p.peer_vpc if vpc_name == p.vpc else p.vpc]
            rows.append(f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="10" COLOR="{RED}"><B>\u2717 no route back to '
                        f'{_h(other.cidr)} via {_h(p.name)}</B></FONT></TD></TR>')
    border = f' COLOR="{RED}"' if marked else ""
    return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1"{border}>{"".join(rows)}</TABLE>>'


def instance_label(i) -> str:
    kind = i.kind + (f" :{i.service_port}" if i.service_port else "")
    return f"{i.name} ({kind})\\n{i.ip}"


def peering_label(lab: Lab, p: Peering) -> str:
    extra = f" \u00b7 {p.bandwidth_mbps} Mbps" if p.bandwidth_kbps else ""
    where = "cross-region" if lab.is_cross_region(p) else "regional"
    accounts = {lab.vpcs[p.vpc].account, lab.vpcs[p.peer_vpc].account}
    cross = " \u00b7 cross-account" if len(accounts) > 1 else ""
    return f"{p.name}\\n{p.state}{extra}\\n{where}{cross}"


# ---- the graph -------------------------------------------------------------------------------------


class Overlay:
    """A probe's (or explain's) JSON result, as the diagram draws it."""

    def __init__(self, doc: dict):
        self.doc = doc
        self.stop_leg, self.stop_at = None, None
        for leg in ("forward", "return"):
            l = doc.get(leg) or {}
            if l.get("path") and not l.get("delivered"):
                self.stop_leg, self.stop_at = leg, l.get("last_hop")
                break

    def caption(self) -> str:
        d = self.doc
        what = d["proto"] + (f"/{d['port']}" if d.get("port") else "")
        colour = {"reachable": GREEN, "no-return": ORANGE}.get(d["result"], RED)
        r = d.get("reason") or {}
        why = f": {r['code']} at {r['where']}" if r.get("code") else ""
        return (f'<FONT POINT-SIZE="14"><B>{_h(d["src"])} \u2192 {_h(d["dst"])} ({_h(what)}): '
                f'<FONT COLOR="{colour}">{_h(d["result"])}</FONT>{_h(why)}</B></FONT>')

    def note(self) -> str:
        r = self.doc.get("reason") or {}
        leg = "request" if self.stop_leg == "forward" else "reply"
        lines = [f"\u2717 the {leg} stopped here"]
        if r.get("code"):
            lines.append(r["code"] + (f" (table {r['table']})" if r.get("table") else ""))
        if r.get("detail"):
            import textwrap

            lines += textwrap.wrap(str(r["detail"]), 44)
        return "\\n".join(_q(l)[1:-1] for l in lines)


def node_of(lab: Lab, name: Optional[str]) -> Optional[str]:
    """The diagram's node for a path element (instance ref, VPC, peering id), or None."""
    if not name:
        return None
    if name in lab.peerings:
        return peering_id(name)
    if ccngraph.node_of(lab, name):  # a CCN on a path, or where a leg stopped (version 3)
        return ccngraph.node_of(lab, name)
    if name in lab.vpcs or lab.instance(name) is not None:
        return name
    return None


def acl_stop(lab: Lab, ov: Optional[Overlay]) -> Optional[str]:
    """A network ACL's drop stops at the subnet the ACL guards (the reason's `where`, `vpc/subnet`),
    not at the router that handed the packet to it: that subnet's node, or None."""
    r = (ov.doc.get("reason") or {}) if ov else {}
    if r.get("code") != "NETWORK_ACL_DENY" or "/" not in str(r.get("where") or ""):
        return None
    vpc, subnet = r["where"].split("/", 1)
    return subnet_id(vpc, subnet) if vpc in lab.vpcs and subnet in lab.vpcs[vpc].subnets else None


def acl_rule_text(lab: Lab, r: dict) -> str:
    """The ACL row a drop adds to its subnet's label: which ACL, direction and rule (as written)."""
    vpc = lab.vpcs[r["where"].split("/", 1)[0]]
    acl = vpc.network_acls.get(r.get("acl") or "")
    rule = "no rule matched" if r.get("rule") is None else f"rule {r['rule']}"
    rules = (acl.inbound if r.get("direction") == "inbound" else acl.outbound) if acl is not None else []
    if r.get("rule") is not None and 0 <= r["rule"] < len(rules):
        x = rules[r["rule"]]
        what = x.proto + (f"/{x.port_text()}" if x.ports else "")
        rule += f": {what} {'from' if r.get('direction') == 'inbound' else 'to'} {x.peer} {x.action}"
    return f"\\n\u2717 ACL {r.get('acl')} drops: {r.get('direction')}, {rule}"


def dot(lab: Lab, overlay: Optional[dict] = None) -> str:
    ov = Overlay(overlay) if overlay else None
    stop = (acl_stop(lab, ov) or node_of(lab, ov.stop_at)) if ov else None
    accounts = list(dict.fromkeys(v.account for v in lab.vpcs.values()))
    fill = {a: ACCOUNT_FILLS[k % len(ACCOUNT_FILLS)] for k, a in enumerate(accounts)}
    out = [f"graph {_q('vpclab-' + lab.name)} {{",
           '  graph [rankdir=LR fontname="Helvetica" nodesep=0.25 ranksep=0.5 newrank=true compound=true '
           'labelloc=b labeljust=l];',
           '  node [fontname="Helvetica" fontsize=11 shape=box style="rounded,filled" fillcolor=white];',
           '  edge [fontname="Helvetica"];']

    def note_node(indent: str) -> None:
        out.append(f'{indent}"probe:stop" [shape=note style=filled fillcolor="#ffebe9" color="{RED}" '
                   f'fontcolor="{RED}" label="{ov.note()}"];')

    regions: Dict[str, list] = {}
    for v in lab.vpcs.values():
        regions.setdefault(v.region, []).append(v)
    for r, vpcs in regions.items():
        out.append(f"  subgraph {_q('cluster_region_' + r)} {{ label={_q(r)}; style=dashed; color=\"#57606a\"; "
                   "fontsize=13; labelloc=t; labeljust=l;")
        for v in vpcs:
            # The VPC's title is the first row of its router's box, not a cluster label: edges
            # are routed around nodes, never around a cluster's label.
            out.append(f"    subgraph {_q('cluster_vpc_' + v.name)} {{ label=\"\"; style=\"rounded,filled\"; "
                       f"fillcolor=\"{fill[v.account]}\"; color=\"#57606a\";")
            mark = f' color="{RED}" penwidth=3' if stop == v.name else ""
            out.append(f"      {_q(router_id(v.name))} [label={router_label(lab, v.name, stop == v.name)}{mark}];")
            for s in v.subnets.values():
                sid = subnet_id(v.name, s.name)
                smark = (f' color="{RED}" penwidth=3 fontcolor="{RED}"', acl_rule_text(lab, ov.doc["reason"])) \
                    if stop == sid else ("", "")
                out.append(f"      {_q(sid)} [label={_q(f'{s.name} {s.cidr}' + subnet_label(v, s) + smark[1])} "
                           f'shape=ellipse style=filled fillcolor="#eaeef2"{smark[0]}];')
                out.append(f"      {_q(router_id(v.name))} -- {_q(subnet_id(v.name, s.name))} [color=\"#57606a\"];")
            for i in v.instances.values():
                imark = f' color="{RED}" penwidth=3' if stop == i.ref else ""
                out.append(f"      {_q(i.ref)} [label={_q(instance_label(i) + filters.instance_label(i))}{imark}];")
                out.append(f"      {_q(subnet_id(v.name, i.subnet))} -- {_q(i.ref)} [color=\"#57606a\"];")
            for n in v.nat_gateways.values():  # inside its VPC (dot_lines draws only its links)
                out.append(f"      {_q(filters.nat_id(v.name, n.name))} [label={_q(f'{n.name} (NAT) {n.eip}')} "
                           "shape=hexagon];")
            if ov and stop in [v.name] + [i.ref for i in v.instances.values()] + \
                    [subnet_id(v.name, s) for s in v.subnets]:
                note_node("      ")
            out.append("    }")
        for p in lab.peerings.values():
            if not lab.is_cross_region(p) and lab.vpcs[p.vpc].region == r:
                out.extend(peering_node(lab, p, stop, "    "))
                if ov and stop == peering_id(p.name):
                    note_node("    ")
        out.append("  }")
    for p in lab.peerings.values():
        if lab.is_cross_region(p):
            out.extend(peering_node(lab, p, stop, "  "))
            if ov and stop == peering_id(p.name):
                note_node("  ")
    for p in lab.peerings.values():
        for side in (p.vpc, p.peer_vpc):
            # requester on the left of its peering, accepter on the right
            a, b = (router_id(side), peering_id(p.name)) if side == p.vpc else (peering_id(p.name), router_id(side))
            out.append(f"  {_q(a)} -- {_q(b)} [{SIDE_STYLE[side_state(lab, p, side)]}];")
    for v in lab.vpcs.values():
        for i in v.instances.values():
            for b in i.backends:
                if b in v.instances:
                    out.append(f"  {_q(i.ref)} -- {_q(v.instances[b].ref)} [dir=forward color=\"{BLUE}\" "
                               "style=dashed penwidth=1.5 constraint=false];")
    out += dot_lines(lab, router_id, nat_nodes=False)  # the Internet, its hosts, the NAT gateways' links, EIPs
    out += ccngraph.dot_lines(lab, router_id, stop)  # version 3: the CCNs and their attachments
    if ov and stop is not None and stop.startswith("ccn:"):
        note_node("  ")
    if ov:
        out.extend(overlay_edges(lab, ov, stop))
    out.append(f"  label={legend(lab, accounts, fill, ov)};")
    out.append("}")
    return "\n".join(out) + "\n"


def peering_node(lab: Lab, p: Peering, stop: Optional[str], indent: str) -> List[str]:
    pid = peering_id(p.name)
    colour = {ACTIVE: GREEN, PENDING: ORANGE}.get(p.state, GREY)
    mark = f' color="{RED}" penwidth=3' if stop == pid else f' color="{colour}" penwidth=2'
    return [f'{indent}{_q(pid)} [label={_q(peering_label(lab, p))} shape=box style="rounded,filled" '
            f'fillcolor="{STATE_FILLS.get(p.state, "#eaeef2")}"{mark}];']


def overlay_edges(lab: Lab, ov: Overlay, stop: Optional[str]) -> List[str]:
    out = []
    for leg, colour in (("forward", FORWARD), ("return", RETURN)):
        path = [node_of(lab, x) for x in (ov.doc.get(leg) or {}).get("path") or []]
        path = [x for x in path if x is not None]
        for a, b in zip(path, path[1:]):
            if a != b:
                out.append(f"  {_q(a)} -- {_q(b)} [dir=forward color=\"{colour}\" penwidth=3.5 arrowsize=1.2 "
                           "constraint=false];")
    if stop is not None:
        out.append(f'  {_q(stop)} -- "probe:stop" [color="{RED}" style=dotted penwidth=2];')
    return out


def legend(lab: Lab, accounts: List[str], fill: Dict[str, str], ov: Optional[Overlay]) -> str:
    """The graph's own label (Graphviz keeps room for it): the probe's verdict, then the legend."""
    def row(sample: str, colour: str, text: str) -> str:
        return (f'<TR><TD ALIGN="LEFT"><FONT COLOR="{colour}"><B>{sample}</B></FONT></TD>'
                f'<TD ALIGN="LEFT">{_h(text)}</TD></TR>')

    rows = []
    if ov:
        rows.append(f'<TR><TD ALIGN="LEFT" COLSPAN="2">{ov.caption()}</TD></TR>')
        rows.append(row("\u2501\u2501\u25b6", FORWARD, "the request's path (probe)"))
        rows.append(row("\u2501\u2501\u25b6", RETURN, "the reply's path (probe)"))
        rows.append(row("\u25a1", RED, "where a leg stopped (red box; a network ACL's drop: the subnet it "
                        "guards, with the rule), with the reason beside it"))
    # only what this lab has: a legend row for a line or a mark the picture does not draw misleads
    sides = {side_state(lab, p, v) for p in lab.peerings.values() for v in (p.vpc, p.peer_vpc)}
    insts = [i for v in lab.vpcs.values() for i in v.instances.values()]
    has = {"ok": "ok" in sides, "missing": "missing" in sides, "pending": "pending" in sides,
           "grey": bool(sides & {"unused", "terminal"}), "clb": any(i.backends for i in insts),
           "routes": any(t.routes for v in lab.vpcs.values() for t in v.route_tables.values())}
    rows += [row(*r) for k, r in (
        ("ok", ("\u2501\u2501\u2501", GREEN, "this side routes through the peering, and it is ACTIVE")),
        ("missing", ("\u254d\u254d\u254d", RED, "this side has NO route back through the peering (replies are lost)")),
        ("pending", ("\u254d\u254d\u254d", ORANGE, "the peering is PENDING: its routes are blackholes")),
        ("grey", ("\u2501\u2501\u2501", GREY, "nothing routes through it (or the peering is gone)")),
        ("clb", ("\u254d\u254d\u25b6", BLUE, "a CLB and its backends")),
        ("routes", ("a \u2192 pcx", GREEN, "a route in a VPC router's table (red: a blackhole)")),
    ) if has[k]]
    rows += [row(*r) for r in legend_rows(lab)]  # the Internet, groups, ACLs
    rows += [row(*r) for r in ccngraph.legend_rows(lab)]  # version 3: CCNs
    for a in accounts:
        rows.append(f'<TR><TD BGCOLOR="{fill[a]}" BORDER="1">    </TD><TD ALIGN="LEFT">a VPC of account '
                    f'<B>{_h(a)}</B></TD></TR>')
    return ('<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="1" CELLPADDING="2">'
            f'<TR><TD ALIGN="LEFT" COLSPAN="2"><B>lab {_h(lab.name)}</B></TD></TR>{"".join(rows)}</TABLE>>')
