"""`vpclab graph`: what the diagram says (DOT text) and where Graphviz puts it.

The drawing facts are checked on the DOT text (no Graphviz needed); the layout
facts (no label, node or line on a box title) on `dot -Tjson`, for every shipped
topology, with and without a probe drawn on it. Graphviz is installed by
scripts/setup; without it those tests skip, saying so.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from graphgeom import problems
from vpclab.cli import main as cli
from vpclab.cli.render import graph, dot as graph_draw
from vpclab.topology import load as loader
from vpclab.model import lifecycle

ROOT = Path(__file__).resolve().parents[3]
TOPOLOGIES = sorted((ROOT / "topologies").glob("*.yaml"))
T01, T02, T03, T04, T05 = (str(ROOT / "topologies" / n) for n in (
    "01-two-vpcs.yaml", "02-one-way-route.yaml", "03-hub-spokes.yaml", "04-cross-region.yaml", "05-cross-account.yaml"))
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz (dot) is not installed: scripts/setup")


def edge_line(text: str, a: str, b: str) -> str:
    lines = [l for l in text.splitlines() if f'"{a}" -- "{b}"' in l]
    assert len(lines) == 1, (a, b, lines)
    return lines[0]


def test_the_missing_return_route_is_red_and_dashed():
    lab = loader.load(T02)
    text = graph.dot(lab)
    assert graph_draw.side_state(lab, lab.peerings["pcx-ab"], "vpc-b") == "missing"
    back = edge_line(text, "peering:pcx-ab", "vpc-b")
    assert graph_draw.RED in back and "dashed" in back
    there = edge_line(text, "vpc-a", "peering:pcx-ab")
    assert graph_draw.GREEN in there and "dashed" not in there
    assert "no route back to 10.0.0.0/16 via pcx-ab" in text
    # fixed: both sides green, no red row
    lifecycle.add_route(lab, "vpc-b", "10.0.0.0/16", "pcx-ab")
    fixed = graph.dot(lab)
    assert graph_draw.RED not in edge_line(fixed, "peering:pcx-ab", "vpc-b") and "no route back" not in fixed


def test_routes_are_listed_in_each_router_with_their_state():
    lab = loader.load(T05)  # PENDING: both routes are blackholes
    text = graph.dot(lab)
    assert "192.168.0.0/16 \u2192 pcx-alice-bob (blackhole)" in text
    assert "172.16.0.0/16 \u2192 pcx-alice-bob (blackhole)" in text
    assert "dashed" in edge_line(text, "alice-vpc", "peering:pcx-alice-bob")
    lifecycle.apply_event(lab, "pcx-alice-bob", "accept")
    assert "(blackhole)" not in graph.dot(lab)


def test_accounts_clbs_and_the_legend_are_drawn():
    text = graph.dot(loader.load(T05))
    assert "account alice" in text and "account bob" in text
    assert text.count('style="rounded,filled"; fillcolor=') == 2
    fills = {l.split('fillcolor="')[1][:7] for l in text.splitlines() if "cluster_vpc_" in l}
    assert len(fills) == 2  # one colour per account
    clb = graph.dot(loader.load(T04))
    for b in ("gz-app/cvm-1", "gz-app/cvm-2"):
        assert graph_draw.BLUE in edge_line(clb, "gz-app/lb-1", b)
    assert "a CLB and its backends" in clb


def test_probe_overlay_draws_both_legs_and_the_stop():
    lab = loader.load(T02)
    doc = {"src": "vpc-a/cvm-1", "dst": "vpc-b/cvm-1", "proto": "icmp", "port": None, "result": "no-return",
           "forward": {"delivered": True, "last_hop": "vpc-b/cvm-1",
                       "path": ["vpc-a/cvm-1", "vpc-a", "pcx-ab", "vpc-b", "vpc-b/cvm-1"]},
           "return": {"delivered": False, "last_hop": "vpc-b", "path": ["vpc-b/cvm-1", "vpc-b"]},
           "reason": {"code": "NO_ROUTE", "where": "vpc-b", "table": "default", "detail": "no route to 10.0.1.10"}}
    text = graph.dot(lab, doc)
    for a, b in [("vpc-a/cvm-1", "vpc-a"), ("vpc-a", "peering:pcx-ab"), ("peering:pcx-ab", "vpc-b"),
                 ("vpc-b", "vpc-b/cvm-1")]:
        assert any(graph_draw.FORWARD in l and "dir=forward" in l
                   for l in text.splitlines() if f'"{a}" -- "{b}"' in l), (a, b)
    assert graph_draw.RETURN in edge_line(text, "vpc-b/cvm-1", "vpc-b")
    assert '"vpc-b" -- "probe:stop"' in text and "the reply stopped here" in text and "NO_ROUTE" in text
    router = next(l for l in text.splitlines() if l.strip().startswith('"vpc-b" [label=<'))
    assert "penwidth=3" in router


def test_graph_probe_from_a_file_uses_explain(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["graph", "-f", T03, "--probe", "spoke-1/cvm-1", "spoke-2/cvm-1", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert e.value.code == 0
    assert doc["probe"]["result"] == "unreachable" and doc["probe"]["reason"]["code"] == "NO_ROUTE"  # issue 19
    assert {n["kind"] for n in doc["nodes"]} >= {"vpc", "instance"}


def test_proto_without_probe_is_refused(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["graph", "-f", T01, "--proto", "tcp", "--port", "80"])
    assert e.value.code == 2 and "--probe" in capsys.readouterr().err


PROBES = {"01-two-vpcs.yaml": ("vpc-a/cvm-1", "vpc-b/db-1", "tcp", 3306),
          "02-one-way-route.yaml": ("vpc-a/cvm-1", "vpc-b/cvm-1", "icmp", None),
          "03-hub-spokes.yaml": ("spoke-1/cvm-1", "spoke-2/cvm-1", "icmp", None),
          "04-cross-region.yaml": ("sg-app/cvm-1", "gz-app/lb-1", "tcp", 80),
          "05-cross-account.yaml": ("alice-vpc/cvm-1", "bob-vpc/cvm-1", "icmp", None)}


@needs_dot
@pytest.mark.parametrize("topology", TOPOLOGIES, ids=lambda p: p.name)
def test_no_label_node_or_line_sits_on_a_box_title(topology):
    from vpclab import explain as analyze

    lab = loader.load(str(topology))
    assert problems(graph.dot(lab)) == []
    insts = [i.ref for i in lab.instances()]
    src, dst, proto, port = PROBES.get(topology.name, (insts[0], insts[-1], "icmp", None))  # a new topology too
    assert problems(graph.dot(lab, analyze.explain(lab, src, dst, proto, port).to_json())) == []


@needs_dot
def test_the_checker_finds_what_the_first_diagram_got_wrong():
    """The plain diagram's peering labels and lines ran over VPC titles (04): the check sees it."""
    assert problems(graph.plain_dot(loader.load(T04)))


