"""veth pairs, made once with each end directly in its namespace (containerlab's link_veth).

create: RTM_NEWLINK of the pair from `ns` with the peer in `peer_ns`; then both
ends up with alias `vpclab:<lab>`, each from its own side; last a get of every
new end, which makes the kernel finish its asynchronous link-watch work (until
then a veth end's qdisc is `noop` and a first packet can be lost), so the lab
forwards when apply returns. change: both ends up again (a link set down by
hand). delete: from a surviving end (a dying namespace would take it only later).

Read back: one Veth per pair, named from the end whose (namespace, ifname)
sorts first; `up` only if both ends are up. An end whose peer is not in the
lab reads back with peer_ns and peer_ifname None. Peers are found by ifindex,
with RTM_GETNSID where two pairs could be confused.
"""
from __future__ import annotations

import errno
import functools
import os
from typing import Dict, List, Optional, Tuple

from ...plan.names import lab_of_ns
from ...plan.objects import Veth
from .. import netns, pack, rtnl
from .base import Handler, Req

_EEXIST = frozenset({errno.EEXIST})


def alias_of(ns: str) -> Optional[str]:
    lab = lab_of_ns(ns)
    return f"vpclab:{lab}" if lab else None


IFLA_IFNAME, IFLA_LINKINFO, IFLA_IFALIAS, IFLA_NET_NS_FD = 3, 18, 20, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1


def _ifinfo(index: int = 0, up: bool = False) -> bytes:
    return pack.IFINFO.pack(0, 0, index, rtnl.IFF_UP if up else 0, rtnl.IFF_UP if up else 0)


def new_request(ifname: str, peer: str, peer_fd: Optional[int], up: bool = True, index: int = 0,
                peer_index: int = 0) -> bytes:
    """This end in the socket's namespace, `peer` in the namespace of `peer_fd`. Only this end
    can be brought up here: the kernel refuses to open the peer (ENOTCONN) before the pair is linked.
    A nonzero `index`/`peer_index` asks the kernel for that ifindex (0: it chooses).
    The link requests are packed by hand (kernel/pack.py)."""
    peer_body = _ifinfo(peer_index) + pack.string(IFLA_IFNAME, peer)
    if peer_fd is not None:
        peer_body += pack.u32(IFLA_NET_NS_FD, peer_fd)
    info = pack.string(IFLA_INFO_KIND, "veth") + pack.attr(IFLA_INFO_DATA, pack.attr(VETH_INFO_PEER, peer_body))
    body = _ifinfo(index, up) + pack.string(IFLA_IFNAME, ifname) + pack.attr(IFLA_LINKINFO, info)
    return pack.message(rtnl.RTM_NEWLINK, rtnl.CREATE, body)


@functools.lru_cache(maxsize=1024)  # every instance's end has the same name and alias
def set_request(ifname: str, alias: Optional[str]) -> bytes:
    body = _ifinfo(up=True) + pack.string(IFLA_IFNAME, ifname) + (pack.string(IFLA_IFALIAS, alias) if alias else b"")
    return pack.message(rtnl.RTM_SETLINK, 0, body)


@functools.lru_cache(maxsize=1024)
def get_request(ifname: str) -> bytes:
    return pack.message(rtnl.RTM_GETLINK, 0, _ifinfo() + pack.string(IFLA_IFNAME, ifname))


def del_request(ifname: str) -> bytes:
    return pack.message(rtnl.RTM_DELLINK, 0, _ifinfo() + pack.string(IFLA_IFNAME, ifname))


