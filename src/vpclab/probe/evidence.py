"""Packet evidence of one probe: every packet of its flow each capture point saw, and when.

A `RecordingSession` is a capture session (capture.py) that also keeps, with the
kernel's timestamp, every packet belonging to one probe's flow: the request, the
reply, and any ICMP error quoting either. It is used by the crafted (single) probe
only; the matrix's capture diagnosis keeps to the plain session, so evidence costs
a batch of probes nothing.

A packet belongs to the flow by protocol and flow identifier (an ICMP echo's sequence
number and vpclab's payload, or the TCP/UDP port pair), not by address, so the same
flow is still recognised after an address translation (an EIP or a NAT gateway rewrites
addresses; it keeps an echo's sequence number and payload, but may give it another id
when its gateway already has a flow with that id to the same address).

`entries()` turns the recorded packets into the `evidence` list of `probe --json`
(time-ordered); `pcap.py` writes them to a capture file.
"""
from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass
from typing import List, Optional, Tuple

from . import wire
from .capture import PACKET_OUTGOING, CaptureSession, bpf_ipv4_only

RECORD_SNAPLEN = 4096  # a probe's packets are small; keep each one whole
_TIMESPEC = struct.Struct("@qq")
_CMSG_SPACE = socket.CMSG_SPACE(_TIMESPEC.size)
SCM_TIMESTAMPNS = getattr(socket, "SCM_TIMESTAMPNS", 35)

REQUEST, REPLY = "request", "reply"


@dataclass(frozen=True)
class Captured:
    """One packet of the probe's flow as one capture point saw it."""

    t_ns: int  # kernel receive/transmit time, ns since the epoch (CLOCK_REALTIME)
    label: str  # the capture point ("vpc-b", "vpc-b/cvm-1", or the source's label)
    ns: str
    ifname: str
    outgoing: bool  # sent by this namespace (tx), else received (rx)
    data: bytes  # the IPv4 packet, network header on
    dir: str  # REQUEST (travels source -> destination) or REPLY (destination -> source)
    what: str  # "echo-request", "SYN-ACK", "udp reply", "icmp port unreachable", "icmp net unreachable about the reply"...


class Flow:
    """Tells the packets of one probe's flow apart, by ids/ports rather than by addresses."""

    def __init__(self, proto: int, req_key: bytes, rep_key: bytes):
        self.proto = proto
        self.req_flow = req_key[9:13]
        self.rep_flow = rep_key[9:13]

    def _which(self, proto: int, l4: bytes) -> Optional[str]:
        """REQUEST / REPLY for a (possibly quoted) packet's L4 header's first 8 bytes."""
        if proto != self.proto or len(l4) < 8:
            return None
        if proto == 1:  # by the sequence number: a NAT may give the echo another id
            if l4[6:8] != self.req_flow[2:4]:
                return None
            return REQUEST if l4[0] == wire.ICMP_ECHO else REPLY if l4[0] == wire.ICMP_ECHO_REPLY else None
        if l4[:4] == self.req_flow:
            return REQUEST
        if l4[:4] == self.rep_flow:
            return REPLY
        return None

    def match(self, d: bytes) -> Optional[Tuple[str, Optional[str]]]:
        """(direction of travel, what) for a packet of this flow; None for any other packet.

        An ICMP error quoting the request travels back to the source (REPLY); one
        quoting the reply travels to the destination (REQUEST) and says so in `what`.
        """
        if len(d) < 28 or d[0] >> 4 != 4 or (d[6] & 0x1F) or d[7]:
            return None
        ihl = (d[0] & 0x0F) << 2
        p, l4 = d[9], d[ihl:ihl + 8]
        which = self._which(p, l4)
        if which is not None:
            if p == 1 and not wire.is_probe_echo(d, ihl):
                return None  # someone else's ping with the same sequence number
            return which, _what(p, d, ihl, which)
        if p != 1 or len(l4) < 8 or l4[0] not in wire.ICMP_ERROR_TYPES:
            return None
        o = ihl + 8
        if len(d) < o + 28 or d[o] >> 4 != 4:
            return None
        qihl = (d[o] & 0x0F) << 2
        about = self._which(d[o + 9], d[o + qihl:o + qihl + 8])
        if about is None:
            return None
        text = wire.icmp_error_text(l4[0], l4[1], d[12:16]).rsplit(" from ", 1)[0]
        return (REPLY if about == REQUEST else REQUEST), (text if about == REQUEST else f"{text} about the reply")


