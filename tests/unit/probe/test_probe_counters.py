"""Naming the filter rule that dropped a probe from nftables counters, without root.

The rulesets here are CANNED libnftables JSON (`nft -j list ruleset` output, in the shape
libnftables 1.0.6 prints): the real rulesets are installed by the kernel layer's filter
handlers, which come from another branch. What is tested is the counter logic: parse the
vpclab rules (RuleRef comment + counter) of a namespace, diff two snapshots, pick the
drop, and turn it into SECURITY_GROUP_DENY / NETWORK_ACL_DENY.
"""
from __future__ import annotations

import copy

from vpclab import explain as analyze
from vpclab.controller import attribution as probe_filters
from vpclab.plan.names import RuleRef
from vpclab.model.types import Lab
from vpclab.probe import counters as nftc

ROUTER, DST = "vpclab-t1-vpc-b", "vpclab-t1-vpc-b.cvm-1"


def rule(handle, comment, packets, verdict="accept", chain="sg-in", table="vpclab", counter=True):
    expr = [{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "icmp"}}]
    if counter:
        expr.append({"counter": {"packets": packets, "bytes": packets * 84}})
    expr.append({verdict: None} if verdict in ("accept", "drop") else {"jump": {"target": verdict}})
    r = {"family": "inet", "table": table, "chain": chain, "handle": handle, "expr": expr}
    if comment is not None:
        r["comment"] = comment
    return {"rule": r}


def ruleset(*rules):
    return {"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5",
                                       "json_schema_version": 1}},
                         {"table": {"family": "inet", "name": "vpclab", "handle": 1}},
                         {"chain": {"family": "inet", "table": "vpclab", "name": "sg-in", "handle": 1,
                                    "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}},
                         *rules]}


SG_RULES = [(4, RuleRef("sg", "vpc-b", "sg-web", "ingress", 0).comment(), "accept"),
            (5, RuleRef("sg", "vpc-b", "sg-web", "ingress", 1).comment(), "drop"),
            (6, RuleRef("sg", "vpc-b", "cvm-1", "ingress", None).comment(), "drop")]


def sg_snapshot(p0, p1, p2):
    return {DST: nftc.parse(ruleset(*[rule(h, c, n, v) for (h, c, v), n in zip(SG_RULES, (p0, p1, p2))]))}


def test_parse_keeps_only_vpclab_rules_with_counters():
    doc = ruleset(rule(4, "vpclab sg vpc-b/sg-web ingress 0", 3),
                  rule(7, None, 9),  # no comment: not vpclab's
                  rule(8, "some other comment", 9),
                  rule(9, "vpclab sg vpc-b/sg-web ingress 2", 9, counter=False),  # no counter
                  rule(10, "vpclab acl vpc-b/acl-1 outbound - app", 2, "drop", chain="acl-fwd"),
                  rule(11, "vpclab sg vpc-b/sg-web egress 0", 1, "sg-web-out"))
    got = nftc.parse(doc)
    assert sorted(k[3] for k in got) == [4, 10, 11]
    c = got[("inet", "vpclab", "sg-in", 4)]
    assert (c.ref, c.verdict, c.packets, c.bytes) == (RuleRef("sg", "vpc-b", "sg-web", "ingress", 0), "accept", 3, 252)
    acl = got[("inet", "vpclab", "acl-fwd", 10)]
    assert acl.ref == RuleRef("acl", "vpc-b", "acl-1", "outbound", None, "app") and acl.verdict == "drop"
    assert got[("inet", "vpclab", "sg-in", 11)].verdict == "jump"
    assert nftc.parse({"nftables": [{"metainfo": {}}]}) == {}


def test_the_rule_whose_drop_counter_grew_is_named():
    before, after = sg_snapshot(10, 4, 7), sg_snapshot(11, 5, 7)
    hits = nftc.grew(before, after)
    assert [(h.ref.index, h.verdict, h.packets) for h in hits] == [(0, "accept", 1), (1, "drop", 1)]
    d = nftc.drops(hits)
    assert [(h.ns, h.ref.index) for h in d] == [(DST, 1)]
    assert nftc.grew(after, after) == []


