"""vpclab's rtnetlink socket: requests sent in batches, dumps decoded by pyroute2's classes.

Owns: building a request from one of pyroute2's message classes (`ifinfmsg`,
`ifaddrmsg`, `rtmsg`, `fibmsg`, `tcmsg`, `nsidmsg`), sending many requests in
one `sendmsg` and collecting one acknowledgement per request, and dumps decoded
by the same classes. The requests `up` sends by the thousand are packed by hand
instead (kernel/pack.py, byte for byte pyroute2's); pyroute2 is imported only
when a dump or a rare request needs it, so a fresh `up` never imports it.

Why a socket of our own rather than pyroute2's IPRoute: in pyroute2 0.9 every
request is an asyncio round trip (~0.7 ms). The kernel processes every message
of one `sendmsg` in order and acks each, so a whole namespace's work costs one
system call here. Errors come back per request as a negative errno; callers
branch on it. The encoding is pyroute2's own (tests/unit/cli/test_messages.py
parses every request back with it).
"""
from __future__ import annotations

import errno as _errno
import socket
import struct
import threading
from typing import Dict, List, Sequence, Tuple

from .nsenter import run_in

SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
SO_SNDBUFFORCE, SO_RCVBUFFORCE = 32, 33

NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK = 0x1, 0x2, 0x4
NLM_F_DUMP_INTR = 0x10
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x100, 0x200, 0x400
NLM_F_DUMP = 0x300
NLM_F_ACK_TLVS = 0x200
NLMSGERR_ATTR_MSG = 1

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
RTM_NEWRULE, RTM_DELRULE, RTM_GETRULE = 32, 33, 34
RTM_NEWQDISC, RTM_DELQDISC, RTM_GETQDISC = 36, 37, 38
RTM_NEWNSID, RTM_GETNSID = 88, 90
RTMGRP_LINK = 1
IFF_UP = 0x1

CREATE = NLM_F_CREATE | NLM_F_EXCL
REPLACE = NLM_F_CREATE | NLM_F_REPLACE

# Errors on a delete that mean "already gone".
GONE = frozenset({_errno.ENOENT, _errno.ENODEV, _errno.ESRCH, _errno.EADDRNOTAVAIL})

_HDR = struct.Struct("=IHHII")
_I32 = struct.Struct("=i")

_CLASSES: Dict[int, type] = {}
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, type, index, flags, change
_RTA = struct.Struct("=HH")
IFLA_IFNAME, IFLA_LINKINFO, IFLA_INFO_KIND = 3, 18, 1


class LinkBrief:
    """An RTM_NEWLINK message reduced to what an index lookup needs: `index`, `name` and `kind`
    (IFLA_INFO_KIND, "" for none), read straight from the bytes. pyroute2's ifinfmsg decodes
    every attribute of every link (~1 ms a namespace): a live CCN route enable, whose routes
    need the CCN link's index in 29 namespaces, spent half its time there (bench/ccn_bench.py).
    Use as `Socket.dump(req, {RTM_NEWLINK: LinkBrief})`."""

    def __init__(self, data: bytes):
        self.data, self.index, self.name, self.kind = data, 0, None, ""

    def decode(self) -> None:
        d = self.data
        self.index = _IFINFO.unpack_from(d, 16)[2]
        for t, payload in _attrs(d, 32, len(d)):
            if t == IFLA_IFNAME:
                self.name = payload.split(b"\0", 1)[0].decode()
            elif t == IFLA_LINKINFO:
                for kt, kp in _attrs(payload, 0, len(payload)):
                    if kt == IFLA_INFO_KIND:
                        self.kind = kp.split(b"\0", 1)[0].decode()


def _attrs(d: bytes, off: int, end: int):
    """(type without the nested/byte-order flags, payload) of each netlink attribute in d[off:end]."""
    while off + 4 <= end:
        ln, t = _RTA.unpack_from(d, off)
        if ln < 4:
            return
        yield t & 0x3FFF, d[off + 4:off + ln]
        off += (ln + 3) & ~3


def decoders() -> Dict[int, type]:
    """The pyroute2 class that decodes each message type the kernel sends us (imported on first use)."""
    if not _CLASSES:
        from pyroute2.netlink.rtnl.fibmsg import fibmsg
        from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
        from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
        from pyroute2.netlink.rtnl.nsidmsg import nsidmsg
        from pyroute2.netlink.rtnl.rtmsg import rtmsg
        from pyroute2.netlink.rtnl.tcmsg import tcmsg

        _CLASSES.update({RTM_NEWLINK: ifinfmsg, RTM_DELLINK: ifinfmsg, RTM_NEWADDR: ifaddrmsg, RTM_NEWROUTE: rtmsg,
                         RTM_NEWRULE: fibmsg, RTM_NEWQDISC: tcmsg, RTM_NEWNSID: nsidmsg})
    return _CLASSES


