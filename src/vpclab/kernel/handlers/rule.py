"""Policy rules: `[from SRC] [iif IFNAME] lookup TABLE` at a priority, marked as vpclab's.

create adds (an equal rule already there is fine); change = delete + add;
delete matches on the priority alone. Read back: priorities 1000..29999.
"""
from __future__ import annotations

import errno
import socket

from pyroute2.netlink.rtnl.fibmsg import fibmsg

from ...plan.objects import RTPROT_VPCLAB, Rule
from .. import rtnl
from .base import Handler, Req, delete

PRIORITIES = range(1000, 30000)
FR_ACT_TO_TBL = 1
_EEXIST = frozenset({errno.EEXIST})


def delete_request(priority: int) -> bytes:
    return rtnl.request(fibmsg, rtnl.RTM_DELRULE, 0, [("FRA_PRIORITY", priority)], family=socket.AF_INET)


def create_request(o: Rule) -> bytes:
    attrs = [("FRA_PRIORITY", o.priority), ("FRA_TABLE", o.table), ("FRA_PROTOCOL", RTPROT_VPCLAB)]
    src_len = 0
    if o.src:
        ip, _, plen = o.src.partition("/")
        src_len = int(plen or 32)
        attrs.append(("FRA_SRC", ip))
    if o.iif:
        attrs.append(("FRA_IIFNAME", o.iif))
    return rtnl.request(fibmsg, rtnl.RTM_NEWRULE, rtnl.CREATE, attrs, family=socket.AF_INET,
                        table=o.table if o.table < 256 else 0, action=FR_ACT_TO_TBL, src_len=src_len)


def DUMP():
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
