"""Namespaces: created like `ip netns add` (unshare + bind mount), removed by unmounting.

Every lab namespace gets `lo` up, IPv6 off, rp_filter 0 (all/default) and
ip_forward from `forwarding`; change rewrites those settings and sets `lo` up
again, in place. Read back: forwarding, and whether `lo` is up with the settings written.
"""
from __future__ import annotations

import errno

from ...plan.objects import Netns
from .. import netns, pack, rtnl
from .base import Handler, Req, refused

# The request that brings lo (ifindex 1) up, packed by hand (kernel/pack.py).
LO_UP = pack.message(rtnl.RTM_SETLINK, 0, pack.IFINFO.pack(0, 0, 1, rtnl.IFF_UP, rtnl.IFF_UP))


def lo_up() -> bytes:
    return LO_UP


class NamespaceHandler(Handler):
    kind = "netns"
    stage = "namespace"

    def delete(self, s, a) -> None:
        s.forget(a.obj.name)
        netns.remove(a.obj.name)
        s.result.done += 1

    def create(self, s, a) -> None:
        o = a.obj
        settings = dict(netns.LAB_SYSCTLS)
        settings[netns.FORWARDING] = "1" if o.forwarding else "0"

        def inside():
            netns.write_sysctls_here(settings)
            return rtnl.Socket()

        sock = None
        if a.op == "create":
            try:
                sock = netns.create(o.name, inside)
            except FileExistsError:
                sock = None
        fresh = sock is not None
        if sock is None:  # change, or create of one that exists
            s.forget(o.name)
            try:
                sock = netns.run_in(o.name, inside)
            except FileNotFoundError:
                raise refused(a, errno.ENOENT, "namespace does not exist") from None
        s.socks[o.name] = sock
        s.links.pop(o.name, None)
        if fresh:
            s.created(o.name)
        s.add(o.name, Req(lo_up(), a))

    def read(self, view):
        # `lo` goes up after the sysctls are written, and the last one written differs from
        # a new namespace's default: a namespace a killed command left half set up, or one
        # changed by hand, reads back as not set up (lo_up False) and is set up again in place.
        forwarding, last = view.run(lambda: (netns.read_sysctl_here(netns.FORWARDING),
                                             netns.read_sysctl_here(netns.LAST_SYSCTL)))
        lo_up = any(m["index"] == 1 and m["flags"] & rtnl.IFF_UP for m in view.links)
        yield Netns(view.ns, forwarding == "1", lo_up and last == netns.LAB_SYSCTLS[netns.LAST_SYSCTL])


HANDLER = NamespaceHandler()
