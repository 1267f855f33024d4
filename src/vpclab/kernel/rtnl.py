"""A minimal rtnetlink codec and socket: the fast path of the kernel layer.

Owns: encoding the few rtnetlink requests vpclab sends (links, addresses,
routes, rules, qdiscs), sending many of them in one `sendmsg` and collecting
one acknowledgement per request, dumps, and decoding the attributes we read.

Why not pyroute2's request API: in pyroute2 0.9 every request is an asyncio
round trip (~0.7 ms). The kernel processes every message of one `sendmsg` in
order and acks each, so a whole namespace's work costs one system call here.
Errors come back per request as a negative errno; callers branch on it.
"""
from __future__ import annotations

import errno as _errno
import socket
import struct
from typing import Dict, List, Optional, Sequence, Tuple

NETLINK_ROUTE = 0
SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
SO_SNDBUFFORCE, SO_RCVBUFFORCE = 32, 33

NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_DUMP_INTR = 0x10
NLM_F_DUMP = 0x300
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_ACK_TLVS = 0x200
NLMSGERR_ATTR_MSG = 1

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
RTM_NEWRULE, RTM_DELRULE, RTM_GETRULE = 32, 33, 34
RTM_NEWQDISC, RTM_DELQDISC, RTM_GETQDISC = 36, 37, 38
RTM_GETNSID = 90
RTMGRP_LINK = 1

IFF_UP = 0x1
IFLA_IFNAME, IFLA_LINK, IFLA_MASTER, IFLA_LINKINFO = 3, 5, 10, 18
IFLA_IFALIAS, IFLA_NET_NS_FD, IFLA_LINK_NETNSID = 20, 28, 37
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
IFLA_BR_FORWARD_DELAY, IFLA_BR_STP_STATE = 1, 5
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_TABLE = 1, 4, 5, 15
RTN_TYPES = {"unicast": 1, "blackhole": 6, "unreachable": 7, "prohibit": 8}
RTN_NAMES = {v: k for k, v in RTN_TYPES.items()}
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RT_SCOPE_NOWHERE = 0, 253, 255
RTNH_F_ONLINK = 4
RT_TABLE_UNSPEC = 0
FRA_IIFNAME, FRA_PRIORITY, FRA_TABLE, FRA_PROTOCOL = 3, 6, 15, 21
FR_ACT_TO_TBL = 1
NETNSA_NSID, NETNSA_FD = 1, 3
TCA_KIND, TCA_OPTIONS = 1, 2
TC_H_ROOT = 0xFFFFFFFF

_HDR = struct.Struct("=IHHII")
_IFI = struct.Struct("=BxHiII")
_IFA = struct.Struct("=BBBBI")
_RTM = struct.Struct("=BBBBBBBBI")  # rtmsg and fib_rule_hdr share this layout
_TCM = struct.Struct("=BxxxiIII")
_NLA = struct.Struct("=HH")
_U32 = struct.Struct("=I")
_I32 = struct.Struct("=i")

# Errors on a delete that mean "already gone".
GONE = frozenset({_errno.ENOENT, _errno.ENODEV, _errno.ESRCH, _errno.EADDRNOTAVAIL})


# --------------------------------------------------------------- encoding

def attr(kind: int, payload: bytes) -> bytes:
    n = 4 + len(payload)
    return _NLA.pack(n, kind) + payload + b"\0" * (-n & 3)


def a_u32(kind: int, v: int) -> bytes:
    return attr(kind, _U32.pack(v))


def a_str(kind: int, s: str) -> bytes:
    return attr(kind, s.encode() + b"\0")


def nest(kind: int, *parts: bytes) -> bytes:
    return attr(kind | 0x8000, b"".join(parts))


def ifinfo(index: int = 0, up: bool = False, family: int = 0) -> bytes:
    return _IFI.pack(family, 0, index, IFF_UP if up else 0, IFF_UP if up else 0)


