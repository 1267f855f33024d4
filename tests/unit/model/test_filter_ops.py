"""The live operations of version 2 on the model (no root, no kernel): `model.filter_ops`.

Each refusal carries the cloud's code of CLOUD-RULES.md version 2 and leaves the model as
it was (compared through the state codec, field by field)."""
from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from vpclab import explain as analyze
from vpclab.topology import load as loader
from vpclab.errors import Refused
from vpclab.model import filter_ops as ops
from vpclab.model.codec import lab_to_dict
from vpclab.model.filters import FilterRule

TOPO = """
lab: ops
vpcs:
  vpc-a:
    region: ap-guangzhou
    cidr: 10.0.0.0/16
    subnets:
      app: {cidr: 10.0.1.0/24}
      db: {cidr: 10.0.2.0/24}
    security_groups:
      sg-web:
        ingress:
          - {proto: tcp, port: 80, source: 10.1.0.0/16, action: accept}
        egress:
          - {proto: all, destination: 0.0.0.0/0, action: accept}
      sg-db: {}
    network_acls:
      acl-app:
        subnets: [app]
        inbound:
          - {proto: all, source: 0.0.0.0/0, action: accept}
        outbound:
          - {proto: all, destination: 0.0.0.0/0, action: accept}
      acl-db: {}
    route_tables:
      default:
        routes:
          - {destination: 10.1.0.0/16, next_hop: pcx-ab}
    instances:
      cvm-1: {subnet: app, ip: 10.0.1.10, security_groups: [sg-web]}
      db-1: {subnet: db, ip: 10.0.2.10}
  vpc-b:
    region: ap-guangzhou
    cidr: 10.1.0.0/16
    subnets:
      app: {cidr: 10.1.1.0/24}
    security_groups:
      sg-b: {}
    route_tables:
      default:
        routes:
          - {destination: 10.0.0.0/16, next_hop: pcx-ab}
    instances:
      cvm-1: {subnet: app, ip: 10.1.1.10}
peerings:
  pcx-ab: {vpc: vpc-a, peer_vpc: vpc-b}
"""
A, B = "vpc-a/cvm-1", "vpc-b/cvm-1"


@pytest.fixture
def lab():
    return loader.loads(TOPO, "ops.yaml")


def refused(lab, code, fn, *args, **kw):
    before = lab_to_dict(lab)
    with pytest.raises(Refused) as e:
        fn(lab, *args, **kw)
    assert e.value.code == code, e.value.message
    assert lab_to_dict(lab) == before  # nothing changed
    return e.value.message


def test_sg_rule_add_and_del_change_what_explain_says(lab):
    assert analyze.explain(lab, B, A).reason.code == "SECURITY_GROUP_DENY"
    c = ops.sg_rule(lab, "vpc-a/sg-web", "ingress", True, None, "icmp", None, "10.1.0.0/16", "accept")
    assert c.data["index"] == 1 and c.name == "vpc-a/sg-web"
    assert lab.vpcs["vpc-a"].security_groups["sg-web"].ingress[1] == FilterRule("icmp", None, "10.1.0.0/16",
                                                                                "accept")
    assert analyze.explain(lab, B, A).result == "reachable"
    c = ops.sg_rule(lab, "vpc-a/sg-web", "ingress", True, 0, "icmp", None, "10.1.1.10", "drop")  # first
    assert c.data["index"] == 0
    v = analyze.explain(lab, B, A)
    assert (v.reason.code, v.reason.group, v.reason.rule) == ("SECURITY_GROUP_DENY", "sg-web", 0)
    ops.sg_rule(lab, "vpc-a/sg-web", "ingress", False, 0)
    assert analyze.explain(lab, B, A).result == "reachable"
    c = ops.sg_rule(lab, "vpc-a/sg-web", "ingress", False, None, "icmp", None, "10.1.0.0/16", "accept")  # by fields
    assert c.data["index"] == 1 and len(lab.vpcs["vpc-a"].security_groups["sg-web"].ingress) == 1


