"""Policy rules: `[from SRC] [iif IFNAME] lookup TABLE` at a priority, marked as vpclab's.

create adds (an equal rule already there is fine); change = delete + add;
delete matches on the priority alone. Read back: priorities 1000..29999.
"""
from __future__ import annotations

import errno
import socket

from ...plan.objects import RTPROT_VPCLAB, Rule
from .. import pack, rtnl
from .base import Handler, Req, delete

PRIORITIES = range(1000, 30000)
FR_ACT_TO_TBL = 1
_EEXIST = frozenset({errno.EEXIST})


FRA_SRC, FRA_IIFNAME, FRA_PRIORITY, FRA_TABLE, FRA_PROTOCOL = 2, 3, 6, 15, 21


def delete_request(priority: int) -> bytes:
    """Packed by hand (kernel/pack.py), as is create_request."""
    body = pack.FIBMSG.pack(socket.AF_INET, 0, 0, 0, 0, 0, 0, 0, 0) + pack.u32(FRA_PRIORITY, priority)
    return pack.message(rtnl.RTM_DELRULE, 0, body)


def create_request(o: Rule) -> bytes:
    attrs = pack.u32(FRA_PRIORITY, o.priority) + pack.u32(FRA_TABLE, o.table) + pack.attr(FRA_PROTOCOL,
                                                                                          bytes((RTPROT_VPCLAB,)))
    src_len = 0
    if o.src:
        ip, _, plen = o.src.partition("/")
        src_len = int(plen or 32)
        attrs += pack.ip4(FRA_SRC, ip)
    if o.iif:
        attrs += pack.string(FRA_IIFNAME, o.iif)
    head = pack.FIBMSG.pack(socket.AF_INET, 0, src_len, 0, o.table if o.table < 256 else 0, 0, 0, FR_ACT_TO_TBL, 0)
    return pack.message(rtnl.RTM_NEWRULE, rtnl.CREATE, head + attrs)


def DUMP():
    from pyroute2.netlink.rtnl.fibmsg import fibmsg

    return rtnl.dump_request(fibmsg, rtnl.RTM_GETRULE, family=socket.AF_INET), None


class RuleHandler(Handler):
    kind = "rule"

    def create(self, s, a) -> None:
        o = a.obj
        if a.op == "change":
            s.add(o.ns, Req(delete_request(o.priority), a, rtnl.GONE, last=False))
        s.add(o.ns, Req(create_request(o), a, _EEXIST))

    def delete(self, s, a) -> None:
        delete(s, a, delete_request(a.obj.priority))

    def read(self, view):
        for m in view.dump(DUMP):
            prio = m.get_attr("FRA_PRIORITY") or 0
            if prio not in PRIORITIES:
                continue
            src = m.get_attr("FRA_SRC")
            yield Rule(view.ns, prio, m.get_attr("FRA_IIFNAME"), m.get_attr("FRA_TABLE") or m["table"],
                       f"{src}/{m['src_len']}" if src else None)


HANDLER = RuleHandler()
