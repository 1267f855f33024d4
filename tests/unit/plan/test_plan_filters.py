"""The version-2 planner (plan/filters.py), without root: what a lab with groups, ACLs, EIPs,
NAT gateways and the Internet asks of the kernel, and that a version-1 lab asks exactly
what it asked before version 2 (digests made with the planner of main before this work)."""
from __future__ import annotations

import hashlib
import ipaddress
import json
import sys
from pathlib import Path

import pytest
import yaml

from vpclab.topology import load as loader
from vpclab.errors import Refused
from vpclab.kernel.handlers.nft import commands
from vpclab.model.filters import FilterRule, SecurityGroup
from vpclab.plan.names import RuleRef
from vpclab.plan import filters as F
from vpclab.plan import names as N
from vpclab.plan.objects import Route, Rule, Ruleset, Veth
from vpclab.plan.planner import plan

REPO = Path(__file__).resolve().parents[3]
TOPO = REPO / "tests" / "kernel" / "internet.yaml"


def _digests():
    sys.path.insert(0, str(REPO / "bench"))
    import scale_topology  # noqa: PLC0415

    for line in (REPO / "tests" / "golden" / "v1-plans.txt").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, netem, count, digest = line.split()
        if name.startswith("bench/"):
            model = loader.loads(yaml.safe_dump(scale_topology.scale()))
        else:
            model = loader.load(str(REPO / name))
        yield name, bool(int(netem)), int(count), digest, model


def test_every_version1_plan_is_what_it_was_before_version2():
    seen = 0
    for name, netem, count, digest, model in _digests():
        objs = plan(model, netem=netem).objects
        text = "\n".join(repr(o) for o in objs)
        assert (len(objs), hashlib.sha256(text.encode()).hexdigest()) == (count, digest), name
        assert F.objects(model, objs) == [], name
        seen += 1
    assert seen >= 10


@pytest.fixture
def lab():
    return loader.load(str(TOPO))


def _rs(p, ns):
    return next(o for o in p.objects if isinstance(o, Ruleset) and o.ns == ns)


def _rules(chain):
    return [(json.loads(e), c) for e, c in chain.rules]


def test_security_group_ruleset_is_stateful_ordered_and_every_rule_counts(lab):
    p = plan(lab)
    rs = _rs(p, N.instance_ns("fk", "vpc-a", "web-1"))
    assert [c.name for c in rs.chains] == ["input", "output"]
    inp = rs.chain("input")
    assert (inp.hook, inp.type, inp.prio, inp.policy) == ("input", "filter", 0, "accept")
    rules = _rules(inp)
    assert rules[0][0][0]["match"]["left"] == {"ct": {"key": "state"}}  # replies of allowed flows first
    g = lab.vpcs["vpc-a"].security_groups["sg-web"]
    refs = [RuleRef("sg", "vpc-a", "sg-web", "ingress", k).comment() for k in range(len(g.ingress))]
    assert [c for _, c in rules[2:-1]] == refs
    assert rules[-1] == ([{"counter": None}, {"drop": None}], "vpclab sg vpc-a/web-1 ingress -")
    for exprs, _ in rules:
        assert {"counter": None} in exprs
    # rule 0: tcp 80 from 10.1.0.0/16, accept
    assert rules[2][0] == [
        {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                   "right": {"prefix": {"addr": "10.1.0.0", "len": 16}}}},
        {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}},
        {"counter": None}, {"accept": None}]
    out = _rules(rs.chain("output"))
    assert out[-1][1] == "vpclab sg vpc-a/web-1 egress -"
    assert out[2][0] == [{"counter": None}, {"accept": None}]  # all to 0.0.0.0/0: no match needed
    # instances without groups are not filtered at all
    assert not [o for o in p.objects if isinstance(o, Ruleset) and o.ns == N.instance_ns("fk", "vpc-a", "priv-1")]


