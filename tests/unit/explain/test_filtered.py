"""`explain` with security groups, network ACLs, EIPs, NAT gateways and the Internet.

Every expectation below was worked out by hand from CLOUD-RULES.md / TOPOLOGY.md version 2
(the decision order to the Internet, stateful groups, stateless ACLs), not read off explain.
"""
from __future__ import annotations

import copy
import itertools
from pathlib import Path

import pytest
import yaml

from topobuild import load, peer, topo, vpc
from vpclab import explain as analyze
from vpclab.topology import load as loader
from vpclab.errors import Refused
from vpclab.model import lifecycle

ROOT = Path(__file__).resolve().parents[3]
A, B = "vpc-a/cvm-1", "vpc-b/cvm-1"
ALL_OUT = [{"proto": "all", "destination": "0.0.0.0/0", "action": "accept"}]


def peered(a_extra=None, b_extra=None, **kw):
    """vpc-a 10.0/16 and vpc-b 10.1/16, peered by pcx-ab with routes both ways."""
    a = vpc(0, routes=[("10.1.0.0/16", "pcx-ab")])
    b = vpc(1, routes=[("10.0.0.0/16", "pcx-ab")])
    a.update(copy.deepcopy(a_extra or {}))
    b.update(copy.deepcopy(b_extra or {}))
    return topo({"vpc-a": a, "vpc-b": b}, {"pcx-ab": peer("vpc-a", "vpc-b")}, **kw)


def ex(lab, src, dst, proto="icmp", port=None) -> dict:
    return analyze.explain(lab, src, dst, proto, port).to_json()


def why(doc):
    r = doc["reason"]
    return r["code"], r["where"], r.get("group") or r.get("acl"), r.get("direction"), r.get("rule")


# ---- security groups ----------------------------------------------------------------------------------


def web_group(egress=ALL_OUT):
    return {"security_groups": {"sg-web": {
        "ingress": [{"proto": "tcp", "port": 80, "source": "10.1.0.0/16", "action": "accept"}],
        "egress": egress}}}


def with_group(extra, inst="cvm-1", groups=("sg-web",), n=0):
    extra = copy.deepcopy(extra)
    extra["instances"] = {inst: {"subnet": "app", "ip": f"10.{n}.1.10", "security_groups": list(groups)}}
    return extra


def test_a_group_allowing_tcp_80_but_not_icmp_from_the_peer():
    lab = load(peered(with_group(web_group())))
    tcp = ex(lab, B, A, "tcp", 80)
    assert tcp["result"] == "reachable"  # the SYN is accepted (a cvm answers RST: a reply)
    assert tcp["seen_source"] == "10.1.1.10"  # over the peering: the private address
    ping = ex(lab, B, A)
    assert ping["result"] == "unreachable"
    assert why(ping) == ("SECURITY_GROUP_DENY", "vpc-a/cvm-1", "sg-web", "ingress", None)
    assert ping["forward"]["path"] == [B, "vpc-b", "pcx-ab", "vpc-a", A]
    assert ex(lab, B, A, "tcp", 22)["reason"]["code"] == "SECURITY_GROUP_DENY"
    # outward, the egress rules decide; the peer's reply passes (stateful)
    assert ex(lab, A, B)["result"] == "reachable"


def test_stateful_reply_passes_an_empty_egress_and_a_named_drop_rule_is_cited():
    g = web_group(egress=[])
    g["security_groups"]["sg-web"]["ingress"].insert(0, {"proto": "icmp", "source": "10.1.1.10/32",
                                                         "action": "drop"})
    lab = load(peered(with_group(g)))
    assert ex(lab, B, A, "tcp", 80)["result"] == "reachable"  # the reply is not checked against egress
    out = ex(lab, A, B)
    assert why(out) == ("SECURITY_GROUP_DENY", "vpc-a/cvm-1", "sg-web", "egress", None)
    assert out["forward"] == {"delivered": False, "last_hop": A, "path": [A]}
    assert why(ex(lab, B, A)) == ("SECURITY_GROUP_DENY", "vpc-a/cvm-1", "sg-web", "ingress", 0)