def test_sg_rule_refusals(lab):
    g = "vpc-a/sg-web"
    refused(lab, "ResourceNotFound", ops.sg_rule, "vpc-a/sg-nope", "ingress", True, None, "tcp", 80, "0.0.0.0/0",
            "accept")
    refused(lab, "ResourceNotFound", ops.sg_rule, "vpc-z/sg-web", "ingress", True, None, "tcp", 80, "0.0.0.0/0",
            "accept")
    refused(lab, "UnsupportedOperation.DuplicatePolicy", ops.sg_rule, g, "ingress", True, None, "tcp", 80,
            "10.1.0.0/16", "accept")
    refused(lab, "InvalidParameterValue.Range", ops.sg_rule, g, "ingress", True, None, "icmp", 80, "10.1.0.0/16",
            "accept")
    refused(lab, "InvalidParameterValue.Range", ops.sg_rule, g, "ingress", True, None, "tcp", "90-80", "0.0.0.0/0",
            "accept")
    refused(lab, "InvalidParameterValue.Range", ops.sg_rule, g, "ingress", True, 5, "tcp", 81, "0.0.0.0/0", "accept")
    refused(lab, "InvalidParameterValue.Combination", ops.sg_rule, g, "ingress", True, None, "tcp", 81, "sg-b",
            "accept")
    refused(lab, "ResourceNotFound", ops.sg_rule, g, "ingress", True, None, "tcp", 81, "sg-zz", "accept")
    refused(lab, "InvalidParameterValue.Malformed", ops.sg_rule, g, "ingress", True, None, "tcp", 81, "10.0.0.1/8",
            "accept")
    refused(lab, "ResourceNotFound", ops.sg_rule, g, "ingress", False, None, "tcp", 22, "10.1.0.0/16", "accept")
    refused(lab, "InvalidParameterValue.Range", ops.sg_rule, g, "egress", False, 3)
    refused(lab, "MissingParameter", ops.sg_rule, g, "ingress", False)
    refused(lab, "InvalidParameterValue", ops.sg_rule, g, "inbound", True, None, "tcp", 81, "0.0.0.0/0", "accept")


def test_at_most_100_rules_per_direction(lab):
    for port in range(1, 100):  # 1 rule + 99 = 100
        ops.sg_rule(lab, "vpc-a/sg-web", "ingress", True, None, "udp", port, "0.0.0.0/0", "accept")
    assert len(lab.vpcs["vpc-a"].security_groups["sg-web"].ingress) == 100
    refused(lab, "LimitExceeded.SecurityGroupPolicySet", ops.sg_rule, "vpc-a/sg-web", "ingress", True, None, "udp",
            500, "0.0.0.0/0", "accept")


def test_attach_and_detach(lab):
    ops.sg_attach(lab, "vpc-a/db-1", "sg-db")
    assert lab.instance("vpc-a/db-1").security_groups == ["sg-db"]
    assert analyze.explain(lab, A, "vpc-a/db-1").reason.code == "SECURITY_GROUP_DENY"  # an empty group drops all
    refused(lab, "InvalidParameterValue.Duplicate", ops.sg_attach, "vpc-a/db-1", "sg-db")
    refused(lab, "InvalidParameterValue.Combination", ops.sg_attach, "vpc-a/db-1", "sg-b")
    refused(lab, "ResourceNotFound", ops.sg_attach, "vpc-a/db-1", "sg-zz")
    refused(lab, "ResourceNotFound", ops.sg_attach, "vpc-a/db-9", "sg-db")
    ops.sg_detach(lab, "vpc-a/db-1", "sg-db")
    assert lab.instance("vpc-a/db-1").security_groups == []
    assert analyze.explain(lab, A, "vpc-a/db-1").result == "reachable"  # not filtered again
    refused(lab, "ResourceNotFound", ops.sg_detach, "vpc-a/db-1", "sg-db")


def test_acl_rules_and_bindings(lab):
    assert analyze.explain(lab, B, "vpc-a/db-1").result == "reachable"
    ops.acl_bind(lab, "vpc-a/acl-db", "db")
    v = analyze.explain(lab, B, "vpc-a/db-1")
    assert (v.result, v.reason.code, v.reason.acl, v.reason.direction) == ("unreachable", "NETWORK_ACL_DENY",
                                                                           "acl-db", "inbound")
    refused(lab, "InvalidParameterValue.Duplicate", ops.acl_bind, "vpc-a/acl-app", "db")
    refused(lab, "InvalidParameterValue.Duplicate", ops.acl_bind, "vpc-a/acl-db", "db")
    refused(lab, "ResourceNotFound", ops.acl_bind, "vpc-a/acl-db", "web")
    refused(lab, "ResourceNotFound", ops.acl_unbind, "vpc-a/acl-app", "db")
    ops.acl_unbind(lab, "vpc-a/acl-db", "db")
    # without its outbound rule acl-app lets requests in and no reply out: no-return
    ops.acl_rule(lab, "vpc-a/acl-app", "outbound", False, None, "all", None, "0.0.0.0/0", "accept")
    ops.sg_detach(lab, A, "sg-web")
    v = analyze.explain(lab, B, A)
    assert (v.result, v.reason.code, v.reason.direction, v.reason.rule) == ("no-return", "NETWORK_ACL_DENY",
                                                                            "outbound", None)
    ops.acl_rule(lab, "vpc-a/acl-app", "outbound", True, None, "icmp", None, "10.1.0.0/16", "accept")
    assert analyze.explain(lab, B, A).result == "reachable"
    refused(lab, "InvalidParameterValue.Malformed", ops.acl_rule, "vpc-a/acl-app", "outbound", True, None, "tcp",
            80, "sg-web", "accept")
    refused(lab, "InvalidParameterValue", ops.acl_rule, "vpc-a/acl-app", "egress", True, None, "tcp", 80,
            "0.0.0.0/0", "accept")
    refused(lab, "ResourceNotFound", ops.acl_rule, "vpc-a/acl-zz", "outbound", True, None, "tcp", 80, "0.0.0.0/0",
            "accept")
    ops.acl_rule(lab, "vpc-a/acl-app", "outbound", False, 0)
    assert lab.vpcs["vpc-a"].network_acls["acl-app"].outbound == []


