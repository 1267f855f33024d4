"""Routes, marked with protocol RTPROT_VPCLAB; `via` is added onlink.

create and change = add-or-replace; delete matches table and destination (any
type and scope, only vpclab's protocol). Read back: vpclab's IPv4 routes in any
table; `dev` only for unicast routes.
"""
from __future__ import annotations

import functools
import socket

from ...plan.objects import RTPROT_VPCLAB, Route
from .. import pack, rtnl
from .base import Handler, Req, delete

TYPES = {"unicast": 1, "blackhole": 6, "unreachable": 7, "prohibit": 8, "throw": 9}
NAMES = {v: k for k, v in TYPES.items()}
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RT_SCOPE_NOWHERE = 0, 253, 255
RTNH_F_ONLINK = 4
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_TABLE = 1, 4, 5, 15


def request(op: str, o: Route, oif=None) -> bytes:
    return _request(op, o.table, o.dst, o.type, o.via, oif)


@functools.lru_cache(maxsize=4096)
def _request(op: str, table: int, dst: str, rtype: str, via, oif) -> bytes:
    """Packed by hand (kernel/pack.py) and cached: many namespaces send the very same route
    (each instance's default route, each table's blackhole default)."""
    ip, _, plen = dst.partition("/")
    attrs = pack.u32(RTA_TABLE, table) + pack.ip4(RTA_DST, ip)
    short_table = table if table < 256 else 0
    if op == "delete":
        head = pack.RTMSG.pack(socket.AF_INET, int(plen), 0, 0, short_table, RTPROT_VPCLAB, RT_SCOPE_NOWHERE, 0, 0)
        return pack.message(rtnl.RTM_DELROUTE, 0, head + attrs)
    kind = TYPES[rtype]
    if via is not None:
        attrs += pack.ip4(RTA_GATEWAY, via)
    if oif is not None:
        attrs += pack.u32(RTA_OIF, oif)
    scope = RT_SCOPE_LINK if (kind == 1 and via is None) else RT_SCOPE_UNIVERSE
    head = pack.RTMSG.pack(socket.AF_INET, int(plen), 0, 0, short_table, RTPROT_VPCLAB, scope, kind,
                           RTNH_F_ONLINK if via is not None else 0)
    return pack.message(rtnl.RTM_NEWROUTE, rtnl.REPLACE, head + attrs)


def DUMP():
    from pyroute2.netlink.rtnl.rtmsg import rtmsg

    return rtnl.dump_request(rtmsg, rtnl.RTM_GETROUTE, family=socket.AF_INET), None


class RouteHandler(Handler):
    kind = "route"

    def create(self, s, a) -> None:
        o = a.obj
        oif = s.need_index(o.ns, o.dev, a) if (o.dev and o.type == "unicast") else None
        s.add(o.ns, Req(request("create", o, oif), a))

    def delete(self, s, a) -> None:
        delete(s, a, request("delete", a.obj))

    def read(self, view):
        for m in view.dump(DUMP):
            if m["proto"] != RTPROT_VPCLAB or m["family"] != socket.AF_INET:
                continue
            tname = NAMES.get(m["type"], str(m["type"]))
            oif = m.get_attr("RTA_OIF")
            dev = view.byindex.get(oif) if (oif is not None and tname == "unicast") else None
            yield Route(view.ns, m.get_attr("RTA_TABLE") or m["table"], f"{m.get_attr('RTA_DST') or '0.0.0.0'}/"
                        f"{m['dst_len']}", tname, m.get_attr("RTA_GATEWAY"), dev)


HANDLER = RouteHandler()