def test_a_group_source_means_its_members_and_groups_are_one_list_in_order():
    a = {"security_groups": {
        "sg-ping": {"ingress": [{"proto": "icmp", "source": "sg-ping", "action": "accept"}], "egress": ALL_OUT},
        "sg-deny": {"ingress": [{"proto": "all", "source": "0.0.0.0/0", "action": "drop"}], "egress": ALL_OUT}},
        "instances": {"cvm-1": {"subnet": "app", "ip": "10.0.1.10", "security_groups": ["sg-ping", "sg-deny"]},
                      "cvm-2": {"subnet": "app", "ip": "10.0.1.11", "security_groups": ["sg-ping"]},
                      "cvm-3": {"subnet": "app", "ip": "10.0.1.12"}}}
    lab = load(peered(a))
    assert ex(lab, "vpc-a/cvm-2", A)["result"] == "reachable"  # a member: sg-ping rule 0 accepts first
    assert why(ex(lab, "vpc-a/cvm-3", A)) == ("SECURITY_GROUP_DENY", A, "sg-deny", "ingress", 0)
    assert why(ex(lab, B, A)) == ("SECURITY_GROUP_DENY", A, "sg-deny", "ingress", 0)
    assert ex(lab, "vpc-a/cvm-3", "vpc-a/cvm-2")["result"] == "unreachable"  # no match in sg-ping: drop
    assert ex(lab, "vpc-a/cvm-3", "vpc-a/cvm-2")["reason"]["rule"] is None


# ---- network ACLs -----------------------------------------------------------------------------------


def acl(inbound, outbound, subnets=("app",)):
    return {"network_acls": {"acl-app": {"subnets": list(subnets), "inbound": inbound, "outbound": outbound}}}


IN_ALL = [{"proto": "all", "source": "0.0.0.0/0", "action": "accept"}]


def test_an_acl_without_a_reply_rule_gives_no_return():
    lab = load(peered(acl(IN_ALL, [])))
    doc = ex(lab, B, A)
    assert doc["result"] == "no-return"
    assert why(doc) == ("NETWORK_ACL_DENY", "vpc-a/app", "acl-app", "outbound", None)
    assert doc["forward"]["delivered"] and doc["return"] == {"delivered": False, "last_hop": "vpc-a",
                                                             "path": [A, "vpc-a"]}
    # the other way the request itself leaves through `outbound`: dropped on the way out
    assert why(ex(lab, A, B))[:4] == ("NETWORK_ACL_DENY", "vpc-a/app", "acl-app", "outbound")
    assert ex(lab, A, B)["result"] == "unreachable"


def test_a_reply_rule_must_cover_the_ephemeral_ports():
    narrow = load(peered(acl(IN_ALL, [{"proto": "tcp", "port": 80, "destination": "10.1.0.0/16",
                                       "action": "accept"}])))
    assert ex(narrow, B, A, "tcp", 80)["result"] == "no-return"  # the reply goes to port 32768+, not 80
    wide = load(peered(acl(IN_ALL, [{"proto": "tcp", "port": "1024-65535", "destination": "10.1.0.0/16",
                                     "action": "accept"}])))
    assert ex(wide, B, A, "tcp", 80)["result"] == "reachable"
    assert ex(wide, B, A)["result"] == "no-return"  # icmp has no rule out


def reply_lab(outbound):
    return load(peered(acl(IN_ALL, outbound)))


OUT_ALL = {"proto": "all", "destination": "0.0.0.0/0", "action": "accept"}


@pytest.mark.parametrize("outbound, rule, lost", [
    # a drop rule over the high ports before an accept-all: only those replies are lost
    ([{"proto": "tcp", "port": "50000-65535", "destination": "0.0.0.0/0", "action": "drop"}, OUT_ALL],
     0, (50000, 65535)),
    # an accept over Linux's ephemeral ports only: the replies to 61000-65535 match nothing
    ([{"proto": "tcp", "port": "32768-60999", "destination": "10.1.0.0/16", "action": "accept"}],
     None, (61000, 65535)),
    # two accepts that leave a hole between them: the hole is lost
    ([{"proto": "tcp", "port": "32768-40000", "destination": "10.1.0.0/16", "action": "accept"},
      {"proto": "tcp", "port": "40100-65535", "destination": "10.1.0.0/16", "action": "accept"}],
     None, (40001, 40099)),
    # a drop after accepts that cover everything is never reached
    ([{"proto": "tcp", "port": "1024-40000", "destination": "10.1.0.0/16", "action": "accept"},
      {"proto": "tcp", "port": "40001-65535", "destination": "10.1.0.0/16", "action": "accept"},
      {"proto": "tcp", "port": "32768-65535", "destination": "0.0.0.0/0", "action": "drop"}],
     "passes", None),
])
def test_a_reply_rule_covering_part_of_the_ephemeral_ports_loses_those_replies(outbound, rule, lost):
    lab = reply_lab(outbound)
    v = analyze.explain(lab, B, A, "tcp", 80)
    if rule == "passes":
        assert v.result == "reachable", v.to_json()
        return
    assert v.result == "no-return"
    assert (v.reason.code, v.reason.direction, v.reason.rule, v.reason.ports) == (
        "NETWORK_ACL_DENY", "outbound", rule, lost)
    assert f"ports {lost[0]}-{lost[1]}" in v.reason.detail
    assert "ports" not in v.reason.to_json()  # the JSON keeps its shape