def test_eips(lab):
    assert lab.internet is None
    c = ops.eip_associate(lab, A)  # a version-1 lab gets the default Internet with its first EIP
    assert lab.internet is not None and str(lab.internet.cidr) == "203.0.113.0/24"
    assert c.data["eip"] == "203.0.113.1"
    ops.eip_associate(lab, B, "203.0.113.11")
    assert lab.instance(B).eip == ipaddress.IPv4Address("203.0.113.11")
    refused(lab, "InvalidInstanceId.AlreadyBindEip", ops.eip_associate, A, "203.0.113.12")
    refused(lab, "InvalidParameterValue.Duplicate", ops.eip_associate, "vpc-a/db-1", "203.0.113.11")
    refused(lab, "InvalidParameterValue.AddressIpNotInRange", ops.eip_associate, "vpc-a/db-1", "198.51.100.1")
    refused(lab, "InvalidParameterValue.AddressIpNotInRange", ops.eip_associate, "vpc-a/db-1", "203.0.113.255")
    refused(lab, "InvalidParameterValue.Malformed", ops.eip_associate, "vpc-a/db-1", "nope")
    refused(lab, "ResourceNotFound", ops.eip_disassociate, "vpc-a/db-1")
    refused(lab, "ResourceNotFound", ops.eip_disassociate, A, "203.0.113.99")
    ops.eip_disassociate(lab, B)
    assert lab.instance(B).eip is None


def test_an_eip_on_a_lab_whose_vpc_overlaps_the_default_range_is_refused():
    lab = loader.loads(TOPO.replace("10.1.0.0/16", "203.0.0.0/16").replace("10.1.1.0/24", "203.0.113.0/24")
                       .replace("10.1.1.10", "203.0.113.10"), "o.yaml")
    refused(lab, "InvalidParameterValue.Conflict", ops.eip_associate, A)


# ---- fuzz: whatever a caller passes, an operation succeeds or is Refused (never another exception) ------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

ANY = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.text(max_size=12), st.floats(),
                st.sampled_from(["vpc-a/sg-web", "vpc-a/acl-app", "vpc-a/cvm-1", "vpc-b/cvm-1", "ingress", "egress",
                                 "inbound", "outbound", "tcp", "icmp", "all", "80", "1-2", "65535-1", "all",
                                 "10.1.0.0/16", "sg-web", "sg-b", "accept", "drop", "203.0.113.9", "app", "db",
                                 "a/b/c", "/", ""]),
                st.lists(st.integers(), max_size=2))
OPS = [(ops.sg_rule, 8), (ops.acl_rule, 8), (ops.sg_attach, 2), (ops.sg_detach, 2), (ops.acl_bind, 2),
       (ops.acl_unbind, 2), (ops.eip_associate, 2), (ops.eip_disassociate, 2)]


@settings(max_examples=int(__import__("os").environ.get("VPCLAB_FUZZ_EXAMPLES", "300")), deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(range(len(OPS))), st.lists(ANY, min_size=8, max_size=8))
def test_fuzz_operations_succeed_or_refuse(which, args):
    lab = loader.loads(TOPO, "ops.yaml")
    op, n = OPS[which]
    before = lab_to_dict(lab)
    try:
        op(lab, *args[:n])
    except Refused:
        assert lab_to_dict(lab) == before
    else:
        loader.rules.validate(lab)  # what was accepted is still a valid lab
        from vpclab.model import filter_rules
        assert filter_rules.validate(lab) == []


def test_route_add_to_a_nat_gateway_live_and_its_state():
    from vpclab.model import lifecycle

    lab = loader.load(Path(__file__).resolve().parents[3] / "topologies" / "06-internet-vs-peering.yaml")
    r = lifecycle.add_route(lab, "vpc-a", "198.51.100.0/24", "nat-a")
    assert lifecycle.route_state(lab, r) == "active"
    assert analyze.explain(lab, "vpc-a/web-a", "internet/web").seen_source == "203.0.113.10"  # not that range
    refused(lab, "InvalidParameterValue.RouteNextHopInvalid", lifecycle.add_route, "vpc-b", "0.0.0.0/0", "nat-a")
    refused(lab, "InvalidParameterValue.VpcCidrConflict", lifecycle.add_route, "vpc-a", "10.0.9.0/24", "nat-a")
    refused(lab, "InvalidParameterValue.Duplicate", lifecycle.add_route, "vpc-a", "198.51.100.0/24", "nat-a")
    lifecycle.add_route(lab, "vpc-a", "0.0.0.0/0", "nat-a")  # now web-a's Internet traffic takes the gateway
    assert analyze.explain(lab, "vpc-a/web-a", "internet/web").seen_source == "203.0.113.20"
