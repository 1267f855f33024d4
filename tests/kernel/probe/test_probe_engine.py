"""The probe engine against the real kernel: tiny hand-built topologies.

    ns a (10.99.1.2/24) --a0==r0-- ns r (router) --r1==b0-- ns b (10.99.2.2/24)

Built with pyroute2 (no `ip`), each test with its own random namespace names,
always removed afterwards. `b` runs a TCP listener and a UDP echo socket.
"""
from __future__ import annotations

import os
import secrets
import selectors
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import List

import pytest

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: builds network namespaces"),
]

from pyroute2 import IPRoute, netns  # noqa: E402

from vpclab.errors import NotFound, Refused  # noqa: E402
from vpclab.probe.engine import CapturePoint, ProbeSpec, capture_probe, crafted_probe, fast_probe

A_IP, R_A_IP, R_B_IP, B_IP = "10.99.1.2", "10.99.1.1", "10.99.2.1", "10.99.2.2"
TCP_OPEN, UDP_OPEN, CLOSED = 7001, 7002, 7003
ALL_TAGS: List[str] = []  # every namespace prefix this module made, checked at the end


def _in_ns(ns):
    """Context manager: this thread inside `ns` (pyroute2 pushns/popns)."""
    class _Ctx:
        def __enter__(self):
            netns.pushns(ns)

        def __exit__(self, *exc):
            netns.popns()
    return _Ctx()


def _up(ipr, name):
    idx = ipr.link_lookup(ifname=name)[0]
    ipr.link("set", index=idx, state="up")
    return idx


def _set_forwarding(ns):
    with _in_ns(ns):
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:  # per-netns sysctl
            f.write("1")


@dataclass
class Servers:
    """TCP listener + UDP echo inside one namespace, served by one thread."""

    socks: List[socket.socket] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread = None

    @classmethod
    def start(cls, ns: str) -> "Servers":
        self = cls()
        with _in_ns(ns):  # sockets belong to the namespace they are created in
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind(("0.0.0.0", TCP_OPEN))
            tcp.listen(4096)
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE: bursts of probes
            udp.bind(("0.0.0.0", UDP_OPEN))
        self.socks = [tcp, udp]
        for s in self.socks:
            s.setblocking(False)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        return self

    def _serve(self):
        tcp, udp = self.socks
        sel = selectors.DefaultSelector()
        sel.register(tcp, selectors.EVENT_READ)
        sel.register(udp, selectors.EVENT_READ)
        while not self.stop.is_set():
            for key, _ in sel.select(0.05):
                try:
                    if key.fileobj is tcp:
                        while True:
                            conn, _ = tcp.accept()
                            conn.close()
                    else:
                        while True:
                            data, peer = udp.recvfrom(2048)
                            udp.sendto(data, peer)
                except (BlockingIOError, ConnectionError):
                    pass
        sel.close()

    def close(self):
        self.stop.set()
        if self.thread:
            self.thread.join(2)
        for s in self.socks:
            s.close()


@dataclass
class Topo:
    a: str
    r: str
    b: str
    servers: Servers = None

    def points(self):
        return [CapturePoint(self.a, None, "src"), CapturePoint(self.r, "r0", "router-in"),
                CapturePoint(self.r, "r1", "router-out"), CapturePoint(self.b, "b0", "dst")]

    def spec(self, proto="icmp", port=None, dst=B_IP):
        return ProbeSpec(self.a, A_IP, dst, proto, port)


def _build(names, forward_route=True, return_route=True) -> None:
    a, r, b = names
    with _in_ns(a), IPRoute() as ipr:
        ipr.link("add", ifname="a0", kind="veth", peer={"ifname": "r0", "net_ns_fd": r})
        _up(ipr, "lo")
        idx = _up(ipr, "a0")
        ipr.addr("add", index=idx, address=A_IP, prefixlen=24)
        ipr.route("add", dst="0.0.0.0/0", gateway=R_A_IP)
    with _in_ns(r), IPRoute() as ipr:
        ipr.link("add", ifname="r1", kind="veth", peer={"ifname": "b0", "net_ns_fd": b})
        _up(ipr, "lo")
        ipr.addr("add", index=_up(ipr, "r0"), address=R_A_IP, prefixlen=24)
        r1 = _up(ipr, "r1")
        # a /32 on r1, so the route to b's subnet is one the test can leave out
        ipr.addr("add", index=r1, address=R_B_IP, prefixlen=32)
        if forward_route:
            ipr.route("add", dst="10.99.2.0/24", oif=r1)
    _set_forwarding(r)
    with _in_ns(b), IPRoute() as ipr:
        _up(ipr, "lo")
        ipr.addr("add", index=_up(ipr, "b0"), address=B_IP, prefixlen=24)
        if return_route:
            ipr.route("add", dst="0.0.0.0/0", gateway=R_B_IP)


