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
from vpclab.controller import attribution as probe_filters, verdicts
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
    d = probe_filters.dropping(hits)
    assert d.ns == DST and d.ref.index == 1
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

    lab = loader.load(Path(__file__).resolve().parents[2] / "topologies" / "01-two-vpcs.yaml")
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


def test_the_drop_where_the_packets_stopped_wins():
    a = nftc.Hit("vpclab-t1-vpc-a", RuleRef("acl", "vpc-a", "x", "inbound", 0, "app"), "drop", 1)
    b = nftc.Hit(ROUTER, RuleRef("acl", "vpc-b", "y", "outbound", None, "app"), "drop", 1)
    ok = nftc.Hit(DST, RuleRef("sg", "vpc-b", "sg-web", "ingress", 0), "accept", 1)
    assert probe_filters.dropping([ok, a, b], [ROUTER]) is b
    assert probe_filters.dropping([ok, a, b]) is a
    assert probe_filters.dropping([ok]) is None


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


# ---- many probes at once: which rule dropped which probe ---------------------------------------------
# The kernel is faked here (no root): a "world" where each probe, when sent, adds one packet to
# the counter of the rule that drops it (or to none: it stopped at a missing route), and a stray
# packet can land on a counter at a chosen moment, like a SYN-ACK a server retransmits.


class World:
    def __init__(self, drops, stray_on_send=None):
        self.drops = drops  # spec -> RuleRef that drops it (None: a route stops it)
        self.counts = {}
        self.sends = 0
        self.stray_on_send = stray_on_send or {}  # specs sent -> RuleRef a stray packet hits, once

    def fast_probe(self, specs, timeout=0.5):
        self.sends += 1
        for spec in specs:
            ref = self.drops.get(spec)
            if ref is not None:
                self.counts[ref] = self.counts.get(ref, 0) + 1
        stray = self.stray_on_send.pop(tuple(specs), None)  # once, when exactly these are sent
        if stray is not None:
            self.counts[stray] = self.counts.get(stray, 0) + 1
        return []

    def snapshot(self):
        return {ROUTER: {("inet", "vpclab", "c", n): nftc.Counted(ref, "drop", c, 0)
                         for n, (ref, c) in enumerate(sorted(self.counts.items(), key=lambda kv: kv[0].comment()))}}


def run_attribution(monkeypatch, world, specs, first_hits):
    from types import SimpleNamespace

    from vpclab.probe import engine

    lab = model()
    world_reader = type("R", (), {"__init__": lambda self, nss: None, "read": lambda self: world.snapshot()})
    monkeypatch.setattr(nftc, "Reader", world_reader)
    monkeypatch.setattr(engine, "fast_probe", world.fast_probe)
    row = {"result": "unreachable", "forward": {"delivered": False, "last_hop": "vpc-b"}, "return": {}}
    pending = [(i, verdicts.stop_ns(lab, row), spec) for i, spec in enumerate(specs)]
    got = {}
    watch = SimpleNamespace(reader=SimpleNamespace(ctx={ROUTER: None}))
    for i, h in probe_filters.attribute(watch, first_hits, pending):
        got[i] = h.ref
    return got


R1 = RuleRef("acl", "vpc-b", "acl-1", "inbound", 0, "app")
R2 = RuleRef("acl", "vpc-b", "acl-1", "inbound", None, "app")


def test_one_rule_counting_every_probe_names_them_all_at_once(monkeypatch):
    world = World({"p0": R1, "p1": R1, "p2": R1})
    hits = [nftc.Hit(ROUTER, R1, "drop", 3)]
    assert run_attribution(monkeypatch, world, ["p0", "p1", "p2"], hits) == {0: R1, 1: R1, 2: R1}
    assert world.sends == 1  # probed again once, all together: the count holds twice


def test_a_stray_packet_that_makes_up_the_count_does_not_name_a_probe_that_met_a_route(monkeypatch):
    # Found by the 200-example differential: p1 stopped at a missing route, p0 at R1, and a
    # SYN-ACK retransmitted into R1 during the batch made R1's count equal the group's size.
    world = World({"p0": R1, "p1": None})
    hits = [nftc.Hit(ROUTER, R1, "drop", 2)]
    got = run_attribution(monkeypatch, world, ["p0", "p1"], hits)
    assert got == {0: R1}  # p1 keeps explain's reason (NO_ROUTE)


def test_mixed_rules_and_a_route_are_told_apart_by_probing_again_in_halves(monkeypatch):
    world = World({"p0": R1, "p1": R2, "p2": None, "p3": R1})  # p2 stopped at a missing route
    hits = [nftc.Hit(ROUTER, R1, "drop", 2), nftc.Hit(ROUTER, R2, "drop", 1)]
    got = run_attribution(monkeypatch, world, ["p0", "p1", "p2", "p3"], hits)
    assert got == {0: R1, 1: R2, 3: R1}  # p2 keeps explain's reason


def test_a_stray_packet_is_not_taken_for_a_probes_drop(monkeypatch):
    # p1 stopped at a route; the first time it is probed alone, a stray packet lands on R2
    world = World({"p0": R1, "p1": None}, stray_on_send={("p1",): R2})
    hits = [nftc.Hit(ROUTER, R1, "drop", 1), nftc.Hit(ROUTER, R2, "drop", 1)]
    got = run_attribution(monkeypatch, world, ["p0", "p1"], hits)
    assert got == {0: R1}
    assert not world.stray_on_send  # the stray did land during p1's round


def test_a_real_single_drop_is_named_after_a_stray_spoiled_round(monkeypatch):
    world = World({"p0": R1, "p1": R2}, stray_on_send={("p1",): R1})
    hits = [nftc.Hit(ROUTER, R1, "drop", 1), nftc.Hit(ROUTER, R2, "drop", 1)]
    assert run_attribution(monkeypatch, world, ["p0", "p1"], hits) == {0: R1, 1: R2}


def test_many_probes_that_two_rules_share_in_one_namespace_are_all_named(monkeypatch):
    """Found by review: with a confirming round per group, 32 rounds named 10 of 16 such probes."""
    specs = [f"p{k}" for k in range(40)]
    world = World({p: (R1 if k % 2 else R2) for k, p in enumerate(specs)})
    hits = [nftc.Hit(ROUTER, R1, "drop", 20), nftc.Hit(ROUTER, R2, "drop", 20)]
    got = run_attribution(monkeypatch, world, specs, hits)
    assert got == {k: (R1 if k % 2 else R2) for k in range(40)}
