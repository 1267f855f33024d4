"""Namespaces: created like `ip netns add` (unshare + bind mount), removed by unmounting.

Every lab namespace gets `lo` up, IPv6 off, rp_filter 0 (all/default) and
ip_forward from `forwarding`; change rewrites those settings and sets `lo` up
again, in place. Read back: forwarding, and whether `lo` is up with the settings written.
"""
from __future__ import annotations

import errno
import os

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
            with netns.SysctlDirs() as dirs:
                netns.write_sysctls_here(settings, dirs)
                # a router's interface settings come later (handlers/sysctl.py): its
                # /proc/sys/net/ipv4 is kept from now, when finding it costs no walk
                kept = dirs.take("ipv4") if o.forwarding else None
            try:
                return rtnl.Socket(), kept
            except BaseException:
                if kept is not None:
                    os.close(kept)
                raise

        made = None
        if a.op == "create":
            try:
                made = netns.create(o.name, inside)
            except FileExistsError:
                made = None
        fresh = made is not None
        if made is None:  # change, or create of one that exists
            s.forget(o.name)
            try:
                made = netns.run_in(o.name, inside)
            except FileNotFoundError:
                raise refused(a, errno.ENOENT, "namespace does not exist") from None
        sock, kept = made
        s.socks[o.name] = sock
        if kept is not None:
            s.sysdirs[o.name] = kept
        s.links.pop(o.name, None)
        if fresh:
            s.created(o.name)
        s.add(o.name, Req(lo_up(), a))

    def read(self, view):
        # `lo` goes up after the sysctls are written, and the last one written differs from
        # a new namespace's default: a namespace a killed command left half set up, or one
        # changed by hand, reads back as not set up (lo_up False) and is set up again in place.
        forwarding, last = view.run(lambda: netns.read_sysctls_here((netns.FORWARDING, netns.LAST_SYSCTL)))
        lo_up = any(m["index"] == 1 and m["flags"] & rtnl.IFF_UP for m in view.links)
        yield Netns(view.ns, forwarding == "1", lo_up and last == netns.LAB_SYSCTLS[netns.LAST_SYSCTL])


HANDLER = NamespaceHandler()
