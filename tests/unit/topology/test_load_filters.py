"""The version-2 keys of a topology file (filtering and the Internet): what they build,
what a version-1 file still builds, and a fuzz of rule fields (never a traceback; exit 2
with FILE:LINE). The messages themselves are pinned by tests/golden/v2-*.yaml."""
from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from test_fuzz_loader import FUZZ, check

from vpclab.topology import load as loader
from vpclab.errors import TopologyInvalid
from vpclab.model.filters import DEFAULT_INTERNET_CIDR, FilterRule

ROOT = Path(__file__).resolve().parents[3]
V1 = sorted(p for p in (ROOT / "topologies").glob("*.yaml") if p.name[:2] < "06")

BASE = """
lab: two
vpcs:
  vpc-a:
    region: ap-guangzhou
    cidr: 10.0.0.0/16
    subnets:
      app: {cidr: 10.0.1.0/24}
      priv: {cidr: 10.0.2.0/24, route_table: out}
    route_tables:
      out:
        routes:
          - {destination: 0.0.0.0/0, next_hop: nat-1}
    nat_gateways:
      nat-1: {eip: 203.0.113.20}
    security_groups:
      sg-web:
        ingress:
          - {proto: tcp, port: 80, source: 0.0.0.0/0, action: accept}
          - {port: all, source: sg-web, action: accept}
          - {proto: udp, port: 1000-2000, source: 10.9.0.1, action: drop}
      sg-empty: {}
    network_acls:
      acl-app:
        subnets: [app]
        outbound:
          - {proto: tcp, port: " 1024 - 65535 ", destination: 10.1.0.0/16, action: accept}
    instances:
      cvm-1: {subnet: app, security_groups: [sg-web, sg-empty], eip: 203.0.113.10}
      cvm-2: {subnet: priv}
"""


@pytest.mark.parametrize("path", V1, ids=lambda p: p.name)
def test_version_1_files_build_no_filters_and_no_internet(path):
    lab = loader.load(path)
    assert lab.internet is None
    for v in lab.vpcs.values():
        assert not v.security_groups and not v.network_acls and not v.nat_gateways
        for i in v.instances.values():
            assert i.security_groups == [] and i.eip is None


def test_the_version_2_keys_build_the_model():
    lab = loader.loads(BASE, "t.yaml")
    a = lab.vpcs["vpc-a"]
    web = a.security_groups["sg-web"]
    assert [(r.proto, r.ports, r.peer, r.action) for r in web.ingress] == [
        ("tcp", (80, 80), "0.0.0.0/0", "accept"), ("all", None, "sg-web", "accept"),
        ("udp", (1000, 2000), "10.9.0.1/32", "drop")]
    assert web.egress == [] and a.security_groups["sg-empty"].ingress == []
    assert web.ingress[0].line == 19  # BASE starts with a blank line
    acl = a.network_acls["acl-app"]
    assert acl.subnets == ["app"] and acl.inbound == []
    assert acl.outbound == [FilterRule("tcp", (1024, 65535), "10.1.0.0/16", "accept")]
    assert a.acl_of("app") is acl and a.acl_of("priv") is None
    assert a.nat_gateways["nat-1"].eip == ipaddress.IPv4Address("203.0.113.20")
    cvm = a.instances["cvm-1"]
    assert cvm.security_groups == ["sg-web", "sg-empty"] and cvm.eip == ipaddress.IPv4Address("203.0.113.10")
    assert a.instances["cvm-2"].eip is None
    assert [(str(r.destination), r.next_hop) for r in a.route_tables["out"].routes] == [("0.0.0.0/0", "nat-1")]
    # EIPs and a NAT gateway without an `internet:` key: the lab's Internet with the default range, no hosts
    assert lab.internet is not None and lab.internet.cidr == DEFAULT_INTERNET_CIDR and lab.internet.hosts == {}


def test_internet_key_and_public_expectations():
    text = BASE.replace("lab: two\n", "lab: two\ninternet:\n  cidr: 198.18.0.0/15\n  hosts:\n"
                        "    web: {ip: 198.18.0.200, ports: [80, 443]}\n    dns: {ip: 198.18.0.53}\n")
    text = text.replace("203.0.113.", "198.18.0.")
    text += ("expect:\n  - {from: vpc-a/cvm-2, to: internet/web, proto: tcp, port: 80}\n"
             "  - {from: vpc-a/cvm-2, to: 198.18.0.10}\n")
    lab = loader.loads(text, "t.yaml")
    assert lab.internet.cidr == ipaddress.IPv4Network("198.18.0.0/15")
    assert lab.internet.hosts["web"].ports == [80, 443] and lab.internet.hosts["dns"].ports == []
    assert lab.internet.hosts["web"].ref == "internet/web"
    assert [e.dst for e in lab.expectations] == ["internet/web", "198.18.0.10"]


