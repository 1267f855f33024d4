"""kernel/rtnl.LinkBrief (issue 23's bench): the engine's index table read straight from an
RTM_NEWLINK message's bytes says what pyroute2's ifinfmsg says: index, name, link kind."""
from __future__ import annotations

from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

from vpclab.kernel import pack, rtnl
from vpclab.kernel.handlers import link


def _both(msg: bytes):
    brief = rtnl.decode(msg, {rtnl.RTM_NEWLINK: rtnl.LinkBrief})[0]
    full = rtnl.decode(msg, {rtnl.RTM_NEWLINK: ifinfmsg})[0]
    info = full.get_attr("IFLA_LINKINFO")
    return (brief.index, brief.name, brief.kind), \
        (full["index"], full.get_attr("IFLA_IFNAME"), (info.get_attr("IFLA_INFO_KIND") if info else None) or "")


def test_a_veth_with_its_kind_and_nested_peer():
    got, want = _both(link.new_request("lab-c-0", "lab-v-ops", 7, index=4242, peer_index=17))
    assert got == want == (4242, "lab-c-0", "veth")


def test_a_link_without_linkinfo_has_no_kind():
    msg = pack.message(rtnl.RTM_NEWLINK, 0, link._ifinfo(3) + pack.string(rtnl.IFLA_IFNAME, "lo")
                       + pack.u32(4, 65536))  # IFLA_MTU after the name
    got, want = _both(msg)
    assert got == want == (3, "lo", "")


def test_several_messages_in_one_buffer():
    msgs = link.new_request("a-0", "b-0", None, index=10) + link.set_request("eth0", "x/y").replace(
        rtnl.RTM_SETLINK.to_bytes(2, "little"), rtnl.RTM_NEWLINK.to_bytes(2, "little"), 1)
    briefs = rtnl.decode(msgs, {rtnl.RTM_NEWLINK: rtnl.LinkBrief})
    assert [(b.index, b.name, b.kind) for b in briefs] == [(10, "a-0", "veth"), (0, "eth0", "")]
