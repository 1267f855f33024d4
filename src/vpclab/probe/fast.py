"""The fast path: many probes at once on plain sockets, no scapy, no captures.

Sockets are created inside each source namespace (the thread hops in with setns and
back out; a socket stays in the namespace it was born in), then every probe is sent
and all of them wait together on one epoll until each is answered or its own
deadline (send time + timeout) passes.

- ICMP: one raw IPPROTO_ICMP socket per (namespace, source address); each probe has
  its own id/seq so echo replies and quoted ICMP errors find their probe, and counts
  them only on its own socket: VPCs that are not peered may overlap, and a reply
  delivered to another namespace holding the same source address is not an answer.
- TCP: one non-blocking connect() per probe; connected (SYN-ACK) or ECONNREFUSED
  (RST) is a reply. Answered sockets are closed with an RST (SO_LINGER 0) so the
  source keeps no TIME_WAIT.
- UDP: one connected socket per probe sends a small datagram; a datagram back is a
  reply, and so is ECONNREFUSED: an ICMP port unreachable came back instead (the
  destination answered that nothing listens, like a TCP RST).

Probes are told apart by namespace, never by address alone. Two probes whose sources
are the same address in two namespaces get distinct TCP/UDP source ports (ICMP: ids),
so every flow of a run has its own key and the captures of one cannot be taken for
the other's.

TCP/UDP probes hold a file descriptor while in flight; when there are more probes
than the descriptor limit allows, a sliding window keeps as many in flight as fit.

`Run` is also the sender for the capture path (capture.py), which adds its capture
sockets as extra readers on the same epoll.
"""
from __future__ import annotations

import errno
import os
import random
import resource
import select
import socket
import struct
import time
from collections import deque
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from ..errors import EnvironmentProblem
from . import wire
from ..kernel.nsenter import Hopper
from .ports import SourcePorts
from .types import ProbeOutcome, ProbeSpec, check_spec

SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)
SOL_RAW, ICMP_FILTER = 255, 1
RAW_BUF = 8 << 20
LAUNCH_CHUNK = 256  # probes sent between two looks at the replies
FD_MARGIN = 64
TRANSLATED_ICMP_MAX = 1 << 16  # translated ICMP probes are told apart by their 16-bit sequence number

_LINGER_RST = struct.pack("ii", 1, 0)
# raw ICMP sockets see every ICMP packet of their namespace; keep only replies and errors
_ICMP_KEEP = (1 << wire.ICMP_ECHO_REPLY) | (1 << wire.ICMP_UNREACH) | (1 << wire.ICMP_TIME_EXCEEDED) \
    | (1 << wire.ICMP_PARAMPROB)
_ICMP_FILTER_MASK = struct.pack("I", ~_ICMP_KEEP & 0xFFFFFFFF)

_ERRNO_DETAIL = {
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.EACCES: "prohibited",
    errno.EPERM: "prohibited",
    errno.ETIMEDOUT: "timed out",
    errno.EADDRNOTAVAIL: "source address not in namespace",
    errno.EINVAL: "no usable route",
}

_PROTO = wire.IPPROTO
PORT_UNREACHABLE = "icmp port unreachable"  # the detail of a UDP probe answered by port unreachable


def errno_detail(err: int, at_source: bool) -> str:
    """Text for a socket error; `at_source` when the source's own kernel refused to send."""
    text = _ERRNO_DETAIL.get(err) or os.strerror(err)
    name = errno.errorcode.get(err, str(err))
    if at_source:
        return f"refused at source: {text} ({name})"
    return f"{text} ({name})"