def test_a_probe_sends_from_a_port_whose_reply_the_acl_drops():
    from vpclab.controller import targets
    from vpclab.probe.types import CRAFTED_PORTS

    lost_high = analyze.explain(reply_lab([{"proto": "tcp", "port": "50000-65535", "destination": "0.0.0.0/0",
                                            "action": "drop"}, OUT_ALL]), B, A, "tcp", 80)
    assert targets.reply_ports(lost_high) == CRAFTED_PORTS  # the crafted probes' own ports are among them
    lost_low = analyze.explain(reply_lab([{"proto": "tcp", "port": "32768-40000", "destination": "0.0.0.0/0",
                                           "action": "drop"}, OUT_ALL]), B, A, "tcp", 80)
    assert targets.reply_ports(lost_low) == (32768, 40000)
    everything = analyze.explain(reply_lab([]), B, A, "tcp", 80)  # no reply rule at all: any port shows it
    assert everything.result == "no-return" and targets.reply_ports(everything) is None
    assert targets.reply_ports(analyze.explain(reply_lab([OUT_ALL]), B, A, "tcp", 80)) is None


def test_an_acl_drop_rule_is_cited_inbound_and_traffic_inside_a_subnet_is_not_filtered():
    a = acl([{"proto": "icmp", "source": "10.1.0.0/16", "action": "drop"}] + IN_ALL, [])
    a["instances"] = {"cvm-1": {"subnet": "app", "ip": "10.0.1.10"}, "cvm-2": {"subnet": "app", "ip": "10.0.1.11"}}
    lab = load(peered(a))
    assert why(ex(lab, B, A)) == ("NETWORK_ACL_DENY", "vpc-a/app", "acl-app", "inbound", 0)
    assert ex(lab, "vpc-a/cvm-2", A)["result"] == "reachable"


def test_acls_between_two_subnets_of_one_vpc():
    a = acl(IN_ALL, [], subnets=["db"])
    a["subnets"] = {"app": {"cidr": "10.0.1.0/24"}, "db": {"cidr": "10.0.2.0/24"}}
    a["instances"] = {"cvm-1": {"subnet": "app", "ip": "10.0.1.10"}, "db-1": {"subnet": "db", "ip": "10.0.2.10"}}
    lab = load(peered(a))
    doc = ex(lab, A, "vpc-a/db-1")
    assert doc["result"] == "no-return" and why(doc) == ("NETWORK_ACL_DENY", "vpc-a/db", "acl-app", "outbound", None)


# ---- EIPs, NAT gateways, the Internet ---------------------------------------------------------------


def unpeered(a_extra=None, b_extra=None, **kw):
    a, b = vpc(0), vpc(1)
    a.update(copy.deepcopy(a_extra or {}))
    b.update(copy.deepcopy(b_extra or {}))
    t = topo({"vpc-a": a, "vpc-b": b}, **kw)
    t["internet"] = {"hosts": {"web": {"ip": "203.0.113.200", "ports": [80]}}}
    return t


def eip(ip, inst="cvm-1", n=0):
    return {"instances": {inst: {"subnet": "app", "ip": f"10.{n}.1.10", "eip": ip}}}


def test_two_unpeered_vpcs_reach_each_other_over_their_eips():
    lab = load(unpeered(eip("203.0.113.10"), eip("203.0.113.11", n=1)))
    doc = ex(lab, A, "203.0.113.11")
    assert doc["result"] == "reachable"
    assert doc["seen_source"] == "203.0.113.10"  # the sender's EIP, not 10.0.1.10
    assert doc["dst"] == "203.0.113.11"
    assert doc["forward"]["path"] == [A, "vpc-a", "internet", "vpc-b", B]
    assert doc["return"]["path"] == [B, "vpc-b", "internet", "vpc-a", A]
    # the private address is not routed on the Internet
    priv = ex(lab, A, B)
    assert priv["result"] == "unreachable" and priv["reason"]["code"] == "NO_ROUTE"
    assert priv["reason"]["where"] == "internet"
    # an Internet host sees the EIP too
    web = ex(lab, A, "internet/web", "tcp", 80)
    assert web["result"] == "reachable" and web["seen_source"] == "203.0.113.10"
    assert web["forward"]["path"] == [A, "vpc-a", "internet", "internet/web"]


