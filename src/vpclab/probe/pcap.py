"""Write a probe's captured packets to one capture file (pcapng) for Wireshark and tcpdump.

pcapng (the current format of the pcap family; libpcap, so tcpdump, Wireshark and
scapy read it) rather than classic pcap, because one probe is captured at several
places: each capture point's interface becomes an interface of the file, named
"<point> <ifname>" (e.g. "vpc-b pcx-ab-b"), and each packet carries its direction
(in/out) and a comment naming its capture point and what it is ("vpc-b router rx
echo-reply"). The section header's comment is the probe's verdict and its reason
(`header_comment`), so the file explains itself: `tshark -r FILE -T fields -e
frame.interface_name -e frame.comment` lists each packet's place, and `capinfos` or
Wireshark's capture file properties show the verdict. The packets are whole IPv4 packets
(link type IPV4), stamped in nanoseconds.

Pure stdlib, no sockets: unit-testable without root.
"""
from __future__ import annotations

import struct
from typing import BinaryIO, Callable, Dict, List, Optional, Sequence, Tuple

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


def header_comment(doc: dict) -> str:
    """The section header's comment: a probe's verdict line and what explains it (a `probe --json` document)."""
    what = doc["proto"] + (f"/{doc['port']}" if doc.get("port") else "")
    lines = [f"vpclab probe {doc['src']} -> {doc['dst']} ({what}): {doc['result']}"]
    r = doc.get("reason") or {}
    if r.get("code"):
        table = f", table {r['table']}" if r.get("table") else ""
        lines.append(f"reason: {r['code']} at {r['where']}{table}: {r['detail']}")
    elif r.get("detail"):
        lines.append(f"reason: {r['detail']}")
    owner = r.get("group") or r.get("acl")
    if owner is not None:
        rule = "no rule matched" if r.get("rule") is None else f"rule {r['rule']}"
        lines.append(f"filter: {'security group' if r.get('group') else 'network ACL'} {owner}, "
                     f"{r.get('direction')}, {rule}")
    if doc.get("seen_source"):
        lines.append(f"seen source: {doc['seen_source']}")
    note = doc.get("note")
    if note:
        lines.append(f"note: {note['code']}: {note['detail']}")
    if doc.get("mismatch"):
        lines.append(f"MISMATCH: {doc['mismatch']}")
    return "\n".join(lines)


def encode(packets: Sequence, comment: Optional[str] = None, place: Optional[Callable[[object], str]] = None) \
        -> bytes:
    """The pcapng bytes of `packets` (evidence.Captured: t_ns, label, ifname, outgoing, data,
    dir, what), in time order. `comment`: the section header's (the verdict: header_comment);
    `place(packet)`: its capture point's name for its comment ("vpc-b router"; default its label)."""
    shb = [_opt(SHB_USERAPPL, b"vpclab probe")] + ([_opt(OPT_COMMENT, comment.encode())] if comment else [])
    out: List[bytes] = [_block(_SHB, struct.pack("<IHHq", _BYTE_ORDER_MAGIC, 1, 0, -1) + _options(*shb))]
    interfaces: Dict[Tuple[str, str], int] = {}
    for p in sorted(packets, key=lambda p: p.t_ns):
        where = (p.label, p.ifname)
        at = place(p) if place is not None else p.label
        if where not in interfaces:
            interfaces[where] = len(interfaces)
            name = f"{at} {p.ifname}".encode()
            out.append(_block(_IDB, struct.pack("<HHI", LINKTYPE_IPV4, 0, SNAPLEN) + _options(
                _opt(IF_NAME, name), _opt(IF_DESCRIPTION, f"namespace {p.ns}, interface {p.ifname}".encode()),
                _opt(IF_TSRESOL, bytes([9])))))
        note = f"{at} {'tx' if p.outgoing else 'rx'} {p.what}".encode()
        data = bytes(p.data)
        body = struct.pack("<IIIII", interfaces[where], p.t_ns >> 32, p.t_ns & 0xFFFFFFFF, len(data), len(data))
        body += _pad(data) + _options(_opt(EPB_FLAGS, struct.pack("<I", _OUTBOUND if p.outgoing else _INBOUND)),
                                      _opt(OPT_COMMENT, note))
        out.append(_block(_EPB, body))
    return b"".join(out)


def write(f: BinaryIO, packets: Sequence, comment: Optional[str] = None,
          place: Optional[Callable[[object], str]] = None) -> None:
    f.write(encode(packets, comment, place))
