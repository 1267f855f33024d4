"""status and graph show version 2: groups per instance, ACLs per subnet, EIPs, NAT gateways,
the Internet and its hosts; a version-1 lab keeps every key it had."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from vpclab.cli.render import graph
from vpclab.topology import load as loader
from vpclab.cli.main import cli
from vpclab.controller.status import extend_status, uses_v2

ROOT = Path(__file__).resolve().parents[3]
INET = ROOT / "topologies" / "06-internet-vs-peering.yaml"
SGS = ROOT / "topologies" / "07-security-groups.yaml"


def status_doc(lab):
    """The version-1 part of `controller.status` for a model (what the store would give)."""
    return {"lab": lab.name, "vpcs": [{"name": v.name, "subnets": [{"name": s.name} for s in v.subnets.values()],
                                       "instances": [{"name": i.name} for i in v.instances.values()]}
                                      for v in lab.vpcs.values()], "peerings": [], "routes": []}


def test_status_gains_groups_acls_eips_nat_and_the_internet():
    lab = loader.load(SGS)
    doc = extend_status(status_doc(lab), lab)
    a = doc["vpcs"][0]
    assert [g["name"] for g in a["security_groups"]] == ["sg-web", "sg-db"]
    web = a["security_groups"][0]
    assert web["ingress"][0] == {"index": 0, "proto": "tcp", "port": "80", "source": "0.0.0.0/0", "action": "accept"}
    assert web["ingress"][1]["source"] == "sg-web" and web["ingress"][1]["port"] == "all"
    assert web["egress"] == [{"index": 0, "proto": "all", "port": "all", "destination": "0.0.0.0/0",
                              "action": "accept"}]
    assert a["security_groups"][1]["egress"] == []
    assert a["network_acls"][0]["subnets"] == ["db"] and a["network_acls"][0]["outbound"][0]["port"] == "1024-65535"
    assert {s["name"]: s["network_acl"] for s in a["subnets"]} == {"web": None, "db": "acl-db"}
    assert {i["name"]: i["security_groups"] for i in a["instances"]}["admin"] == []
    assert doc["internet"] is None and uses_v2(doc)
    lab = loader.load(INET)
    doc = extend_status(status_doc(lab), lab)
    assert doc["internet"] == {"cidr": "203.0.113.0/24", "hosts": [{"name": "web", "ref": "internet/web",
                                                                    "ip": "203.0.113.200", "ports": [80]}]}
    a = doc["vpcs"][0]
    assert a["nat_gateways"] == [{"name": "nat-a", "eip": "203.0.113.20"}]
    assert {i["name"]: i["eip"] for i in a["instances"]} == {"web-a": "203.0.113.10", "job-a": None}


def test_a_version_1_status_keeps_its_keys_and_shows_nothing_new():
    lab = loader.load(ROOT / "topologies" / "01-two-vpcs.yaml")
    before = status_doc(lab)
    doc = extend_status(json.loads(json.dumps(before)), lab)
    assert set(before) <= set(doc) and doc["internet"] is None and not uses_v2(doc)
    for old, new in zip(before["vpcs"], doc["vpcs"]):
        assert set(old) <= set(new)


def test_graph_shows_the_internet_nat_gateways_eips_groups_and_acls():
    lab = loader.load(INET)
    g = graph.to_json(lab)
    kinds = {n["id"]: n["kind"] for n in g["nodes"]}
    assert kinds["internet"] == "internet" and kinds["internet/web"] == "internet_host"
    assert kinds["nat:vpc-a/nat-a"] == "nat_gateway"
    node = {n["id"]: n for n in g["nodes"]}
    assert node["vpc-a/web-a"]["eip"] == "203.0.113.10"
    assert {"from": "nat:vpc-a/nat-a", "to": "internet", "kind": "internet"} in g["edges"]
    dot = graph.dot(lab)
    assert "Internet 203.0.113.0/24" in dot and "nat-a (NAT) 203.0.113.20" in dot and "eip 203.0.113.10" in dot
    sgs = loader.load(SGS)
    node = {n["id"]: n for n in graph.to_json(sgs)["nodes"]}
    assert node["vpc-a/db-1"]["security_groups"] == ["sg-db"]
    assert node["subnet:vpc-a/db"]["network_acl"] == "acl-db"
    assert "sg: sg-web" in graph.dot(sgs) and "acl: acl-db" in graph.dot(sgs)
    assert "internet" not in graph.dot(loader.load(ROOT / "topologies" / "01-two-vpcs.yaml"))


def test_the_legend_explains_the_internet_groups_and_acls_only_where_the_lab_has_them():
    inet, sgs = graph.dot(loader.load(INET)), graph.dot(loader.load(SGS))
    plain = graph.dot(loader.load(ROOT / "topologies" / "01-two-vpcs.yaml"))
    assert "NAT gateway (hexagon)" in inet and "never linked to this machine" in inet
    assert "sg:" not in inet.rsplit("label=<<TABLE", 1)[1]  # 06 has no groups or ACLs
    legend = sgs.rsplit("label=<<TABLE", 1)[1]
    assert "security groups (stateful" in legend and "network ACL bound to the subnet (stateless" in legend
    assert "Internet" not in legend
    for text in ("NAT gateway", "security groups", "network ACL"):
        assert text not in plain
    # Each EIP is named on its instance, not on a line (an edge label could sit on a box title).
    assert not [line for line in inet.splitlines() if " -- internet" in line and "label=" in line]


def test_explain_prints_the_filter_and_the_seen_source():
    r = CliRunner().invoke(cli, ["explain", "vpc-b/cvm-b", "vpc-a/web-1", "-f", str(SGS)])
    assert r.exit_code == 0
    assert "SECURITY_GROUP_DENY" in r.output and "filter: security group sg-web, ingress, no rule matched" in r.output
    r = CliRunner().invoke(cli, ["explain", "vpc-a/web-a", "203.0.113.30", "-f", str(INET)])
    assert "seen source: 203.0.113.10" in r.output and "internet" in r.output
    r = CliRunner().invoke(cli, ["explain", "internet/web", "203.0.113.10", "--proto", "tcp", "--port", "80",
                                 "-f", str(INET)])
    assert r.exit_code == 0 and "reachable" in r.output
