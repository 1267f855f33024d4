"""Every netlink message vpclab sends, parsed back by pyroute2 (no root needed).

Each request a handler builds for a planned object is parsed by pyroute2's own
marshal (the stock classes, as `pyroute2-decoder` would); its fields must say
what the plan object says. Then the parsed message goes through the handler's
own read-back, as if the kernel had echoed it in a dump, and must give back
the very same plan object: encode -> pyroute2 -> read-back is the identity.
"""
from __future__ import annotations

import socket
from pathlib import Path

import pytest

pytest.importorskip("pyroute2")

from pyroute2.netlink.rtnl.marshal import MarshalRtnl  # noqa: E402

from vpclab.topology import load as loader  # noqa: E402
from vpclab.kernel import rtnl, tc  # noqa: E402
from vpclab.kernel.handlers import address, link, namespace, qdisc, route, rule  # noqa: E402
from vpclab.plan.objects import RTPROT_VPCLAB, Qdisc  # noqa: E402
from vpclab.plan.planner import plan  # noqa: E402
from vpclab.plan.shaping import shaping  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
TOPOLOGIES = sorted((ROOT / "topologies").glob("*.yaml"))


def parse(data: bytes, ack: bool = True):
    msgs = list(MarshalRtnl().parse(data))
    assert len(msgs) == 1
    m = msgs[0]
    assert m["header"]["length"] == len(data)
    want = rtnl.NLM_F_REQUEST | (rtnl.NLM_F_ACK if ack else 0)
    assert m["header"]["flags"] & (rtnl.NLM_F_REQUEST | rtnl.NLM_F_ACK) == want
    return m


class FakeView:
    """What a handler reads from: dumps that hold the parsed requests, and the link names."""

    def __init__(self, ns, msgs, byindex):
        self.ns, self.msgs, self.byindex = ns, msgs, byindex

    def dump(self, spec):
        req, _ = spec()  # the handler's own dump request, well-formed
        assert parse(req, ack=False)["header"]["flags"] & 0x300 == 0x300
        return self.msgs


def objects(kind, netem=True):
    out = []
    for path in TOPOLOGIES:
        try:
            lab = loader.load(path)
        except Exception:  # a topology meant to be refused
            continue
        out += [o for o in plan(lab, netem=netem).objects if o.key[0] == kind]
    assert out, kind
    return out


def test_routes_round_trip():
    for o in objects("route"):
        oif = 7 if (o.dev and o.type == "unicast") else None
        m = parse(route.request("create", o, oif))
        assert m["header"]["type"] == rtnl.RTM_NEWROUTE and m["proto"] == RTPROT_VPCLAB
        assert m["header"]["flags"] & rtnl.REPLACE == rtnl.REPLACE
        assert m["family"] == socket.AF_INET and m["type"] == route.TYPES[o.type]
        assert m.get_attr("RTA_TABLE") == o.table and m.get_attr("RTA_GATEWAY") == o.via
        assert m.get_attr("RTA_OIF") == oif
        assert set(route.HANDLER.read(FakeView(o.ns, [m], {7: o.dev}))) == {o}
        d = parse(route.request("delete", o))
        assert d["header"]["type"] == rtnl.RTM_DELROUTE and d.get_attr("RTA_DST") == o.dst.split("/")[0]
        assert d["dst_len"] == int(o.dst.split("/")[1]) and d.get_attr("RTA_TABLE") == o.table


def test_addresses_round_trip():
    for o in objects("address"):
        m = parse(address.request("create", 9, o.cidr))
        assert m["header"]["type"] == rtnl.RTM_NEWADDR and m["index"] == 9
        assert m.get_attr("IFA_LOCAL") == o.cidr.split("/")[0] == m.get_attr("IFA_ADDRESS")
        assert set(address.HANDLER.read(FakeView(o.ns, [m], {9: o.ifname}))) == {o}
        assert parse(address.request("delete", 9, o.cidr))["header"]["type"] == rtnl.RTM_DELADDR


def test_rules_round_trip():
    for o in objects("rule"):
        m = parse(rule.create_request(o))
        assert m["header"]["type"] == rtnl.RTM_NEWRULE and m["action"] == rule.FR_ACT_TO_TBL
        assert m.get_attr("FRA_PROTOCOL") == RTPROT_VPCLAB
        assert set(rule.HANDLER.read(FakeView(o.ns, [m], {}))) == {o}
        d = parse(rule.delete_request(o.priority))
        assert d["header"]["type"] == rtnl.RTM_DELRULE and d.get_attr("FRA_PRIORITY") == o.priority


