"""The web view's version-2 drawing, root-free: what the state document carries (security
groups, ACLs, NAT gateways, EIPs, the Internet, read from the model) and where the layout
puts them. The model is built in Python (tests/uikit.py v2_model) and seeded into a store
under a temporary run directory; the probe API's animation is checked through `explain`."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

pytest.importorskip("aiohttp")
from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from vpclab.state import store  # noqa: E402
from vpclab.state.rundir import RunDir  # noqa: E402
from vpclab.ui import animation, guard, layout, server  # noqa: E402
from uikit import free_port, seed, seed_model, v2_model  # noqa: E402

TOPO = Path(__file__).resolve().parents[3] / "topologies"
TOKEN = "t0ken-for-tests"


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    monkeypatch.setattr("vpclab.state.rundir.current", RunDir(tmp_path))
    return tmp_path


def _overlap(a, b) -> bool:
    return a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]


def _inside(inner, outer) -> bool:
    return outer["x"] <= inner["x"] and inner["x"] + inner["w"] <= outer["x"] + outer["w"] and \
        outer["y"] <= inner["y"] and inner["y"] + inner["h"] <= outer["y"] + outer["h"]


def test_the_state_carries_the_models_filters_eips_nat_gateways_and_internet(run_dir):
    model = v2_model()
    doc = server.state_doc(seed_model(run_dir, model))
    st = doc["status"]
    vpcs = {v["name"]: v for v in st["vpcs"]}
    for name, vpc in model.vpcs.items():
        v = vpcs[name]
        assert [g["name"] for g in v["security_groups"]] == list(vpc.security_groups)
        assert [a["name"] for a in v["network_acls"]] == list(vpc.network_acls)
        assert [(n["name"], n["eip"]) for n in v["nat_gateways"]] == [(n.name, str(n.eip)) for n in vpc.nat_gateways.values()]
        for i in v["instances"]:
            inst = vpc.instances[i["name"]]
            assert i["security_groups"] == inst.security_groups
            assert i["eip"] == (str(inst.eip) if inst.eip else None)
        for g in v["security_groups"]:
            src = vpc.security_groups[g["name"]]
            assert [(r["proto"], r["peer"], r["action"]) for r in g["ingress"]] == \
                [(r.proto, r.peer, r.action) for r in src.ingress]
            assert g["members"] == [i.name for i in vpc.instances.values() if g["name"] in i.security_groups]
    acl = vpcs["vpc-b"]["network_acls"][0]
    assert acl["subnets"] == model.vpcs["vpc-b"].network_acls["data-acl"].subnets
    assert acl["inbound"][0]["ports"] == list(model.vpcs["vpc-b"].network_acls["data-acl"].inbound[0].ports)
    assert [(h["ref"], h["ip"], h["ports"]) for h in st["internet"]["hosts"]] == \
        [(h.ref, str(h.ip), h.ports) for h in model.internet.hosts.values()]
    assert st["internet"]["cidr"] == str(model.internet.cidr)
    json.dumps(doc)  # it is served as JSON


def test_a_version_1_lab_gets_empty_filters_no_internet_and_the_same_picture(run_dir):
    doc = server.state_doc(seed(run_dir, TOPO / "03-hub-spokes.yaml"))
    st = doc["status"]
    assert st["internet"] is None and doc["layout"]["internet"] is None
    for v in st["vpcs"]:
        assert v["security_groups"] == v["network_acls"] == v["nat_gateways"] == []
        assert all(i["eip"] is None and i["security_groups"] == [] for i in v["instances"])
    # the version-2 keys move nothing in a version-1 lab
    bare = json.loads(json.dumps(st))
    for v in bare["vpcs"]:
        for k in ("security_groups", "network_acls", "nat_gateways"):
            del v[k]
        for i in v["instances"]:
            del i["eip"], i["security_groups"]
    del bare["internet"]
    plain = layout.layout(bare)
    assert [(v["x"], v["y"], v["w"], v["h"]) for v in plain["vpcs"]] == \
        [(v["x"], v["y"], v["w"], v["h"]) for v in doc["layout"]["vpcs"]]
    assert plain["nodes"] == doc["layout"]["nodes"]


def test_the_v2_layout_draws_everything_inside_its_box_and_nothing_on_top_of_another(run_dir):
    model = v2_model()
    lay = server.state_doc(seed_model(run_dir, model))["layout"]
    net = lay["internet"]
    assert net is not None
    for r in lay["regions"]:
        assert not _overlap(net, r), "the Internet box covers a region"
    for h in net["hosts"]:
        assert net["x"] < h["x"] < net["x"] + net["w"] and net["y"] < h["y"] < net["y"] + net["h"]
    hx = sorted(h["x"] for h in net["hosts"])
    assert all(b - a >= layout.INTERNET_HOST_W for a, b in zip(hx, hx[1:]))  # their address labels fit
    for v in lay["vpcs"]:
        boxes = [s for s in v["subnets"]] + v["nat_gateways"]
        for b in boxes:
            assert _inside(b, v), (v["name"], b["name"])
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                assert not _overlap(a, b), (a["name"], b["name"])
        for s in v["subnets"]:
            # the label (with the ACL's name) fits the subnet's width
            assert len(s["label"]) * layout.LABEL_CH + 10 <= s["w"], s["label"]
            for inst in s["instances"]:
                # three lines under the icon: name, EIP, groups (11 units apart, from 26 below its centre)
                assert inst["y"] + 26 + 11 * 2 <= s["y"] + s["h"], inst["ref"]
    b = {v["name"]: v for v in lay["vpcs"]}["vpc-b"]
    assert [s["acl"] for s in b["subnets"]] == [None, "data-acl"]
    assert "ACL data-acl" in b["subnets"][1]["label"]
    assert b["public"] and {v["name"]: v for v in lay["vpcs"]}["vpc-a"]["public"]
    # Every hop a probe can name has a point: instances, VPCs, peerings, hosts, and NAT gateways
    # (as `animation.placed` names them).
    hops = {i.ref for i in model.instances()} | set(model.vpcs) | set(model.peerings) | \
        {h.ref for h in model.internet.hosts.values()} | {"internet"} | \
        {layout.nat_node(v.name, n) for v in model.vpcs.values() for n in v.nat_gateways}
    assert layout.nat_node("vpc-b", "nat-1") in hops
    assert hops <= set(lay["nodes"])


def test_the_v2_layout_is_stable(run_dir):
    model = v2_model()
    lab = seed_model(run_dir, model)
    first = server.state_doc(lab)["layout"]
    # a peering's state and a new route change nothing in the picture
    from vpclab.model.types import Route

    model.peerings["pcx-ab"].state = "DELETED"
    model.vpcs["vpc-a"].route_tables["default"].routes.append(Route(__import__("ipaddress").IPv4Network("0.0.0.0/0"), "pcx-ab"))
    with store.Store(lab).tx() as tx:
        tx.save_model(model)
    assert server.state_doc(lab)["layout"] == first


def with_client(lab: str, fn):
    async def main():
        port = free_port()
        srv = TestServer(server.make_app(lab, TOKEN, port), host="127.0.0.1", port=port)
        async with TestClient(srv) as client:
            return await fn(client, port)
    return asyncio.run(main())


def test_probe_answers_carry_the_animation_steps(run_dir):
    lab = seed(run_dir, TOPO / "02-one-way-route.yaml")

    async def go(c, port):
        r = await c.post("/api/explain", json={"src": "vpc-a/cvm-1", "dst": "vpc-b/cvm-1"},
                         headers={"Host": f"127.0.0.1:{port}", guard.HEADER: TOKEN})
        return await r.json()
    doc = with_client(lab, go)
    anim = doc.pop("animation")
    assert anim == animation.steps(doc)
    assert anim["stop"]["at"] == doc["return"]["last_hop"] and anim["stop"]["code"] == doc["reason"]["code"]


def test_a_version_2_topology_file_is_drawn_whole(run_dir):
    """The loader's model of a v2 YAML (tests/ui_filters_lab.yaml) reaches the page: every group, ACL,
    NAT gateway, EIP and Internet host, each with a point to animate through."""
    from vpclab.topology import load as loader

    yaml_file = Path(__file__).resolve().parents[2] / "ui_filters_lab.yaml"
    model = loader.load(str(yaml_file))
    assert model.internet is not None, "the loader read no version-2 keys"
    lab = seed(run_dir, yaml_file, "uiv2file")
    doc = server.state_doc(lab)
    lay = doc["layout"]
    assert [h["ref"] for h in lay["internet"]["hosts"]] == [h.ref for h in model.internet.hosts.values()]
    drawn = {v["name"]: v for v in lay["vpcs"]}
    for v in model.vpcs.values():
        assert [n["name"] for n in drawn[v.name]["nat_gateways"]] == list(v.nat_gateways)
        assert {s["name"]: s["acl"] for s in drawn[v.name]["subnets"]} == \
            {s: (v.acl_of(s).name if v.acl_of(s) else None) for s in v.subnets}
        insts = {i["name"]: i for s in drawn[v.name]["subnets"] for i in s["instances"]}
        for i in v.instances.values():
            assert insts[i.name]["eip"] == (str(i.eip) if i.eip else None)
            assert insts[i.name]["security_groups"] == i.security_groups
    st = {v["name"]: v for v in doc["status"]["vpcs"]}
    assert [g["name"] for g in st["vpc-a"]["security_groups"]] == list(model.vpcs["vpc-a"].security_groups)
    routes = [(r["vpc"], r["destination"], r["next_hop"]) for r in doc["status"]["routes"]]
    assert ("vpc-a", "0.0.0.0/0", "nat-1") in routes  # a route to a NAT gateway is listed like any other
    nat = [r for r in doc["status"]["routes"] if r["next_hop"] == "nat-1"]
    assert [(r["state"], r.get("nat")) for r in nat] == [("active", True)]  # not a blackhole
    assert all(not r.get("nat") for r in doc["status"]["routes"] if r["next_hop"] != "nat-1")


def test_a_path_through_a_nat_gateway_is_animated_through_its_box(run_dir, tmp_path):
    """The analysed path names the NAT gateway by its own name (`nat-1`); the picture draws
    it in its VPC's box, and the dot passes there, both ways, even when an instance of the
    VPC has the same name."""
    text = (Path(__file__).resolve().parents[2] / "ui_filters_lab.yaml").read_text()
    text = text.replace("      job-1: {subnet: priv, ip: 10.0.2.10}\n",
                        "      job-1: {subnet: priv, ip: 10.0.2.10}\n      nat-1: {subnet: app, ip: 10.0.1.11}\n")
    assert "nat-1: {subnet: app" in text
    yaml_file = tmp_path / "nat.yaml"
    yaml_file.write_text(text)
    lab = seed(run_dir, yaml_file, "uiv2nat")
    lay = server.state_doc(lab)["layout"]
    box = next(n for v in lay["vpcs"] if v["name"] == "vpc-a" for n in v["nat_gateways"] if n["name"] == "nat-1")
    gw = layout.nat_node("vpc-a", "nat-1")
    assert lay["nodes"][gw] == [box["x"] + box["w"] / 2, box["y"]]  # the top of the NAT gateway's box
    assert lay["nodes"]["vpc-a/nat-1"] != lay["nodes"][gw]  # the instance keeps its own point

    async def go(c, port):
        r = await c.post("/api/explain", json={"src": "vpc-a/job-1", "dst": "internet/web", "proto": "tcp", "port": 80},
                         headers={"Host": f"127.0.0.1:{port}", guard.HEADER: TOKEN})
        return await r.json()
    doc = with_client(lab, go)
    assert doc["result"] == "reachable" and "nat-1" in doc["forward"]["path"], doc
    moves = doc["animation"]["moves"]
    assert all(m["from"] in lay["nodes"] and m["to"] in lay["nodes"] for m in moves), moves
    hops = [(m["dir"], m["from"], m["to"]) for m in moves]
    assert ("request", "vpc-a", gw) in hops and ("request", gw, "internet") in hops
    assert ("reply", "internet", gw) in hops and ("reply", gw, "vpc-a") in hops
    assert not any("vpc-a/nat-1" in (m["from"], m["to"]) for m in moves)


def test_nat_gateway_hops_are_placed_in_the_box_of_the_router_beside_them():
    doc = {"forward": {"path": ["vpc-b/x", "vpc-b", "nat-1", "internet", "internet/web"]},
           "return": {"path": ["internet/web", "internet", "nat-1", "vpc-b", "vpc-b/x"]}, "result": "reachable"}
    out = animation.placed(doc, [("vpc-a", "nat-1"), ("vpc-b", "nat-1")])  # the same name in two VPCs
    assert out["forward"]["path"][2] == out["return"]["path"][2] == layout.nat_node("vpc-b", "nat-1")
    assert doc["forward"]["path"][2] == "nat-1"  # the probe's own document is left as it is
    assert animation.placed(doc, []) is doc
    # an EIP path has no NAT hop: the Internet stays the Internet, whatever the gateways' names
    eip = {"forward": {"path": ["vpc-a/w", "vpc-a", "internet", "internet/web"]},
           "return": {"path": ["internet/web", "internet", "vpc-a", "vpc-a/w"]}}
    assert animation.placed(eip, [("vpc-a", "internet"), ("vpc-a", "w")]) == eip


def test_an_answer_is_drawn_without_nat_points_when_the_model_cannot_be_read_after_it(run_dir, monkeypatch):
    """The lab may be taken down between the probe and the drawing: the answer still comes back."""
    from vpclab.errors import NotFound

    lab = seed(run_dir, Path(__file__).resolve().parents[2] / "ui_filters_lab.yaml", "uiv2gone")

    def gone(name):
        raise NotFound(f"no lab {name}")
    monkeypatch.setattr(server, "state_doc", gone)  # the state the drawing reads, after the answer

    async def go(c, port):
        r = await c.post("/api/explain", json={"src": "vpc-a/job-1", "dst": "internet/web", "proto": "tcp", "port": 80},
                         headers={"Host": f"127.0.0.1:{port}", guard.HEADER: TOKEN})
        return r.status, await r.json()
    status, doc = with_client(lab, go)
    assert status == 200 and doc["result"] == "reachable", doc
    assert ("request", "vpc-a", "nat-1") in [(m["dir"], m["from"], m["to"]) for m in doc["animation"]["moves"]]
