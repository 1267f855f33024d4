"""Packet evidence without root: which packets belong to a probe's flow, the evidence
list, where a lost direction stopped, the pcapng file, --pcap path checks.

Packets are built with scapy (independent of vpclab's own struct parsing); the
capture file is read back by scapy's pcapng reader and, when installed, tcpdump.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from rich.text import Text
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror, TCPerror, UDPerror
from scapy.packet import Raw
from scapy.utils import rdpcap

from vpclab.api import lab as api
from vpclab.cli.render import evidence as cli_evidence
from vpclab.controller import verdicts as probe_report
from vpclab.cli.main import main
from vpclab.errors import Refused
from vpclab.probe import evidence as ev
from vpclab.probe import pcap, wire
from vpclab.probe.types import ProbeOutcome, ProbeSpec

A, B, EIP = "10.0.1.10", "10.1.1.10", "203.0.113.10"
ECHO = Raw(wire.ECHO_PAYLOAD)  # what vpclab's echo requests carry (and their replies return)


def icmp_flow(ident=0x1234, seq=0x5678):
    req, rep = wire.probe_keys(1, wire.addr4(A), wire.addr4(B), ident, seq)
    return ev.Flow(1, req, rep)


def port_flow(proto, sport=61234, dport=80):
    req, rep = wire.probe_keys(wire.IPPROTO[proto], wire.addr4(A), wire.addr4(B), sport, dport)
    return ev.Flow(wire.IPPROTO[proto], req, rep)


# ---- which packets are the probe's ----------------------------------------------------------


def test_icmp_request_and_reply_by_sequence_and_type():
    f = icmp_flow()
    assert f.match(bytes(IP(src=A, dst=B) / ICMP(type=8, id=0x1234, seq=0x5678) / ECHO)) == ("request", "echo-request")
    assert f.match(bytes(IP(src=B, dst=A) / ICMP(type=0, id=0x1234, seq=0x5678) / ECHO)) == ("reply", "echo-reply")
    assert f.match(bytes(IP(src=A, dst=B) / ICMP(type=8, id=0x1234, seq=0x5679) / ECHO)) is None  # another probe
    # issue 19: a NAT gateway gives an echo another id when two of its sources use the same one
    # towards the same address; it never changes the sequence number nor the payload
    assert f.match(bytes(IP(src=EIP, dst=B) / ICMP(type=8, id=0x0400, seq=0x5678) / ECHO)) == \
        ("request", "echo-request")
    assert f.match(bytes(IP(src=A, dst=B) / ICMP(type=8, id=0x1234, seq=0x5678) / Raw(b"abcdefghijklmnop"))) \
        is None  # someone else's ping with that sequence number
    assert f.match(bytes(IP(src=A, dst=B) / TCP(sport=0x1234, dport=0x5678))) is None  # another protocol


def test_the_flow_is_recognised_through_address_translation():
    # an EIP's DNAT/SNAT rewrites addresses, never the echo id or the ports
    assert icmp_flow().match(bytes(IP(src=EIP, dst=B) / ICMP(type=8, id=0x1234, seq=0x5678) / ECHO))[0] == "request"
    assert port_flow("tcp").match(bytes(IP(src=B, dst=EIP) / TCP(sport=80, dport=61234, flags="SA"))) == \
        ("reply", "SYN-ACK")


def test_tcp_and_udp_by_port_pair():
    t = port_flow("tcp")
    assert t.match(bytes(IP(src=A, dst=B) / TCP(sport=61234, dport=80, flags="S"))) == ("request", "SYN")
    assert t.match(bytes(IP(src=B, dst=A) / TCP(sport=80, dport=61234, flags="RA"))) == ("reply", "RST-ACK")
    assert t.match(bytes(IP(src=B, dst=A) / TCP(sport=80, dport=61235, flags="SA"))) is None
    u = port_flow("udp", dport=53)
    assert u.match(bytes(IP(src=A, dst=B) / UDP(sport=61234, dport=53) / Raw(b"x"))) == ("request", "udp request")
    assert u.match(bytes(IP(src=B, dst=A) / UDP(sport=53, dport=61234) / Raw(b"x"))) == ("reply", "udp reply")


def test_icmp_errors_travel_the_other_way_from_what_they_quote():
    u = port_flow("udp", dport=53)
    about_request = IP(src=B, dst=A) / ICMP(type=3, code=3) / IPerror(src=A, dst=B) / UDPerror(sport=61234, dport=53)
    assert u.match(bytes(about_request)) == ("reply", "icmp port unreachable")
    t = port_flow("tcp")
    about_reply = IP(src="10.1.0.1", dst=B) / ICMP(type=3, code=0) / IPerror(src=B, dst=A) / TCPerror(
        sport=80, dport=61234)
    assert t.match(bytes(about_reply)) == ("request", "icmp net unreachable about the reply")
    i = icmp_flow()
    quoted_echo = IP(src="10.0.0.1", dst=A) / ICMP(type=3, code=1) / IPerror(src=A, dst=B) / ICMP(
        type=8, id=0x1234, seq=0x5678)
    assert i.match(bytes(quoted_echo)) == ("reply", "icmp host unreachable")
    assert ev.is_port_unreachable(bytes(about_request)) and not ev.is_port_unreachable(bytes(quoted_echo))


def test_fragments_and_garbage_are_not_the_probes():
    f = icmp_flow()
    frag = IP(src=A, dst=B, frag=5, proto=1) / Raw(b"\x08\x00\x00\x00\x12\x34\x56\x78" + b"x" * 20)
    assert f.match(bytes(frag)) is None
    assert f.match(b"\x45" + b"\x00" * 10) is None
    assert f.match(b"") is None


# ---- the evidence list and what people read -------------------------------------------------

T0 = 1_700_000_000_000_000_000


def cap(dt_us, label, ifname, out, pkt, flow):
    d = bytes(pkt)
    which, what = flow.match(d)
    return ev.Captured(T0 + dt_us * 1000, label, f"ns-{label}", ifname, out, d, which, what)


def no_return_packets():
    f = icmp_flow()
    rq = IP(src=A, dst=B) / ICMP(type=8, id=0x1234, seq=0x5678) / ECHO
    rp = IP(src=B, dst=A) / ICMP(type=0, id=0x1234, seq=0x5678) / ECHO
    # given out of time order on purpose: entries() sorts by the kernel's timestamps
    return [cap(210, "vpc-b/cvm-1", "eth0", False, rq, f), cap(10, "vpc-a/cvm-1", "eth0", True, rq, f),
            cap(120, "vpc-b", "p-ab", False, rq, f), cap(230, "vpc-b/cvm-1", "eth0", True, rp, f),
            cap(260, "vpc-b", "i-cvm-1", False, rp, f)]


def test_entries_are_in_time_order_with_the_contract_keys():
    out = ev.entries(no_return_packets(), T0)
    assert [e["t_ms"] for e in out] == [0.01, 0.12, 0.21, 0.23, 0.26]
    assert [(e["at"], e["dir"], e["way"]) for e in out] == [
        ("vpc-a/cvm-1", "request", "tx"), ("vpc-b", "request", "rx"), ("vpc-b/cvm-1", "request", "rx"),
        ("vpc-b/cvm-1", "reply", "tx"), ("vpc-b", "reply", "rx")]
    assert {"at", "dir", "t_ms", "src", "dst"} <= set(out[0])
    assert (out[3]["src"], out[3]["dst"]) == (B, A)
    json.dumps(out)  # plain JSON


def test_rtt_from_kernel_timestamps_needs_both_ends_at_the_source():
    pk = no_return_packets()
    assert ev.rtt_ms(pk, "vpc-a/cvm-1") is None  # the reply never came back
    f = icmp_flow()
    back = cap(300, "vpc-a/cvm-1", "eth0", False, IP(src=B, dst=A) / ICMP(type=0, id=0x1234, seq=0x5678) / ECHO, f)
    assert ev.rtt_ms(pk + [back], "vpc-a/cvm-1") == 0.29


class FakeModel:
    vpcs = {"vpc-a": None, "vpc-b": None}


def doc_for(packets, result="no-return", delivered=True, code="NO_ROUTE"):
    o = ProbeOutcome(ProbeSpec("ns", A, B, "icmp"), False, None, packets=packets, t0_ns=T0)
    evidence = probe_report.evidence(FakeModel, "vpc-a/cvm-1", o)
    return {"src": "vpc-a/cvm-1", "dst": "vpc-b/cvm-1", "result": result, "forward": {"delivered": delivered},
            "reason": {"code": code}, "evidence": evidence,
            "seen_source": probe_report.seen_source(evidence, "vpc-b/cvm-1")}


def test_roles_seen_source_and_where_the_reply_stopped():
    doc = doc_for(no_return_packets())
    assert [e["role"] for e in doc["evidence"]] == ["source", "router", "instance", "instance", "router"]
    assert doc["seen_source"] == A
    assert cli_evidence.stop_line(doc) == \
        "stopped: vpc-b router: reply came in on i-cvm-1, never sent on (no route)"
    lines = [Text.from_markup(l).plain for l in cli_evidence.evidence_lines(doc)]
    assert "vpc-b/cvm-1" in lines[3] and " rx " in lines[3] and "echo-request" in lines[3] and "0.210 ms" in lines[3]


def test_a_request_that_never_left_and_a_reply_never_sent():
    doc = doc_for([], result="unreachable", delivered=False, code="NO_ROUTE")
    assert doc["seen_source"] is None
    assert cli_evidence.stop_line(doc) == "stopped: the request never left vpc-a/cvm-1 (no route)"
    assert "no packet" in cli_evidence.evidence_lines(doc)[0]
    only_request = [p for p in no_return_packets() if p.dir == "request"]
    doc = doc_for(only_request)
    assert cli_evidence.stop_line(doc) == "stopped: vpc-b/cvm-1 never sent a reply (no route)"
    assert cli_evidence.stop_line(doc_for(no_return_packets(), result="reachable")) is None


# ---- the pcapng file -----------------------------------------------------------------------


def test_pcapng_holds_every_packet_with_its_capture_point(tmp_path):
    path = tmp_path / "p.pcapng"
    packets = no_return_packets()
    with open(path, "wb") as f:
        pcap.write(f, packets)
    got = rdpcap(str(path))
    assert len(got) == len(packets)
    assert [p[ICMP].type for p in got] == [8, 8, 8, 0, 0]  # time order: requests then replies
    assert [p.sniffed_on for p in got] == ["vpc-a/cvm-1 eth0", "vpc-b p-ab", "vpc-b/cvm-1 eth0",
                                           "vpc-b/cvm-1 eth0", "vpc-b i-cvm-1"]
    assert got[0].comment == b"vpc-a/cvm-1 tx echo-request" and got[4].comment == b"vpc-b rx echo-reply"
    assert int(got[2].time * 1e6) == (T0 + 210_000) // 1000  # nanosecond stamps kept
    assert got[3][IP].src == B


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump is not installed (scripts/setup installs it)")
def test_tcpdump_reads_the_pcapng(tmp_path):
    path = tmp_path / "p.pcapng"
    path.write_bytes(pcap.encode(no_return_packets()))
    p = subprocess.run(["tcpdump", "-nr", str(path)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 5
    assert sum("ICMP echo request" in l for l in lines) == 3 and sum("ICMP echo reply" in l for l in lines) == 2
    assert f"{A} > {B}" in lines[0]


def test_an_empty_capture_is_still_a_valid_file(tmp_path):
    path = tmp_path / "e.pcapng"
    path.write_bytes(pcap.encode([]))
    assert len(rdpcap(str(path))) == 0


# ---- --pcap paths are checked before probing ---------------------------------------------------


def test_bad_pcap_paths_are_refused(tmp_path):
    for bad, why in ((str(tmp_path / "nodir" / "x.pcapng"), "no such directory"), (str(tmp_path), "directory"),
                     ("", "file name"), (str(tmp_path) + "/", "file name")):
        with pytest.raises(Refused) as e:
            probe_report.check_pcap_path(bad)
        assert why in str(e.value) and e.value.code == "InvalidParameterValue"
    probe_report.check_pcap_path(str(tmp_path / "ok.pcapng"))  # a new file in a directory that exists
    assert not (tmp_path / "ok.pcapng").exists()  # checking creates nothing


def test_cli_refuses_a_bad_pcap_path_before_anything_with_exit_2(tmp_path, capsys):
    bad = str(tmp_path / "missing" / "p.pcapng")
    with pytest.raises(SystemExit) as e:  # no lab "nolab" runs: the path is checked first
        main(["probe", "vpc-a/cvm-1", "vpc-b/cvm-1", "-l", "nolab", "--pcap", bad])
    out, err = capsys.readouterr()
    assert e.value.code == 2, out + err
    assert "InvalidParameterValue" in err and "no such directory" in err and "nolab" not in err
    assert "Traceback" not in out + err
    assert not os.path.exists(bad)


# ---- the Python API ----------------------------------------------------------------------------


def test_api_verdict_carries_evidence_and_seen_source():
    doc = {"src": "vpc-a/cvm-1", "dst": "vpc-b/cvm-1", "proto": "icmp", "port": None, "result": "no-return",
           "forward": {"delivered": True, "last_hop": "vpc-b/cvm-1", "path": []},
           "return": {"delivered": False, "last_hop": "vpc-b", "path": []},
           "reason": {"code": "NO_ROUTE", "where": "vpc-b", "table": "default", "detail": "x"}, "rtt_ms": None}
    ev_doc = doc_for(no_return_packets())
    doc.update(evidence=ev_doc["evidence"], seen_source=ev_doc["seen_source"])
    v = api.Verdict.from_json(doc)
    assert v.seen_source == A
    assert [(o.at, o.dir, o.way, o.ifname) for o in v.evidence][-1] == ("vpc-b", "reply", "rx", "i-cvm-1")
    assert "packet:  0.260 ms  vpc-b router rx echo-reply" in v.describe()
    assert api.Verdict.from_json({k: doc[k] for k in doc if k not in ("evidence", "seen_source")}).evidence is None


# ---- a batch of translated probes (EIP, NAT gateway): told apart by ids and ports -------------------


def test_flow_session_finds_each_probe_by_ids_and_ports_whatever_its_addresses():
    from vpclab.kernel.nsenter import Hopper

    with Hopper() as hop:
        s = ev.FlowSession(hop, [])  # no namespace: only the lookup is exercised
        try:
            icmp = wire.probe_keys(1, wire.addr4(A), wire.addr4(EIP), 0x1234, 0x5678)
            tcp = wire.probe_keys(6, wire.addr4(A), wire.addr4(EIP), 40001, 80)
            s.flows[(1, wire.icmp_seq(icmp[0]))] = icmp  # by its sequence number (fast.Run fills it so)
            s.flows[(6, tcp[0][9:13])] = tcp
            rq = bytes(IP(src="203.0.113.30", dst=B) / ICMP(type=8, id=0x1234, seq=0x5678) / ECHO)  # after DNAT+SNAT
            ihl = 20
            assert s._lookup(1, rq[ihl:ihl + 8]) == (icmp[0], icmp[1], "request")
            rp = bytes(IP(src=B, dst="203.0.113.30") / ICMP(type=0, id=0x1234, seq=0x5678) / ECHO)
            assert s._lookup(1, rp[ihl:ihl + 8])[2] == "reply"
            renumbered = bytes(IP(src="203.0.113.20", dst=B) / ICMP(type=8, id=0x0401, seq=0x5678) / ECHO)
            assert s._lookup(1, renumbered[ihl:ihl + 8]) == (icmp[0], icmp[1], "request")  # a NAT's new id
            syn_ack = bytes(IP(src=B, dst="203.0.113.30") / TCP(sport=80, dport=40001, flags="SA"))
            assert s._lookup(6, syn_ack[ihl:ihl + 8]) == (tcp[0], tcp[1], "reply")
            other = bytes(IP(src=B, dst="203.0.113.30") / TCP(sport=80, dport=40002, flags="SA"))
            assert s._lookup(6, other[ihl:ihl + 8]) is None
            assert s._lookup(17, syn_ack[ihl:ihl + 8]) is None
        finally:
            s.close()


def test_pcap_path_that_is_a_symlink_is_refused(tmp_path):
    """probe runs as root: --pcap never writes through a link (review finding)."""
    import os

    from vpclab.errors import Refused
    from vpclab.controller.verdicts import check_pcap_path

    target = tmp_path / "victim"
    target.write_text("keep")
    link = tmp_path / "x.pcap"
    os.symlink(target, link)
    with pytest.raises(Refused, match="symbolic link"):
        check_pcap_path(str(link))
    assert target.read_text() == "keep"


def test_a_missing_choice_option_reads_on_one_line(capsys):
    from vpclab.cli.main import main

    with pytest.raises(SystemExit) as e:
        main(["sg", "rule", "add", "vpc-a/sg-web"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "--direction" in err and "\\n" not in err and "\\t" not in err, err