def veth_new(ifname: str, peer: str, peer_fd: Optional[int], up: bool = True) -> Tuple[int, int, bytes]:
    """Create a veth: this end in the socket's namespace, `peer` in the namespace of `peer_fd`.

    Only this end can be brought up here: the kernel refuses to open the peer
    (ENOTCONN) before the pair is linked, so the peer is set up afterwards.
    """
    peer_body = ifinfo() + a_str(IFLA_IFNAME, peer)
    if peer_fd is not None:
        peer_body += a_u32(IFLA_NET_NS_FD, peer_fd)
    info = nest(IFLA_LINKINFO, a_str(IFLA_INFO_KIND, "veth"),
                nest(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_body)))
    body = ifinfo(up=up) + a_str(IFLA_IFNAME, ifname) + info
    return RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body


def bridge_new(ifname: str, up: bool = True) -> Tuple[int, int, bytes]:
    """A bridge with STP off and forward delay 0."""
    info = nest(IFLA_LINKINFO, a_str(IFLA_INFO_KIND, "bridge"),
                nest(IFLA_INFO_DATA, a_u32(IFLA_BR_STP_STATE, 0), a_u32(IFLA_BR_FORWARD_DELAY, 0)))
    return RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, ifinfo(up=up) + a_str(IFLA_IFNAME, ifname) + info


def link_set(ifname: Optional[str] = None, index: int = 0, up: Optional[bool] = None,
             master: Optional[int] = None, alias: Optional[str] = None) -> Tuple[int, int, bytes]:
    flags = (IFF_UP if up else 0) if up is not None else 0
    change = IFF_UP if up is not None else 0
    body = _IFI.pack(0, 0, index, flags, change)
    if ifname is not None and not index:
        body += a_str(IFLA_IFNAME, ifname)
    if master is not None:
        body += a_u32(IFLA_MASTER, master)
    if alias is not None:
        body += a_str(IFLA_IFALIAS, alias)
    return RTM_SETLINK, 0, body


def link_get(ifname: str) -> Tuple[int, int, bytes]:
    """A get of one link. Besides the answer (ignored in a batch), the kernel first runs
    the link's pending link-watch work (carrier -> operstate, qdisc activation, bridge
    port enabling), which otherwise happens asynchronously, up to a second later."""
    return RTM_GETLINK, 0, ifinfo() + a_str(IFLA_IFNAME, ifname)


def link_del(ifname: str) -> Tuple[int, int, bytes]:
    return RTM_DELLINK, 0, ifinfo() + a_str(IFLA_IFNAME, ifname)


def addr(op: str, index: int, cidr: str) -> Tuple[int, int, bytes]:
    ip, _, plen = cidr.partition("/")
    raw = socket.inet_aton(ip)
    body = _IFA.pack(socket.AF_INET, int(plen or 32), 0, 0, index) + attr(IFA_LOCAL, raw) + attr(IFA_ADDRESS, raw)
    if op == "delete":
        return RTM_DELADDR, 0, body
    return RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, body


def _table_fields(table: int) -> Tuple[int, bytes]:
    return (table if table < 256 else RT_TABLE_UNSPEC), a_u32(RTA_TABLE, table)


def route(op: str, table: int, dst: str, rtype: str = "unicast", via: Optional[str] = None,
          oif: Optional[int] = None, protocol: int = 0) -> Tuple[int, int, bytes]:
    """create/change -> add-or-replace; delete -> delete (matched on table and dst)."""
    ip, _, plen = dst.partition("/")
    t8, t_attr = _table_fields(table)
    kind = RTN_TYPES[rtype]
    scope = RT_SCOPE_LINK if (kind == 1 and via is None) else RT_SCOPE_UNIVERSE
    flags = RTNH_F_ONLINK if via is not None else 0
    body_attrs = t_attr + attr(RTA_DST, socket.inet_aton(ip))
    if op == "delete":  # any scope and type; only routes with our protocol when given
        hdr = _RTM.pack(socket.AF_INET, int(plen), 0, 0, t8, protocol, RT_SCOPE_NOWHERE, 0, 0)
        return RTM_DELROUTE, 0, hdr + body_attrs
    if via is not None:
        body_attrs += attr(RTA_GATEWAY, socket.inet_aton(via))
    if oif is not None:
        body_attrs += a_u32(RTA_OIF, oif)
    hdr = _RTM.pack(socket.AF_INET, int(plen), 0, 0, t8, protocol, scope, kind, flags)
    return RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, hdr + body_attrs


