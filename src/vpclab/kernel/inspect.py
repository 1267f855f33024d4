"""Read back from the kernel what a lab owns, as the planner's own objects.

Owns: `read_lab(lab)` (a set of Netns, Bridge, Veth, Address, Rule, Route and
Qdisc values, so that a diff is a set difference) and `list_labs()`.

Fast by design: one socket per namespace, five dumps per namespace, no
per-object gets (RTM_GETNSID only where two veth ends could be confused).

What is read:
- namespaces named `vpclab-<lab>-*`; `forwarding` from net.ipv4.ip_forward;
  `configured` if `lo` is up and the last of the lab's sysctls (netns.LAST_SYSCTL,
  written after the others) is set
- bridges and veths with their admin state (IFF_UP; a veth is `up` if both ends
  are), so that a link a killed command left down is set up again
- IPv4 addresses (not on lo); rules with priority 1000..29999;
  routes with protocol RTPROT_VPCLAB in any table; root tbf qdiscs (with the
  netem delay above them, when there is one)
- veths, one object per pair. Which end is `ns`/`ifname`: the end that has a
  master if exactly one end has one; otherwise the end whose (namespace,
  ifname) sorts first. `master` is that end's master. An end whose peer is
  not in the lab reads back with peer_ns and peer_ifname None.

Route `dst` reads back as "a.b.c.d/len" (default: "0.0.0.0/0"); a route's
`dev` is None for non-unicast types.
"""
from __future__ import annotations

import os
import socket
from typing import Dict, List, Optional, Set, Tuple

from ..plan.names import lab_of_ns, lab_prefix
from ..plan.objects import NS_PREFIX, RTPROT_VPCLAB, Address, Bridge, Netns, Qdisc, Route, Rule, Veth
from . import netns, rtnl, tc

RULE_PRIORITIES = range(1000, 30000)


def list_labs() -> List[str]:
    """Lab names seen in namespace names."""
    return sorted({lab for lab in map(lab_of_ns, netns.list_names(NS_PREFIX)) if lab})


class _End:
    __slots__ = ("ns", "name", "index", "peer", "nsid", "master", "up")

    def __init__(self, ns, name, index, peer, nsid, master, up):
        self.ns, self.name, self.index, self.peer, self.nsid, self.master = ns, name, index, peer, nsid, master
        self.up = up


def _open(name: str) -> Tuple[rtnl.Socket, bool, bool]:
    """A socket inside namespace `name`; whether it forwards; whether its sysctls are all set."""
    def inside():
        last = netns.read_sysctl_here(netns.LAST_SYSCTL) == netns.LAB_SYSCTLS[netns.LAST_SYSCTL]
        return rtnl.Socket(), netns.read_sysctl_here(netns.FORWARDING) == "1", last

    return netns.run_in(name, inside)


def read_lab(lab: str) -> Set[object]:
    """Everything lab `lab` has in the kernel, as plan objects."""
    names = [n for n in netns.list_names(lab_prefix(lab)) if netns.exists(n)]
    out: Set[object] = set()
    socks: Dict[str, rtnl.Socket] = {}
    ends: List[_End] = []
    try:
        for ns in names:
            try:
                sock, forwarding, sysctls_set = _open(ns)
            except FileNotFoundError:
                continue
            socks[ns] = sock
            lo_up = _read_ns(ns, sock, out, ends)
            out.add(Netns(ns, forwarding, configured=lo_up and sysctls_set))
        out.update(_pair_veths(ends, socks))
    finally:
        for s in socks.values():
            s.close()
    return out


