"""`vpclab diff`: static differential reachability (no root).

The pruning (only the pairs a difference can reach are re-explained) is checked
against brute force, two full explain matrices, over random topologies and random
changes to them; the examples pin the causes named and the exit codes.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_properties import PROPS, topology_dicts
from test_cli import run
from topobuild import load, peer, text, topo, two_vpcs, vpc

from vpclab.explain import diff as diffreach
from vpclab.errors import TopologyInvalid

ROOT = Path(__file__).resolve().parents[3]
T01 = str(ROOT / "topologies" / "01-two-vpcs.yaml")
T02 = str(ROOT / "topologies" / "02-one-way-route.yaml")


def reported(doc) -> dict:
    return {(c["src"], c["dst"], c["proto"], c["port"]): (c["old"]["result"], c["new"]["result"])
            for c in doc["changes"]}


@st.composite
def changed(draw):
    """A random topology and a changed copy: routes dropped or re-pointed, a peering removed
    (with its routes) or left pending, an instance moved or re-kinded, a subnet's table switched."""
    d = draw(topology_dicts())
    if draw(st.booleans()):
        # Random routes rarely make a pair reachable both ways: complete them, so that
        # the changes below have something to break.
        for pname, p in d["peerings"].items():
            for side, far in ((p["vpc"], p["peer_vpc"]), (p["peer_vpc"], p["vpc"])):
                tables = d["vpcs"][side].setdefault("route_tables", {})
                for t in ("default", "private"):
                    if t == "default" or t in tables:
                        routes = tables.setdefault(t, {"routes": []})["routes"]
                        dst = d["vpcs"][far]["cidr"]
                        if all(r["destination"] != dst for r in routes):
                            routes.append({"destination": dst, "next_hop": pname})
    n = copy.deepcopy(d)
    vpcs = list(n["vpcs"])
    for _ in range(draw(st.integers(1, 4))):
        what = draw(st.sampled_from(["drop-route", "repoint", "drop-peering", "pending", "kind", "move", "table"]))
        v = n["vpcs"][draw(st.sampled_from(vpcs))]
        tables = v.get("route_tables", {})
        routes = [(t, r) for t, body in tables.items() for r in body["routes"]]
        if what == "drop-route" and routes:
            t, r = draw(st.sampled_from(routes))
            tables[t]["routes"].remove(r)
        elif what == "repoint" and routes:
            t, r = draw(st.sampled_from(routes))
            r["destination"] = draw(st.sampled_from(["10.0.0.0/8", r["destination"].replace("/16", "/17")]))
        elif what in ("drop-peering", "pending") and n["peerings"]:
            pname = draw(st.sampled_from(sorted(n["peerings"])))
            if what == "pending":
                n["peerings"][pname]["accepted"] = False
                continue
            del n["peerings"][pname]
            for body in n["vpcs"].values():
                for t in body.get("route_tables", {}).values():
                    t["routes"] = [r for r in t["routes"] if r["next_hop"] != pname]
        elif what == "kind":
            iname = draw(st.sampled_from(sorted(v["instances"])))
            v["instances"][iname]["kind"] = draw(st.sampled_from(["cvm", "cdb", "cmem"]))
            v["instances"][iname].pop("port", None)
            v["instances"][iname].pop("backends", None)
        elif what == "move":
            iname = draw(st.sampled_from(sorted(v["instances"])))
            v["instances"][iname]["subnet"] = draw(st.sampled_from(sorted(v["subnets"])))
            v["instances"][iname].pop("ip", None)
        elif what == "table" and len(v["subnets"]) == 2:
            s = v["subnets"][sorted(v["subnets"])[0]]
            s["route_table"] = "private" if s.get("route_table") != "private" else "default"
            v.setdefault("route_tables", {}).setdefault("private", {"routes": []})
    return d, n


@settings(PROPS, max_examples=150)
@given(changed())
def test_diff_reports_exactly_what_two_full_matrices_differ_in(pair):
    d, n = pair
    try:
        old, new = load(d), load(n)
    except TopologyInvalid:
        assume(False)
    doc = diffreach.diff(old, new)
    assert reported(doc) == diffreach.full(old, new)
    assert doc["gained"] + doc["lost"] + doc["changed"] == len(doc["changes"])


def test_same_model_has_no_change_and_explains_nothing():
    lab = load(two_vpcs())
    doc = diffreach.diff(lab, load(two_vpcs()))
    assert doc["changes"] == [] and doc["explained"] == 0 and doc["compared"] == 2


def test_removed_return_route_is_named_as_the_cause():
    old, new = load(two_vpcs()), load(two_vpcs(routes_b=False))
    doc = diffreach.diff(old, new)
    got = {(c["src"], c["dst"]): c for c in doc["changes"]}
    assert set(got) == {("vpc-a/cvm-1", "vpc-b/cvm-1"), ("vpc-b/cvm-1", "vpc-a/cvm-1")}
    ab = got[("vpc-a/cvm-1", "vpc-b/cvm-1")]
    assert (ab["change"], ab["old"]["result"], ab["new"]["result"]) == ("lost", "reachable", "no-return")
    assert ab["new"]["reason"]["code"] == "NO_ROUTE"
    assert [(c["kind"], c["leg"], c["where"], c["old"], c["new"]) for c in ab["causes"]] == [
        ("route", "reply", "vpc-b/default", "10.0.0.0/16 via pcx-ab", "no route")]
    assert doc["lost"] == 2 and doc["gained"] == 0


