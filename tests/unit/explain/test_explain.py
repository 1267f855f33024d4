"""`analyze.explain` verdicts, checked by hand against CLOUD-RULES.md "Data-plane rules".

Every expected path below was worked out on paper from the topology: the source
instance, its VPC router, the peering, the peer VPC's router, the destination.
"""
from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from topobuild import load, peer, topo, two_vpcs, vpc
from vpclab import explain as analyze
from vpclab.topology import load as loader
from vpclab.model import lifecycle

TOPOLOGIES = Path(__file__).resolve().parents[3] / "topologies"

A, B = "vpc-a/cvm-1", "vpc-b/cvm-1"
A_TO_B = [A, "vpc-a", "pcx-ab", "vpc-b", B]
B_TO_A = [B, "vpc-b", "pcx-ab", "vpc-a", A]

TOP_KEYS = {"src", "dst", "proto", "port", "result", "forward", "return", "reason", "rtt_ms", "seen_source"}
LEG_KEYS = {"delivered", "last_hop", "path"}
REASON_KEYS = {"code", "where", "table", "detail"}


def shipped(name: str):
    return loader.load(TOPOLOGIES / name)


def explain(lab, src, dst, proto="icmp", port=None) -> dict:
    """The verdict as CLI.md's JSON, after checking the JSON has exactly CLI.md's keys."""
    v = analyze.explain(lab, src, dst, proto, port)
    doc = v.to_json()
    assert set(doc) - {"note"} == TOP_KEYS
    assert ("note" in doc) == (v.note is not None)
    assert set(doc["forward"]) == LEG_KEYS and set(doc["return"]) == LEG_KEYS
    assert set(doc["reason"]) == REASON_KEYS
    assert doc["result"] in ("reachable", "no-return", "unreachable")
    assert doc["rtt_ms"] is None  # explain sends no packets
    # always there (issue 19): version 1 rewrites no address, so a request that arrived came
    # from the source's own address; null when it never arrived
    assert doc["seen_source"] == (str(lab.instance(src).ip) if doc["forward"]["delivered"] else None)
    return doc


def leg(delivered, last_hop, path):
    return {"delivered": delivered, "last_hop": last_hop, "path": path}


NOT_SENT = leg(False, None, [])
NO_REASON = {"code": None, "where": None, "table": None, "detail": None}


def reason_of(doc):
    r = doc["reason"]
    return r["code"], r["where"], r["table"]


# ---- two VPCs, routes on one side, the other, or both -------------------------------------------


def test_both_routes_reachable_both_ways():
    lab = load(two_vpcs())
    for src, dst, fwd, back in ((A, B, A_TO_B, B_TO_A), (B, A, B_TO_A, A_TO_B)):
        doc = explain(lab, src, dst)
        assert doc["result"] == "reachable"
        assert doc["forward"] == leg(True, dst, fwd)
        assert doc["return"] == leg(True, src, back)
        assert doc["reason"] == NO_REASON
        assert (doc["src"], doc["dst"], doc["proto"], doc["port"]) == (src, dst, "icmp", None)


def test_only_a_has_a_route():
    lab = load(two_vpcs(routes_b=False))
    doc = explain(lab, A, B)
    assert doc["result"] == "no-return"
    assert doc["forward"] == leg(True, B, A_TO_B)
    assert doc["return"] == leg(False, "vpc-b", [B, "vpc-b"])
    assert reason_of(doc) == ("NO_ROUTE", "vpc-b", "default")
    assert "10.0.1.10" in doc["reason"]["detail"]

    doc = explain(lab, B, A)
    assert doc["result"] == "unreachable"
    assert doc["forward"] == leg(False, "vpc-b", [B, "vpc-b"])
    assert doc["return"] == NOT_SENT
    assert reason_of(doc) == ("NO_ROUTE", "vpc-b", "default")