@pytest.fixture
def make_topo():
    """Builds a fresh a-r-b topology per call; removes every namespace it made, always."""
    made: List[str] = []
    servers: List[Servers] = []

    def make(forward_route=True, return_route=True) -> Topo:
        tag = f"vpclab-t{secrets.token_hex(3)}"
        ALL_TAGS.append(tag)
        names = (f"{tag}-a", f"{tag}-r", f"{tag}-b")
        for n in names:
            netns.create(n)
            made.append(n)
        _build(names, forward_route, return_route)
        t = Topo(*names)
        t.servers = Servers.start(t.b)
        servers.append(t.servers)
        return t

    try:
        yield make
    finally:
        for s in servers:
            s.close()
        for n in made:
            try:
                netns.remove(n)
            except OSError:
                pass


@pytest.fixture(scope="module", autouse=True)
def no_namespace_left_behind():
    yield
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    left = [line for line in out.splitlines() if any(line.startswith(t) for t in ALL_TAGS)]
    assert not left, f"namespaces left behind: {left}"


# -- reachable ---------------------------------------------------------------

def test_icmp_reachable_fast_capture_crafted(make_topo):
    t = make_topo()
    spec = t.spec()
    [o] = fast_probe([spec])
    assert o.replied and o.detail == "echo-reply" and o.rtt_ms is not None and o.rtt_ms > 0
    [o] = capture_probe([spec], [t.points()])
    assert o.replied, o
    assert o.request_seen == ["src", "router-in", "router-out", "dst"]
    assert o.reply_seen == ["src", "router-in", "router-out", "dst"]
    o = crafted_probe(spec, t.points())
    assert o.replied and o.detail == "echo-reply", o
    assert o.request_seen == ["src", "router-in", "router-out", "dst"]
    assert o.reply_seen == ["src", "router-in", "router-out", "dst"]


def test_router_address_is_one_hop(make_topo):
    t = make_topo()
    spec = t.spec(dst=R_A_IP)
    [o] = capture_probe([spec], [t.points()])
    assert o.replied
    assert o.request_seen == ["src", "router-in"] and o.reply_seen == ["src", "router-in"]


# -- the broken paths ----------------------------------------------------------

def test_no_return_route(make_topo):
    t = make_topo(return_route=False)
    spec = t.spec()
    [o] = fast_probe([spec], timeout=0.3)
    assert not o.replied and o.detail == "no reply" and o.rtt_ms is None
    [o] = capture_probe([spec], [t.points()], timeout=0.3)
    assert not o.replied
    # the request arrived all the way; b had no route for its reply
    assert o.request_seen == ["src", "router-in", "router-out", "dst"]
    assert o.reply_seen == []
    o = crafted_probe(spec, t.points(), timeout=0.3)
    assert not o.replied and o.detail == "no reply"
    assert o.request_seen == ["src", "router-in", "router-out", "dst"] and o.reply_seen == []
    # and from b itself the kernel refuses to send at all
    for proto, port in (("icmp", None), ("tcp", 22), ("udp", 53)):
        back = ProbeSpec(t.b, B_IP, A_IP, proto, port)
        [o] = fast_probe([back], timeout=0.3)
        assert not o.replied and o.detail.startswith("refused at source") and "ENETUNREACH" in o.detail, o
    o = crafted_probe(ProbeSpec(t.b, B_IP, A_IP, "icmp", None), [], timeout=0.3)
    assert not o.replied and "ENETUNREACH" in o.detail, o


def test_forward_route_missing(make_topo):
    t = make_topo(forward_route=False)
    spec = t.spec()
    [o] = fast_probe([spec], timeout=0.3)
    assert not o.replied
    assert o.detail == f"icmp net unreachable from {R_A_IP}", o.detail
    o = crafted_probe(spec, t.points(), timeout=0.3)
    assert not o.replied and "net unreachable" in o.detail, o
    assert o.request_seen == ["src", "router-in"]
    # routers rate-limit ICMP errors (a burst of ~2, then ~1/s): from here on the
    # error may not come, the captures still tell where the request stopped
    [o] = capture_probe([spec], [t.points()], timeout=0.3)
    assert not o.replied
    assert o.request_seen == ["src", "router-in"] and o.reply_seen == []


def test_unknown_destination_and_bad_source(make_topo):
    t = make_topo()
    spec = t.spec(dst="10.99.250.1")  # a has a default route; r has no route for it
    o = fast_probe([spec], timeout=0.3)[0]
    assert not o.replied and o.detail == f"icmp net unreachable from {R_A_IP}"
    # a source address not in the namespace
    bad = ProbeSpec(t.a, "10.99.9.9", B_IP, "icmp", None)
    o = fast_probe([bad], timeout=0.3)[0]
    assert not o.replied and "EADDRNOTAVAIL" in o.detail


