"""IPv4 addresses on a lab's links (and the subnet gateways on a router's lo).

create = add-or-replace; delete tolerates an address (or link) already gone.
Read back: every IPv4 address but the loopback range.
"""
from __future__ import annotations

import socket

from ...plan.objects import Address
from .. import pack, rtnl
from .base import Handler, Req, delete, on_link


IFA_ADDRESS, IFA_LOCAL = 1, 2


def request(op: str, index: int, cidr: str) -> bytes:
    """Packed by hand (kernel/pack.py)."""
    ip, _, plen = cidr.partition("/")
    mtype, flags = (rtnl.RTM_DELADDR, 0) if op == "delete" else (rtnl.RTM_NEWADDR, rtnl.REPLACE)
    body = pack.IFADDR.pack(socket.AF_INET, int(plen or 32), 0, 0, index)
    return pack.message(mtype, flags, body + pack.ip4(IFA_LOCAL, ip) + pack.ip4(IFA_ADDRESS, ip))


def DUMP():
    from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg

    return rtnl.dump_request(ifaddrmsg, rtnl.RTM_GETADDR, family=socket.AF_INET), None


class AddressHandler(Handler):
    kind = "address"

    def create(self, s, a) -> None:
        o = a.obj
        s.add(o.ns, Req(request("create", s.need_index(o.ns, o.ifname, a), o.cidr), a))

    def delete(self, s, a) -> None:
        delete(s, a, on_link(s, a, lambda i: request("delete", i, a.obj.cidr)))

    def read(self, view):
        for m in view.dump(DUMP):
            ifname = view.byindex.get(m["index"])
            ip = m.get_attr("IFA_LOCAL") or m.get_attr("IFA_ADDRESS")
            if m["family"] != socket.AF_INET or ifname is None or ip is None or ip.startswith("127."):
                continue
            yield Address(view.ns, ifname, f"{ip}/{m['prefixlen']}")


HANDLER = AddressHandler()