def test_only_b_has_a_route():
    lab = load(two_vpcs(routes_a=False))
    doc = explain(lab, A, B)
    assert doc["result"] == "unreachable"
    assert doc["forward"] == leg(False, "vpc-a", [A, "vpc-a"])
    assert reason_of(doc) == ("NO_ROUTE", "vpc-a", "default")

    doc = explain(lab, B, A)
    assert doc["result"] == "no-return"
    assert doc["forward"] == leg(True, A, B_TO_A)
    assert doc["return"] == leg(False, "vpc-a", [A, "vpc-a"])
    assert reason_of(doc) == ("NO_ROUTE", "vpc-a", "default")


def test_shipped_one_way_route_matches_its_expectations():
    lab = shipped("02-one-way-route.yaml")
    assert explain(lab, A, B)["result"] == "no-return"
    assert explain(lab, B, A)["result"] == "unreachable"


def test_no_peering_at_all():
    lab = load(topo({"vpc-a": vpc(0), "vpc-b": vpc(1)}))
    doc = explain(lab, A, B)
    assert doc["result"] == "unreachable"
    assert reason_of(doc) == ("NO_ROUTE", "vpc-a", "default")


# ---- not transitive ---------------------------------------------------------------------------------


def test_spoke_to_spoke_through_the_hub_is_no_route_in_the_spoke():
    """Issue 19: spoke-1 has no route to spoke-2 (a peer of its peer hub); the packet never
    leaves spoke-1, so nothing entered over a peering: NO_ROUTE with spoke-1's table, not
    NOT_TRANSITIVE (docs/rules.md). The detail still says why a route via the hub would not help."""
    lab = shipped("03-hub-spokes.yaml")
    doc = explain(lab, "spoke-1/cvm-1", "spoke-2/cvm-1")
    assert doc["result"] == "unreachable"
    assert doc["forward"] == leg(False, "spoke-1", ["spoke-1/cvm-1", "spoke-1"])
    assert doc["return"] == NOT_SENT
    assert reason_of(doc) == ("NO_ROUTE", "spoke-1", "default")
    assert doc["reason"]["detail"].startswith("no route to 10.2.1.10 in table default")
    assert "hub" in doc["reason"]["detail"] and "not transitive" in doc["reason"]["detail"]


def test_no_return_route_to_a_peer_of_a_peer_is_no_route_on_the_reply_leg():
    """Issue 19, the reply leg: vpc-x reaches vpc-c over pcx-xc, vpc-c has no route back.
    vpc-y holds the same range as vpc-x (they are not peered: overlap is allowed) and is a
    peer of vpc-b, itself vpc-c's peer, so the reply's address lies in a peer of a peer of
    vpc-c. The reply never leaves vpc-c: NO_ROUTE with vpc-c's table, not NOT_TRANSITIVE."""
    t = topo({"vpc-y": vpc(0, routes=[("10.1.0.0/16", "pcx-yb")]),
              "vpc-x": vpc(0, routes=[("10.2.0.0/16", "pcx-xc")]),
              "vpc-b": vpc(1, routes=[("10.0.0.0/16", "pcx-yb"), ("10.2.0.0/16", "pcx-bc")]),
              "vpc-c": vpc(2, routes=[("10.1.0.0/16", "pcx-bc")])},
             {"pcx-yb": peer("vpc-y", "vpc-b"), "pcx-xc": peer("vpc-x", "vpc-c"), "pcx-bc": peer("vpc-b", "vpc-c")})
    lab = load(t)
    doc = explain(lab, "vpc-x/cvm-1", "vpc-c/cvm-1")
    assert doc["result"] == "no-return"
    assert doc["forward"] == leg(True, "vpc-c/cvm-1", ["vpc-x/cvm-1", "vpc-x", "pcx-xc", "vpc-c", "vpc-c/cvm-1"])
    assert doc["return"] == leg(False, "vpc-c", ["vpc-c/cvm-1", "vpc-c"])
    assert reason_of(doc) == ("NO_ROUTE", "vpc-c", "default")
    # and the request leg of the same shape: vpc-y has no route to vpc-c, a peer of its peer vpc-b
    doc = explain(lab, "vpc-y/cvm-1", "vpc-c/cvm-1")
    assert (doc["result"], reason_of(doc)) == ("unreachable", ("NO_ROUTE", "vpc-y", "default"))