def request(cls, mtype: int, nlflags: int = 0, attrs=(), **fields) -> bytes:
    """One encoded request: a `cls` message of type `mtype` (netlink flags `nlflags`) with
    the message's own header fields and its attributes."""
    m = cls()
    for k, v in fields.items():
        m[k] = v
    m["attrs"] = list(attrs)
    m["header"]["type"] = mtype
    dump = nlflags & NLM_F_DUMP == NLM_F_DUMP  # a dump ends in NLMSG_DONE, not an ack
    m["header"]["flags"] = nlflags | NLM_F_REQUEST | (0 if dump else NLM_F_ACK)
    m.encode()
    return bytes(m.data)


def decode(data, classes=None) -> list:
    """Every message in `data`, decoded by pyroute2's class for its type."""
    out = []
    classes = classes or decoders()
    off, n = 0, len(data)
    while off + 16 <= n:
        ln, mtype = _HDR.unpack_from(data, off)[:2]
        cls = classes.get(mtype)
        if cls is not None:
            m = cls(data[off:off + ln])
            m.decode()
            out.append(m)
        off += (ln + 3) & ~3
    return out


class NetlinkError(OSError):
    """A request the kernel refused: `.code` is the errno, `.text` the kernel's extended ack message."""

    def __init__(self, code: int, text: str = ""):
        super().__init__(code, text or _errno.errorcode.get(code, str(code)))
        self.code, self.text = code, text


def _ack_text(buf, off: int, end: int) -> str:
    """NLMSGERR_ATTR_MSG of an extended ack (header only: NETLINK_CAP_ACK)."""
    off += 36
    while off + 4 <= end:
        n, kind = struct.unpack_from("=HH", buf, off)
        if n < 4:
            break
        if kind == NLMSGERR_ATTR_MSG:
            return bytes(buf[off + 4:off + n]).split(b"\0", 1)[0].decode(errors="replace")
        off += (n + 3) & ~3
    return ""


_rx = threading.local()


class Socket:
    """An rtnetlink socket bound in the namespace current at creation time."""

    def __init__(self, groups: int = 0, rcvbuf: int = 4 << 20):
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
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

    @property
    def _buf(self) -> bytearray:
        """The calling thread's receive buffer, shared by its sockets: each reads its answer to
        the end before another receive. One a socket cost 256 kB each, 2.4 GB for `up` of
        10,000 namespaces (issue 24)."""
        buf = getattr(_rx, "buf", None)
        if buf is None:
            buf = _rx.buf = bytearray(1 << 18)
        return buf

    def close(self) -> None:
        self.sock.close()

    def fileno(self) -> int:
        return self.sock.fileno()

    def batch(self, requests: Sequence[bytes], chunk: int = 200) -> List[Tuple[int, str]]:
        """Send encoded requests in order, ack each; return [(errno or 0, kernel message)]."""
        results: List[Tuple[int, str]] = []
        for start in range(0, len(requests), chunk):
            part = requests[start:start + chunk]
            first = self.seq + 1
            out = bytearray()
            for req in part:
                self.seq += 1
                at = len(out)
                out += req
                struct.pack_into("=I", out, at + 8, self.seq)
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
                        text = _ack_text(buf, off, off + ln) if code and flags & NLM_F_ACK_TLVS else ""
                        got[seq] = (code, text)
                    off += (ln + 3) & ~3
            results.extend(got[s] for s in range(first, first + len(part)))
        return results

    def request(self, req: bytes) -> None:
        """One request; raise NetlinkError on refusal."""
        code, text = self.batch([req])[0]
        if code:
            raise NetlinkError(code, text)

    def dump(self, req: bytes, classes=None) -> list:
        """A dump request (built with `dump_request`); its messages decoded by `classes`
        ({type: class}, default `decoders()`). Restarts if the kernel says the dump was interrupted."""
        for _ in range(10):
            msgs, intr = self._collect(req, True, classes)
            if not intr:
                return msgs
        return msgs

    def get(self, req: bytes) -> list:
        """A non-dump get (e.g. RTM_GETNSID); raises NetlinkError on refusal."""
        return self._collect(req, False)[0]

    def _collect(self, req: bytes, multi: bool, classes=None):
        self.seq += 1
        seq = self.seq
        req = bytearray(req)
        flags = struct.unpack_from("=H", req, 6)[0] & ~NLM_F_ACK
        struct.pack_into("=HI", req, 6, flags, seq)
        self.sock.send(req)
        raw = bytearray()
        intr = False
        while True:
            n = self.sock.recv_into(self._buf)
            buf = self._buf
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
                        raw += buf[off:off + ((ln + 3) & ~3)]
                        done = not multi
                off += (ln + 3) & ~3
            if done:
                return decode(bytes(raw), classes), intr


def dump_request(cls, mtype: int, **fields) -> bytes:
    return request(cls, mtype, NLM_F_DUMP, **fields)


def socket_in(name: str, groups: int = 0) -> "Socket":
    """A Socket bound inside namespace `name` (the caller stays where it is)."""
    return run_in(name, lambda: Socket(groups=groups))