def test_a_group_peer_is_its_members_private_addresses(lab):
    v = lab.vpcs["vpc-a"]
    v.security_groups["sg-db"] = SecurityGroup("sg-db", "vpc-a", [FilterRule("icmp", None, "sg-web", "accept")], [])
    v.instances["priv-1"].security_groups = ["sg-db"]
    v.instances["acl-1"].security_groups = ["sg-web"]
    rs = _rs(plan(lab), N.instance_ns("fk", "vpc-a", "priv-1"))
    exprs, comment = _rules(rs.chain("input"))[2]
    assert comment == "vpclab sg vpc-a/sg-db ingress 0"
    assert exprs[0]["match"]["right"] == {"set": ["10.0.1.10", "10.0.3.10"]}
    assert exprs[1]["match"] == {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "icmp"}


def test_acl_filters_at_the_subnet_boundary_statelessly(lab):
    rs = _rs(plan(lab), N.vpc_ns("fk", "vpc-a"))
    fwd = _rules(rs.chain("forward"))
    net = {"prefix": {"addr": "10.0.3.0", "len": 24}}
    sa, da = ({"payload": {"protocol": "ip", "field": f}} for f in ("saddr", "daddr"))
    assert fwd == [
        ([{"match": {"op": "==", "left": sa, "right": net}}, {"match": {"op": "!=", "left": da, "right": net}},
          {"counter": None}, {"jump": {"target": "acl-out-acl"}}], None),
        ([{"match": {"op": "==", "left": da, "right": net}}, {"match": {"op": "!=", "left": sa, "right": net}},
          {"counter": None}, {"jump": {"target": "acl-in-acl"}}], None)]
    inbound = _rules(rs.chain("acl-in-acl"))
    assert inbound[0][0][-1] == {"return": None}  # accept returns, so the other subnet's ACL is met too
    assert [c for _, c in inbound] == ["vpclab acl vpc-a/acl-in-only inbound 0 acl",
                                       "vpclab acl vpc-a/acl-in-only inbound - acl"]
    text = json.dumps([c.rules for c in rs.chains])
    assert '"ct"' not in text  # no conntrack in an ACL
    assert [c for _, c in _rules(rs.chain("acl-out-acl"))][-1] == "vpclab acl vpc-a/acl-in-only outbound - acl"


def test_eip_and_nat_gateway_are_dnat_and_snat_in_the_router(lab):
    p = plan(lab)
    rs = _rs(p, N.vpc_ns("fk", "vpc-a"))
    port = N.internet_port("fk", "vpc-a")
    pre = _rules(rs.chain("prerouting"))
    assert pre == [([{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": port}},
                     {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}},
                                "right": "203.0.113.10"}},
                     {"counter": None}, {"dnat": {"family": "ip", "addr": "10.0.1.10"}}], "vpclab eip vpc-a/web-1")]
    post = _rules(rs.chain("postrouting"))
    # nat-1 serves no subnet (no table routes to it): only the EIP's SNAT
    assert [c for _, c in post] == ["vpclab eip vpc-a/web-1"]
    lab.vpcs["vpc-a"].route_tables["private"].routes.append(
        type(lab.vpcs["vpc-a"].route_tables["private"].routes[0])(ipaddress.IPv4Network("0.0.0.0/0"), "nat-1"))
    p = plan(lab)
    post = _rules(_rs(p, N.vpc_ns("fk", "vpc-a")).chain("postrouting"))
    assert post[0][1] == "vpclab nat vpc-a/nat-1"
    exprs = post[0][0]
    assert {"match": {"op": "==", "left": {"rt": {"key": "nexthop", "family": "ip"}}, "right": "169.254.254.1"}} in exprs
    assert {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                      "right": {"prefix": {"addr": "10.0.2.0", "len": 24}}}} in exprs  # priv only
    assert exprs[-1] == {"snat": {"family": "ip", "addr": "203.0.113.20"}}
    vns = N.vpc_ns("fk", "vpc-a")
    assert Route(vns, 101, "0.0.0.0/0", via="169.254.254.1", dev=port) in p.objects