def test_hub_reaches_every_spoke_and_services():
    lab = shipped("03-hub-spokes.yaml")
    for k in (1, 2, 3):
        doc = explain(lab, "hub/cvm-1", f"spoke-{k}/cvm-1")
        assert doc["result"] == "reachable"
        assert doc["forward"]["path"] == ["hub/cvm-1", "hub", f"pcx-hub-s{k}", f"spoke-{k}", f"spoke-{k}/cvm-1"]
    assert explain(lab, "spoke-2/cvm-1", "hub/db-1", "tcp", 3306)["result"] == "reachable"
    assert explain(lab, "spoke-3/cvm-1", "hub/cache-1", "tcp", 11211)["result"] == "reachable"


def test_transit_to_an_address_with_no_subnet_in_the_peer():
    """A route into the peer's CIDR where no subnet holds the address: the peer's ingress drops it."""
    lab = load(two_vpcs())
    doc = explain(lab, A, "10.1.200.5")
    assert doc["result"] == "unreachable"
    assert doc["forward"] == leg(False, "vpc-b", [A, "vpc-a", "pcx-ab", "vpc-b"])


# ---- peering states ------------------------------------------------------------------------------------


def test_pending_peering_is_not_active():
    lab = shipped("05-cross-account.yaml")
    src, dst = "alice-vpc/cvm-1", "bob-vpc/cvm-1"
    doc = explain(lab, src, dst)
    assert doc["result"] == "unreachable"
    assert doc["forward"] == leg(False, "alice-vpc", [src, "alice-vpc"])
    assert reason_of(doc) == ("PEERING_NOT_ACTIVE", "alice-vpc", "default")
    assert "PENDING" in doc["reason"]["detail"]
    lifecycle.apply_event(lab, "pcx-alice-bob", "accept", account="bob")
    assert explain(lab, src, dst)["result"] == "reachable"


@pytest.mark.parametrize("end,who", [("reject", "bob"), ("delete", "alice")])
def test_rejected_or_deleted_peering_is_a_blackhole(end, who):
    lab = shipped("05-cross-account.yaml")
    if end == "delete":
        lifecycle.apply_event(lab, "pcx-alice-bob", "accept", account="bob")
    lifecycle.apply_event(lab, "pcx-alice-bob", end, account=who)
    doc = explain(lab, "alice-vpc/cvm-1", "bob-vpc/cvm-1")
    assert doc["result"] == "unreachable"
    assert reason_of(doc) == ("BLACKHOLE_ROUTE", "alice-vpc", "default")
    assert lab.peerings["pcx-alice-bob"].state in doc["reason"]["detail"]


def test_deleted_active_peering_same_account():
    lab = load(two_vpcs())
    lifecycle.apply_event(lab, "pcx-ab", "delete")
    doc = explain(lab, B, A)
    assert doc["result"] == "unreachable"
    assert reason_of(doc) == ("BLACKHOLE_ROUTE", "vpc-b", "default")


# ---- CLB ---------------------------------------------------------------------------------------------


def test_clb_reachable_over_a_regional_peering():
    lab = shipped("04-cross-region.yaml")
    doc = explain(lab, "gz-ops/cvm-1", "gz-app/lb-1", "tcp", 80)
    assert doc["result"] == "reachable"
    assert doc["forward"] == leg(True, "gz-app/lb-1", ["gz-ops/cvm-1", "gz-ops", "pcx-gz-local", "gz-app",
                                                       "gz-app/lb-1"])
    assert doc["return"]["path"] == ["gz-app/lb-1", "gz-app", "pcx-gz-local", "gz-ops", "gz-ops/cvm-1"]
    assert "note" not in doc