def rule(op: str, priority: int, iif: Optional[str] = None, table: int = 0,
         protocol: int = 0) -> Tuple[int, int, bytes]:
    """`iif <iif> lookup <table>` at `priority`; delete matches on the priority alone."""
    if op == "delete":
        return RTM_DELRULE, 0, _RTM.pack(socket.AF_INET, 0, 0, 0, 0, 0, 0, 0, 0) + a_u32(FRA_PRIORITY, priority)
    t8, _ = _table_fields(table)
    body = _RTM.pack(socket.AF_INET, 0, 0, 0, t8, 0, 0, FR_ACT_TO_TBL, 0)
    body += a_u32(FRA_PRIORITY, priority) + a_u32(FRA_TABLE, table)
    if iif is not None:
        body += a_str(FRA_IIFNAME, iif)
    if protocol:
        body += attr(FRA_PROTOCOL, bytes([protocol]))
    return RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, body


def qdisc(op: str, index: int, kind: str = "", options: bytes = b"", handle: int = 0,
          parent: int = TC_H_ROOT) -> Tuple[int, int, bytes]:
    body = _TCM.pack(0, index, handle, parent, 0)
    if op == "delete":
        return RTM_DELQDISC, 0, body
    body += a_str(TCA_KIND, kind)
    if options:
        body += attr(TCA_OPTIONS, options)
    return RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE, body


def getnsid(fd: int) -> Tuple[int, int, bytes]:
    return RTM_GETNSID, 0, struct.pack("=Bxxx", 0) + a_u32(NETNSA_FD, fd)


# --------------------------------------------------------------- decoding

def attrs(buf, off: int, end: int) -> Dict[int, memoryview]:
    """Attributes in buf[off:end] as {type: payload}; nested ones stay raw."""
    out = {}
    unpack = _NLA.unpack_from
    while off + 4 <= end:
        n, kind = unpack(buf, off)
        if n < 4:
            break
        out[kind & 0x3FFF] = buf[off + 4: off + n]
        off += (n + 3) & ~3
    return out


def u32(v) -> int:
    return _U32.unpack_from(v)[0]


def i32(v) -> int:
    return _I32.unpack_from(v)[0]


def cstr(v) -> str:
    return bytes(v).split(b"\0", 1)[0].decode()


class Msg:
    """One received message: type, flags, the fixed header bytes and its attributes."""

    __slots__ = ("type", "flags", "body", "attrs")

    def __init__(self, mtype, flags, body, attrs_):
        self.type, self.flags, self.body, self.attrs = mtype, flags, body, attrs_


# fixed header length per message type (new/del of links, addresses, routes, rules, qdiscs, nsids)
_FIXED = {16: 16, 17: 16, 20: 8, 21: 8, 24: 12, 25: 12, 32: 12, 33: 12, 36: 20, 37: 20, 88: 4, 89: 4}


class NetlinkError(OSError):
    """A request the kernel refused: `.code` is the errno, `.text` the kernel's extended ack message."""

    def __init__(self, code: int, text: str = ""):
        super().__init__(code, text or _errno.errorcode.get(code, str(code)))
        self.code, self.text = code, text