def test_over_a_peering_the_private_address_is_seen_even_with_eips():
    t = peered(eip("203.0.113.10"), eip("203.0.113.11", n=1))
    lab = load(t)
    assert ex(lab, A, B)["seen_source"] == "10.0.1.10"
    assert ex(lab, A, "203.0.113.11")["seen_source"] == "203.0.113.10"


def test_a_private_instance_has_no_public_ip_until_its_subnet_routes_to_a_nat_gateway():
    bare = load(unpeered())
    doc = ex(bare, A, "internet/web", "tcp", 80)
    assert doc["result"] == "unreachable"
    assert doc["reason"]["code"] == "NO_PUBLIC_IP" and doc["reason"]["where"] == "vpc-a"
    natted = load(unpeered({"nat_gateways": {"nat-1": {"eip": "203.0.113.20"}},
                            "route_tables": {"default": {"routes": [
                                {"destination": "0.0.0.0/0", "next_hop": "nat-1"}]}}}))
    doc = ex(natted, A, "internet/web", "tcp", 80)
    assert doc["result"] == "reachable" and doc["seen_source"] == "203.0.113.20"
    assert doc["forward"]["path"] == [A, "vpc-a", "nat-1", "internet", "internet/web"]
    assert doc["return"]["path"] == ["internet/web", "internet", "nat-1", "vpc-a", A]
    # nothing comes in through a NAT gateway
    other = load(unpeered({"nat_gateways": {"nat-1": {"eip": "203.0.113.20"}}}, eip("203.0.113.11", n=1)))
    doc = ex(other, B, "203.0.113.20")
    assert doc["result"] == "unreachable" and doc["reason"]["code"] == "NO_ROUTE"


def test_a_route_to_the_nat_gateway_wins_over_the_eip():
    a = {"nat_gateways": {"nat-1": {"eip": "203.0.113.20"}},
         "route_tables": {"default": {"routes": [{"destination": "0.0.0.0/0", "next_hop": "nat-1"}]}}}
    a.update(eip("203.0.113.10"))
    lab = load(unpeered(a))
    assert ex(lab, A, "internet/web")["seen_source"] == "203.0.113.20"


def test_a_peer_vpc_cannot_use_the_nat_gateway_through_the_peering():
    a = {"nat_gateways": {"nat-1": {"eip": "203.0.113.20"}},
         "route_tables": {"default": {"routes": [{"destination": "0.0.0.0/0", "next_hop": "nat-1"},
                                                 {"destination": "10.1.0.0/16", "next_hop": "pcx-ab"}]}}}
    t = unpeered(a)
    t["vpcs"]["vpc-b"]["route_tables"] = {"default": {"routes": [{"destination": "10.0.0.0/16",
                                                                  "next_hop": "pcx-ab"}]}}
    t["peerings"] = {"pcx-ab": peer("vpc-a", "vpc-b")}
    lab = load(t)
    doc = ex(lab, B, "internet/web", "tcp", 80)
    assert doc["result"] == "unreachable"
    assert doc["reason"]["code"] == "NO_PUBLIC_IP" and doc["reason"]["where"] == "vpc-b"
    assert "vpc-a/nat-1" in doc["reason"]["detail"]
    assert ex(lab, A, "internet/web", "tcp", 80)["result"] == "reachable"  # vpc-a itself does use it
    assert ex(lab, B, A)["result"] == "reachable"  # and the peering still works
    # a route over the peering cannot point outside the peer's CIDR
    with pytest.raises(Refused) as e:
        lifecycle.add_route(lab, "vpc-b", "0.0.0.0/0", "pcx-ab")
    assert e.value.code == "InvalidParameterValue.VpcCidrConflict" or e.value.code.endswith("CidrNotInPeerVpc")