@pytest.mark.parametrize("proto,port", [("tcp", 80), ("icmp", None)])
def test_clb_unreachable_over_a_cross_region_peering(proto, port):
    lab = shipped("04-cross-region.yaml")
    doc = explain(lab, "sg-app/cvm-1", "gz-app/lb-1", proto, port)
    assert doc["result"] == "unreachable"
    assert doc["forward"] == leg(False, "gz-app", ["sg-app/cvm-1", "sg-app", "pcx-gz-sg", "gz-app"])
    assert doc["return"] == NOT_SENT
    assert reason_of(doc) == ("CLB_CROSS_REGION", "gz-app", None)


def test_cross_region_to_a_cvm_is_reachable():
    lab = shipped("04-cross-region.yaml")
    doc = explain(lab, "sg-app/cvm-1", "gz-app/cvm-1")
    assert doc["result"] == "reachable"
    assert doc["forward"]["path"] == ["sg-app/cvm-1", "sg-app", "pcx-gz-sg", "gz-app", "gz-app/cvm-1"]


def test_a_clb_source_gets_no_reply_across_regions():
    """The reply to a CLB comes back over the cross-region peering, where a CLB is not reachable.

    The planner blackholes every CLB address in the cross-region ingress table
    (INGRESS_XR_TABLE), so the kernel drops that reply: explain must say no-return,
    as a probe from the CLB's namespace would observe.
    """
    lab = shipped("04-cross-region.yaml")
    doc = explain(lab, "gz-app/lb-1", "sg-app/cvm-1")
    assert doc["result"] == "no-return"
    assert doc["forward"] == leg(True, "sg-app/cvm-1", ["gz-app/lb-1", "gz-app", "pcx-gz-sg", "sg-app",
                                                        "sg-app/cvm-1"])
    assert doc["return"] == leg(False, "gz-app", ["sg-app/cvm-1", "sg-app", "pcx-gz-sg", "gz-app"])
    assert doc["reason"]["code"] == "CLB_CROSS_REGION"


# ---- listeners ----------------------------------------------------------------------------------------


def test_tcp_port_without_listener_on_a_cvm_is_answered_by_rst():
    lab = load(two_vpcs())
    v = analyze.explain(lab, A, B, "tcp", 22)
    doc = explain(lab, A, B, "tcp", 22)
    assert doc["result"] == "reachable"
    assert doc["reason"]["code"] is None
    assert v.note is not None and v.note.code == "NO_LISTENER"
    assert doc["note"]["code"] == "NO_LISTENER" and doc["note"]["where"] == B
    assert doc["forward"] == leg(True, B, A_TO_B) and doc["return"] == leg(True, A, B_TO_A)


def test_tcp_port_without_listener_and_no_return_route():
    lab = load(two_vpcs(routes_b=False))
    doc = explain(lab, A, B, "tcp", 22)
    assert doc["result"] == "no-return"
    assert doc["reason"]["code"] == "NO_ROUTE" and doc["note"]["code"] == "NO_LISTENER"


def test_udp_to_a_closed_port_is_reachable_with_the_note_no_listener():
    # TOPOLOGY.md v2: the ICMP port unreachable is a reply, so the path is reachable.
    lab = load(two_vpcs())
    doc = explain(lab, A, B, "udp", 53)
    assert doc["result"] == "reachable"
    assert doc["reason"]["code"] is None
    assert doc["note"]["code"] == "NO_LISTENER" and doc["note"]["where"] == B
    assert "port unreachable" in doc["note"]["detail"]
    assert doc["forward"] == leg(True, B, A_TO_B) and doc["return"] == leg(True, A, B_TO_A)


def test_udp_to_a_closed_port_without_a_return_route_is_no_return():
    # the port unreachable needs a way back like any reply
    lab = load(two_vpcs(routes_b=False))
    doc = explain(lab, A, B, "udp", 53)
    assert doc["result"] == "no-return"
    assert doc["reason"]["code"] == "NO_ROUTE" and doc["note"]["code"] == "NO_LISTENER"


