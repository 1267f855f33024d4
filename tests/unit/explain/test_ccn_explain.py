"""explain through a CCN (CLOUD-RULES.md version 3): the path names the CCN and the region pair;
CCN_ROUTE_DISABLED, CCN_ATTACHMENT_NOT_ACTIVE, NOT_TRANSITIVE between peering and CCN (both
ways), NO_ROUTE for a source without a route. Expected values worked out by hand."""
from __future__ import annotations

import ipaddress

from vpclab import explain
from vpclab.model.types import Route
from vpclab.topology.load import loads

TOPO = """lab: ccnx
accounts: [alice, bob]
vpcs:
  hub: {account: alice, region: gz, cidr: 10.0.0.0/16, subnets: {a: {cidr: 10.0.0.0/20}}, instances: {c: {subnet: a}}}
  s1:
    account: alice
    region: sh
    cidr: 10.1.0.0/16
    subnets: {a: {cidr: 10.1.1.0/24}, b: {cidr: 10.1.2.0/24, route_table: pt}}
    route_tables: {default: {routes: [{destination: 10.5.0.0/16, next_hop: pcx-1}]}, pt: {}}
    instances: {c: {subnet: a}, d: {subnet: b}}
  s2: {account: alice, region: gz, cidr: 10.0.1.0/24, subnets: {a: {cidr: 10.0.1.0/24}}, instances: {c: {subnet: a}}}
  p: {account: bob, region: sh, cidr: 10.3.0.0/16, subnets: {a: {cidr: 10.3.1.0/24}}, instances: {c: {subnet: a}}}
  q:
    account: alice
    region: sh
    cidr: 10.5.0.0/16
    subnets: {a: {cidr: 10.5.1.0/24}}
    route_tables: {default: {routes: [{destination: 10.1.0.0/16, next_hop: pcx-1}]}}
    instances: {c: {subnet: a}}
peerings:
  pcx-1: {vpc: q, peer_vpc: s1}
ccns:
  ccn-core:
    attachments: [{vpc: hub}, {vpc: s1}, {vpc: p}]
"""


def ex(lab, a, b):
    return explain.explain(lab, a, b)


def test_a_path_through_the_ccn_names_it_and_the_region_pair():
    lab = loads(TOPO)
    v = ex(lab, "hub/c", "s1/c")
    assert v.result == "reachable"
    assert v.forward.path == ["hub/c", "hub", "ccn-core (gz -> sh)", "s1", "s1/c"]
    assert "ccn-core (sh -> gz)" in v.ret.path


def test_disabled_in_the_ccn_by_its_owner():
    lab = loads(TOPO + "    disabled_routes: [10.1.1.0/24@s1]\n")
    v = ex(lab, "hub/c", "s1/c")
    assert (v.result, v.reason.code, v.reason.where) == ("unreachable", "CCN_ROUTE_DISABLED", "ccn-core")
    assert "10.1.1.0/24@s1" in v.reason.detail and "disabled by the CCN's owner" in v.reason.detail
    # the reply direction: s1/d (table pt, no peering route) reaches hub; hub's reply route is fine
    assert ex(lab, "s1/d", "hub/c").result == "reachable"


def test_came_in_disabled_and_the_longest_prefix_after_enabling():
    text = TOPO.replace("[{vpc: hub}, {vpc: s1}, {vpc: p}]", "[{vpc: hub}, {vpc: s1}, {vpc: s2}]")
    v = ex(loads(text), "s1/c", "s2/c")
    # s2's 10.0.1.0/24 is inside hub's 10.0.0.0/20 (attached first): the CCN carries it to hub
    assert (v.result, v.reason.code) == ("unreachable", "CCN_ROUTE_DISABLED")
    assert "10.0.1.0/24@s2" in v.reason.detail and "inside 10.0.0.0/20@hub" in v.reason.detail
    v = ex(loads(text + "    enabled_routes: [10.0.1.0/24@s2]\n"), "s1/c", "s2/c")
    assert v.result == "reachable" and v.forward.path[2:4] == ["ccn-core (sh -> gz)", "s2"]