def test_pending_peering_is_named_with_its_states():
    t = topo({"vpc-a": vpc(0, account="alice", routes=[("10.1.0.0/16", "pcx-ab")]),
              "vpc-b": vpc(1, account="bob", routes=[("10.0.0.0/16", "pcx-ab")])},
             {"pcx-ab": peer("vpc-a", "vpc-b")}, accounts=["alice", "bob"])
    pending = copy.deepcopy(t)
    pending["peerings"]["pcx-ab"]["accepted"] = False
    doc = diffreach.diff(load(pending), load(t))
    assert doc["gained"] == 2 and doc["lost"] == 0
    c = doc["changes"][0]
    assert {(x["kind"], x["where"], x["old"], x["new"]) for x in c["causes"]} == {
        ("peering", "pcx-ab", "PENDING", "ACTIVE")}


def test_service_ports_are_asked_too():
    t = two_vpcs()
    t["vpcs"]["vpc-b"]["instances"]["db-1"] = {"subnet": "app", "ip": "10.1.1.20", "kind": "cdb"}
    t["vpcs"]["vpc-b"]["instances"]["lb-1"] = {"subnet": "app", "kind": "clb", "port": 8080, "backends": ["cvm-1"]}
    old = load(t)
    cut = copy.deepcopy(t)
    cut["vpcs"]["vpc-a"]["route_tables"]["default"]["routes"] = []
    doc = diffreach.diff(old, load(cut))
    keys = {(c["src"], c["dst"], c["proto"], c["port"]) for c in doc["changes"] if c["src"] == "vpc-a/cvm-1"}
    assert keys == {("vpc-a/cvm-1", "vpc-b/cvm-1", "icmp", None), ("vpc-a/cvm-1", "vpc-b/cvm-1", "tcp", 8080),
                    ("vpc-a/cvm-1", "vpc-b/db-1", "icmp", None), ("vpc-a/cvm-1", "vpc-b/db-1", "tcp", 3306),
                    ("vpc-a/cvm-1", "vpc-b/lb-1", "icmp", None), ("vpc-a/cvm-1", "vpc-b/lb-1", "tcp", 8080)}


def test_cli_exit_1_when_a_change_breaks_an_expectation_of_new(capsys, tmp_path):
    new = two_vpcs(routes_b=False)
    new["expect"] = [{"from": "vpc-a/cvm-1", "to": "vpc-b/cvm-1"}]
    (tmp_path / "old.yaml").write_text(text(two_vpcs()))
    (tmp_path / "new.yaml").write_text(text(new))
    code, out, _ = run(capsys, "diff", str(tmp_path / "old.yaml"), str(tmp_path / "new.yaml"), "--json")
    doc = json.loads(out)
    assert code == 1
    assert [(e["from"], e["to"], e["expected"], e["old"], e["new"]) for e in doc["expectations"]["broken"]] == [
        ("vpc-a/cvm-1", "vpc-b/cvm-1", "reachable", "reachable", "no-return")]
    code, out, _ = run(capsys, "diff", str(tmp_path / "old.yaml"), str(tmp_path / "new.yaml"))
    assert code == 1 and "BROKEN" in out and "because route 10.0.0.0/16 via pcx-ab removed from vpc-b/default" in out


def test_cli_fixing_change_exits_0_and_counts(capsys):
    code, out, _ = run(capsys, "diff", T02, T01)
    assert code == 0
    assert "2 changes: 2 gained, 0 lost" in out
    assert "instances added: vpc-b/db-1" in out


def test_cli_refuses_bad_arguments_and_bad_files(capsys, tmp_path):
    code, _, err = run(capsys, "diff", T01)
    assert code == 2 and "diff takes OLD NEW" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("lab: x\nvpcs: {}\n")
    code, _, err = run(capsys, "diff", T01, str(bad))
    assert code == 2 and f"{bad}:2: MissingParameter" in err


def test_an_instance_change_says_what_changed():
    old = two_vpcs()
    new = copy.deepcopy(old)
    new["vpcs"]["vpc-b"]["instances"]["cvm-1"]["kind"] = "cdb"  # now a database: TCP 3306 listens
    doc = diffreach.diff(load(old), load(new))
    assert doc["changes"] == []  # ICMP unchanged; 3306 was closed (reachable with a note) and is open now
    new["vpcs"]["vpc-b"]["subnets"]["app"]["cidr"] = "10.1.0.0/24"
    new["vpcs"]["vpc-b"]["instances"]["cvm-1"]["ip"] = "10.1.0.10"
    new["vpcs"]["vpc-a"]["route_tables"]["default"]["routes"] = [
        {"destination": "10.1.1.0/24", "next_hop": "pcx-ab"}]
    doc = diffreach.diff(load(old), load(new))
    c = next(c for c in doc["changes"] if (c["src"], c["proto"]) == ("vpc-a/cvm-1", "icmp"))
    details = [x["detail"] for x in c["causes"]]
    inst = next(x for x in details if x.startswith("vpc-b/cvm-1:"))
    assert "ip 10.1.1.10 -> 10.1.0.10" in inst and "kind cvm -> cdb" in inst
    assert "vpc-b: subnets [app 10.1.1.0/24] -> [app 10.1.0.0/24]" in details