@needs_dot
def test_png_is_written(tmp_path, capsys):
    out = tmp_path / "hub.png"
    with pytest.raises(SystemExit) as e:
        cli.main(["graph", "-f", T03, "-o", str(out)])
    assert e.value.code == 0 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---- issue 22: what a teacher needs -------------------------------------------------------------------

LEGEND = {"ok": "this side routes through the peering, and it is ACTIVE",
          "missing": "this side has NO route back through the peering",
          "pending": "the peering is PENDING: its routes are blackholes",
          "grey": "nothing routes through it (or the peering is gone)",
          "clb": "a CLB and its backends",
          "routes": "a route in a VPC router",
          "internet": "way to the lab",
          "sg": "security groups (stateful",
          "acl": "the network ACL bound to the subnet"}


def legend_text(text: str) -> str:
    return next(l for l in text.splitlines() if l.strip().startswith("label=<<TABLE"))


def what_the_lab_has(lab) -> set:
    """Read from the model, not from the diagram: which kinds of line and mark the lab has."""
    has = set()
    for p in lab.peerings.values():
        for v in (p.vpc, p.peer_vpc):
            other = p.peer_vpc if v == p.vpc else p.vpc
            mine = any(r.next_hop == p.name for t in lab.vpcs[v].route_tables.values() for r in t.routes)
            theirs = any(r.next_hop == p.name for t in lab.vpcs[other].route_tables.values() for r in t.routes)
            if p.state not in ("ACTIVE", "PENDING") or not (mine or theirs):
                has.add("grey")
            elif not mine:
                has.add("missing")
            else:
                has.add("ok" if p.state == "ACTIVE" else "pending")
    insts = list(lab.instances())
    if any(i.backends for i in insts):
        has.add("clb")
    if any(t.routes for v in lab.vpcs.values() for t in v.route_tables.values()):
        has.add("routes")
    if lab.internet is not None:
        has.add("internet")
    if any(i.security_groups for i in insts):
        has.add("sg")
    if any(v.acl_of(s) is not None for v in lab.vpcs.values() for s in v.subnets):
        has.add("acl")
    return has


