"""The probe engine's data: what to send (ProbeSpec), where to watch (CapturePoint),
and what happened (ProbeOutcome).

Pure stdlib, no sockets and no scapy, so callers (controller, analyze, tests) can
import these freely. The engine below this layer knows nothing about VPCs: only
namespace names, IPv4 addresses and interface names.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from ..errors import Refused
from ..kernel.nsenter import check_name as check_ns_name

PROTOS = ("icmp", "tcp", "udp")


CRAFTED_PORTS = (61000, 65535)  # a crafted probe's source ports: above Linux's ephemeral range, no clash with a real socket


@dataclass(frozen=True)
class ProbeSpec:
    """One probe: from `src_ip` inside namespace `src_ns` to `dst_ip`."""

    src_ns: str
    src_ip: str
    dst_ip: str
    proto: str  # "icmp" | "tcp" | "udp"
    port: Optional[int] = None  # tcp/udp destination port; None for icmp
    # tcp/udp source ports to probe from (None: the engine's own: CRAFTED_PORTS for a crafted
    # probe, the fast path's range for sockets). Set when explain says a filter drops only the
    # replies to some ports: the probe sends from one of them.
    sports: Optional[Tuple[int, int]] = None


@dataclass(frozen=True)
class CapturePoint:
    """A place to watch: one interface of a namespace, or all of them (`ifname` None)."""

    ns: str
    ifname: Optional[str]
    label: str


@dataclass
class ProbeOutcome:
    """What one probe met.

    `replied` means a reply reached the source: an ICMP echo reply, a TCP SYN-ACK or
    RST, a UDP datagram back or an ICMP port unreachable answering a UDP probe (a
    closed port answers). Any other ICMP error (net/host unreachable...) is not a
    reply; `detail` names it. `request_seen`/`reply_seen` are capture labels in the
    order the capture points were given.
    """

    spec: ProbeSpec
    replied: bool
    rtt_ms: Optional[float]
    request_seen: List[str] = field(default_factory=list)
    reply_seen: List[str] = field(default_factory=list)
    detail: str = ""
    # A crafted probe's packet evidence (evidence.Captured, any order) and its send time
    # (ns since the epoch, the clock of the capture timestamps); None on the batch paths.
    packets: Optional[list] = None
    t0_ns: Optional[int] = None
    # Captured probes: capture label -> the source address the request carried when it came
    # in there (after any NAT on the way); the destination's is the probe's `seen_source`.
    request_from: Optional[Dict[str, str]] = None


def check_spec(spec: ProbeSpec) -> None:
    """Refuse a malformed spec (bad protocol, port or address) before anything is sent."""
    if spec.proto not in PROTOS:
        raise Refused(f"unknown probe protocol {spec.proto!r}", hint="use icmp, tcp or udp")
    if spec.proto == "icmp":
        if spec.port is not None:
            raise Refused("an icmp probe takes no port")
    elif not isinstance(spec.port, int) or not 0 < spec.port < 65536:
        raise Refused(f"a {spec.proto} probe needs a port in 1..65535, got {spec.port!r}")
    if spec.sports is not None and not (spec.proto != "icmp" and 0 < spec.sports[0] <= spec.sports[1] < 65536):
        raise Refused(f"bad source ports {spec.sports!r} for a {spec.proto} probe")
    for what, addr in (("source", spec.src_ip), ("destination", spec.dst_ip)):
        try:
            socket.inet_pton(socket.AF_INET, addr)  # strict dotted quad; ipaddress is 10x slower
        except (OSError, TypeError):
            raise Refused(f"bad {what} address {addr!r}: probes are IPv4") from None
    check_ns_name(spec.src_ns)