def _what(proto: int, d: bytes, ihl: int, which: str) -> str:
    if proto == 1:
        return "echo-request" if which == REQUEST else "echo-reply"
    if proto == 17:
        return f"udp {which}"
    f = d[ihl + 13] if len(d) > ihl + 13 else 0
    names = [n for bit, n in ((wire.TCP_SYN, "SYN"), (wire.TCP_RST, "RST"), (wire.TCP_FIN, "FIN"),
                              (wire.TCP_ACK, "ACK")) if f & bit]
    return "-".join(names) or f"tcp flags {f:#04x}"


def is_port_unreachable(d: bytes) -> bool:
    """An ICMP destination unreachable, code port unreachable."""
    ihl = (d[0] & 0x0F) << 2
    return len(d) > ihl + 1 and d[9] == 1 and d[ihl] == wire.ICMP_UNREACH and d[ihl + 1] == 3


def _stamp(anc) -> Optional[int]:
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            sec, nsec = _TIMESPEC.unpack_from(data)
            return sec * 1_000_000_000 + nsec
    return None


class RecordingSession(CaptureSession):
    """A capture session that also records, timed, every packet of one probe's flow.

    `labels` maps a namespace, or a (namespace, interface), to its capture point's label.
    Set `flow` and `watch_req`/`watch_rep` (the probe's keys) before sending. What it sees of the flow is also filed under
    the probe's own keys, so `labels()` and `error_note()` work through a translation.
    """

    bpf = bpf_ipv4_only(RECORD_SNAPLEN)
    timestamps = True

    def __init__(self, hop, namespaces, labels):
        self.flow: Optional[Flow] = None
        self.label_of = dict(labels)
        self.packets: List[Captured] = []
        super().__init__(hop, namespaces)

    def drain(self, fd: int) -> None:
        s, nsi = self.socks[fd]
        while True:
            try:
                d, anc, _, addr = s.recvmsg(RECORD_SNAPLEN, _CMSG_SPACE)
            except (BlockingIOError, InterruptedError):
                return
            if self.flow is None:
                continue
            m = self.flow.match(d)
            if m is None:
                continue
            which, what = m
            t_ns = _stamp(anc) or time.time_ns()
            ns = self.ns[nsi]
            out = addr[2] == PACKET_OUTGOING
            label = self.label_of.get((ns, addr[0])) or self.label_of.get(ns, ns)
            self.packets.append(Captured(t_ns, label, ns, addr[0], out, d, which, what))
            where = (nsi, addr[0])
            error = what.startswith("icmp ")
            # the key the probe knows this packet by, whatever addresses it carries now
            about = self.watch_rep if which == REQUEST else self.watch_req
            key = about if error else (self.watch_req if which == REQUEST else self.watch_rep)
            if error:
                errs = self.errors.setdefault(key, [])
                if len(errs) < 8:
                    errs.append((where, (d[(d[0] & 0x0F) << 2], d[((d[0] & 0x0F) << 2) + 1], d[12:16])))
            else:
                self.seen.setdefault(key, set()).add(where)
            if nsi == self.watch_ns and self.hit is None and not out and which == REPLY:
                self.hit = (time.monotonic(), "error" if error else "reply", d)

    def request_source(self, req_key: bytes, nsi: int) -> Optional[bytes]:
        """The source address the request carried coming into namespace `nsi`, as recorded
        (the key is the probe's own, whatever a NAT rewrote)."""
        ns = self.ns[nsi]
        came = [p for p in self.packets if p.ns == ns and p.dir == REQUEST and not p.outgoing
                and not p.what.startswith("icmp ")]
        return min(came, key=lambda p: p.t_ns).data[12:16] if came else None


