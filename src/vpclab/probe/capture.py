"""Capture diagnosis: where along the path each probe's request and reply were seen.

One AF_PACKET socket per capture namespace (ETH_P_ALL, not bound, so it sees every
interface of the namespace, incoming and outgoing; the receiving interface comes
with each packet). A classic BPF filter keeps only IPv4 and cuts each packet to its
headers, so the kernel copies little. Packets are parsed with struct (wire.py) into
flow keys; a probe was "seen" at a capture point when its request key (or reply
key) was met on that namespace, on that interface if the point names one.

A packet routed through a namespace is seen twice there (in on one interface, out
on another, PACKET_OUTGOING); both count for their interface.

`capture_probe` sends with the fast path's `Run`, the capture sockets being drained
on the same epoll while the probes are in flight.
"""
from __future__ import annotations

import ctypes
import select
import socket
import struct
import threading
import time
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from ..errors import EnvironmentProblem, NotFound
from . import wire
from ..kernel.nsenter import Hopper
from .fast import raise_fd_limit
from .types import CapturePoint, ProbeOutcome, check_ns_name

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_STATISTICS = 6
SO_ATTACH_FILTER = 26
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
PACKET_OUTGOING = getattr(socket, "PACKET_OUTGOING", 4)
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
CAPTURE_BUF = 32 << 20
SNAPLEN = 160  # outer IP (<=60) + ICMP (8) + quoted IP (<=60) + 8 bytes, rounded up
SETTLE_S = 0.002  # after the last probe, a last look for copies still in flight

Where = Tuple[int, str]  # (capture namespace index, interface name)


def bpf_ipv4_only(snaplen: int) -> List[Tuple[int, int, int, int]]:
    """ld skb->protocol; if == IPv4 accept `snaplen` bytes else drop."""
    return [
        (0x28, 0, 0, 0xFFFFF000),  # BPF_LD|BPF_H|BPF_ABS, SKF_AD_OFF + SKF_AD_PROTOCOL
        (0x15, 0, 1, 0x0800),      # BPF_JMP|BPF_JEQ|BPF_K
        (0x06, 0, 0, snaplen),     # BPF_RET|BPF_K
        (0x06, 0, 0, 0),
    ]


_ACCEPT = bpf_ipv4_only(SNAPLEN)


def _attach_filter(s: socket.socket, prog: List[Tuple[int, int, int, int]]) -> None:
    insns = b"".join(struct.pack("HBBI", *i) for i in prog)
    buf = ctypes.create_string_buffer(insns, len(insns))
    fprog = struct.pack("HL", len(prog), ctypes.addressof(buf))
    s.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


