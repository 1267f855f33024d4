"""Packet bytes for the fast paths: build ICMP echoes, read IPv4 headers, with struct.

No scapy here: this runs once per captured packet, tens of thousands of times.

A *flow key* is 13 bytes: protocol (1) + source address (4) + destination address
(4) + four bytes naming the flow (ICMP id+seq, or TCP/UDP source+destination port).
A probe has a request key and a reply key (addresses swapped; ports swapped too for
TCP/UDP, id+seq kept for ICMP). A captured packet yields the key of its own
direction, so "request seen" vs "reply seen" follows from the addresses.
"""
from __future__ import annotations

import socket
import struct
from typing import Optional, Tuple

IPPROTO = {"icmp": 1, "tcp": 6, "udp": 17}
ICMP_ECHO_REPLY, ICMP_UNREACH, ICMP_ECHO, ICMP_TIME_EXCEEDED, ICMP_PARAMPROB = 0, 3, 8, 11, 12
ICMP_ERROR_TYPES = (ICMP_UNREACH, ICMP_TIME_EXCEEDED, ICMP_PARAMPROB)
ECHO_PAYLOAD = b"vpclab-probe\x00\x00\x00\x00"
ECHO_PREFIX = ECHO_PAYLOAD[:12]
UDP_PAYLOAD = b"vpclab-probe"

TCP_FIN, TCP_SYN, TCP_RST, TCP_ACK = 0x01, 0x02, 0x04, 0x10

_UNREACH = {
    0: "net unreachable", 1: "host unreachable", 2: "protocol unreachable",
    3: "port unreachable", 4: "fragmentation needed", 6: "net unknown", 7: "host unknown",
    9: "net prohibited", 10: "host prohibited", 13: "administratively prohibited",
}

_pack_hh = struct.Struct("!HH").pack
_echo_hdr = struct.Struct("!BBHHH")


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


_PAYLOAD_SUM = sum(struct.unpack("!%dH" % (len(ECHO_PAYLOAD) // 2), ECHO_PAYLOAD))


def icmp_echo(ident: int, seq: int) -> bytes:
    """An ICMP echo request (header + fixed payload), checksum filled in."""
    s = (ICMP_ECHO << 8) + ident + seq + _PAYLOAD_SUM
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return _echo_hdr.pack(ICMP_ECHO, 0, ~s & 0xFFFF, ident, seq) + ECHO_PAYLOAD


def addr4(ip: str) -> bytes:
    return socket.inet_aton(ip)


def flow_key(proto: int, src4: bytes, dst4: bytes, a: int, b: int) -> bytes:
    return bytes((proto,)) + src4 + dst4 + _pack_hh(a, b)


def probe_keys(proto: int, src4: bytes, dst4: bytes, a: int, b: int) -> Tuple[bytes, bytes]:
    """(request key, reply key). For ICMP a/b are id/seq, else source/destination port."""
    if proto == 1:
        return flow_key(1, src4, dst4, a, b), flow_key(1, dst4, src4, a, b)
    return flow_key(proto, src4, dst4, a, b), flow_key(proto, dst4, src4, b, a)


def icmp_seq(key: bytes) -> bytes:
    """The sequence number (2 bytes) of an ICMP flow key: what a NAT never rewrites."""
    return key[11:13]


def is_probe_echo(d: bytes, ihl: int) -> bool:
    """Whether an echo request/reply (IPv4 bytes, header length `ihl`) carries a vpclab probe's
    payload (an echo reply returns it as sent): not someone else's ping."""
    return d[ihl + 8:ihl + 8 + len(ECHO_PREFIX)] == ECHO_PREFIX


def read_packet(d: bytes) -> Optional[Tuple[bytes, Optional[Tuple[int, int, bytes]]]]:
    """The flow key of an IPv4 packet (from its network header on).

    Returns (key, None) for an ICMP echo/echo-reply, TCP or UDP packet;
    (key of the quoted packet, (type, code, sender address)) for an ICMP error;
    None for anything else (non-IPv4, fragments, other protocols, truncated).
    """
    if len(d) < 28 or d[0] >> 4 != 4:
        return None
    if (d[6] & 0x1F) or d[7]:  # a non-first fragment has no L4 header
        return None
    ihl = (d[0] & 0x0F) << 2
    p = d[9]
    if p == 6 or p == 17:
        return d[9:10] + d[12:20] + d[ihl:ihl + 4], None
    if p != 1:
        return None
    t = d[ihl]
    if t == 0 or t == 8:
        return d[9:10] + d[12:20] + d[ihl + 4:ihl + 8], None
    if t not in ICMP_ERROR_TYPES:
        return None
    o = ihl + 8  # the quoted packet: its IP header and first 8 bytes
    if len(d) < o + 28 or d[o] >> 4 != 4:
        return None
    iihl = (d[o] & 0x0F) << 2
    ip = d[o + 9]
    l4 = o + iihl
    if len(d) < l4 + 8:
        return None
    if ip == 1:
        key = d[o + 9:o + 10] + d[o + 12:o + 20] + d[l4 + 4:l4 + 8]
    elif ip == 6 or ip == 17:
        key = d[o + 9:o + 10] + d[o + 12:o + 20] + d[l4:l4 + 4]
    else:
        return None
    return key, (t, d[ihl + 1], d[12:16])


def tcp_flags(d: bytes) -> int:
    """The flags byte of an IPv4/TCP packet."""
    ihl = (d[0] & 0x0F) << 2
    return d[ihl + 13] if len(d) > ihl + 13 else 0


def icmp_error_text(t: int, code: int, frm: bytes) -> str:
    """e.g. 'icmp host unreachable from 10.0.0.1'."""
    if t == ICMP_UNREACH:
        what = _UNREACH.get(code, f"unreachable code {code}")
    elif t == ICMP_TIME_EXCEEDED:
        what = "time exceeded"
    else:
        what = f"type {t} code {code}"
    return f"icmp {what} from {socket.inet_ntoa(frm)}"


def reply_detail(proto: int, d: bytes) -> str:
    """How a reply packet (IPv4 bytes) answered: echo-reply, SYN-ACK, RST, udp reply."""
    if proto == 1:
        return "echo-reply"
    if proto == 6:
        f = tcp_flags(d)
        if f & TCP_RST:
            return "RST"
        if f & TCP_SYN and f & TCP_ACK:
            return "SYN-ACK"
        return f"tcp flags {f:#04x}"
    return "udp reply"