def _read_ns(ns: str, sock: rtnl.Socket, out: Set[object], ends: List[_End]) -> bool:
    """Add the namespace's objects to `out` and its veth ends to `ends`; True if `lo` is up."""
    byindex: Dict[int, str] = {}
    raw_ends = []
    lo_up = False
    for m in sock.dump(rtnl.RTM_GETLINK, rtnl.link_dump_body()):
        index = rtnl.i32(m.body[4:8])
        up = bool(rtnl.u32(m.body[8:12]) & rtnl.IFF_UP)
        name = rtnl.cstr(m.attrs[rtnl.IFLA_IFNAME])
        byindex[index] = name
        info = m.attrs.get(rtnl.IFLA_LINKINFO)
        kind = ""
        if info is not None:
            kind = rtnl.cstr(rtnl.attrs(info, 0, len(info)).get(rtnl.IFLA_INFO_KIND, b"\0"))
        if name == "lo":
            lo_up = up
        elif kind == "bridge":
            out.add(Bridge(ns, name, up))
        elif kind == "veth":
            a = m.attrs
            raw_ends.append((name, index, rtnl.u32(a[rtnl.IFLA_LINK]) if rtnl.IFLA_LINK in a else 0,
                             rtnl.i32(a[rtnl.IFLA_LINK_NETNSID]) if rtnl.IFLA_LINK_NETNSID in a else None,
                             rtnl.u32(a[rtnl.IFLA_MASTER]) if rtnl.IFLA_MASTER in a else 0, up))
    ends.extend(_End(ns, n, i, p, nsid, byindex.get(mi) if mi else None, up)
                for n, i, p, nsid, mi, up in raw_ends)

    for m in sock.dump(rtnl.RTM_GETADDR, rtnl.af_inet_dump_body(8)):
        family, plen, _, _, index = rtnl._IFA.unpack_from(m.body)
        ifname = byindex.get(index)
        raw = m.attrs.get(rtnl.IFA_LOCAL) or m.attrs.get(rtnl.IFA_ADDRESS)
        if family != socket.AF_INET or ifname is None or ifname == "lo" or raw is None:
            continue
        out.add(Address(ns, ifname, f"{socket.inet_ntoa(bytes(raw))}/{plen}"))

    for m in sock.dump(rtnl.RTM_GETRULE, rtnl.af_inet_dump_body(12)):
        a = m.attrs
        prio = rtnl.u32(a[rtnl.FRA_PRIORITY]) if rtnl.FRA_PRIORITY in a else 0
        if prio not in RULE_PRIORITIES:
            continue
        table = rtnl.u32(a[rtnl.FRA_TABLE]) if rtnl.FRA_TABLE in a else m.body[4]
        iif = rtnl.cstr(a[rtnl.FRA_IIFNAME]) if rtnl.FRA_IIFNAME in a else None
        out.add(Rule(ns, prio, iif, table))

    for m in sock.dump(rtnl.RTM_GETROUTE, rtnl.af_inet_dump_body(12)):
        family, dlen, _, _, t8, proto, _, rtype, _ = rtnl._RTM.unpack_from(m.body)
        if proto != RTPROT_VPCLAB or family != socket.AF_INET:
            continue
        a = m.attrs
        table = rtnl.u32(a[rtnl.RTA_TABLE]) if rtnl.RTA_TABLE in a else t8
        dst = socket.inet_ntoa(bytes(a[rtnl.RTA_DST])) if rtnl.RTA_DST in a else "0.0.0.0"
        tname = rtnl.RTN_NAMES.get(rtype, str(rtype))
        via = socket.inet_ntoa(bytes(a[rtnl.RTA_GATEWAY])) if rtnl.RTA_GATEWAY in a else None
        dev = byindex.get(rtnl.u32(a[rtnl.RTA_OIF])) if (rtnl.RTA_OIF in a and tname == "unicast") else None
        out.add(Route(ns, table, f"{dst}/{dlen}", tname, via, dev))

    for index, (rate, burst, delay) in tc.decode(sock.dump(rtnl.RTM_GETQDISC, rtnl.tc_dump_body())).items():
        if index in byindex:
            out.add(Qdisc(ns, byindex[index], rate, burst, delay))
    return lo_up


def _pair_veths(ends: List[_End], socks: Dict[str, rtnl.Socket]) -> Set[Veth]:
    """One Veth per pair; peers found by ifindex, with RTM_GETNSID where that is ambiguous."""
    by_key: Dict[Tuple[int, int], List[_End]] = {}
    for e in ends:
        by_key.setdefault((e.index, e.peer), []).append(e)
    nsid_of: Dict[Tuple[str, str], Optional[int]] = {}
    fds: Dict[str, int] = {}

    def nsid(seen_from: str, target: str) -> Optional[int]:
        key = (seen_from, target)
        if key not in nsid_of:
            if target not in fds:
                fds[target] = netns.open_fd(target)
            try:
                msgs = socks[seen_from].get(rtnl.RTM_GETNSID, rtnl.getnsid(fds[target])[2])
                a = msgs[0].attrs if msgs else {}
                nsid_of[key] = rtnl.i32(a[rtnl.NETNSA_NSID]) if rtnl.NETNSA_NSID in a else None
            except rtnl.NetlinkError:
                nsid_of[key] = None
        return nsid_of[key]

    out: Set[Veth] = set()
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
                out.add(Veth(e.ns, e.name, None, None, e.master, e.up))
                continue
            used.add(id(peer))
            out.add(_veth_of(e, peer))
    finally:
        for fd in fds.values():
            os.close(fd)
    return out


def _veth_of(a: _End, b: _End) -> Veth:
    if bool(a.master) != bool(b.master):
        first, second = (a, b) if a.master else (b, a)
    else:
        first, second = sorted((a, b), key=lambda x: (x.ns, x.name))
    return Veth(first.ns, first.name, second.ns, second.name, first.master, a.up and b.up)