def test_an_address_outside_every_range_is_still_refused_as_a_destination():
    with pytest.raises(TopologyInvalid) as e:
        loader.loads(BASE + "expect:\n  - {from: vpc-a/cvm-2, to: 8.8.8.8}\n", "t.yaml")
    assert [p.code for p in e.value.problems] == ["InvalidParameterValue"]


def test_a_nat_gateway_named_like_a_peering_is_not_a_second_problem():
    text = BASE.replace("nat-1: {eip: 203.0.113.20}", "nat-1: {eip: nope}")
    with pytest.raises(TopologyInvalid) as e:
        loader.loads(text, "t.yaml")
    assert [p.code for p in e.value.problems] == ["InvalidParameterValue.Malformed"]  # not also the route


# ---- fuzz: random values in every field of a rule, an EIP, a gateway and the Internet ----------

VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 40, 2 ** 40), st.floats(), st.text(max_size=10),
                   st.sampled_from(["tcp", "udp", "icmp", "all", "TCP", "80", "80-90", "90-80", "0", "65536",
                                    "1-65535", "all", " 22 ", "1--2", "-5", "10.0.0.0/8", "0.0.0.0/0", "sg-web",
                                    "sg-b", "203.0.113.10", "10.0.0.1/8", "accept", "drop", "allow", "nat-1",
                                    "internet/web", "203.0.113.0/24", "10.0.0.0/16", "a" * 300]),
                   st.lists(st.integers(-5, 70000), max_size=3), st.dictionaries(st.text(max_size=3),
                                                                                 st.integers(), max_size=2))
RULE = st.dictionaries(st.sampled_from(["proto", "port", "source", "destination", "action", "other"]), VALUES,
                       max_size=6)


@FUZZ
@given(st.lists(RULE, max_size=4), st.lists(RULE, max_size=4), VALUES, VALUES, VALUES, VALUES)
def test_fuzz_rule_fields(ingress, outbound, eip, nat, cidr, groups):
    doc = yaml.safe_load(BASE)
    a = doc["vpcs"]["vpc-a"]
    a["security_groups"]["sg-web"]["ingress"] = ingress
    a["network_acls"]["acl-app"]["outbound"] = outbound
    a["instances"]["cvm-1"]["eip"] = eip
    a["instances"]["cvm-1"]["security_groups"] = groups
    a["nat_gateways"]["nat-1"]["eip"] = nat
    doc["internet"] = {"cidr": cidr, "hosts": {"web": {"ip": eip, "ports": nat}}}
    doc["vpcs"]["vpc-b"] = {"region": "ap-guangzhou", "cidr": "10.1.0.0/16", "security_groups": {"sg-b": None}}
    check(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))


def test_a_peering_cannot_be_created_under_a_nat_gateways_name():
    """Live too: a route's next hop must name one thing (found by review)."""
    from vpclab.errors import Refused
    from vpclab.model import lifecycle

    lab = loader.load(str(Path(__file__).resolve().parents[3] / "topologies" / "06-internet-vs-peering.yaml"))
    with pytest.raises(Refused) as e:
        lifecycle.create(lab, "vpc-b", "vpc-c", name="nat-a")
    assert e.value.code == "InvalidParameterValue.Duplicate" and "NAT gateway of vpc-a" in str(e.value)
    assert "nat-a" not in lab.peerings


@pytest.mark.parametrize("name", ["vpc-a", "vpc-b"])
def test_a_nat_gateway_may_not_be_named_like_a_vpc(name):
    """Issue 19 #14: a gateway named vpc-b made explain print `vpc-a -> vpc-b -> internet`, which
    reads as passing through vpc-b's router. Its own VPC's name or another's: both refused."""
    text = BASE.replace("nat-1", name) + "  vpc-b:\n    region: ap-guangzhou\n    cidr: 10.1.0.0/16\n"
    with pytest.raises(TopologyInvalid) as e:
        loader.loads(text, "t.yaml")
    line = next(n for n, t in enumerate(text.splitlines(), 1) if t.strip().startswith(f"{name}: {{eip:"))
    assert [(p.code, p.line) for p in e.value.problems] == [("InvalidParameterValue.Duplicate", line)]
    assert f"NAT gateway vpc-a/{name}: {name} is also the name of a VPC" in e.value.problems[0].message