class Socket:
    """An rtnetlink socket bound in the namespace current at creation time."""

    def __init__(self, groups: int = 0, rcvbuf: int = 4 << 20):
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        try:
            for opt, force, val in ((socket.SO_SNDBUF, SO_SNDBUFFORCE, 1 << 20),
                                    (socket.SO_RCVBUF, SO_RCVBUFFORCE, rcvbuf)):
                try:
                    s.setsockopt(socket.SOL_SOCKET, force, val)
                except OSError:
                    s.setsockopt(socket.SOL_SOCKET, opt, val)
            s.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
            s.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
            s.bind((0, groups))
        except BaseException:
            s.close()
            raise
        self.sock = s
        self.seq = 0
        self._buf = bytearray(1 << 18)

    def close(self) -> None:
        self.sock.close()

    def fileno(self) -> int:
        return self.sock.fileno()

    # ---- batched requests
    def batch(self, requests: Sequence[Tuple[int, int, bytes]], chunk: int = 200) -> List[Tuple[int, str]]:
        """Send requests (type, flags, body) in order, ack each; return [(errno or 0, kernel message)]."""
        results: List[Tuple[int, str]] = []
        for start in range(0, len(requests), chunk):
            part = requests[start:start + chunk]
            first = self.seq + 1
            out = bytearray()
            for mtype, flags, body in part:
                self.seq += 1
                out += _HDR.pack(16 + len(body), mtype, flags | NLM_F_REQUEST | NLM_F_ACK, self.seq, 0) + body
            self.sock.send(out)
            got: Dict[int, Tuple[int, str]] = {}
            while len(got) < len(part):
                try:
                    n = self.sock.recv_into(self._buf)
                except OSError as e:
                    if e.errno == _errno.ENOBUFS:  # acks were dropped: never wait for them
                        raise NetlinkError(e.errno, "netlink receive buffer overrun") from None
                    raise
                buf = memoryview(self._buf)[:n]
                off = 0
                while off + 16 <= n:
                    ln, mtype, flags, seq, _ = _HDR.unpack_from(buf, off)
                    if mtype == NLMSG_ERROR and first <= seq <= self.seq:
                        code = -_I32.unpack_from(buf, off + 16)[0]
                        text = ""
                        if code and flags & NLM_F_ACK_TLVS:
                            # with NETLINK_CAP_ACK the original request is not echoed: header only
                            text = cstr(attrs(buf, off + 36, off + ln).get(NLMSGERR_ATTR_MSG, b"\0"))
                        got[seq] = (code, text)
                    off += (ln + 3) & ~3
            results.extend(got[s] for s in range(first, first + len(part)))
        return results

    def request(self, req: Tuple[int, int, bytes]) -> None:
        """One request; raise NetlinkError on refusal."""
        code, text = self.batch([req])[0]
        if code:
            raise NetlinkError(code, text)

    # ---- dumps and gets
    def dump(self, mtype: int, body: bytes) -> List[Msg]:
        """A dump request; returns the messages. Restarts if the kernel says it was interrupted."""
        for _ in range(10):
            msgs, intr = self._collect(mtype, NLM_F_DUMP, body)
            if not intr:
                return msgs
        return msgs

    def get(self, mtype: int, body: bytes) -> List[Msg]:
        """A non-dump get (e.g. RTM_GETNSID); raises NetlinkError on refusal."""
        return self._collect(mtype, 0, body)[0]

    def _collect(self, mtype, flags, body):
        self.seq += 1
        seq = self.seq
        self.sock.send(_HDR.pack(16 + len(body), mtype, flags | NLM_F_REQUEST, seq, 0) + body)
        msgs: List[Msg] = []
        intr = False
        multi = bool(flags & NLM_F_DUMP)
        while True:
            n = self.sock.recv_into(self._buf)
            buf = bytes(self._buf[:n])
            off = 0
            done = False
            while off + 16 <= n:
                ln, t, f, s, _ = _HDR.unpack_from(buf, off)
                if s == seq:
                    if f & NLM_F_DUMP_INTR:
                        intr = True
                    if t == NLMSG_DONE:
                        done = True
                    elif t == NLMSG_ERROR:
                        code = -_I32.unpack_from(buf, off + 16)[0]
                        if code:
                            raise NetlinkError(code)
                        done = True
                    else:
                        fixed = _FIXED.get(t, 0)
                        body_start = off + 16
                        msgs.append(Msg(t, f, buf[body_start:body_start + fixed],
                                        attrs(buf, body_start + fixed, off + ln)))
                        if not multi:
                            done = True
                off += (ln + 3) & ~3
            if done:
                return msgs, intr


def link_dump_body() -> bytes:
    return ifinfo()


def af_inet_dump_body(fixed: int) -> bytes:
    return bytes([socket.AF_INET]) + b"\0" * (fixed - 1)


def tc_dump_body() -> bytes:
    return _TCM.pack(0, 0, 0, 0, 0)