def rtt_ms(packets: List[Captured], source: str) -> Optional[float]:
    """Request out of the source to its answer back in, by the kernel's timestamps (None if either is missing)."""
    sent = [p.t_ns for p in packets if p.label == source and p.outgoing and p.dir == REQUEST]
    back = [p.t_ns for p in packets if p.label == source and not p.outgoing and p.dir == REPLY]
    if not sent or not back or min(back) < min(sent):
        return None
    return round((min(back) - min(sent)) / 1e6, 3)


def entries(packets: List[Captured], t0_ns: int) -> List[dict]:
    """The `evidence` list: one entry per packet seen, in time order, times from `t0_ns` (the send)."""
    out = []
    for p in sorted(packets, key=lambda p: p.t_ns):
        out.append({"at": p.label, "dir": p.dir, "t_ms": round((p.t_ns - t0_ns) / 1e6, 3),
                    "src": socket.inet_ntoa(p.data[12:16]), "dst": socket.inet_ntoa(p.data[16:20]),
                    "if": p.ifname, "way": "tx" if p.outgoing else "rx", "what": p.what})
    return out


class FlowSession(CaptureSession):
    """A capture session for a batch of probes whose addresses a NAT may rewrite (EIPs,
    NAT gateways): a packet is the probe's by protocol and flow id (ICMP id and sequence,
    TCP/UDP ports), looked up in `flows`, which the sender (fast.Run with `flow_index`)
    fills as probes get their keys, and is filed under the probe's own keys, so
    `labels()` and `error_note()` work as for untranslated probes."""

    def __init__(self, hop, namespaces):
        self.flows: dict = {}
        self.sources: dict = {}  # (request key, namespace index) -> source address it came in with
        super().__init__(hop, namespaces)

    def request_source(self, req_key: bytes, nsi: int) -> Optional[bytes]:
        """The source address the request carried coming into namespace `nsi` (after a NAT)."""
        return self.sources.get((req_key, nsi))

    def _lookup(self, p: int, l4: bytes):
        """(request key, reply key, REQUEST|REPLY) for an L4 header of one of the flows
        (ICMP by its sequence number: a NAT may have changed its id)."""
        flows = self.flows
        if p == 1:
            f = flows.get((1, l4[6:8]))
            if f is None:
                return None
            return (f[0], f[1], REQUEST) if l4[0] == wire.ICMP_ECHO else \
                (f[0], f[1], REPLY) if l4[0] == wire.ICMP_ECHO_REPLY else None
        f = flows.get((p, l4[0:4]))
        if f is not None:
            return f[0], f[1], REQUEST
        f = flows.get((p, l4[2:4] + l4[0:2]))
        return (f[0], f[1], REPLY) if f is not None else None

    def drain(self, fd: int) -> None:
        s, nsi = self.socks[fd]
        seen, errors = self.seen, self.errors
        while True:
            try:
                d, addr = s.recvfrom(RECORD_SNAPLEN)
            except (BlockingIOError, InterruptedError):
                return
            if len(d) < 28 or d[0] >> 4 != 4 or (d[6] & 0x1F) or d[7]:
                continue
            ihl = (d[0] & 0x0F) << 2
            p, l4 = d[9], d[ihl:ihl + 8]
            where = (nsi, addr[0])
            echo = p == 1 and l4[0] in (wire.ICMP_ECHO, wire.ICMP_ECHO_REPLY)
            m = self._lookup(p, l4) if p != 1 or (echo and wire.is_probe_echo(d, ihl)) else None
            if m is not None:
                seen.setdefault(m[0] if m[2] == REQUEST else m[1], set()).add(where)
                if m[2] == REQUEST and addr[2] != PACKET_OUTGOING:
                    self.sources.setdefault((m[0], nsi), d[12:16])
                continue
            if p != 1 or l4[0] not in wire.ICMP_ERROR_TYPES:
                continue
            o = ihl + 8
            if len(d) < o + 28 or d[o] >> 4 != 4:
                continue
            qihl = (d[o] & 0x0F) << 2
            m = self._lookup(d[o + 9], d[o + qihl:o + qihl + 8])
            if m is not None:
                errs = errors.setdefault(m[0] if m[2] == REQUEST else m[1], [])
                if len(errs) < 8:
                    errs.append((where, (l4[0], l4[1], d[12:16])))