def test_a_reply_to_a_peer_that_falls_on_the_nat_route_is_no_return():
    a = {"nat_gateways": {"nat-1": {"eip": "203.0.113.20"}},
         "route_tables": {"default": {"routes": [{"destination": "0.0.0.0/0", "next_hop": "nat-1"}]}}}
    t = unpeered(a)
    t["vpcs"]["vpc-b"]["route_tables"] = {"default": {"routes": [{"destination": "10.0.0.0/16",
                                                                  "next_hop": "pcx-ab"}]}}
    t["peerings"] = {"pcx-ab": peer("vpc-a", "vpc-b")}
    doc = ex(load(t), B, A)
    assert doc["result"] == "no-return" and doc["reason"]["code"] == "NO_ROUTE"
    assert doc["reason"]["where"] == "vpc-a" and "nat-1" in doc["reason"]["detail"]


def test_filters_apply_to_traffic_that_came_through_an_eip():
    a = eip("203.0.113.10")
    a["instances"]["cvm-1"]["security_groups"] = ["sg-web"]
    a["security_groups"] = {"sg-web": {"ingress": [{"proto": "tcp", "port": 80, "source": "0.0.0.0/0",
                                                    "action": "accept"}], "egress": ALL_OUT}}
    a.update(acl(IN_ALL, [{"proto": "tcp", "port": "1024-65535", "destination": "0.0.0.0/0", "action": "accept"}]))
    lab = load(unpeered(a, eip("203.0.113.11", n=1)))
    assert ex(lab, B, "203.0.113.10", "tcp", 80)["result"] == "reachable"
    ping = ex(lab, B, "203.0.113.10")
    assert why(ping) == ("SECURITY_GROUP_DENY", A, "sg-web", "ingress", None)
    # and an Internet host as the source (explain only)
    doc = ex(lab, "internet/web", "203.0.113.10", "tcp", 80)
    assert doc["result"] == "reachable" and doc["seen_source"] == "203.0.113.200"
    assert doc["forward"]["path"] == ["internet/web", "internet", "vpc-a", A]


# ---- version 1 meaning: the version-2 walk agrees with the version-1 walk ----------------------------------


V1 = sorted(p for p in (ROOT / "topologies").glob("*.yaml") if p.name[:2] < "06")


@pytest.mark.parametrize("path", V1, ids=lambda p: p.name)
def test_the_v2_walk_gives_version_1_answers_on_version_1_labs(path):
    """An empty `internet:` sends a version-1 lab through the version-2 walk: same verdicts."""
    old = loader.load(path)
    doc = yaml.safe_load(path.read_text())
    doc["internet"] = {"cidr": "198.18.0.0/15"}
    new = loader.loads(yaml.safe_dump(doc), str(path))
    assert new.internet is not None
    refs = [i.ref for i in old.instances()]
    for s, d in itertools.permutations(refs, 2):
        for proto, port in (("icmp", None), ("tcp", 3306)):
            a = analyze.explain(old, s, d, proto, port).to_json()
            b = analyze.explain(new, s, d, proto, port).to_json()
            assert a == b, (s, d, proto)  # seen_source too: both walks say it (issue 19)


# ---- the shipped version-2 topologies: their `expect:` lists were worked out by hand -------------------


@pytest.mark.parametrize("name", ["06-internet-vs-peering.yaml", "07-security-groups.yaml"])
def test_shipped_v2_topologies_meet_their_expectations(name):
    lab = loader.load(ROOT / "topologies" / name)
    assert len(lab.expectations) >= 10
    for e in lab.expectations:
        assert analyze.explain(lab, e.src, e.dst, e.proto, e.port).result == e.result, (e.src, e.dst, e.proto)


def test_internet_vs_peering_sources_and_reasons():
    lab = loader.load(ROOT / "topologies" / "06-internet-vs-peering.yaml")
    seen = {(s, d): analyze.explain(lab, s, d).seen_source for s, d in [
        ("vpc-a/web-a", "vpc-b/cvm-b"), ("vpc-a/web-a", "203.0.113.30"), ("vpc-a/job-a", "203.0.113.30"),
        ("vpc-a/job-a", "vpc-b/cvm-b")]}
    assert seen == {("vpc-a/web-a", "vpc-b/cvm-b"): "10.0.1.10", ("vpc-a/web-a", "203.0.113.30"): "203.0.113.10",
                    ("vpc-a/job-a", "203.0.113.30"): "203.0.113.20", ("vpc-a/job-a", "vpc-b/cvm-b"): "10.0.2.10"}
    v = analyze.explain(lab, "vpc-b/cvm-b", "internet/web", "tcp", 80)
    assert (v.reason.code, v.reason.where) == ("NO_PUBLIC_IP", "vpc-b") and "vpc-a/nat-a" in v.reason.detail


