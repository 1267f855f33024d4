"""How the product shows a CCN (issue 23), from the model alone (no root): `route list` rows of the
routes a CCN delivers (next hop the CCN, disabled ones with why), `ccn list` and `ccn route list`
rows, the `status` tables, and `graph` (DOT and --json): a CCN node linked to its attached
VPCs with their state, its region pair and cap, its disabled routes marked."""
from __future__ import annotations

from pathlib import Path

import pytest

from vpclab.cli.render import dot, graph
from vpclab.cli.render import status as render
from vpclab.controller import status
from vpclab.errors import NotFound
from vpclab.topology import load as loader

TOPO = Path(__file__).resolve().parents[3] / "topologies" / "08-ccn.yaml"


@pytest.fixture(scope="module")
def lab():
    return loader.load(str(TOPO))


def test_route_list_shows_what_the_ccn_delivers_with_next_hop_the_ccn(lab):
    rows = status.route_rows(lab, "spoke-a")
    ccn = {r["destination"]: r for r in rows if r["type"] == "CCN"}
    # hub's two subnets and spoke-b's app subnet are enabled; spoke-b's batch is disabled in the CCN
    # (so not delivered at all), spoke-c's came in disabled (not delivered either)
    assert set(ccn) == {"10.0.1.0/24", "10.0.2.0/24", "10.2.1.0/24"}
    assert all(r["next_hop"] == "ccn-core" and r["state"] == "active" and r["why"] is None for r in ccn.values())
    assert ccn["10.2.1.0/24"]["ccn_route"] == "10.2.1.0/24@spoke-b"
    assert [r for r in rows if r["type"] == "USER"] == []


def test_a_delivered_route_disabled_in_a_table_says_why(lab):
    rows = [r for r in status.route_rows(lab, "spoke-c") if r["type"] == "CCN"]
    off = [r for r in rows if r["state"] == "disabled"]
    assert [(r["destination"], r["ccn_route"]) for r in off] == [("10.0.2.0/24", "10.0.2.0/24@hub")]
    assert "own CIDR" in off[0]["why"]
    # a VPC that is not on the CCN (peered with hub) gets nothing from it
    assert all(r["type"] == "USER" for r in status.route_rows(lab, "peered"))
    # hub's own peering route stays a USER route
    hub = status.route_rows(lab, "hub")
    assert ("10.9.0.0/16", "pcx-hub-peered", "USER") in {(r["destination"], r["next_hop"], r["type"]) for r in hub}


def test_ccn_route_rows_name_every_route_and_why_it_is_disabled(lab):
    rows = {r["route"]: r for r in status.ccn_route_rows(lab, "ccn-core")}
    assert rows["10.2.2.0/24@spoke-b"]["state"] == "disabled"
    assert "owner" in rows["10.2.2.0/24@spoke-b"]["why"]
    assert rows["10.0.2.0/24@spoke-c"]["state"] == "disabled"
    assert "10.0.2.0/24@hub" in rows["10.0.2.0/24@spoke-c"]["why"]
    assert rows["10.1.1.0/24@spoke-a"]["enabled"] and rows["10.1.1.0/24@spoke-a"]["why"] is None
    assert all(r["id"].startswith("ccnr-") and len(r["id"]) == 13 for r in rows.values())
    assert not any(r.endswith("@partner") for r in rows)  # PENDING publishes nothing
    with pytest.raises(NotFound) as e:
        status.ccn_route_rows(lab, "ccn-nope")
    assert e.value.code == "ResourceNotFound"


def test_ccn_rows_list_attachments_in_order_and_the_region_pair_cap(lab):
    (row,) = status.ccn_rows(lab)
    assert row["id"] == "ccn-core" and row["account"] == "alice"
    assert [(a["vpc"], a["state"]) for a in row["attachments"]] == [
        ("hub", "ACTIVE"), ("spoke-a", "ACTIVE"), ("spoke-b", "ACTIVE"), ("spoke-c", "ACTIVE"), ("partner", "PENDING")]
    assert row["region_pairs"] == [{"regions": ["ap-guangzhou", "ap-shanghai"], "mbps": 100, "mbps_back": 100}]


def test_status_tables_show_ccns_and_disabled_routes(lab, capsys):
    rows = status.ccn_rows(lab)
    render.render_ccns(rows)
    render.render_ccn_routes(status.ccn_route_rows(lab))
    render.render_routes(status.route_rows(lab, "spoke-c"))
    out = capsys.readouterr().out
    assert "partner PENDING" in out and "ap-guangzhou <-> ap-shanghai 100 Mbps" in out
    assert "disabled: disabled by the CCN's owner" in out
    assert "ccn-core (CCN)" in out and "disabled: inside spoke-c's own CIDR" in out


def test_graph_json_has_a_ccn_node_and_an_attachment_edge_per_vpc(lab):
    doc = graph.to_json(lab)
    (node,) = [n for n in doc["nodes"] if n["kind"] == "ccn"]
    assert node["id"] == "ccn:ccn-core" and node["region_pairs"] == ["ap-guangzhou <-> ap-shanghai 100 Mbps"]
    edges = {e["from"]: e for e in doc["edges"] if e["kind"] == "ccn_attachment"}
    assert {v: e["state"] for v, e in edges.items()} == {
        "hub": "ACTIVE", "spoke-a": "ACTIVE", "spoke-b": "ACTIVE", "spoke-c": "ACTIVE", "partner": "PENDING"}
    assert edges["spoke-b"]["disabled_routes"] == ["10.2.2.0/24@spoke-b"]
    assert "peered" not in edges


def test_the_diagram_links_the_ccn_to_its_vpcs_and_marks_disabled_routes(lab):
    text = dot.dot(lab)
    assert '"hub" -- "ccn:ccn-core"' in text and '"partner" -- "ccn:ccn-core"' in text
    assert '"peered" -- "ccn:ccn-core"' not in text
    assert "10.2.2.0/24@spoke-b disabled" in text
    assert "ap-guangzhou &lt;-&gt; ap-shanghai 100 Mbps" in text
    assert "10.0.2.0/24 → ccn-core (CCN) (disabled)" in text  # in spoke-c's table: its own CIDR wins
    # a probe stopped by a disabled CCN route is drawn through the CCN's node on its path
    ok = {"src": "hub/cvm-1", "dst": "spoke-a/cvm-1", "proto": "icmp", "result": "reachable", "reason": None,
          "forward": {"delivered": True, "path": ["hub/cvm-1", "hub", "ccn-core (ap-guangzhou -> ap-shanghai)",
                                                  "spoke-a", "spoke-a/cvm-1"]},
          "return": {"delivered": True, "path": []}}
    assert '"hub" -- "ccn:ccn-core" [dir=forward' in dot.dot(lab, ok)