def test_eip_instances_fall_back_to_the_internet_after_their_subnet_table(lab):
    p = plan(lab)
    vns = N.vpc_ns("fk", "vpc-a")
    assert Rule(vns, F.EIP_RULE_PRIO, None, 1100, src="10.0.1.10/32") in p.objects
    copy = {o.dst: o for o in p.objects if isinstance(o, Route) and o.ns == vns and o.table == 1100}
    assert copy["0.0.0.0/0"] == Route(vns, 1100, "0.0.0.0/0", via=F.EIP_HOP, dev=N.internet_port("fk", "vpc-a"))
    assert copy["10.1.0.0/16"].dev == N.peering_port("fk", "pcx-ab")  # the peering route still wins
    assert copy["10.0.0.0/16"].type == "blackhole"  # the local route too
    # the peering's ingress table never reaches the Internet
    ingress = [o for o in p.objects if isinstance(o, Route) and o.ns == vns and o.table == 90]
    assert ingress and all(o.type in ("throw", "blackhole") for o in ingress)


def test_the_internet_is_linked_to_lab_routers_only(lab):
    p = plan(lab)
    ins = N.internet_ns("fk")
    links = [o for o in p.objects if isinstance(o, Veth) and ins in (o.ns, o.peer_ns)]
    assert sorted(o.ns if o.peer_ns == ins else o.peer_ns for o in links) == [N.vpc_ns("fk", "vpc-a"),
                                                                              N.vpc_ns("fk", "vpc-c")]
    prefix = N.lab_prefix("fk")
    for o in p.objects:  # nothing outside the lab's namespaces
        assert (o.name if o.key[0] == "netns" else o.ns).startswith(prefix)
    routes = {o.dst: o for o in p.objects if isinstance(o, Route) and o.ns == ins}
    assert routes["0.0.0.0/0"].type == "blackhole" and routes["203.0.113.0/24"].type == "blackhole"
    assert routes["203.0.113.10/32"].dev == N.internet_port("fk", "vpc-a")
    svc = [o for o in p.objects if o.key[0] == "service" and o.ns == ins]
    assert [(s.name, s.ip, s.port) for s in svc] == [("internet/web", "203.0.113.200", 80)]


def test_a_vpc_named_internet_cannot_share_the_internets_namespace(lab):
    lab.vpcs["internet"] = lab.vpcs.pop("vpc-c")
    lab.vpcs["internet"].name = "internet"
    with pytest.raises(Refused, match="Internet"):
        plan(lab)


def test_a_ruleset_is_one_transaction_that_replaces_the_table(lab):
    rs = _rs(plan(lab), N.vpc_ns("fk", "vpc-a"))
    cmds = commands(rs)
    assert [list(c) + list(c[next(iter(c))]) for c in cmds[:3]] == [["add", "table"], ["delete", "table"],
                                                                     ["add", "table"]]
    chains = [c["add"]["chain"]["name"] for c in cmds if "chain" in c.get("add", {})]
    first_rule = next(i for i, c in enumerate(cmds) if "rule" in c.get("add", {}))
    assert len(chains) == len(rs.chains) and first_rule == 3 + len(chains)  # jump targets exist first


def test_one_vpcs_rulesets_are_those_of_the_whole_plan(lab):
    whole = {o.key: o for o in plan(lab).objects if isinstance(o, Ruleset)}
    parts = [o for v in lab.vpcs for o in F.vpc_rulesets(lab, v)]
    assert {o.key: o for o in parts} == whole and len(parts) == len(whole) == 3


def test_the_transaction_text_is_the_transaction(lab):
    from vpclab.kernel.handlers.nft import commands_text

    for rs in (o for o in plan(lab).objects if isinstance(o, Ruleset)):
        assert json.loads(commands_text(rs)) == {"nftables": commands(rs)}


@pytest.mark.parametrize("topology", sorted((Path(__file__).resolve().parents[3] / "topologies").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_no_two_planned_objects_share_a_key(topology):
    """Found by review: a table routing 0.0.0.0/0 to a NAT gateway also got the blackhole default,
    two routes with one key, and only the plan's order decided which one the kernel got."""
    import collections

    from vpclab.topology import load as loader
    from vpclab.plan import planner

    keys = collections.Counter(o.key for o in planner.plan(loader.load(str(topology))).objects)
    assert [k for k, n in keys.items() if n > 1] == []