def test_security_groups_reasons_name_group_acl_direction_and_rule():
    lab = loader.load(ROOT / "topologies" / "07-security-groups.yaml")

    def r(s, d, proto="icmp", port=None):
        x = analyze.explain(lab, s, d, proto, port).reason
        return x.code, x.where, x.group or x.acl, x.direction, x.rule

    assert r("vpc-b/cvm-b", "vpc-a/web-1") == ("SECURITY_GROUP_DENY", "vpc-a/web-1", "sg-web", "ingress", None)
    assert r("vpc-a/web-1", "vpc-a/db-1") == ("NETWORK_ACL_DENY", "vpc-a/db", "acl-db", "outbound", None)
    assert r("vpc-b/cvm-b", "vpc-a/db-1", "tcp", 3306) == ("NETWORK_ACL_DENY", "vpc-a/db", "acl-db", "inbound", None)
    assert r("vpc-a/db-1", "vpc-b/cvm-b") == ("SECURITY_GROUP_DENY", "vpc-a/db-1", "sg-db", "egress", None)
    doc = analyze.explain(lab, "vpc-b/cvm-b", "vpc-a/web-1").to_json()["reason"]
    assert doc["group"] == "sg-web" and doc["direction"] == "ingress" and doc["rule"] is None and "acl" not in doc


def test_an_internet_host_as_the_source_and_its_own_address_is_refused():
    from vpclab.controller import explaining, static

    path = str(ROOT / "topologies" / "06-internet-vs-peering.yaml")
    v = explaining.explain("internet/web", "203.0.113.10", file=path)
    assert v.result == "reachable" and v.seen_source == "203.0.113.200"
    for dst in ("internet/web", "203.0.113.200"):
        with pytest.raises(Refused) as e:
            explaining.explain("internet/web", dst, file=path)
        assert e.value.code == "InvalidParameterValue"
    with pytest.raises(Refused) as e:  # only when asked to (targets.target does, with a host's address)
        static.check_ends(loader.load(path), "vpc-a/web-a", "internet/web")
    assert e.value.code == "InstanceNotFound"


def test_public_destinations_for_a_matrix():
    from vpclab.explain.filtered import public_destinations

    lab = loader.load(ROOT / "topologies" / "06-internet-vs-peering.yaml")
    assert public_destinations(lab) == ["internet/web", "203.0.113.10", "203.0.113.30"]
    assert public_destinations(loader.load(ROOT / "topologies" / "01-two-vpcs.yaml")) == []


def test_a_reply_leaving_by_its_eip_meets_the_subnet_acl_before_the_internet():
    """Found by the 200-example differential: v2 has no route back to v3, so cvm-1's reply to
    v3's private address leaves by its EIP toward the Internet; the kernel's ACL at the subnet
    boundary drops it first (outbound, no rule matched), as it does for a request."""
    from vpclab import explain as analyze
    from vpclab.topology.load import loads

    lab = loads("""
lab: order
regions: {r1: {}}
internet: {cidr: 203.0.113.0/24}
vpcs:
  v2:
    region: r1
    cidr: 10.205.0.0/16
    subnets: {app: {cidr: 10.205.1.0/24}}
    network_acls:
      acl-1:
        subnets: [app]
        inbound: [{proto: all, source: 10.201.0.0/16, action: accept}]
        outbound: [{proto: icmp, destination: 203.0.113.0/24, action: drop}]
    instances: {cvm-1: {subnet: app, ip: 10.205.1.10, eip: 203.0.113.11}}
  v3:
    region: r1
    cidr: 10.201.0.0/16
    subnets: {app: {cidr: 10.201.1.0/24}}
    route_tables: {default: {routes: [{destination: 10.205.0.0/16, next_hop: pcx-v2-v3}]}}
    instances: {cvm-1: {subnet: app, ip: 10.201.1.10}}
peerings:
  pcx-v2-v3: {vpc: v2, peer_vpc: v3}
""")
    v = analyze.explain(lab, "v3/cvm-1", "v2/cvm-1", "icmp", None)
    assert v.result == "no-return"
    assert v.reason.code == "NETWORK_ACL_DENY" and v.reason.direction == "outbound" and v.reason.rule is None
