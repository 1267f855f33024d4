"""The diff repairs what a killed command left half-made, in place (pure; no root).

A read-back of such a lab has links still administratively down, a namespace whose
`lo` and sysctls are not set, a router not forwarding. Each is one `change` of that
object (apply sets it up, writes the sysctls), never a delete and create (which
would cost the link its ifindex, addresses, routes and qdisc).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from vpclab.topology import load as loader
from vpclab.plan.diff import diff
from vpclab.plan.planner import plan

TOPOLOGY = Path(__file__).resolve().parents[3] / "topologies" / "01-two-vpcs.yaml"


def _plan():
    return [o for o in plan(loader.load(TOPOLOGY)).objects if o.key[0] != "service"]


def test_links_left_down_and_unconfigured_namespaces_are_changed_in_place():
    want = _plan()
    routers = {o.name for o in want if o.kind == "netns" and o.forwarding}
    peering = next(o for o in want if o.kind == "veth" and o.peer_ns in routers)
    port = next(o for o in want if o.kind == "veth" and o.peer_ns not in routers)  # to an instance
    ns = next(o for o in want if o.kind == "netns" and not o.forwarding)
    router = next(o for o in want if o.kind == "netns" and o.forwarding)
    damaged = {peering: replace(peering, up=False),
               port: replace(port, up=False),
               ns: replace(ns, lo_up=False),
               router: replace(router, forwarding=False)}
    have = [damaged.get(o, o) for o in want]
    acts = diff(want, have)
    assert sorted((a.op, a.obj.key) for a in acts) == sorted(("change", o.key) for o in damaged)
    assert all(a.obj in want for a in acts)  # each is brought to its plan


def test_a_veth_with_a_missing_peer_end_is_made_again():
    want = _plan()
    routers = {o.name for o in want if o.kind == "netns" and o.forwarding}
    peering = next(o for o in want if o.kind == "veth" and o.peer_ns in routers)
    have = [replace(o, peer_ns=None, peer_ifname=None) if o is peering else o for o in want]
    acts = diff(want, have)
    assert [(a.op, a.obj.key) for a in acts if a.obj.key == peering.key] == [
        ("delete", peering.key), ("create", peering.key)]
    # the link comes back without its addresses: they are planned again
    readd = {a.obj.key for a in acts if a.op == "create" and a.obj.kind == "address"}
    assert readd == {o.key for o in want if o.kind == "address" and o.ifname == peering.ifname}