def test_no_rule_matched_is_rule_none():
    hits = nftc.grew(sg_snapshot(0, 0, 0), sg_snapshot(0, 0, 2))
    assert [(h.ref.owner, h.ref.index, h.packets) for h in hits] == [("cvm-1", None, 2)]


def test_a_rule_new_since_the_first_snapshot_counts_from_zero_and_a_replaced_one_too():
    before = {DST: nftc.parse(ruleset(rule(4, SG_RULES[0][1], 50)))}
    # the ruleset was replaced meanwhile (a live edit): handle 4 now stands for another rule
    after = {DST: nftc.parse(ruleset(rule(4, SG_RULES[1][1], 1, "drop"), rule(12, SG_RULES[2][1], 0, "drop")))}
    hits = nftc.grew(before, after)
    assert [(h.ref.index, h.packets) for h in hits] == [(1, 1)]


def model() -> Lab:
    from vpclab.topology import load as loader
    from pathlib import Path

    lab = loader.load(Path(__file__).resolve().parents[3] / "topologies" / "01-two-vpcs.yaml")
    lab.name = "t1"
    return lab


def test_security_group_reasons():
    lab = model()
    refs = probe_filters.instance_of_ns(lab)
    assert refs[DST] == "vpc-b/cvm-1"
    h = nftc.Hit(DST, RuleRef("sg", "vpc-b", "sg-web", "ingress", 1), "drop", 1)
    r = probe_filters.reason(lab, h, "the request")
    assert (r.code, r.where, r.group, r.direction, r.rule) == (analyze.SECURITY_GROUP_DENY, "vpc-b/cvm-1", "sg-web",
                                                               "ingress", 1)
    assert r.to_json()["group"] == "sg-web" and r.to_json()["rule"] == 1
    assert "the request was dropped by ingress rule 1 of security group sg-web at vpc-b/cvm-1" in r.detail
    none = probe_filters.reason(lab, nftc.Hit(DST, RuleRef("sg", "vpc-b", "cvm-1", "ingress", None), "drop", 1))
    assert (none.group, none.rule) == (None, None) and none.to_json()["rule"] is None  # v1 model: no groups
    lab.vpcs["vpc-b"].instances["cvm-1"].security_groups = ["sg-web", "sg-db"]
    none = probe_filters.reason(lab, nftc.Hit(DST, RuleRef("sg", "vpc-b", "cvm-1", "ingress", None), "drop", 1))
    assert (none.group, none.rule) == ("sg-web,sg-db", None)  # named as explain names it
    assert "matched no ingress rule of vpc-b/cvm-1's security groups" in none.detail


def test_network_acl_reasons_name_the_subnet():
    lab = model()
    h = nftc.Hit(ROUTER, RuleRef("acl", "vpc-b", "acl-app", "outbound", None, "app"), "drop", 1)
    r = probe_filters.reason(lab, h, "the reply")
    assert (r.code, r.where, r.acl, r.direction, r.rule) == (analyze.NETWORK_ACL_DENY, "vpc-b/app", "acl-app",
                                                             "outbound", None)
    assert r.to_json()["acl"] == "acl-app" and "group" not in r.to_json()
    assert "the reply matched no outbound rule of network ACL acl-app at subnet vpc-b/app" in r.detail
    r2 = probe_filters.reason(lab, nftc.Hit(ROUTER, RuleRef("acl", "vpc-b", "acl-app", "inbound", 3, "app"),
                                            "drop", 2))
    assert r2.rule == 3 and "inbound rule 3 of network ACL acl-app" in r2.detail and "+2" in r2.detail


def test_counters_json_lists_every_rule_met():
    lab = model()
    hits = [nftc.Hit(DST, RuleRef("sg", "vpc-b", "sg-web", "ingress", 0), "accept", 1),
            nftc.Hit(ROUTER, RuleRef("acl", "vpc-b", "acl-app", "outbound", None, "app"), "drop", 1)]
    got = probe_filters.met(hits, probe_filters.instance_of_ns(lab), "t1")
    assert got == [
        {"at": "vpc-b/cvm-1", "rule": "vpclab sg vpc-b/sg-web ingress 0", "kind": "sg", "direction": "ingress",
         "index": 0, "verdict": "accept", "packets": 1},
        {"at": "vpc-b", "rule": "vpclab acl vpc-b/acl-app outbound - app", "kind": "acl", "direction": "outbound",
         "index": None, "verdict": "drop", "packets": 1}]