class LinkHandler(Handler):
    kind = "veth"
    stage = "link"

    def _made(self, s) -> List:
        return s.state.setdefault(self.kind, [])

    def create(self, s, a) -> None:
        o = a.obj
        peer_fd = None if o.peer_ns == o.ns else s.fd(o.peer_ns, a)
        # The kernel honours the peer's index only when this end's is given too: both or none.
        index = peer_index = 0
        if o.ns in s.fresh and o.peer_ns in s.fresh:
            index, peer_index = s.new_index(o.ns, o.ifname, "veth"), s.new_index(o.peer_ns, o.peer_ifname, "veth")
        else:
            s.unknown(o.ns)
            s.unknown(o.peer_ns)
        s.add(o.ns, Req(new_request(o.ifname, o.peer_ifname, peer_fd, index=index, peer_index=peer_index), a,
                        _EEXIST, last=False, check_kind="veth"))
        self._made(s).append(a)

    def change(self, s, a) -> None:
        self._made(s).append(a)

    def delete(self, s, a) -> None:
        o = a.obj
        if s.live(o.ns):
            s.add(o.ns, Req(del_request(o.ifname), a, rtnl.GONE))
        elif o.peer_ns and s.live(o.peer_ns):
            s.add(o.peer_ns, Req(del_request(o.peer_ifname), a, rtnl.GONE))
        else:
            s.skip()

    def after(self, s) -> None:
        s.forget_links()
        for a in self._made(s):
            o = a.obj
            s.add(o.ns, Req(set_request(o.ifname, alias_of(o.ns)), a, last=False))
            s.add(o.peer_ns, Req(set_request(o.peer_ifname, alias_of(o.peer_ns)), a))

    def finish(self, s) -> None:
        for a in self._made(s):
            o = a.obj
            s.add(o.ns, Req(get_request(o.ifname), a, last=False))
            s.add(o.peer_ns, Req(get_request(o.peer_ifname), a, last=False))

    def read_lab(self, views, ctx):
        ends = []
        for v in views:
            for m in v.links:
                info = m.get_attr("IFLA_LINKINFO")
                if info is not None and info.get_attr("IFLA_INFO_KIND") == "veth":
                    ends.append(_End(v.ns, m))
        return _pair(ends, {v.ns: v.sock for v in views})


class _End:
    __slots__ = ("ns", "name", "index", "peer", "nsid", "up")

    def __init__(self, ns, m):
        self.ns, self.name, self.index = ns, m.get_attr("IFLA_IFNAME"), m["index"]
        self.peer = m.get_attr("IFLA_LINK") or 0
        self.nsid = m.get_attr("IFLA_LINK_NETNSID")
        self.up = bool(m["flags"] & rtnl.IFF_UP)


def _pair(ends: List[_End], socks) -> set:
    by_key: Dict[Tuple[int, int], List[_End]] = {}
    for e in ends:
        by_key.setdefault((e.index, e.peer), []).append(e)
    nsid_of: Dict[Tuple[str, str], Optional[int]] = {}
    fds: Dict[str, int] = {}

    def nsid(seen_from: str, target: str) -> Optional[int]:
        from pyroute2.netlink.rtnl.nsidmsg import nsidmsg

        key = (seen_from, target)
        if key not in nsid_of:
            if target not in fds:
                fds[target] = netns.open_fd(target)
            try:
                msgs = socks[seen_from].get(rtnl.request(nsidmsg, rtnl.RTM_GETNSID, 0, [("NETNSA_FD", fds[target])]))
                nsid_of[key] = msgs[0].get_attr("NETNSA_NSID") if msgs else None
            except rtnl.NetlinkError:
                nsid_of[key] = None
        return nsid_of[key]

    out = set()
    used = set()
    try:
        for e in ends:
            if id(e) in used:
                continue
            cands = [c for c in by_key.get((e.peer, e.index), ())
                     if id(c) not in used and c is not e and (c.ns == e.ns) == (e.nsid is None)]
            if len(cands) > 1:
                cands = [c for c in cands if nsid(e.ns, c.ns) == e.nsid] or cands[:1]
            peer = cands[0] if cands else None
            used.add(id(e))
            if peer is None:
                out.add(Veth(e.ns, e.name, None, None, e.up))
                continue
            used.add(id(peer))
            first, second = sorted((e, peer), key=lambda x: (x.ns, x.name))
            out.add(Veth(first.ns, first.name, second.ns, second.name, e.up and peer.up))
    finally:
        for fd in fds.values():
            os.close(fd)
    return out


HANDLER = LinkHandler()
