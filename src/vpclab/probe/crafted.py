"""One crafted probe: built and sent with scapy from inside the source namespace.

The calling thread enters the source namespace *before* scapy is first imported, so
scapy's interface and route tables are that namespace's (later calls from another
namespace resync them). Only `scapy.layers.inet` is imported (~0.25 s, against
~0.6-0.9 s for `scapy.all`). The packet leaves through a scapy SimpleSocket around
a raw IPPROTO_RAW/IP_HDRINCL socket created in the source namespace -- the sending
half of scapy's L3RawSocket, without its receiving AF_PACKET socket, whose close
alone costs an RCU grace period (~12 ms) -- so the source kernel routes it like any
packet of that host, and a refusal keeps its errno (L3RawSocket logs and hides it).

The reply is not read through scapy: the capture sockets (a RecordingSession,
evidence.py) are opened before sending, and one of them, in the source namespace,
watches for the reply (or an ICMP error quoting the request) coming in. Every packet
of the probe's flow they see is kept, timed, as the probe's evidence. Call from the main thread: scapy
reads some tables through /proc/self, which follows the main thread's namespace.
"""
from __future__ import annotations

import logging
import random
import socket
import sys
import time
from typing import Optional, Sequence

from ..errors import EnvironmentProblem
from . import wire
from .capture import annotate
from .evidence import Flow, RecordingSession, is_port_unreachable, rtt_ms
from .fast import errno_detail
from ..kernel.nsenter import Hopper
from .types import CRAFTED_PORTS, CapturePoint, ProbeOutcome, ProbeSpec, check_spec

_scapy_ns: Optional[str] = None  # the namespace scapy's tables were read in


def _scapy_here(ns: str):
    """Import scapy's IPv4 layers in the current (source) namespace; resync if it moved."""
    global _scapy_ns
    fresh = "scapy.layers.inet" not in sys.modules
    if fresh:
        # scapy logs warnings about interfaces without addresses at import time
        logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    try:
        from scapy.config import conf
        from scapy.layers.inet import ICMP, IP, TCP, UDP
        from scapy.packet import Raw
        from scapy.supersocket import SimpleSocket
    except ImportError as e:
        raise EnvironmentProblem(f"scapy is needed for crafted probes: {e}",
                                 hint="pip install scapy") from None

    if not fresh and _scapy_ns != ns:
        conf.route.resync()
        conf.ifaces.reload()
    _scapy_ns = ns
    return IP, ICMP, TCP, UDP, Raw, SimpleSocket


def _craft(spec: ProbeSpec, layers):
    """The packet, its request key and its reply key."""
    IP, ICMP, TCP, UDP, Raw, _ = layers
    proto = wire.IPPROTO[spec.proto]
    src4, dst4 = wire.addr4(spec.src_ip), wire.addr4(spec.dst_ip)
    ip = IP(src=spec.src_ip, dst=spec.dst_ip, ttl=64)
    if spec.proto == "icmp":
        ident, seq = random.getrandbits(16), random.getrandbits(16)
        pkt = ip / ICMP(type=8, id=ident, seq=seq) / Raw(wire.ECHO_PAYLOAD)
        req, rep = wire.probe_keys(proto, src4, dst4, ident, seq)
    else:
        sport = random.randint(*(spec.sports or CRAFTED_PORTS))
        if spec.proto == "tcp":
            pkt = ip / TCP(sport=sport, dport=spec.port, flags="S", seq=random.getrandbits(32),
                           window=64240)
        else:
            pkt = ip / UDP(sport=sport, dport=spec.port) / Raw(wire.UDP_PAYLOAD)
        req, rep = wire.probe_keys(proto, src4, dst4, sport, spec.port)
    return pkt, req, rep


def crafted_probe(spec: ProbeSpec, captures: Sequence[CapturePoint], timeout: float = 1.0,
                  source_label: str = "source", before_send=None) -> ProbeOutcome:
    """Send one scapy-crafted probe, watching `captures` (in path order) meanwhile.

    Returns as soon as the reply (or an ICMP error about the request) reaches the
    source namespace, else after `timeout` seconds. The outcome's `packets` hold every
    packet of the probe's flow seen at a capture point or at the source (labelled
    `source_label`), with kernel timestamps; `t0_ns` is the send time.
    `before_send(request key, reply key)`: called once the packet is made, before it is sent.
    """
    check_spec(spec)
    points = list(captures)
    proto = wire.IPPROTO[spec.proto]
    labels = {(cp.ns, cp.ifname) if cp.ifname else cp.ns: cp.label for cp in points}
    labels.setdefault(spec.src_ns, source_label)
    with Hopper() as hop:
        hop.check(spec.src_ns)
        session = RecordingSession(hop, [cp.ns for cp in points] + [spec.src_ns], labels)
        sock = None
        try:
            session.check_points(points)
            hop.enter(spec.src_ns)
            layers = _scapy_here(spec.src_ns)
            pkt, req, rep = _craft(spec, layers)
            if before_send is not None:
                before_send(req, rep)
            try:
                raw = socket.socket(socket.AF_INET, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.IPPROTO_RAW)
            except PermissionError:
                raise EnvironmentProblem("raw sockets need CAP_NET_RAW", hint="run as root") from None
            sock = layers[-1](raw)  # scapy SimpleSocket; the socket was born in the source namespace
            raw.setsockopt(socket.SOL_IP, socket.IP_HDRINCL, 1)
            session.watch_ns = session.index[spec.src_ns]
            session.watch_req, session.watch_rep = req, rep
            session.drain_all()
            session.flow = Flow(proto, req, rep)
            data = bytes(pkt)  # assemble first: keep scapy's build time out of the RTT
            t0_ns = time.time_ns()
            t0 = time.monotonic()
            try:
                raw.connect((spec.dst_ip, 0))  # the source's route lookup happens here
                sock.send(data)
                refused = ""
            except OSError as e:
                refused = errno_detail(e.errno, True)
            session.wait(t0 + (0.0 if refused else max(0.0, timeout)), stop=lambda: session.hit is not None)
            session.settle()
            drops = session.drops()
        finally:
            if sock is not None:
                sock.close()
            session.close()
    hit = session.hit
    if refused:
        o = ProbeOutcome(spec, False, None, detail=refused)
    elif hit is None:
        o = ProbeOutcome(spec, False, None, detail="no reply")
    elif hit[1] == "reply":
        o = ProbeOutcome(spec, True, round((hit[0] - t0) * 1000.0, 3), detail=wire.reply_detail(proto, hit[2]))
    else:
        d = hit[2]
        ihl = (d[0] & 0x0F) << 2
        text = wire.icmp_error_text(d[ihl], d[ihl + 1], d[12:16])
        if spec.proto == "udp" and is_port_unreachable(d):
            # a closed port answered (nothing listens): a reply, like a TCP RST
            o = ProbeOutcome(spec, True, round((hit[0] - t0) * 1000.0, 3), detail=text)
        else:
            o = ProbeOutcome(spec, False, None, detail=text)
    annotate(o, session, req, rep, points, drops)
    o.packets, o.t0_ns = list(session.packets), t0_ns
    if o.replied:
        # the kernel's timestamps, when both ends were caught, leave Python's wake-up time out
        o.rtt_ms = rtt_ms(o.packets, labels[spec.src_ns]) or o.rtt_ms
    return o