def _services():
    a = vpc(0, routes=[("10.1.0.0/16", "pcx-ab")])
    b = vpc(1, routes=[("10.0.0.0/16", "pcx-ab")], instances={
        "cvm-1": {"subnet": "app", "ip": "10.1.1.10"},
        "cvm-2": {"subnet": "app", "ip": "10.1.1.11"},
        "db-1": {"subnet": "app", "ip": "10.1.1.20", "kind": "cdb"},
        "mc-1": {"subnet": "app", "ip": "10.1.1.30", "kind": "cmem"},
        "lb-1": {"subnet": "app", "ip": "10.1.1.100", "kind": "clb", "port": 8080, "backends": ["cvm-1"]}})
    return load(topo({"vpc-a": a, "vpc-b": b}, {"pcx-ab": peer("vpc-a", "vpc-b")}))


@pytest.mark.parametrize("dst,proto,port,listening", [
    ("vpc-b/db-1", "tcp", 3306, True),
    ("vpc-b/db-1", "udp", 3306, True),
    ("vpc-b/db-1", "tcp", 3307, False),
    ("vpc-b/mc-1", "tcp", 11211, True),
    ("vpc-b/mc-1", "tcp", 3306, False),
    ("vpc-b/lb-1", "tcp", 8080, True),
    ("vpc-b/lb-1", "tcp", 80, False),
    ("vpc-b/cvm-1", "tcp", 8080, True),  # a CLB backend listens on the CLB's port
    ("vpc-b/cvm-1", "tcp", 3306, False),
    ("vpc-b/cvm-2", "tcp", 8080, False),  # not a backend
])
def test_listeners(dst, proto, port, listening):
    doc = explain(_services(), A, dst, proto, port)
    assert doc["result"] == "reachable"
    assert doc["reason"] == NO_REASON
    if listening:
        assert "note" not in doc
    else:
        assert doc["note"]["code"] == "NO_LISTENER"


def test_udp_to_a_clb_backend_port_is_heard():
    backend = explain(_services(), A, "vpc-b/cvm-1", "udp", 8080)
    assert backend["result"] == "reachable" and "note" not in backend
    other = explain(_services(), A, "vpc-b/cvm-2", "udp", 8080)  # not a backend: port unreachable
    assert other["result"] == "reachable" and other["note"]["code"] == "NO_LISTENER"


# ---- inside one VPC ------------------------------------------------------------------------------------


def test_same_vpc_needs_no_route():
    lab = load(topo({"vpc-b": vpc(1, subnets={"app": "10.1.1.0/24", "data": "10.1.2.0/24"}, instances={
        "cvm-1": {"subnet": "app", "ip": "10.1.1.10"}, "db-1": {"subnet": "data", "ip": "10.1.2.20", "kind": "cdb"}})}))
    doc = explain(lab, "vpc-b/cvm-1", "vpc-b/db-1", "tcp", 3306)
    assert doc["result"] == "reachable"
    assert doc["forward"] == leg(True, "vpc-b/db-1", ["vpc-b/cvm-1", "vpc-b", "vpc-b/db-1"])
    assert doc["return"] == leg(True, "vpc-b/cvm-1", ["vpc-b/db-1", "vpc-b", "vpc-b/cvm-1"])


# ---- route selection -------------------------------------------------------------------------------------