# -- tcp / udp -------------------------------------------------------------------

def test_tcp_listener_and_closed_port(make_topo):
    t = make_topo()
    open_, closed = t.spec("tcp", TCP_OPEN), t.spec("tcp", CLOSED)
    # the first probe of a fresh lab waits for its neighbour entries: give it time under load
    # (the run ends as soon as both answers are in, so a long timeout costs nothing here)
    o1, o2 = fast_probe([open_, closed], timeout=3.0)
    assert o1.replied and o1.detail == "SYN-ACK" and o1.rtt_ms is not None
    assert o2.replied and o2.detail == "RST"
    o1, o2 = capture_probe([open_, closed], [t.points(), t.points()])
    assert (o1.detail, o2.detail) == ("SYN-ACK", "RST")
    for o in (o1, o2):
        assert o.request_seen == ["src", "router-in", "router-out", "dst"]
        assert o.reply_seen == ["src", "router-in", "router-out", "dst"]
    o = crafted_probe(open_, t.points())
    assert o.replied and o.detail == "SYN-ACK" and o.reply_seen[-1] == "dst"
    o = crafted_probe(closed, t.points())
    assert o.replied and o.detail == "RST"


def test_udp_listener_and_closed_port(make_topo):
    t = make_topo()
    open_, closed = t.spec("udp", UDP_OPEN), t.spec("udp", CLOSED)
    o1, o2 = fast_probe([open_, closed], timeout=3.0)  # as above: the first probe of a fresh lab
    assert o1.replied and o1.detail == "udp reply"
    # a closed port answers with ICMP port unreachable: a reply, like a TCP RST (TOPOLOGY v2)
    assert o2.replied and o2.detail == "icmp port unreachable" and o2.rtt_ms is not None
    o1, o2 = capture_probe([open_, closed], [t.points(), t.points()])
    assert o1.replied and o1.reply_seen == ["src", "router-in", "router-out", "dst"]
    # the port unreachable is the reply: seen where a reply travels, back to the source
    assert o2.replied and o2.request_seen[-1] == "dst" and o2.reply_seen == ["src", "router-in", "router-out", "dst"]
    assert o2.detail == "icmp port unreachable"
    o = crafted_probe(open_, t.points())
    assert o.replied and o.detail == "udp reply"
    o = crafted_probe(closed, t.points())
    assert o.replied and o.detail == f"icmp port unreachable from {B_IP}"
    # its evidence: the datagram arriving at dst, the port unreachable leaving it
    got = [(p.label, p.dir, p.outgoing, p.what) for p in o.packets if p.label == "dst"]
    assert ("dst", "request", False, "udp request") in got
    assert ("dst", "reply", True, "icmp port unreachable") in got


# -- many at once ------------------------------------------------------------------

def _report(capsys, text):
    with capsys.disabled():
        sys.stdout.write(f"\n    {text}\n")