class CaptureSession:
    """Capture sockets in a set of namespaces, and what they saw, keyed by flow."""

    bpf = _ACCEPT  # what the kernel keeps of each packet (a recording session keeps more)
    timestamps = False  # ask the kernel for each packet's time (SO_TIMESTAMPNS)

    def __init__(self, hop: Hopper, namespaces: Iterable[str]):
        self.hop = hop
        self.ns: List[str] = []
        self.index: Dict[str, int] = {}
        self.socks: Dict[int, Tuple[socket.socket, int]] = {}  # fd -> (socket, ns index)
        self.seen: Dict[bytes, Set[Where]] = {}
        self.errors: Dict[bytes, List[Tuple[Where, Tuple[int, int, bytes]]]] = {}
        # the crafted path watches its source namespace for the reply
        self.watch_ns = -1
        self.watch_req: Optional[bytes] = None
        self.watch_rep: Optional[bytes] = None
        self.hit: Optional[Tuple[float, str, bytes]] = None  # (time, "reply"|"error", packet)
        raise_fd_limit()  # a socket and a namespace descriptor per namespace: 5,000 for a big lab
        self.add(namespaces)

    def add(self, namespaces: Iterable[str]) -> None:
        """Open a capture socket in each namespace not watched yet."""
        try:
            for ns in namespaces:
                if ns in self.index:
                    continue
                check_ns_name(ns)
                self.hop.enter(ns)
                try:
                    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK
                                      | socket.SOCK_CLOEXEC, socket.htons(ETH_P_ALL))
                except PermissionError:
                    raise EnvironmentProblem("packet capture needs CAP_NET_RAW", hint="run as root") from None
                self.socks[s.fileno()] = (s, len(self.ns))
                _attach_filter(s, self.bpf)
                if self.timestamps:
                    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                try:
                    s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, CAPTURE_BUF)
                except OSError:
                    pass
                self.index[ns] = len(self.ns)
                self.ns.append(ns)
        except BaseException:
            self.close()
            raise

    def trim(self, keep: Set[str], cap: int) -> None:
        """Close the sockets of namespaces not in `keep` when adding `keep` would pass `cap`
        sockets (a long matrix of thousands of namespaces; see Diagnoser)."""
        if len(self.index) + len(keep.difference(self.index)) <= cap:
            return
        gone = []
        for fd, (s, nsi) in list(self.socks.items()):
            if self.ns[nsi] not in keep:
                gone.append(s)
                del self.socks[fd]
                del self.index[self.ns[nsi]]
        close_many(gone)

    def reset(self) -> None:
        """Start a new batch from a clean slate: what was queued, seen or dropped is forgotten."""
        for s, _ in self.socks.values():
            while True:
                try:
                    s.recv(SNAPLEN)
                except (BlockingIOError, InterruptedError):
                    break
        self.drops()  # reading the statistics resets them
        self.seen.clear()
        self.errors.clear()

    def check_points(self, points: Iterable[CapturePoint]) -> None:
        """NotFound for a capture point naming an interface its namespace lacks."""
        for cp in points:
            if cp.ifname is None:
                continue
            self.hop.enter(cp.ns)
            try:
                socket.if_nametoindex(cp.ifname)
            except OSError:
                raise NotFound(f"no interface {cp.ifname!r} in namespace {cp.ns!r} "
                               f"(capture point {cp.label!r})") from None

    def readers(self) -> Dict[int, Callable[[], None]]:
        return {fd: (lambda fd=fd: self.drain(fd)) for fd in self.socks}

    def drain(self, fd: int) -> None:
        s, nsi = self.socks[fd]
        seen, errors, read = self.seen, self.errors, wire.read_packet
        watching = nsi == self.watch_ns
        while True:
            try:
                d, addr = s.recvfrom(SNAPLEN)
            except (BlockingIOError, InterruptedError):
                return
            r = read(d)
            if r is None:
                continue
            key, err = r
            where = (nsi, addr[0])
            if err is None:
                st = seen.get(key)
                if st is None:
                    seen[key] = {where}
                else:
                    st.add(where)
            else:
                errs = errors.setdefault(key, [])
                if len(errs) < 8:
                    errs.append((where, err))
            if watching and self.hit is None and addr[2] != PACKET_OUTGOING:
                if err is None and key == self.watch_rep:
                    self.hit = (time.monotonic(), "reply", d)
                elif err is not None and key == self.watch_req:
                    self.hit = (time.monotonic(), "error", d)

    def drain_all(self) -> None:
        for fd in self.socks:
            self.drain(fd)

    def wait(self, until: float, stop=lambda: False) -> None:
        """Drain as packets come, until `until` (monotonic) or `stop()` is true."""
        self.hop.enter(None)  # wait at home, never parked inside a lab namespace
        ep = select.epoll()
        try:
            for fd in self.socks:
                ep.register(fd, select.EPOLLIN)
            while not stop():
                left = until - time.monotonic()
                if left <= 0:
                    break
                for fd, _ in ep.poll(left):
                    self.drain(fd)
        finally:
            ep.close()

    def settle(self) -> None:
        """A last look: copies of the final packets may still be on their way."""
        self.drain_all()
        self.wait(time.monotonic() + SETTLE_S)

    def drops(self) -> Dict[str, int]:
        """Packets each namespace's capture socket dropped (buffer full)."""
        out = {}
        for s, nsi in self.socks.values():
            try:
                _, dropped = struct.unpack("II", s.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
            except OSError:
                continue
            if dropped:
                out[self.ns[nsi]] = dropped
        return out

    def labels(self, key: Optional[bytes], points: Sequence[CapturePoint]) -> List[str]:
        """Labels of the points (in the order given) where a packet with `key` was seen."""
        st = self.seen.get(key) if key is not None else None
        if not st:
            return []
        out = []
        for cp in points:
            nsi = self.index[cp.ns]
            if cp.ifname is None:
                hit = any(w[0] == nsi for w in st)
            else:
                hit = (nsi, cp.ifname) in st
            if hit:
                out.append(cp.label)
        return out

    def answer_labels(self, req_key: bytes, points: Sequence[CapturePoint], seen: List[str]) -> List[str]:
        """`seen` plus the points where a port unreachable quoting `req_key` was seen, in point order."""
        where = {w for w, (t, code, _) in self.errors.get(req_key, ()) if t == wire.ICMP_UNREACH and code == 3}
        if not where:
            return seen
        out = []
        for cp in points:
            nsi = self.index[cp.ns]
            hit = any(w[0] == nsi for w in where) if cp.ifname is None else (nsi, cp.ifname) in where
            if cp.label in seen or hit:
                out.append(cp.label)
        return out

    def request_source(self, req_key: bytes, nsi: int) -> Optional[bytes]:
        """The source address the request with `req_key` carried arriving in namespace `nsi`:
        here the key's own (a plain session files a packet under its own addresses)."""
        return req_key[1:5]

    def error_note(self, key: Optional[bytes], what: str) -> str:
        """e.g. 'reply met icmp net unreachable from 10.0.0.1', or ''."""
        errs = self.errors.get(key) if key is not None else None
        if not errs:
            return ""
        t, code, frm = errs[0][1]
        return f"{what} met {wire.icmp_error_text(t, code, frm)}"

    def close(self) -> None:
        close_many([s for s, _ in self.socks.values()])
        self.socks.clear()


def close_many(socks: List[socket.socket]) -> None:
    """Close packet sockets, in parallel when there are many.

    Each AF_PACKET close waits for an RCU grace period (synchronize_net, ~6 ms here);
    closes from several threads share grace periods, so 200 sockets take ~50 ms
    instead of over a second, and the 3-4 of a single probe ~7 ms instead of ~25.
    """
    if len(socks) <= 1:
        for s in socks:
            s.close()
        return
    width = min(len(socks), 64)
    threads = [threading.Thread(target=lambda part=socks[i::width]: [s.close() for s in part], daemon=True)
               for i in range(width)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def annotate(o: ProbeOutcome, session: CaptureSession, req_key: Optional[bytes],
             rep_key: Optional[bytes], points: Sequence[CapturePoint], drops: Mapping[str, int]) -> None:
    """Fill the seen-lists of one outcome, and say in `detail` what else the captures know."""
    o.request_seen = session.labels(req_key, points)
    o.reply_seen = session.labels(rep_key, points)
    o.request_from = {}
    for cp in points:
        if cp.label in o.request_seen and cp.label not in o.request_from:
            a = session.request_source(req_key, session.index[cp.ns])
            if a is not None:
                o.request_from[cp.label] = socket.inet_ntoa(a)
    if o.spec.proto == "udp" and req_key is not None and req_key in session.errors:
        # a closed UDP port's answer is an ICMP port unreachable quoting the request: it is
        # the reply, and travels (and is seen) where a reply would
        o.reply_seen = session.answer_labels(req_key, points, o.reply_seen)
    notes = []
    if not o.replied:
        note = session.error_note(rep_key, "reply")
        if note:
            notes.append(note)
        elif " from " not in o.detail and not o.detail.startswith("refused"):
            # a socket error or a timeout: the captured ICMP error says who sent it
            note = session.error_note(req_key, "request")
            if note:
                notes.append(note)
    lost = sorted({cp.ns for cp in points if drops.get(cp.ns)})
    if lost:
        notes.append("capture dropped packets in " + ", ".join(f"{ns} ({drops[ns]})" for ns in lost))
    if notes:
        o.detail = "; ".join([o.detail] + notes) if o.detail else "; ".join(notes)
