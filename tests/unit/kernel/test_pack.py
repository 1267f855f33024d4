"""The requests packed by hand (kernel/pack.py) are byte for byte what pyroute2's classes encode.

For each hand-packed request, the same request is encoded here through
pyroute2's message classes (`rtnl.request`, the encoder vpclab used before),
from the same fields, for every object the planner makes of every topology and
for generated values (hypothesis). test_messages.py parses the packed bytes
back with pyroute2 and checks the plan object survives; this file checks that
nothing at all differs from pyroute2's own encoding.
"""
from __future__ import annotations

import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("pyroute2")

from pyroute2.netlink.rtnl.fibmsg import fibmsg  # noqa: E402
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg  # noqa: E402
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg  # noqa: E402
from pyroute2.netlink.rtnl.rtmsg import rtmsg  # noqa: E402

from vpclab.kernel import rtnl, tc  # noqa: E402
from vpclab.kernel.handlers import address, link, namespace, route, rule  # noqa: E402
from vpclab.plan.objects import RTPROT_VPCLAB, Route, Rule  # noqa: E402
from vpclab.plan.shaping import shaping  # noqa: E402

from test_messages import objects  # noqa: E402

UP = dict(flags=rtnl.IFF_UP, change=rtnl.IFF_UP)


# ------------------------------------------------------------------ pyroute2's encoding of the same

def py_route(op, o: Route, oif=None) -> bytes:
    ip, _, plen = o.dst.partition("/")
    attrs = [("RTA_TABLE", o.table), ("RTA_DST", ip)]
    head = dict(family=socket.AF_INET, dst_len=int(plen), table=o.table if o.table < 256 else 0, proto=RTPROT_VPCLAB)
    if op == "delete":
        return rtnl.request(rtmsg, rtnl.RTM_DELROUTE, 0, attrs, scope=route.RT_SCOPE_NOWHERE, **head)
    kind = route.TYPES[o.type]
    if o.via is not None:
        attrs.append(("RTA_GATEWAY", o.via))
    if oif is not None:
        attrs.append(("RTA_OIF", oif))
    scope = route.RT_SCOPE_LINK if (kind == 1 and o.via is None) else route.RT_SCOPE_UNIVERSE
    return rtnl.request(rtmsg, rtnl.RTM_NEWROUTE, rtnl.REPLACE, attrs, scope=scope, type=kind,
                        flags=route.RTNH_F_ONLINK if o.via is not None else 0, **head)


def py_address(op, index, cidr) -> bytes:
    ip, _, plen = cidr.partition("/")
    mtype, flags = (rtnl.RTM_DELADDR, 0) if op == "delete" else (rtnl.RTM_NEWADDR, rtnl.REPLACE)
    return rtnl.request(ifaddrmsg, mtype, flags, [("IFA_LOCAL", ip), ("IFA_ADDRESS", ip)],
                        family=socket.AF_INET, prefixlen=int(plen or 32), index=index)


def py_rule(o: Rule) -> bytes:
    attrs = [("FRA_PRIORITY", o.priority), ("FRA_TABLE", o.table), ("FRA_PROTOCOL", RTPROT_VPCLAB)]
    src_len = 0
    if o.src:
        ip, _, plen = o.src.partition("/")
        src_len = int(plen or 32)
        attrs.append(("FRA_SRC", ip))
    if o.iif:
        attrs.append(("FRA_IIFNAME", o.iif))
    return rtnl.request(fibmsg, rtnl.RTM_NEWRULE, rtnl.CREATE, attrs, family=socket.AF_INET,
                        table=o.table if o.table < 256 else 0, action=rule.FR_ACT_TO_TBL, src_len=src_len)


def py_veth(ifname, peer, peer_fd, up=True, index=0, peer_index=0) -> bytes:
    peer_attrs = [("IFLA_IFNAME", peer)] + ([("IFLA_NET_NS_FD", peer_fd)] if peer_fd is not None else [])
    info = {"attrs": [("IFLA_INFO_KIND", "veth"),
                      ("IFLA_INFO_DATA", {"attrs": [("VETH_INFO_PEER", {"attrs": peer_attrs, "index": peer_index})]})]}
    return rtnl.request(ifinfmsg, rtnl.RTM_NEWLINK, rtnl.CREATE, [("IFLA_IFNAME", ifname), ("IFLA_LINKINFO", info)],
                        index=index, **(UP if up else {}))


# ------------------------------------------------------------------ every planned object

def test_routes_are_pyroute2s_bytes():
    for o in objects("route"):
        oif = 7 if (o.dev and o.type == "unicast") else None
        assert route.request("create", o, oif) == py_route("create", o, oif), o
        assert route.request("delete", o) == py_route("delete", o), o


def test_addresses_are_pyroute2s_bytes():
    for o in objects("address"):
        for op in ("create", "delete"):
            assert address.request(op, 9, o.cidr) == py_address(op, 9, o.cidr), o


def test_rules_are_pyroute2s_bytes():
    for o in objects("rule"):
        assert rule.create_request(o) == py_rule(o), o
        assert rule.delete_request(o.priority) == rtnl.request(
            fibmsg, rtnl.RTM_DELRULE, 0, [("FRA_PRIORITY", o.priority)], family=socket.AF_INET)