def _labs():
    import sys

    sys.path.insert(0, str(ROOT / "tests"))
    from uikit import v2_model

    return [(t.name, loader.load(str(t))) for t in TOPOLOGIES] + [("v2-model", v2_model())]


@pytest.mark.parametrize("name, lab", _labs(), ids=lambda x: x if isinstance(x, str) else "")
def test_the_legend_lists_only_what_the_lab_has(name, lab):
    legend = legend_text(graph.dot(lab))
    has = what_the_lab_has(lab)
    shown = {k for k, words in LEGEND.items() if words in legend}
    assert shown == has, (name, sorted(shown ^ has))


def test_the_legend_changes_with_the_lab():
    """02: one side has no route back (red row, no 'ACTIVE both ways' grey row); the fix adds no red row."""
    lab = loader.load(T02)
    assert LEGEND["missing"] in legend_text(graph.dot(lab)) and LEGEND["clb"] not in legend_text(graph.dot(lab))
    lifecycle.add_route(lab, "vpc-b", "10.0.0.0/16", "pcx-ab")
    assert LEGEND["missing"] not in legend_text(graph.dot(lab))


def _acl_drop():
    import sys

    sys.path.insert(0, str(ROOT / "tests"))
    from uikit import v2_model
    from vpclab import explain as analyze

    lab = v2_model()
    doc = analyze.explain(lab, "vpc-a/cvm-1", "vpc-b/db-1", "tcp", 22).to_json()
    assert doc["reason"]["code"] == "NETWORK_ACL_DENY" and doc["forward"]["last_hop"] == "vpc-b"
    return lab, doc


def node_line(text: str, node: str) -> str:
    lines = [l for l in text.splitlines() if l.strip().startswith(f'"{node}" [')]
    assert len(lines) == 1, (node, lines)
    return lines[0]


def test_an_acl_drop_marks_the_subnet_and_its_rule_not_the_router():
    lab, doc = _acl_drop()
    r = doc["reason"]
    text = graph.dot(lab, doc)
    subnet = node_line(text, "subnet:" + r["where"])
    router = node_line(text, "vpc-b")
    assert "penwidth=3" in subnet and graph_draw.RED in subnet
    assert "penwidth=3" not in router and graph_draw.RED not in router.split("<TABLE")[0]
    rule = lab.vpcs["vpc-b"].network_acls[r["acl"]].inbound[r["rule"]]
    assert rule.ports is None  # all traffic: no port range to print
    assert f"ACL {r['acl']} drops: inbound, rule {r['rule']}: {rule.proto} from {rule.peer} drop" \
        in subnet
    assert f'"subnet:{r["where"]}" -- "probe:stop"' in text  # the note hangs on the subnet
    # a drop elsewhere still marks where the leg stopped (02: the router without a route back)
    other = graph.dot(loader.load(T02), {**doc, "reason": {"code": "NO_ROUTE", "where": "vpc-b"}})
    assert "penwidth=3" in node_line(other, "vpc-b")


def _nat_and_cluster_boxes(doc):
    boxes = {}
    for o in doc.get("objects", []):
        if "bb" in o and o.get("name", "").startswith("cluster_vpc_"):
            x0, y0, x1, y1 = map(float, o["bb"].split(","))
            boxes[o["name"][len("cluster_vpc_"):]] = (x0, y0, x1, y1)
    return boxes


@needs_dot
@pytest.mark.parametrize("name, lab", [l for l in _labs() if any(v.nat_gateways for v in l[1].vpcs.values())],
                         ids=lambda x: x if isinstance(x, str) else "")
def test_a_nat_gateway_sits_inside_its_vpc(name, lab):
    from graphgeom import layout, node_boxes

    doc = layout(graph.dot(lab))
    vpcs = _nat_and_cluster_boxes(doc)
    nodes = dict(node_boxes(doc))
    for v in lab.vpcs.values():
        for n in v.nat_gateways:
            b, c = nodes[f"nat:{v.name}/{n}"], vpcs[v.name]
            assert c[0] <= b[0] and b[2] <= c[2] and c[1] <= b[1] and b[3] <= c[3], (n, b, v.name, c)
            for other, oc in vpcs.items():
                if other != v.name:
                    assert not (oc[0] <= b[0] and b[2] <= oc[2] and oc[1] <= b[1] and b[3] <= oc[3])


@needs_dot
def test_an_acl_drop_drawn_keeps_every_label_off_the_box_titles():
    lab, doc = _acl_drop()
    assert problems(graph.dot(lab, doc)) == []