def test_qdiscs_round_trip_with_what_pyroute2_lacks():
    caps = objects("qdisc")
    caps += [Qdisc("n", "x", *shaping(rate), delay) for rate in (1_000, 999_999, 40_000_000)
             for delay in (None, 12.5, 0.000125)]  # above 32 bits of bytes/s: TCA_TBF_RATE64
    for o in caps:
        msgs = []
        for req in tc.requests(5, o.rate_kbit, o.burst_bytes, o.limit_bytes, o.delay_ms):
            stock = parse(req)  # pyroute2's stock tcmsg reads the header and the tbf parms
            assert stock["header"]["type"] == rtnl.RTM_NEWQDISC and stock["index"] == 5
            if stock.get_attr("TCA_KIND") == "tbf":
                parms = stock.get_attr("TCA_OPTIONS").get_attr("TCA_TBF_PARMS")
                assert parms["limit"] == o.limit_bytes and parms["rate"] == min(o.rate_kbit * 125, 2**32 - 1)
            msgs += rtnl.decode(req, {rtnl.RTM_NEWQDISC: tc.classes()["qdiscmsg"]})  # ... and our subclasses the rest
        assert set(qdisc.HANDLER.read(FakeView(o.ns, msgs, {5: o.ifname}))) == {o}


def test_veth_and_link_requests():
    for o in objects("veth"):
        m = parse(link.new_request(o.ifname, o.peer_ifname, 11))
        assert m["header"]["type"] == rtnl.RTM_NEWLINK and m["flags"] & rtnl.IFF_UP
        assert m["header"]["flags"] & rtnl.CREATE == rtnl.CREATE
        assert m.get_attr("IFLA_IFNAME") == o.ifname
        info = m.get_attr("IFLA_LINKINFO")
        assert info.get_attr("IFLA_INFO_KIND") == "veth"
        peer = info.get_attr("IFLA_INFO_DATA").get_attr("VETH_INFO_PEER")
        assert peer.get_attr("IFLA_IFNAME") == o.peer_ifname and peer.get_attr("IFLA_NET_NS_FD") == 11
        s = parse(link.set_request(o.ifname, link.alias_of(o.ns)))
        assert s["header"]["type"] == rtnl.RTM_SETLINK and s["flags"] == s["change"] == rtnl.IFF_UP
        assert s.get_attr("IFLA_IFALIAS") == link.alias_of(o.ns) and s.get_attr("IFLA_IFNAME") == o.ifname
        assert parse(link.del_request(o.ifname)).get_attr("IFLA_IFNAME") == o.ifname
    lo = parse(namespace.lo_up())
    assert lo["index"] == 1 and lo["flags"] == lo["change"] == rtnl.IFF_UP


def test_the_teardown_sentinel_hand_packs_what_pyroute2_parses():
    """kernel/sentinel.py packs its three messages by hand (`down` must not pay for importing
    pyroute2): pyroute2 parses the veth it sends, and it reads pyroute2's link messages."""
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

    from vpclab.kernel import sentinel

    m = parse(sentinel.packed(sentinel.RTM_NEWLINK, sentinel.NEW_FLAGS, sentinel.veth_body("vpclab-snt0", 7)))
    assert m["header"]["type"] == rtnl.RTM_NEWLINK and m["header"]["flags"] & rtnl.CREATE == rtnl.CREATE
    assert m.get_attr("IFLA_IFNAME") == "vpclab-snt0" and not m["flags"] & rtnl.IFF_UP
    info = m.get_attr("IFLA_LINKINFO")
    peer = info.get_attr("IFLA_INFO_DATA").get_attr("VETH_INFO_PEER")
    assert info.get_attr("IFLA_INFO_KIND") == "veth"
    assert peer.get_attr("IFLA_IFNAME") == "vpclab-snt0" and peer.get_attr("IFLA_NET_NS_FD") == 7
    dump = parse(sentinel.packed(sentinel.RTM_GETLINK, sentinel.DUMP_FLAGS, sentinel._IFI.pack(0, 0, 0, 0, 0)), ack=False)
    assert dump["header"]["type"] == rtnl.RTM_GETLINK and dump["header"]["flags"] & 0x300 == 0x300
    # and what the kernel sends back, encoded by pyroute2, reads right by hand
    for mtype in (rtnl.RTM_NEWLINK, rtnl.RTM_DELLINK):
        data = rtnl.request(ifinfmsg, mtype, 0, [("IFLA_MTU", 1500), ("IFLA_IFNAME", "vpclab-snt0")], index=4242)
        (t, _, off), = sentinel.messages(data)
        assert t == mtype and sentinel._ifname(data, off) == "vpclab-snt0"
        assert sentinel._IFI.unpack_from(data, off + 16)[2] == 4242