def test_delivered_route_disabled_in_a_table_is_named_with_the_table():
    # r publishes 10.5.1.0/24; s1/pt holds a peering route 10.5.1.128/25 inside it (q's range), so
    # the delivered route is disabled in s1/pt (not in s1/default); 10.5.1.2 then has no route there
    text = TOPO.replace("pt: {}", "pt: {routes: [{destination: 10.5.1.128/25, next_hop: pcx-1}]}").replace(
        "  q:\n", "  r: {account: alice, region: gz, cidr: 10.5.1.0/24, subnets: {a: {cidr: 10.5.1.0/24}}, "
        "instances: {c: {subnet: a}}}\n  q:\n").replace("{vpc: p}]", "{vpc: p}, {vpc: r}]")
    lab = loads(text)
    v = ex(lab, "s1/d", "r/c")
    assert (v.result, v.reason.code, v.reason.where, v.reason.table) == (
        "unreachable", "CCN_ROUTE_DISABLED", "s1", "pt")
    assert "10.5.1.0/24@r" in v.reason.detail and "10.5.1.128/25 via pcx-1" in v.reason.detail
    assert ex(lab, "hub/c", "r/c").result == "reachable"  # delivered enabled into hub's table


def test_attachment_not_active_either_end():
    lab = loads(TOPO)  # p is bob's, PENDING
    v = ex(lab, "hub/c", "p/c")
    assert (v.reason.code, v.reason.where) == ("CCN_ATTACHMENT_NOT_ACTIVE", "ccn-core")
    assert "PENDING" in v.reason.detail
    v = ex(lab, "p/c", "hub/c")
    assert v.reason.code == "CCN_ATTACHMENT_NOT_ACTIVE" and "p's attachment to ccn-core is PENDING" in v.reason.detail


def test_peered_non_member_gets_no_route_with_the_reason_in_words():
    lab = loads(TOPO)
    v = ex(lab, "q/c", "hub/c")
    assert (v.result, v.reason.code, v.reason.where) == ("unreachable", "NO_ROUTE", "q")
    assert "the CCN does not carry peering traffic" in v.reason.detail
    assert ex(lab, "q/c", "s1/c").result == "reachable"  # its peer, over the peering


def test_not_transitive_peering_to_ccn_and_ccn_to_peering():
    lab = loads(TOPO)
    # peering -> CCN: q routes hub's range over pcx-1 (a model the file rules would refuse, to
    # show the walk stops it in s1)
    lab.vpcs["q"].route_tables["default"].routes.append(Route(ipaddress.IPv4Network("10.0.0.0/20"), "pcx-1"))
    v = ex(lab, "q/c", "hub/c")
    assert (v.reason.code, v.reason.where) == ("NOT_TRANSITIVE", "s1")
    assert "ccn-core would carry it to hub" in v.reason.detail
    # CCN -> peering: hub sends q's range to the CCN, and s1 publishes it (its CIDR holds no such
    # subnet; attached first, so hub's route is the one disabled): s1 never
    # forwards CCN traffic over pcx-1
    lab = loads(TOPO.replace("[{vpc: hub}, {vpc: s1}, {vpc: p}]", "[{vpc: s1, publish: vpc-cidr}, {vpc: hub}]"))
    lab.vpcs["s1"].cidr = ipaddress.IPv4Network("10.0.0.0/8")
    lab.vpcs["hub"].route_tables["default"].routes.append(Route(ipaddress.IPv4Network("10.5.0.0/16"), "ccn-core"))
    v = ex(lab, "hub/c", "q/c")
    assert (v.reason.code, v.reason.where, v.reason.table) == ("NOT_TRANSITIVE", "s1", "ccn-ingress")
    assert "never over pcx-1" in v.reason.detail
