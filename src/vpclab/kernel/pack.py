"""The requests `up` sends by the thousand, packed by hand: pyroute2's bytes, at ~1% of the cost.

Owns: the netlink attribute (TLV) packing and the fixed headers of the
messages the handlers send on the build path (ifinfomsg, ifaddrmsg, rtmsg,
fib_rule_hdr, tcmsg). Each handler composes its own requests from these.

Why not pyroute2's classes here (they still decode every dump, and encode the
rare requests: netem, nsid, dumps): encoding one message through them costs
~100-400 us on this VM (the scale lab sends ~2,300), and importing them costs
0.15-0.3 s of every CLI start (bench/README.md). tests/unit/kernel/test_pack.py holds
every request a handler packs here to be byte for byte what pyroute2's classes
encode for the same fields, and parsed back by pyroute2 to equal the plan object.
"""
from __future__ import annotations

import socket
import struct

NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4

_HDR = struct.Struct("=IHHII")      # nlmsghdr: length, type, flags, seq, pid
IFINFO = struct.Struct("=BxHiII")   # ifinfomsg: family, type, index, flags, change
IFADDR = struct.Struct("=BBBBI")    # ifaddrmsg: family, prefixlen, flags, scope, index
RTMSG = struct.Struct("=BBBBBBBBI")  # rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags
FIBMSG = RTMSG                      # fib_rule_hdr: family, dst_len, src_len, tos, table, res1, res2, action, flags
TCMSG = struct.Struct("=BxxxiIII")  # tcmsg: family, ifindex, handle, parent, info
_U32 = struct.Struct("=I")
_TLV = struct.Struct("=HH")


def attr(kind: int, payload: bytes) -> bytes:
    """One attribute, padded to 4 bytes (nested ones carry no NLA_F_NESTED: pyroute2 sets none)."""
    n = 4 + len(payload)
    return _TLV.pack(n, kind) + payload + b"\0" * (-n & 3)


def u32(kind: int, value: int) -> bytes:
    return attr(kind, _U32.pack(value))


def string(kind: int, value: str) -> bytes:
    return attr(kind, value.encode() + b"\0")


def ip4(kind: int, address: str) -> bytes:
    return attr(kind, socket.inet_pton(socket.AF_INET, address))


def message(mtype: int, nlflags: int, body: bytes) -> bytes:
    """A request (acknowledged) with header fields seq and pid 0: rtnl.Socket numbers it when sent."""
    return _HDR.pack(16 + len(body), mtype, nlflags | NLM_F_REQUEST | NLM_F_ACK, 0, 0) + body
