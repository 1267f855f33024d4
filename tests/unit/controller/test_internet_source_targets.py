"""An Internet host as a probe's source, before any packet (no root): what `probe`, `test` and
`matrix` send and where they watch (controller/targets.py), how the packets' verdict reads
(verdicts.classify) and which filter rules lie on its way (attribution.on_path).

The lab is tests/kernel/probe/internet_sources.yaml: vpc-a's web-1 (10.0.1.10, EIP
203.0.113.10, sg-web), db-1 (a cdb, EIP 203.0.113.20), priv-1 (no EIP), locked-1 (EIP
203.0.113.40, subnet `locked` with acl-locked); internet/client is 203.0.113.200.
"""
from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from vpclab import explain as analyze
from vpclab.controller import attribution, targets, verdicts
from vpclab.errors import Refused
from vpclab.plan import names
from vpclab.plan.names import RuleRef
from vpclab.probe import counters as nftc
from vpclab.probe.types import ProbeOutcome
from vpclab.topology import load as loader

NET = Path(__file__).resolve().parents[2] / "kernel" / "probe" / "internet_sources.yaml"
CLIENT = "internet/client"


@pytest.fixture(scope="module")
def model():
    return loader.load(NET)


def test_a_host_sends_from_the_internet_namespace_to_the_instances_eip(model):
    t = targets.target(model, CLIENT, "vpc-a/web-1", "tcp", 443)
    assert t.from_internet and t.src.ref == CLIENT
    assert (t.dst_ref, t.dst_ip, t.dst.ref) == ("vpc-a/web-1", ipaddress.IPv4Address("203.0.113.10"), "vpc-a/web-1")
    spec = t.spec(model.name)
    assert (spec.src_ns, spec.src_ip, spec.dst_ip) == (names.internet_ns(model.name), "203.0.113.200", "203.0.113.10")
    assert t.public  # over the Internet: the captures tell its packets apart by ids and ports


def test_the_internet_namespace_is_the_source_not_a_capture_point(model):
    t = targets.target(model, CLIENT, "vpc-a/web-1", "tcp", 443)
    v = analyze.explain(model, CLIENT, "vpc-a/web-1", "tcp", 443)
    pts = targets.capture_points(model, t, v)
    assert [p.label for p in pts] == ["vpc-a", "vpc-a/web-1"]
    assert attribution.path_namespaces(model, t, v)[0] == names.internet_ns(model.name)


def test_an_instance_without_eip_is_asked_at_its_private_address(model):
    t = targets.target(model, CLIENT, "vpc-a/priv-1", "icmp", None)
    assert (t.dst_ref, str(t.dst_ip)) == ("vpc-a/priv-1", "10.0.1.30")
    with pytest.raises(Refused) as e:  # two hosts of one namespace
        targets.target(model, CLIENT, "internet/client", "icmp", None)
    assert e.value.code == "InvalidParameterValue"


def test_the_matrix_rows_of_a_host_go_to_every_eip(model):
    rows = targets.host_targets(model.internet.hosts["client"], model.instances())
    assert [(t.src.ref, t.dst_ref, t.proto, t.port) for t in rows] == [
        (CLIENT, "203.0.113.10", "icmp", None), (CLIENT, "203.0.113.20", "icmp", None),
        (CLIENT, "203.0.113.20", "tcp", 3306), (CLIENT, "203.0.113.40", "icmp", None)]


def test_classify_puts_the_internet_hop_after_the_host(model):
    t = targets.target(model, CLIENT, "vpc-a/locked-1", "tcp", 22)
    v = analyze.explain(model, CLIENT, "vpc-a/locked-1", "tcp", 22)
    assert v.result == "no-return"
    o = ProbeOutcome(t.spec(model.name), False, None, ["vpc-a", "vpc-a/locked-1"], ["vpc-a/locked-1", "vpc-a"],
                     "no reply", request_from={"vpc-a": "203.0.113.200", "vpc-a/locked-1": "203.0.113.200"})
    doc = verdicts.classify(model, t, o, v)
    assert doc["result"] == "no-return" and "mismatch" not in doc
    assert doc["forward"]["path"] == [CLIENT, "internet", "vpc-a", "vpc-a/locked-1"]
    assert doc["return"]["path"] == ["vpc-a/locked-1", "vpc-a"]
    assert doc["seen_source"] == "203.0.113.200"


def test_only_the_destinations_filters_lie_on_a_hosts_probe(model):
    t = targets.target(model, CLIENT, "vpc-a/web-1", "icmp", None)
    inst_ns = names.instance_ns(model.name, "vpc-a", "web-1")
    drop_in = nftc.Hit(inst_ns, RuleRef("sg", "vpc-a", "web-1", "ingress", None), nftc.DROP, 1)
    drop_out = nftc.Hit(inst_ns, RuleRef("sg", "vpc-a", "web-1", "egress", None), nftc.DROP, 1)
    assert attribution.on_path(model, t, drop_in, attribution.REQUEST)
    assert not attribution.on_path(model, t, drop_out, attribution.REQUEST)  # the host has no group
    vns = names.vpc_ns(model.name, "vpc-a")
    acl_out = nftc.Hit(vns, RuleRef("acl", "vpc-a", "acl-locked", "outbound", None, "locked"), nftc.DROP, 1)
    tl = targets.target(model, CLIENT, "vpc-a/locked-1", "tcp", 22)
    assert attribution.on_path(model, tl, acl_out, attribution.REPLY)  # the reply leaving the subnet
    assert not attribution.on_path(model, tl, acl_out, attribution.REQUEST)