def test_many_probes_at_once(make_topo, capsys):
    t = make_topo()
    n = 2000
    specs = [t.spec() for _ in range(n // 2)] + [t.spec(dst=R_A_IP) for _ in range(n // 4)] \
        + [t.spec("tcp", TCP_OPEN) for _ in range(n // 8)] + [t.spec("udp", UDP_OPEN) for _ in range(n // 8)]
    fast_probe(specs[:10])  # warm the neighbour caches
    t0 = time.perf_counter()
    out = fast_probe(specs)
    dt = time.perf_counter() - t0
    missing = [o for o in out if not o.replied]
    assert not missing, f"{len(missing)} unanswered, e.g. {missing[0]}"
    _report(capsys, f"fast path: {n} probes in {dt * 1000:.0f} ms = {n / dt:,.0f} probes/s")

    pts = t.points()
    t0 = time.perf_counter()
    out = capture_probe(specs, [pts] * len(specs))
    dt = time.perf_counter() - t0
    assert all(o.replied for o in out)
    assert all(o.request_seen[-1] in ("dst", "router-in") for o in out)
    assert all(o.reply_seen[0] == "src" for o in out)
    _report(capsys, f"capture path: {n} probes, 4 capture points, in {dt * 1000:.0f} ms = {n / dt:,.0f} probes/s")


def test_many_unanswered_probes_wait_together(make_topo, capsys):
    t = make_topo(return_route=False)
    n = 2000
    specs = [t.spec() for _ in range(n)]
    t0 = time.perf_counter()
    out = capture_probe(specs, [t.points()] * len(specs), timeout=0.3)
    dt = time.perf_counter() - t0
    assert not any(o.replied for o in out)
    assert all(o.request_seen == ["src", "router-in", "router-out", "dst"] for o in out)
    assert dt < 1.5, f"{n} unanswered probes took {dt:.2f} s: they did not wait together"
    _report(capsys, f"capture path, all unanswered: {n} probes in {dt * 1000:.0f} ms (timeout 300 ms)")


# -- wire format ---------------------------------------------------------------

def test_wire_matches_scapy():
    """Our struct-built echo and flow keys agree with scapy's view of the same bytes."""
    from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror
    from vpclab.probe import wire

    echo = wire.icmp_echo(0xBEEF, 0x1234)
    pkt = ICMP(echo)
    assert pkt.type == 8 and pkt.id == 0xBEEF and pkt.seq == 0x1234
    assert pkt.chksum == ICMP(bytes(ICMP(type=8, id=0xBEEF, seq=0x1234) / wire.ECHO_PAYLOAD)).chksum
    req, rep = wire.probe_keys(1, wire.addr4(A_IP), wire.addr4(B_IP), 0xBEEF, 0x1234)
    request = bytes(IP(src=A_IP, dst=B_IP) / ICMP(echo))
    reply = bytes(IP(src=B_IP, dst=A_IP) / ICMP(type=0, id=0xBEEF, seq=0x1234))
    assert wire.read_packet(request) == (req, None)
    assert wire.read_packet(reply) == (rep, None)
    req, rep = wire.probe_keys(6, wire.addr4(A_IP), wire.addr4(B_IP), 40000, 80)
    assert wire.read_packet(bytes(IP(src=A_IP, dst=B_IP) / TCP(sport=40000, dport=80))) == (req, None)
    synack = bytes(IP(src=B_IP, dst=A_IP) / TCP(sport=80, dport=40000, flags="SA"))
    assert wire.read_packet(synack) == (rep, None) and wire.reply_detail(6, synack) == "SYN-ACK"
    # an ICMP error quoting a UDP request maps to the request's key
    req, _ = wire.probe_keys(17, wire.addr4(A_IP), wire.addr4(B_IP), 40000, 53)
    err = bytes(IP(src=R_A_IP, dst=A_IP) / ICMP(type=3, code=0)
                / IPerror(src=A_IP, dst=B_IP, proto=17) / UDP(sport=40000, dport=53))
    key, (t, code, frm) = wire.read_packet(err)
    assert key == req and wire.icmp_error_text(t, code, frm) == f"icmp net unreachable from {R_A_IP}"


# -- errors -----------------------------------------------------------------------

def test_missing_namespace_and_bad_spec():
    assert fast_probe([]) == [] and capture_probe([], []) == []
    with pytest.raises(NotFound):
        fast_probe([ProbeSpec("vpclab-tnonexistent-x", A_IP, B_IP, "icmp", None)])
    with pytest.raises(Refused):
        fast_probe([ProbeSpec("x", A_IP, B_IP, "tcp", None)])
    with pytest.raises(Refused):
        fast_probe([ProbeSpec("x", A_IP, B_IP, "sctp", None)])
    assert not os.path.exists("/run/netns/vpclab-tnonexistent-x")


def test_missing_capture_interface(make_topo):
    t = make_topo()
    spec = t.spec()
    with pytest.raises(NotFound):
        capture_probe([spec], [[CapturePoint(t.r, "nope0", "x")]])


def test_crafted_probe_command_latency(make_topo, capsys):
    """A fresh process: imports, enter the namespace, scapy import, one probe."""
    t = make_topo()
    code = (
        "import time; t0 = time.perf_counter()\n"
        "from vpclab.probe.engine import ProbeSpec, CapturePoint, crafted_probe\n"
        f"spec = ProbeSpec({t.a!r}, {A_IP!r}, {B_IP!r}, 'icmp', None)\n"
        f"pts = [CapturePoint({t.r!r}, 'r1', 'r'), CapturePoint({t.b!r}, None, 'b')]\n"
        "o = crafted_probe(spec, pts, timeout=0.5)\n"
        "assert o.replied and o.reply_seen == ['r', 'b'], o\n"
        "print(time.perf_counter() - t0, o.rtt_ms)\n"
    )
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=10)
    wall = time.perf_counter() - t0
    assert res.returncode == 0, res.stderr
    inner, rtt = res.stdout.split()
    _report(capsys, f"crafted probe as a fresh process: {wall:.2f} s wall "
                    f"({float(inner):.2f} s from first import, rtt {rtt} ms)")
    # The speed goal (a whole `vpclab probe` <= 1.5 s) is measured in bench/matrix_bench.py.

# The 200-namespace, 40,000-probe scale figures live in bench/matrix_bench.py.