def test_snapshots_are_not_shared_state():
    s = sg_snapshot(1, 2, 3)
    t = copy.deepcopy(s)
    nftc.grew(s, sg_snapshot(5, 5, 5))
    assert s == t


# ---- which rule dropped THIS probe (issue 19, item 5) -------------------------------------------------
# A counter counts every packet that met its rule, the probe's and any other traffic's. A rule is
# named only when it lies on the lost packet's way, and the probe's own packets (per-flow counters
# before and after the filter chains: counters.Brackets) went into those filters and not out, with
# exactly one such drop rule moving meanwhile. The kernel is faked here (no root).

A_ROUTER, SRC = "vpclab-t1-vpc-a", "vpclab-t1-vpc-a.cvm-1"
IN_B = RuleRef("acl", "vpc-b", "acl-1", "inbound", 0, "app")  # entering vpc-b/app
IN_B_NONE = RuleRef("acl", "vpc-b", "acl-1", "inbound", None, "app")
OUT_B = RuleRef("acl", "vpc-b", "acl-1", "outbound", None, "app")  # leaving vpc-b/app
IN_B_DATA = RuleRef("acl", "vpc-b", "acl-1", "inbound", None, "data")  # another subnet's
OUT_A = RuleRef("acl", "vpc-a", "acl-2", "outbound", None, "app")  # leaving vpc-a/app
IN_A = RuleRef("acl", "vpc-a", "acl-2", "inbound", None, "app")  # entering vpc-a/app


def target(src="vpc-a/cvm-1", dst="vpc-b/cvm-1"):
    from vpclab.controller import probing

    return probing.target(model(), src, dst, "icmp", None)


def hit(ns, ref, n=1, verdict="drop"):
    return nftc.Hit(ns, ref, verdict, n)


def test_a_rule_is_on_the_way_only_in_its_place_and_direction():
    t, on = target(), probe_filters.on_path
    lab = model()
    req, rep = probe_filters.REQUEST, probe_filters.REPLY
    # the request vpc-a/cvm-1 -> vpc-b/cvm-1 leaves vpc-a/app and enters vpc-b/app
    assert on(lab, t, hit(ROUTER, IN_B), req) and not on(lab, t, hit(ROUTER, IN_B), rep)
    assert on(lab, t, hit(ROUTER, OUT_B), rep) and not on(lab, t, hit(ROUTER, OUT_B), req)
    assert on(lab, t, hit(A_ROUTER, OUT_A), req) and not on(lab, t, hit(A_ROUTER, OUT_A), rep)
    # the case: an INBOUND rule of the source's own subnet, for a request leaving it
    assert not on(lab, t, hit(A_ROUTER, IN_A), req) and on(lab, t, hit(A_ROUTER, IN_A), rep)
    assert not on(lab, t, hit(ROUTER, IN_B_DATA), req)  # another subnet of the destination's VPC
    assert not on(lab, t, hit(A_ROUTER, IN_B), req)  # vpc-b's rule read in vpc-a's router: not there
    # a group's ingress at the instance the packet goes to, its egress at the one it leaves
    ing, eg = RuleRef("sg", "vpc-b", "sg-web", "ingress", 0), RuleRef("sg", "vpc-b", "sg-web", "egress", 0)
    assert on(lab, t, hit(DST, ing), req) and not on(lab, t, hit(DST, ing), rep)
    assert on(lab, t, hit(DST, eg), rep) and not on(lab, t, hit(DST, eg), req)
    assert not on(lab, t, hit(SRC, ing), req) and on(lab, t, hit(SRC, ing), rep)


FIDS = (nftc.FlowId(1, 8, 77), nftc.FlowId(1, 0, 77))


