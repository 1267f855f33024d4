"""Packets that explain themselves (issue 22, CLI.md v3): the pcapng written by `probe --pcap`
carries the verdict and its reason as the section header's comment (shb_comment), and each
packet a comment naming its capture point as the evidence lines do (`vpc-b router rx`).

The file is read back by a small pcapng block reader written here (independent of
probe/pcap.py), by scapy's pcapng reader and, when installed, by tshark."""
from __future__ import annotations

import shutil
import struct
import subprocess

import pytest
from scapy.layers.inet import ICMP, IP
from scapy.packet import Raw
from scapy.utils import PcapNgReader

from vpclab.controller import verdicts
from vpclab.probe import evidence as ev
from vpclab.probe import wire
from vpclab.probe.types import ProbeOutcome, ProbeSpec

A, B = "10.0.1.10", "10.1.1.10"
T0 = 1_700_000_000_000_000_000
SHB, IDB, EPB = 0x0A0D0D0A, 0x00000001, 0x00000006


def _packets():
    req, rep = wire.probe_keys(1, wire.addr4(A), wire.addr4(B), 0x1234, 0x5678)
    flow = ev.Flow(1, req, rep)
    rq = IP(src=A, dst=B) / ICMP(type=8, id=0x1234, seq=0x5678) / Raw(wire.ECHO_PAYLOAD)
    rp = IP(src=B, dst=A) / ICMP(type=0, id=0x1234, seq=0x5678) / Raw(wire.ECHO_PAYLOAD)

    def cap(dt_us, label, ifname, out, pkt):
        d = bytes(pkt)
        which, what = flow.match(d)
        return ev.Captured(T0 + dt_us * 1000, label, f"ns-{label}", ifname, out, d, which, what)

    return [cap(10, "vpc-a/cvm-1", "eth0", True, rq), cap(120, "vpc-b", "p-ab", False, rq),
            cap(210, "vpc-b/cvm-1", "eth0", False, rq), cap(230, "vpc-b/cvm-1", "eth0", True, rp),
            cap(260, "vpc-b", "i-cvm-1", False, rp)]


class Model:  # what role() reads: which capture points are VPC routers
    vpcs = {"vpc-a": None, "vpc-b": None}


DOC = {"src": "vpc-a/cvm-1", "dst": "vpc-b/cvm-1", "proto": "icmp", "port": None, "result": "no-return",
       "reason": {"code": "NO_ROUTE", "where": "vpc-b", "table": "default", "detail": "no route to 10.0.1.10"},
       "seen_source": A}


def _write(tmp_path):
    path = tmp_path / "p.pcapng"
    o = ProbeOutcome(ProbeSpec("ns", A, B, "icmp"), False, None, packets=_packets(), t0_ns=T0)
    assert verdicts.write_pcap(str(path), o, Model, DOC) == 5
    return path


def _options(body: bytes):
    """(code, value) of an options list, up to opt_endofopt."""
    out, i = [], 0
    while i + 4 <= len(body):
        code, n = struct.unpack_from("<HH", body, i)
        if code == 0:
            break
        out.append((code, body[i + 4:i + 4 + n]))
        i += 4 + n + (-n % 4)
    return out


def _blocks(data: bytes):
    """Every block of a little-endian pcapng file: (type, body)."""
    i = 0
    while i < len(data):
        kind, n = struct.unpack_from("<II", data, i)
        assert struct.unpack_from("<I", data, i + n - 4)[0] == n  # the trailing length matches
        yield kind, data[i + 8:i + n - 4]
        i += n


def test_the_section_header_carries_the_verdict_and_each_packet_its_capture_point(tmp_path):
    data = _write(tmp_path).read_bytes()
    blocks = list(_blocks(data))
    assert blocks[0][0] == SHB
    shb_comments = [v.decode() for c, v in _options(blocks[0][1][16:]) if c == 1]
    assert shb_comments == ["vpclab probe vpc-a/cvm-1 -> vpc-b/cvm-1 (icmp): no-return\n"
                            "reason: NO_ROUTE at vpc-b, table default: no route to 10.0.1.10\n"
                            "seen source: 10.0.1.10"]
    names = [dict(_options(b[8:]))[2].decode() for k, b in blocks if k == IDB]
    assert names == ["vpc-a/cvm-1 eth0", "vpc-b router p-ab", "vpc-b/cvm-1 eth0", "vpc-b router i-cvm-1"]
    comments = []
    for k, b in blocks:
        if k == EPB:
            caplen = struct.unpack_from("<I", b, 12)[0]
            comments += [v.decode() for c, v in _options(b[20 + caplen + (-caplen % 4):]) if c == 1]
    assert comments == ["vpc-a/cvm-1 tx echo-request", "vpc-b router rx echo-request", "vpc-b/cvm-1 rx echo-request",
                        "vpc-b/cvm-1 tx echo-reply", "vpc-b router rx echo-reply"]


def test_scapy_reads_the_comments(tmp_path):
    with PcapNgReader(str(_write(tmp_path))) as r:
        got = list(r)
    assert [p.comment for p in got][1] == b"vpc-b router rx echo-request"
    assert [p.sniffed_on for p in got][4] == "vpc-b router i-cvm-1"


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed (the lab guides say how)")
def test_tshark_shows_each_packets_capture_point_and_the_verdict(tmp_path):
    path = str(_write(tmp_path))
    p = subprocess.run(["tshark", "-r", path, "-T", "fields", "-e", "frame.interface_name", "-e", "frame.comment"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    rows = [line.split("\t") for line in p.stdout.splitlines()]
    assert rows[1] == ["vpc-b router p-ab", "vpc-b router rx echo-request"]
    assert rows[4] == ["vpc-b router i-cvm-1", "vpc-b router rx echo-reply"]
    info = subprocess.run(["capinfos", path], capture_output=True, text=True, timeout=60)
    if info.returncode == 0:  # capinfos comes with tshark (wireshark-common): the header's comment
        assert "no-return" in info.stdout and "NO_ROUTE at vpc-b" in info.stdout