def test_links_are_pyroute2s_bytes():
    for o in objects("veth"):
        for fd in (None, 11):
            assert link.new_request(o.ifname, o.peer_ifname, fd) == py_veth(o.ifname, o.peer_ifname, fd)
        assert link.new_request(o.ifname, o.peer_ifname, 11, index=3, peer_index=4) == \
            py_veth(o.ifname, o.peer_ifname, 11, index=3, peer_index=4)
        assert link.new_request(o.ifname, o.peer_ifname, None, up=False) == \
            py_veth(o.ifname, o.peer_ifname, None, up=False)
        for end, ns in ((o.ifname, o.ns), (o.peer_ifname, o.peer_ns)):
            alias = link.alias_of(ns)
            want = rtnl.request(ifinfmsg, rtnl.RTM_SETLINK, 0, [("IFLA_IFNAME", end), ("IFLA_IFALIAS", alias)], **UP)
            assert link.set_request(end, alias) == want
            assert link.get_request(end) == rtnl.request(ifinfmsg, rtnl.RTM_GETLINK, 0, [("IFLA_IFNAME", end)])
            assert link.del_request(end) == rtnl.request(ifinfmsg, rtnl.RTM_DELLINK, 0, [("IFLA_IFNAME", end)])
    assert link.set_request("eth0", None) == rtnl.request(ifinfmsg, rtnl.RTM_SETLINK, 0, [("IFLA_IFNAME", "eth0")], **UP)
    assert namespace.lo_up() == rtnl.request(ifinfmsg, rtnl.RTM_SETLINK, index=1, **UP)


def test_tbf_is_pyroute2s_bytes():
    caps = [(o.rate_kbit, o.burst_bytes, o.limit_bytes) for o in objects("qdisc")]
    caps += [shaping(rate) for rate in (1, 1_000, 999_999, 34_359_738, 34_359_739, 40_000_000)]  # past 2**32 B/s
    for rate, burst, limit in caps:
        for handle, parent in ((tc.TBF_HANDLE, tc.TC_H_ROOT), (tc.TBF_UNDER_NETEM, tc.NETEM_CHILD)):
            assert tc.tbf_request(5, rate, burst, limit, handle, parent) == \
                tc.qdisc("replace", 5, "tbf", tc.tbf(rate, burst, limit), handle, parent), (rate, burst, limit)
    assert tc.delete_request(5) == tc.qdisc("delete", 5)


# ------------------------------------------------------------------ generated values

ipv4 = st.integers(0, 2**32 - 1).map(lambda n: socket.inet_ntoa(n.to_bytes(4, "big")))
ifname = st.text("abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=15)
table = st.sampled_from([100, 254, 255, 256, 1000, 2**31, 2**32 - 1])


@settings(max_examples=300, deadline=None)
@given(table=table, ip=ipv4, plen=st.integers(0, 32), rtype=st.sampled_from(sorted(route.TYPES)),
       via=st.none() | ipv4, oif=st.none() | st.integers(1, 2**31 - 1))
def test_generated_routes(table, ip, plen, rtype, via, oif):
    o = Route("ns", table, f"{ip}/{plen}", rtype, via if rtype == "unicast" else None, None)
    assert route.request("create", o, oif) == py_route("create", o, oif)
    assert route.request("delete", o) == py_route("delete", o)


@settings(max_examples=200, deadline=None)
@given(prio=st.integers(0, 2**32 - 1), table=table, src=st.none() | st.tuples(ipv4, st.integers(0, 32)),
       iif=st.none() | ifname, index=st.integers(1, 2**31 - 1), addr=ipv4, plen=st.integers(1, 32))
def test_generated_rules_and_addresses(prio, table, src, iif, index, addr, plen):
    o = Rule("ns", prio, iif, table, f"{src[0]}/{src[1]}" if src else None)
    assert rule.create_request(o) == py_rule(o)
    for op in ("create", "delete"):
        assert address.request(op, index, f"{addr}/{plen}") == py_address(op, index, f"{addr}/{plen}")


@settings(max_examples=200, deadline=None)
@given(a=ifname, b=ifname, fd=st.none() | st.integers(0, 2**31 - 1), up=st.booleans(),
       idx=st.tuples(st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1)), alias=st.none() | st.text(max_size=60),
       rate=st.integers(1, 100_000_000), burst=st.integers(1, 2**31), limit=st.integers(1, 2**32 - 1))
def test_generated_links_and_caps(a, b, fd, up, idx, alias, rate, burst, limit):
    assert link.new_request(a, b, fd, up, *idx) == py_veth(a, b, fd, up, *idx)
    attrs = [("IFLA_IFNAME", a)] + ([("IFLA_IFALIAS", alias)] if alias else [])
    assert link.set_request(a, alias) == rtnl.request(ifinfmsg, rtnl.RTM_SETLINK, 0, attrs, **UP)
    try:
        want = tc.qdisc("replace", 3, "tbf", tc.tbf(rate, burst, limit), tc.TBF_HANDLE, tc.TC_H_ROOT)
    except Exception:  # a buffer past 32 bits of ticks: pyroute2 refuses it, and so must we
        with pytest.raises(Exception):
            tc.tbf_request(3, rate, burst, limit, tc.TBF_HANDLE, tc.TC_H_ROOT)
        return
    assert tc.tbf_request(3, rate, burst, limit, tc.TBF_HANDLE, tc.TC_H_ROOT) == want