def test_a_rule_is_named_only_when_the_probes_own_packets_were_dropped_there():
    t, lab = target(), model()
    req = probe_filters.REQUEST

    def judge(lab, t, lost, fids, grown, counts):
        return probe_filters.judge(lab, t, lost, fids, probe_filters.drops_at(grown), counts)

    dropped_in_b = {FIDS[0]: {(ROUTER, "forward"): (1, 0)}}
    # one drop rule on the way moved, the probe's request went into vpc-b's filters and not out
    assert judge(lab, t, req, FIDS, [hit(ROUTER, IN_B_NONE)], dropped_in_b) == (probe_filters.FOUND,
                                                                               hit(ROUTER, IN_B_NONE))
    # other traffic moved rules off the way (another subnet's, the other direction's): not candidates
    grown = [hit(ROUTER, IN_B_NONE), hit(ROUTER, OUT_B, 5), hit(ROUTER, IN_B_DATA, 3)]
    assert judge(lab, t, req, FIDS, grown, dropped_in_b)[1] == hit(ROUTER, IN_B_NONE)
    # the case: a missing route stopped the request before any filter (it never went in),
    # while other traffic moved a drop rule on its way: no rule is named, explain's reason stays
    route = {FIDS[0]: {(A_ROUTER, "forward"): (0, 0)}}
    assert judge(lab, t, req, FIDS, [hit(A_ROUTER, OUT_A, 4)], route) == (probe_filters.NOT_FILTERED, None)
    assert judge(lab, t, req, FIDS, [hit(A_ROUTER, OUT_A, 4)], {}) == (probe_filters.NOT_FILTERED, None)
    # passed the filters (in and out): not dropped there, whatever moved
    assert judge(lab, t, req, FIDS, [hit(ROUTER, IN_B_NONE)], {FIDS[0]: {(ROUTER, "forward"): (1, 1)}})[0] == \
        probe_filters.NOT_FILTERED
    # two drop rules on the way moved: cannot tell which one dropped it (look again)
    assert judge(lab, t, req, FIDS, [hit(ROUTER, IN_B), hit(ROUTER, IN_B_NONE)], dropped_in_b) == \
        (probe_filters.AMBIGUOUS, None)
    # dropped there, but no rule on its way counted it: nothing named, nothing guessed
    assert judge(lab, t, req, FIDS, [hit(ROUTER, OUT_B)], dropped_in_b) == (probe_filters.UNNAMED, None)
    # the reply's own flow is another key: the request's counts say nothing about it
    assert judge(lab, t, probe_filters.REPLY, FIDS, [hit(ROUTER, OUT_B)], dropped_in_b)[0] == \
        probe_filters.NOT_FILTERED


def test_flow_ids_are_what_a_nat_keeps():
    from vpclab.probe import wire

    a, b = wire.addr4("10.0.1.10"), wire.addr4("10.1.1.10")
    assert nftc.flow_ids(*wire.probe_keys(1, a, b, 0x1234, 77)) == (nftc.FlowId(1, 8, 77), nftc.FlowId(1, 0, 77))
    assert nftc.flow_ids(*wire.probe_keys(6, a, b, 40000, 3306)) == (nftc.FlowId(6, 40000, 3306),
                                                                     nftc.FlowId(6, 3306, 40000))
    assert nftc.FlowId(6, 40000, 3306).element() == "6 . 40000 . 3306" and nftc.FlowId(1, 8, 77).element() == "8 . 77"


