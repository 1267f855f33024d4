"""The version-2 model (security groups, ACLs, NAT gateways, EIPs, the Internet) survives the state store."""
import ipaddress
import json

import pytest

from vpclab.topology.load import loads
from vpclab.model.codec import BadModel, lab_from_dict, lab_to_dict
from vpclab.model.filters import FilterRule, Internet, InternetHost, NatGateway, NetworkAcl, SecurityGroup

V1 = """
lab: codec
vpcs:
  vpc-a:
    region: r1
    cidr: 10.0.0.0/16
    subnets: {app: {cidr: 10.0.1.0/24}}
    instances: {cvm-1: {subnet: app}}
"""


def _v2_lab():
    lab = loads(V1)
    v = lab.vpcs["vpc-a"]
    v.security_groups["sg-web"] = SecurityGroup("sg-web", "vpc-a", [FilterRule("tcp", (80, 81), "0.0.0.0/0", "accept")],
                                                [FilterRule("all", None, "sg-web", "drop")])
    v.network_acls["acl-app"] = NetworkAcl("acl-app", "vpc-a", ["app"], [FilterRule("icmp", None, "10.1.0.0/16")], [])
    v.nat_gateways["nat-1"] = NatGateway("nat-1", "vpc-a", ipaddress.ip_address("203.0.113.20"))
    inst = v.instances["cvm-1"]
    inst.security_groups = ["sg-web"]
    inst.eip = ipaddress.ip_address("203.0.113.10")
    lab.internet = Internet(hosts={"web": InternetHost("web", ipaddress.ip_address("203.0.113.200"), [80, 443])})
    return lab


def test_v2_model_round_trips():
    lab = _v2_lab()
    again = lab_from_dict(json.loads(json.dumps(lab_to_dict(lab))))
    assert again == lab
    assert again.vpcs["vpc-a"].security_groups["sg-web"].ingress[0].ports == (80, 81)
    assert again.internet.hosts["web"].ip == ipaddress.ip_address("203.0.113.200")


def test_state_written_before_v2_reads_as_unfiltered():
    d = lab_to_dict(loads(V1))
    for v in d["vpcs"]:
        for key in ("security_groups", "network_acls", "nat_gateways"):
            del v[key]
        for i in v["instances"]:
            del i["security_groups"], i["eip"]
    del d["internet"]
    lab = lab_from_dict(d)
    assert lab.internet is None and lab.vpcs["vpc-a"].instances["cvm-1"].security_groups == []


@pytest.mark.parametrize("damage, words", [
    (lambda d: d["vpcs"][0]["instances"][0].__setitem__("security_groups", ["sg-nope"]), "sg-nope"),
    (lambda d: d["vpcs"][0]["security_groups"][0]["ingress"][0].__setitem__("ports", [90, 80]), "port range"),
    (lambda d: d["vpcs"][0]["network_acls"][0].__setitem__("subnets", ["db"]), "'db'"),
    (lambda d: d["vpcs"][0]["security_groups"][0]["egress"][0].__setitem__("action", "allow"), "action"),
])
def test_damaged_v2_state_is_refused(damage, words):
    d = json.loads(json.dumps(lab_to_dict(_v2_lab())))
    damage(d)
    with pytest.raises(BadModel, match=words):
        lab_from_dict(d)


def test_rule_comment_round_trips():
    from vpclab.plan.names import RuleRef
    for ref in (RuleRef("sg", "vpc-a", "sg-web", "ingress", 3), RuleRef("sg", "vpc-a", "cvm-1", "egress", None),
                RuleRef("acl", "vpc-b", "acl-app", "outbound", 0, "app"),
                RuleRef("acl", "vpc-b", "acl-app", "inbound", None, "db")):
        assert RuleRef.parse(ref.comment()) == ref
    assert RuleRef("acl", "v", "a", "inbound", None, "db").comment() == "vpclab acl v/a inbound - db"
    assert RuleRef.parse("vpclab nat v/x out 1") is None and RuleRef.parse("") is None
