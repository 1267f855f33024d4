"""plan/ccn.py: the kernel objects of a CCN, from the model alone (no root). Values by hand."""
from __future__ import annotations

from pathlib import Path

from vpclab.plan import names, planner
from vpclab.plan.objects import Qdisc, Route, Rule
from vpclab.topology.load import load, loads

SMALL = Path(__file__).parents[2] / "kernel" / "plan" / "ccn_small.yaml"


def objects(lab):
    return planner.plan(lab).objects


def test_one_router_per_region_routes_of_enabled_routes_only_and_a_cap_between_regions():
    lab = load(SMALL)
    objs = objects(lab)
    gz, sh = names.ccn_ns("ccnk", 0, "ap-guangzhou"), names.ccn_ns("ccnk", 0, "ap-shanghai")
    assert {o.name for o in objs if o.key[0] == "netns" and ".ap-" in o.name} == {gz, sh}
    routes = {(o.ns, o.dst): o for o in objs if isinstance(o, Route) and o.ns in (gz, sh) and o.table == 254}
    # a's 10.1.1.0/24 (gz), b's 10.2.1.0/24 (sh), c's 10.3.1.0/24 (sh); 10.2.2.0/24@b disabled: absent
    assert set(routes) == {(ns, d) for ns in (gz, sh) for d in ("10.1.1.0/24", "10.2.1.0/24", "10.3.1.0/24",
                                                                   "0.0.0.0/0")}
    assert routes[(gz, "10.1.1.0/24")].dev == names.ccn_vpc_port("ccnk", "a")  # same region: to the VPC
    assert routes[(sh, "10.1.1.0/24")].dev == names.ccn_region_port("ccnk", "ap-guangzhou")  # to gz's router
    assert routes[(gz, "0.0.0.0/0")].type == "blackhole"
    caps = [o for o in objs if isinstance(o, Qdisc) and o.ns in (gz, sh)]
    assert {(o.ns, o.ifname, o.rate_kbit) for o in caps} == {
        (gz, names.ccn_region_port("ccnk", "ap-shanghai"), 50_000),
        (sh, names.ccn_region_port("ccnk", "ap-guangzhou"), 50_000)}  # none on a VPC's link


def test_vpc_router_gets_delivered_routes_and_a_ccn_ingress_of_its_own_subnets():
    lab = load(SMALL)
    objs = objects(lab)
    a = names.vpc_ns("ccnk", "a")
    port = names.ccn_port("ccnk", 0)
    t100 = {o.dst: o for o in objs if isinstance(o, Route) and o.ns == a and o.table == 100}
    assert t100["10.2.1.0/24"].dev == port and t100["10.3.1.0/24"].dev == port
    assert "10.2.2.0/24" not in t100  # disabled in the CCN: not delivered
    assert t100["10.9.0.0/16"].dev == names.peering_port("ccnk", "pcx-ap")
    (rule,) = [o for o in objs if isinstance(o, Rule) and o.ns == a and o.iif == port]
    ingress = {o.dst: o.type for o in objs if isinstance(o, Route) and o.ns == a and o.table == rule.table}
    assert ingress == {"10.1.1.0/24": "throw", "10.1.0.0/16": "blackhole", "0.0.0.0/0": "blackhole"}
    # p is not on the CCN: no CCN link, no CCN route
    p = names.vpc_ns("ccnk", "p")
    assert not [o for o in objs if o.key[0] == "veth" and p in (o.ns, o.peer_ns) and port in (o.ifname,
                                                                                            o.peer_ifname)]


def test_user_ccn_route_and_a_pending_attachment():
    text = SMALL.read_text().replace(
        "    instances: {cvm-1: {subnet: app, ip: 10.3.1.10}}",
        "    instances: {cvm-1: {subnet: app, ip: 10.3.1.10}}\n"
        "    route_tables: {default: {routes: [{destination: 10.1.0.0/16, next_hop: ccn-core}]}}")
    objs = objects(loads(text))
    c = names.vpc_ns("ccnk", "c")
    t100 = {o.dst: o for o in objs if isinstance(o, Route) and o.ns == c and o.table == 100}
    assert t100["10.1.0.0/16"].dev == names.ccn_port("ccnk", 0)  # USER_CCN: via the CCN router
    assert "10.1.1.0/24" not in t100  # a's delivered route overlaps it: disabled in c/default


def test_a_lab_without_ccns_plans_what_it_always_did():
    text = SMALL.read_text().split("ccns:")[0]
    port = names.ccn_port("ccnk", 0)
    assert not [o for o in objects(loads(text)) if "-ccn." in o.describe() or port in o.describe()]