def test_bracket_listings_are_read_per_flow_and_side():
    doc = {"nftables": [
        {"set": {"name": "pre_forward_ic", "elem": [
            {"elem": {"val": {"concat": ["echo-request", 77]}, "counter": {"packets": 1, "bytes": 44}}},
            {"elem": {"val": {"concat": ["echo-reply", 77]}, "counter": {"packets": 1, "bytes": 44}}}]}},
        {"set": {"name": "post_forward_ic", "elem": [
            {"elem": {"val": {"concat": ["echo-request", 77]}, "counter": {"packets": 1, "bytes": 44}}},
            {"elem": {"val": {"concat": ["echo-reply", 77]}, "counter": {"packets": 0, "bytes": 0}}}]}},
        {"set": {"name": "pre_input_tu", "elem": [
            {"elem": {"val": {"concat": ["tcp", 40000, 3306]}, "counter": {"packets": 2, "bytes": 120}}}]}}]}
    b = nftc.Brackets.__new__(nftc.Brackets)
    b.made, b.loaded, b.name = [ROUTER], {ROUTER}, "x"
    b._cmd = lambda ns, text: __import__("json").dumps(doc)
    got = b.read()
    assert got[nftc.FlowId(1, 8, 77)] == {(ROUTER, "forward"): (1, 1)}  # the request went through
    assert got[nftc.FlowId(1, 0, 77)] == {(ROUTER, "forward"): (1, 0)}  # the reply went in, not out
    assert got[nftc.FlowId(6, 40000, 3306)] == {(ROUTER, "input"): (2, 0)}


# ---- many probes at once ------------------------------------------------------------------------------
# A fake kernel: each probe, when sent, goes into the filters of the namespace that drops it and
# not out (its own flow's bracket counts), and adds one packet to the counter of the rule that drops
# it; a probe a route stops goes into no filter. Stray packets (a SYN-ACK a server retransmits,
# another matrix's probes) land on a rule's counter without being any probe's.


class World:
    def __init__(self, drops, stray_on_send=None, stray_always=()):
        self.drops = drops  # spec -> RuleRef that drops it at ROUTER (None: a route stops it)
        self.counts = {r: 0 for r in (IN_B, IN_B_NONE, OUT_B, IN_B_DATA)}
        self.brackets = {}
        self.sends = 0
        self.stray_on_send = stray_on_send or {}  # specs sent -> RuleRef a stray packet hits, once
        self.stray_always = stray_always  # rules other traffic moves in every round
        self.seq = 0

    def fast_probe(self, specs, timeout=0.5, before_send=None):
        from types import SimpleNamespace

        from vpclab.probe import wire

        self.sends += 1
        probes = []
        for _ in specs:
            self.seq += 1
            req, rep = wire.probe_keys(1, wire.addr4("10.0.1.10"), wire.addr4("10.1.1.10"), 1, self.seq)
            probes.append(SimpleNamespace(req_key=req, rep_key=rep))
        before_send(probes)
        self.brackets = {}
        for spec, p in zip(specs, probes):
            ref = self.drops.get(spec)
            if ref is not None:
                self.counts[ref] += 1
                self.brackets[nftc.flow_ids(p.req_key, p.rep_key)[0]] = {(ROUTER, "forward"): (1, 0)}
        stray = self.stray_on_send.pop(tuple(specs), None)  # once, when exactly these are sent
        for ref in ([stray] if stray else []) + list(self.stray_always):
            self.counts[ref] += 1
        return []

    def snapshot(self):
        return {ROUTER: {("inet", "vpclab", "c", n): nftc.Counted(ref, "drop", c, 0)
                         for n, (ref, c) in enumerate(sorted(self.counts.items(), key=lambda kv: kv[0].comment()))}}


def run_attribution(monkeypatch, world, specs):
    from vpclab.controller import probing, verdicts
    from vpclab.probe import engine

    lab = model()
    world_reader = type("R", (), {"__init__": lambda self, nss: setattr(self, "ctx", {ROUTER: None}),
                                  "read": lambda self, nss=None: world.snapshot(), "tables": {}})
    fake_brackets = type("B", (), {"__init__": lambda self, ctx, where: None, "load": lambda self, flows: None,
                                   "read": lambda self: dict(world.brackets), "close": lambda self: None})
    monkeypatch.setattr(nftc, "Reader", world_reader)
    monkeypatch.setattr(nftc, "Brackets", fake_brackets)
    monkeypatch.setattr(engine, "fast_probe", world.fast_probe)
    monkeypatch.setattr(probe_filters, "has_filters", lambda m: True)
    monkeypatch.setattr(probe_filters, "filtered_namespaces", lambda m: [ROUTER])
    t = target()
    row = {"result": "unreachable", "forward": {"delivered": False, "last_hop": "vpc-b"}, "return": {}}
    items = [(i, t, dict(row), spec, None, verdicts.stop_ns(lab, row)) for i, spec in enumerate(specs)]
    got = {}
    batch = probe_filters.BatchCounters(lab)  # read before the batch...
    for spec in specs:  # ...which sends each probe once (they stopped at vpc-b's router)
        ref = world.drops.get(spec)
        if ref is not None:
            world.counts[ref] += 1
    for ref in world.stray_always:
        world.counts[ref] += 1
    for i, h in probing.attribute(lab, items, batch=batch):
        got[i] = h.ref
    return got


