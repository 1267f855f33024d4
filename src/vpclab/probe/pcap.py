"""Write a probe's captured packets to one capture file (pcapng) for Wireshark and tcpdump.

pcapng (the current format of the pcap family; libpcap, so tcpdump, Wireshark and
scapy read it) rather than classic pcap, because one probe is captured at several
places: each capture point's interface becomes an interface of the file, named
"<point> <ifname>" (e.g. "vpc-b pcx-ab-b"), and each packet carries its direction
(in/out) and a comment saying what it is ("vpc-b rx request echo-request"). The
packets are whole IPv4 packets (link type IPV4), stamped in nanoseconds.

Pure stdlib, no sockets: unit-testable without root.
"""
from __future__ import annotations

import struct
from typing import BinaryIO, Dict, List, Sequence, Tuple

LINKTYPE_IPV4 = 228  # the packet starts at its IPv4 header (not RAW, 101: libpcap 1.10 refuses a second interface of it)
SNAPLEN = 65535

_SHB, _IDB, _EPB = 0x0A0D0D0A, 0x00000001, 0x00000006
_BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_END, OPT_COMMENT = 0, 1
IF_NAME, IF_DESCRIPTION, IF_TSRESOL = 2, 3, 9
SHB_USERAPPL = 4
EPB_FLAGS = 2
_INBOUND, _OUTBOUND = 1, 2


def _pad(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def _opt(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + _pad(value)


def _options(*opts: bytes) -> bytes:
    return b"".join(opts) + struct.pack("<HH", OPT_END, 0) if opts else b""


def _block(kind: int, body: bytes) -> bytes:
    n = 12 + len(body)
    return struct.pack("<II", kind, n) + body + struct.pack("<I", n)


def encode(packets: Sequence) -> bytes:
    """The pcapng bytes of `packets` (evidence.Captured: t_ns, label, ifname, outgoing, data,
    dir, what), in time order."""
    out: List[bytes] = [_block(_SHB, struct.pack("<IHHq", _BYTE_ORDER_MAGIC, 1, 0, -1)
                               + _options(_opt(SHB_USERAPPL, b"vpclab probe")))]
    interfaces: Dict[Tuple[str, str], int] = {}
    for p in sorted(packets, key=lambda p: p.t_ns):
        where = (p.label, p.ifname)
        if where not in interfaces:
            interfaces[where] = len(interfaces)
            name = f"{p.label} {p.ifname}".encode()
            out.append(_block(_IDB, struct.pack("<HHI", LINKTYPE_IPV4, 0, SNAPLEN) + _options(
                _opt(IF_NAME, name), _opt(IF_DESCRIPTION, f"namespace {p.ns}, interface {p.ifname}".encode()),
                _opt(IF_TSRESOL, bytes([9])))))
        comment = f"{p.label} {'tx' if p.outgoing else 'rx'} {p.what}".encode()
        data = bytes(p.data)
        body = struct.pack("<IIIII", interfaces[where], p.t_ns >> 32, p.t_ns & 0xFFFFFFFF, len(data), len(data))
        body += _pad(data) + _options(_opt(EPB_FLAGS, struct.pack("<I", _OUTBOUND if p.outgoing else _INBOUND)),
                                      _opt(OPT_COMMENT, comment))
        out.append(_block(_EPB, body))
    return b"".join(out)


def write(f: BinaryIO, packets: Sequence) -> None:
    f.write(encode(packets))