def raise_fd_limit() -> int:
    """Lift the soft descriptor limit to the hard one; return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def fd_budget() -> int:
    """How many more descriptors this run may hold at once."""
    limit = raise_fd_limit()
    try:
        used = len(os.listdir("/proc/self/fd"))
    except OSError:
        used = 256
    return max(16, limit - used - FD_MARGIN)


class Probe:
    """One probe in flight (internal; becomes a ProbeOutcome at the end)."""

    __slots__ = ("spec", "proto", "src4", "dst4", "sock", "fd", "t0", "deadline", "done",
                 "replied", "rtt", "detail", "req_key", "rep_key", "ident", "home", "plan")

    def __init__(self, spec: ProbeSpec):
        self.spec = spec
        self.proto = _PROTO[spec.proto]
        self.src4 = wire.addr4(spec.src_ip)
        self.dst4 = wire.addr4(spec.dst_ip)
        self.sock: Optional[socket.socket] = None
        self.fd = -1
        self.t0 = 0.0
        self.deadline = 0.0
        self.done = False
        self.replied = False
        self.rtt: Optional[float] = None
        self.detail = ""
        self.req_key: Optional[bytes] = None
        self.rep_key: Optional[bytes] = None
        self.ident = 0  # ICMP: id << 16 | seq
        self.home = -1  # ICMP: the descriptor of the socket its answers must arrive on
        self.plan = 0  # TCP/UDP: the source port chosen for it (0: none yet)

    def outcome(self) -> ProbeOutcome:
        return ProbeOutcome(self.spec, self.replied, self.rtt, [], [], self.detail)


class Run:
    """Send a batch of probes concurrently and collect what comes back.

    `readers` maps extra file descriptors (capture sockets) to callbacks run when they
    are readable. The hopper must belong to the calling thread; the run leaves the
    thread in some source namespace, and the caller's Hopper.close() brings it home.
    """

    def __init__(self, specs: Sequence[ProbeSpec], timeout: float, hopper: Hopper,
                 readers: Optional[Dict[int, Callable[[], None]]] = None, flow_index: Optional[dict] = None,
                 before_send: Optional[Callable[[List["Probe"]], None]] = None):
        for s in specs:
            check_spec(s)
        self.timeout = max(0.0, float(timeout))
        self.hop = hopper
        self.probes = [Probe(s) for s in specs]
        self.readers = dict(readers or {})
        self.by_fd: Dict[int, Probe] = {}
        self.icmp_socks: Dict[Tuple[str, str], Optional[socket.socket]] = {}
        self.icmp_fds: Dict[int, socket.socket] = {}
        self.by_rep: Dict[bytes, Probe] = {}  # ICMP reply key -> probe
        self.by_req: Dict[bytes, Probe] = {}  # ICMP request key -> probe (for quoted errors)
        self.open_socks = 0
        self.remaining = len(self.probes)
        self.ep = select.epoll()
        self.budget = 0  # set in run(), once the namespaces are open
        # flow_index (capture of translated flows, evidence.FlowSession): filled with
        # (protocol, flow id bytes) -> (request key, reply key) as probes get their keys
        # (TCP/UDP: the port pair; ICMP: the sequence number, see _prepare_icmp); TCP/UDP
        # source ports are then unique across the whole run, not per source address, so
        # the ids alone name a probe wherever its addresses were rewritten.
        self.flow_index = flow_index
        self.ports = SourcePorts(flow_index)  # TCP/UDP source ports: one flow key per probe
        # before_send(probes): called once every probe has its flow keys, before the first is
        # sent (controller/attribution.py watches those flows in the filters' namespaces).
        self.before_send = before_send

    # -- setup ---------------------------------------------------------------
    def _icmp_socket(self, ns: str, src_ip: str) -> Tuple[Optional[socket.socket], str]:
        key = (ns, src_ip)
        if key in self.icmp_socks:
            return self.icmp_socks[key], ""
        self.hop.enter(ns)
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC,
                              socket.IPPROTO_ICMP)
        except PermissionError:
            raise EnvironmentProblem("raw sockets need CAP_NET_RAW", hint="run as root") from None
        try:
            s.setsockopt(SOL_RAW, ICMP_FILTER, _ICMP_FILTER_MASK)
            for opt in (SO_RCVBUFFORCE, SO_SNDBUFFORCE):
                s.setsockopt(socket.SOL_SOCKET, opt, RAW_BUF)
            s.bind((src_ip, 0))  # also keeps replies to other addresses of the ns out
        except OSError as e:
            s.close()
            self.icmp_socks[key] = None
            return None, errno_detail(e.errno, True)
        self.icmp_socks[key] = s
        self.icmp_fds[s.fileno()] = s
        self.ep.register(s.fileno(), select.EPOLLIN)
        return s, ""

    def _prepare_icmp(self) -> None:
        base = random.getrandbits(32)
        hi, lo = base >> 16, base & 0xFFFF
        n = 0
        for i, p in enumerate(self.probes):
            if p.proto == 1:
                if self.flow_index is None:
                    p.ident = (base + i) & 0xFFFFFFFF
                else:
                    # Translated: a NAT keeps an echo's sequence number and payload, but gives it
                    # another id when its gateway already has a flow with that id to the same
                    # address (two sources behind one gateway: the same id would clash). Each
                    # probe gets its own id (no clash within the run) and its own sequence
                    # number, by which the capture knows it (TRANSLATED_ICMP_MAX per run).
                    if n >= TRANSLATED_ICMP_MAX:
                        raise ValueError(f"more than {TRANSLATED_ICMP_MAX} translated ICMP probes in one run")
                    p.ident = ((hi + n) & 0xFFFF) << 16 | ((lo + n) & 0xFFFF)
                    n += 1
                p.req_key, p.rep_key = wire.probe_keys(1, p.src4, p.dst4, p.ident >> 16, p.ident & 0xFFFF)
                self.by_req[p.req_key] = p
                self.by_rep[p.rep_key] = p
                if self.flow_index is not None:
                    self.flow_index[(1, wire.icmp_seq(p.req_key))] = (p.req_key, p.rep_key)

    # -- launching -----------------------------------------------------------
    def _launch(self, p: Probe) -> bool:
        """Send one probe. False if the kernel asked us to retry later (EAGAIN)."""
        spec = p.spec
        if p.proto == 1:
            s, why = self._icmp_socket(spec.src_ns, spec.src_ip)
            if s is None:
                self._finish(p, False, why)
                return True
            p.home = s.fileno()
            p.t0 = time.monotonic()
            try:
                s.sendto(wire.icmp_echo(p.ident >> 16, p.ident & 0xFFFF), (spec.dst_ip, 0))
            except BlockingIOError:
                return False
            except OSError as e:
                self._finish(p, False, errno_detail(e.errno, True))
                return True
            p.deadline = p.t0 + self.timeout
            return True
        self.hop.enter(spec.src_ns)
        stype = socket.SOCK_STREAM if p.proto == 6 else socket.SOCK_DGRAM
        s = socket.socket(socket.AF_INET, stype | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
        try:
            if p.proto == 6:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, 1)
            self.ports.bind(p, s)
        except OSError as e:
            s.close()
            self._finish(p, False, errno_detail(e.errno, True))
            return True
        p.t0 = time.monotonic()
        err = s.connect_ex((spec.dst_ip, spec.port))
        if p.proto == 6:
            if err not in (0, errno.EINPROGRESS):
                s.close()
                if err == errno.ECONNREFUSED:
                    self._finish(p, True, "RST", rtt=True)
                else:
                    self._finish(p, False, errno_detail(err, True))
                return True
            mask = select.EPOLLOUT
        else:
            if err == 0:
                try:
                    s.send(wire.UDP_PAYLOAD)
                except OSError as e:
                    err = e.errno
            if err:
                s.close()
                self._finish(p, False, errno_detail(err, True))
                return True
            mask = select.EPOLLIN
        p.sock, p.fd = s, s.fileno()
        self.by_fd[p.fd] = p
        self.open_socks += 1
        self.ep.register(p.fd, mask)
        p.deadline = p.t0 + self.timeout
        return True

    # -- completion ----------------------------------------------------------
    def _finish(self, p: Probe, replied: bool, detail: str, rtt: bool = False,
                now: Optional[float] = None) -> None:
        if p.done:
            return
        p.done = True
        self.remaining -= 1
        p.replied = replied
        p.detail = detail
        if rtt:
            p.rtt = round(((now or time.monotonic()) - p.t0) * 1000.0, 3)
        s = p.sock
        if s is not None:
            self.by_fd.pop(p.fd, None)
            try:
                self.ep.unregister(p.fd)
            except (OSError, ValueError):
                pass
            if p.proto == 6 and replied and detail == "SYN-ACK":
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
                except OSError:
                    pass
            s.close()
            p.sock = None
            self.open_socks -= 1

    def _on_icmp(self, s: socket.socket, now: float) -> None:
        by_rep, by_req, home = self.by_rep, self.by_req, s.fileno()
        while True:
            try:
                d = s.recv(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if len(d) < 28:
                continue
            ihl = (d[0] & 0x0F) << 2
            t = d[ihl]
            if t == wire.ICMP_ECHO_REPLY:
                p = by_rep.get(d[9:10] + d[12:20] + d[ihl + 4:ihl + 8])
                if p is not None and p.home == home and not p.done and p.deadline:
                    self._finish(p, True, "echo-reply", rtt=True, now=now)
            else:
                r = wire.read_packet(d)
                if r is not None and r[1] is not None:
                    p = by_req.get(r[0])
                    if p is not None and p.home == home and not p.done and p.deadline:
                        t, code, frm = r[1]
                        self._finish(p, False, wire.icmp_error_text(t, code, frm))

    def _on_sock(self, p: Probe, ev: int, now: float) -> None:
        s = p.sock
        if p.proto == 6:
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err == 0:
                self._finish(p, True, "SYN-ACK", rtt=True, now=now)
            elif err == errno.ECONNREFUSED:
                self._finish(p, True, "RST", rtt=True, now=now)
            else:
                self._finish(p, False, errno_detail(err, False))
            return
        try:
            s.recv(2048)
        except BlockingIOError:
            return
        except ConnectionRefusedError:
            # The destination's kernel answered: nothing listens there. A reply (TOPOLOGY.md v2).
            self._finish(p, True, PORT_UNREACHABLE, rtt=True, now=now)
            return
        except OSError as e:
            self._finish(p, False, errno_detail(e.errno, False))
            return
        self._finish(p, True, "udp reply", rtt=True, now=now)

    # -- the loop ------------------------------------------------------------
    def run(self) -> List[Probe]:
        """Send everything, wait for everything; returns the probes in input order."""
        for ns in {p.spec.src_ns for p in self.probes}:
            self.hop.check(ns)
        n_icmp_socks = len({(p.spec.src_ns, p.spec.src_ip) for p in self.probes if p.proto == 1})
        self.budget = max(16, fd_budget() - n_icmp_socks)
        self._prepare_icmp()
        if self.before_send is not None:
            self.ports.plan(self.probes)
            self.before_send(self.probes)
        for fd in self.readers:
            self.ep.register(fd, select.EPOLLIN)
        # group by namespace so each namespace is entered about once
        queue = deque(sorted(self.probes, key=lambda p: p.spec.src_ns))
        inflight: deque = deque()
        by_fd, icmp_fds, readers = self.by_fd, self.icmp_fds, self.readers
        try:
            while True:
                stalled = again = False
                n = 0
                while queue and n < LAUNCH_CHUNK:
                    p = queue[0]
                    if p.proto != 1 and self.open_socks >= self.budget:
                        stalled = True  # wait for a descriptor to come free
                        break
                    if not self._launch(p):
                        stalled = again = True  # send buffer full: retry shortly
                        break
                    queue.popleft()
                    if not p.done:
                        inflight.append(p)
                    n += 1
                now = time.monotonic()
                while inflight and (inflight[0].done or inflight[0].deadline <= now):
                    p = inflight.popleft()
                    if not p.done:
                        self._finish(p, False, "no reply")
                if not queue and self.remaining == 0:
                    break
                if queue and not stalled:
                    wait = 0.0
                elif inflight:
                    wait = max(0.0, inflight[0].deadline - now)
                    if again:
                        wait = min(wait, 0.001)
                else:
                    wait = 0.001
                if wait > 0:
                    self.hop.enter(None)  # wait at home, never parked inside a lab namespace
                for fd, ev in self.ep.poll(wait):
                    now = time.monotonic()
                    p = by_fd.get(fd)
                    if p is not None:
                        self._on_sock(p, ev, now)
                    elif fd in icmp_fds:
                        self._on_icmp(icmp_fds[fd], now)
                    else:
                        cb = readers.get(fd)
                        if cb is not None:
                            cb()
        finally:
            for p in self.probes:
                if p.sock is not None:
                    self._finish(p, False, "aborted")
        return self.probes

    def close(self) -> None:
        for s in self.icmp_fds.values():
            s.close()
        self.icmp_fds.clear()
        self.icmp_socks.clear()
        self.ep.close()


def namespace_cap() -> int:
    """How many namespaces one run may work in at once: a quarter of the open-file limit
    (each holds a socket or two there; the capture sockets and the Hopper count apart)."""
    return max(16, raise_fd_limit() // 4)


def parts(namespaces_of: Sequence[Iterable[str]], cap: int) -> List[List[int]]:
    """The indices 0..n-1 in order, cut into runs whose namespaces (`namespaces_of[i]`) number
    at most `cap` together (one run when they all fit). A matrix of 10,000 namespaces held a
    socket in each at once, past a hard limit of 20,000 files (issue 24)."""
    out: List[List[int]] = []
    part: List[int] = []
    seen: set = set()
    for i, nss in enumerate(namespaces_of):
        more = set(nss) - seen
        if part and len(seen) + len(more) > cap:
            out.append(part)
            part, seen, more = [], set(), set(nss)
        part.append(i)
        seen |= more
    if part:
        out.append(part)
    return out


def fast_probe(specs: Sequence[ProbeSpec], timeout: float = 0.5,
               before_send: Optional[Callable[[List[Probe]], None]] = None) -> List[ProbeOutcome]:
    """Probe everything at once; one ProbeOutcome per spec, in the order given.

    Raises NotFound for a namespace that does not exist, EnvironmentProblem without
    root, Refused for a malformed spec. A source address that is not in its
    namespace, or a route the source refuses, shows up in that probe's `detail`.
    `before_send(probes)`: see Run (the probes in the order given, their keys set).
    """
    cut = parts([(s.src_ns,) for s in specs], namespace_cap())
    if len(cut) > 1:  # more sources than sockets may be open at once: in turn
        out: List[ProbeOutcome] = [None] * len(specs)  # type: ignore[list-item]
        for idx in cut:
            for i, o in zip(idx, fast_probe([specs[i] for i in idx], timeout, before_send)):
                out[i] = o
        return out
    with Hopper() as hop:
        run = Run(specs, timeout, hop, before_send=before_send)
        try:
            probes = run.run()
        finally:
            run.close()
    return [p.outcome() for p in probes]