def test_one_rule_counting_every_probe_names_them_all_at_once(monkeypatch):
    world = World({"p0": IN_B, "p1": IN_B, "p2": IN_B})
    assert run_attribution(monkeypatch, world, ["p0", "p1", "p2"]) == {0: IN_B, 1: IN_B, 2: IN_B}
    assert world.sends == 1  # one round: each probe's own drop, one rule on its way


def test_a_stray_packet_on_the_way_never_names_a_probe_that_met_a_route(monkeypatch):
    # Found by the 200-example differential: p1 stopped at a missing route, p0 at IN_B, and a
    # SYN-ACK retransmitted into IN_B made IN_B's count equal the group's size.
    world = World({"p0": IN_B, "p1": None}, stray_always=[IN_B])
    assert run_attribution(monkeypatch, world, ["p0", "p1"]) == {0: IN_B}  # p1 keeps explain's reason


def test_traffic_moving_rules_off_the_way_changes_nothing(monkeypatch):
    # the case: the other direction's and another subnet's rules keep moving
    world = World({"p0": IN_B, "p1": None}, stray_always=[OUT_B, IN_B_DATA])
    assert run_attribution(monkeypatch, world, ["p0", "p1"]) == {0: IN_B}
    assert world.sends == 1


def test_mixed_rules_and_a_route_are_told_apart_by_probing_again_in_halves(monkeypatch):
    world = World({"p0": IN_B, "p1": IN_B_NONE, "p2": None, "p3": IN_B})  # p2 stopped at a missing route
    assert run_attribution(monkeypatch, world, ["p0", "p1", "p2", "p3"]) == {0: IN_B, 1: IN_B_NONE, 3: IN_B}


def test_a_stray_packet_is_not_taken_for_a_probes_drop(monkeypatch):
    # p0 is dropped by IN_B; the first time it is probed alone, a stray packet lands on IN_B_NONE
    world = World({"p0": IN_B, "p1": IN_B_NONE}, stray_on_send={("p0",): IN_B_NONE})
    assert run_attribution(monkeypatch, world, ["p0", "p1"]) == {0: IN_B, 1: IN_B_NONE}
    assert not world.stray_on_send  # the stray did land during p0's round


def test_nothing_is_probed_again_when_no_drop_rule_on_the_way_moved_where_the_probes_stopped(monkeypatch):
    world = World({"p0": None, "p1": None}, stray_always=[OUT_B, IN_B_DATA])  # routes stopped both
    assert run_attribution(monkeypatch, world, ["p0", "p1"]) == {}
    assert world.sends == 0  # the batch's counters: no rule on their way moved at vpc-b


def test_traffic_that_keeps_two_rules_on_the_way_moving_names_nothing(monkeypatch):
    world = World({"p0": IN_B}, stray_always=[IN_B_NONE])
    assert run_attribution(monkeypatch, world, ["p0"]) == {}  # explain's reason stays
    assert world.sends == probe_filters.ATTRIBUTE_TRIES  # alone from the first round, each time unsure


def test_many_probes_that_two_rules_share_in_one_namespace_are_all_named(monkeypatch):
    """Found by review: with a confirming round per group, 32 rounds named 10 of 16 such probes."""
    specs = [f"p{k}" for k in range(40)]
    world = World({p: (IN_B if k % 2 else IN_B_NONE) for k, p in enumerate(specs)})
    got = run_attribution(monkeypatch, world, specs)
    assert got == {k: (IN_B if k % 2 else IN_B_NONE) for k in range(40)}