def test_longest_prefix_wins():
    """vpc-a routes 10.1.0.0/16 via an ACTIVE peering and 10.1.2.0/24 via a DELETED one."""
    lab = load(topo({"vpc-a": vpc(0), "vpc-b": vpc(1, subnets={"app": "10.1.1.0/24", "data": "10.1.2.0/24"},
                                                        instances={"cvm-1": {"subnet": "app", "ip": "10.1.1.10"},
                                                                   "cvm-2": {"subnet": "data", "ip": "10.1.2.10"}})},
                    {"pcx-old": peer("vpc-a", "vpc-b")}))
    lifecycle.add_route(lab, "vpc-a", "10.1.2.0/24", "pcx-old")
    lifecycle.apply_event(lab, "pcx-old", "delete")
    lifecycle.create(lab, "vpc-a", "vpc-b", name="pcx-ab")
    lifecycle.add_route(lab, "vpc-a", "10.1.0.0/16", "pcx-ab")
    lifecycle.add_route(lab, "vpc-b", "10.0.0.0/16", "pcx-ab")
    doc = explain(lab, A, "vpc-b/cvm-1")
    assert doc["result"] == "reachable" and doc["forward"]["path"] == A_TO_B
    doc = explain(lab, A, "vpc-b/cvm-2")
    assert doc["result"] == "unreachable"
    assert reason_of(doc) == ("BLACKHOLE_ROUTE", "vpc-a", "default")
    assert "10.1.2.0/24" in doc["reason"]["detail"] and "pcx-old" in doc["reason"]["detail"]
    # the order in the table does not matter
    t = lab.vpcs["vpc-a"].route_tables["default"]
    t.routes.reverse()
    assert explain(lab, A, "vpc-b/cvm-2")["reason"]["code"] == "BLACKHOLE_ROUTE"
    assert str(analyze.lookup(lab.vpcs["vpc-a"], "default", ipaddress.IPv4Address("10.1.2.10")).destination) == \
        "10.1.2.0/24"
    assert str(analyze.lookup(lab.vpcs["vpc-a"], "default", ipaddress.IPv4Address("10.1.3.10")).destination) == \
        "10.1.0.0/16"


def test_each_subnet_uses_its_own_route_table():
    a = vpc(0, subnets={"app": "10.0.1.0/24", "priv": {"cidr": "10.0.2.0/24", "route_table": "private"}},
            routes=[("10.1.0.0/16", "pcx-ab")], tables={"private": []},
            instances={"cvm-1": {"subnet": "app", "ip": "10.0.1.10"}, "cvm-2": {"subnet": "priv", "ip": "10.0.2.10"}})
    lab = load(topo({"vpc-a": a, "vpc-b": vpc(1, routes=[("10.0.0.0/16", "pcx-ab")])},
                    {"pcx-ab": peer("vpc-a", "vpc-b")}))
    assert explain(lab, A, B)["result"] == "reachable"
    doc = explain(lab, "vpc-a/cvm-2", B)
    assert doc["result"] == "unreachable"
    assert reason_of(doc) == ("NO_ROUTE", "vpc-a", "private")
    assert explain(lab, B, "vpc-a/cvm-2")["result"] == "no-return"


# ---- destinations given as an address ----------------------------------------------------------------------


def test_a_bare_ipv4_destination():
    lab = load(two_vpcs())
    doc = explain(lab, A, "10.1.1.10")
    assert doc["result"] == "reachable"
    assert doc["dst"] == B
    assert doc["forward"] == leg(True, B, A_TO_B)


def test_a_bare_ipv4_destination_nobody_has():
    lab = load(two_vpcs())
    doc = explain(lab, A, "10.1.1.99")
    assert doc["result"] == "unreachable"
    assert doc["dst"] == "10.1.1.99"
    assert doc["forward"] == leg(False, "vpc-b", [A, "vpc-a", "pcx-ab", "vpc-b"])
    assert reason_of(doc) == ("NO_ROUTE", "vpc-b", None)


def test_a_bare_ipv4_destination_outside_every_vpc():
    doc = explain(load(two_vpcs()), A, "8.8.8.8")
    assert doc["result"] == "unreachable"
    assert reason_of(doc) == ("NO_ROUTE", "vpc-a", "default")


def test_unknown_instances_raise_keyerror():
    lab = load(two_vpcs())
    with pytest.raises(KeyError):
        analyze.explain(lab, "vpc-a/nope", B)
    with pytest.raises(KeyError):
        analyze.explain(lab, A, "vpc-b/nope")
