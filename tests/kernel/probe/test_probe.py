"""`vpclab probe / matrix / test` against real namespaces and real packets.

Every case runs the real `vpclab` CLI (a subprocess) on a small lab built under a
unique name and always torn down. Cases share a lab where they can: the module
builds HUB (below) and the shipped cross-region topology once per worker; the
cases that change a lab (peering reject/delete) or that build their own
(`vpclab test FILE`) get a lab of their own.

Every probe verdict is also checked for agreement with `explain` (no `mismatch`).
Traffic only ever flows between the lab's own namespaces.

    HUB: hub (alice, 10.0/16) peered with
      s1 (10.1/16: cvm-1, db-1 cdb, cache-1 cmem)  routes both ways
      s2 (10.2/16)                                  routes both ways
      s3 (10.3/16)                                  route hub->s3 only (no return)
      bobv (bob, 10.4/16)                           cross-account, left PENDING
"""
from __future__ import annotations

import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

if sys.platform != "linux" or os.geteuid() != 0:
    pytest.skip("kernel tests need root on Linux (they build network namespaces and send packets)",
                allow_module_level=True)

from labkit import TOPOLOGIES, assert_gone, lab_name, renamed, run  # noqa: E402

pytestmark = pytest.mark.kernel

HUB = """\
lab: hub
accounts: [alice, bob]
regions:
  ap-guangzhou: {}
vpcs:
  hub:
    account: alice
    region: ap-guangzhou
    cidr: 10.0.0.0/16
    subnets: {app: {cidr: 10.0.1.0/24}}
    route_tables:
      default:
        routes:
          - {destination: 10.1.0.0/16, next_hop: pcx-s1}
          - {destination: 10.2.0.0/16, next_hop: pcx-s2}
          - {destination: 10.3.0.0/16, next_hop: pcx-s3}
          - {destination: 10.4.0.0/16, next_hop: pcx-bob}
    instances:
      cvm-1: {subnet: app, ip: 10.0.1.10}
  s1:
    account: alice
    region: ap-guangzhou
    cidr: 10.1.0.0/16
    subnets: {app: {cidr: 10.1.1.0/24}}
    route_tables: {default: {routes: [{destination: 10.0.0.0/16, next_hop: pcx-s1}]}}
    instances:
      cvm-1: {subnet: app, ip: 10.1.1.10}
      db-1: {subnet: app, ip: 10.1.1.20, kind: cdb}
      cache-1: {subnet: app, ip: 10.1.1.30, kind: cmem}
  s2:
    account: alice
    region: ap-guangzhou
    cidr: 10.2.0.0/16
    subnets: {app: {cidr: 10.2.1.0/24}}
    route_tables: {default: {routes: [{destination: 10.0.0.0/16, next_hop: pcx-s2}]}}
    instances: {cvm-1: {subnet: app, ip: 10.2.1.10}}
  s3:
    account: alice
    region: ap-guangzhou
    cidr: 10.3.0.0/16
    subnets: {app: {cidr: 10.3.1.0/24}}
    instances: {cvm-1: {subnet: app, ip: 10.3.1.10}}
  bobv:
    account: bob
    region: ap-guangzhou
    cidr: 10.4.0.0/16
    subnets: {app: {cidr: 10.4.1.0/24}}
    route_tables: {default: {routes: [{destination: 10.0.0.0/16, next_hop: pcx-bob}]}}
    instances: {cvm-1: {subnet: app, ip: 10.4.1.10}}
peerings:
  pcx-s1: {vpc: hub, peer_vpc: s1}
  pcx-s2: {vpc: hub, peer_vpc: s2}
  pcx-s3: {vpc: hub, peer_vpc: s3}
  pcx-bob: {vpc: hub, peer_vpc: bobv, accepted: false}
"""

# ---- helpers ---------------------------------------------------------------------------------


def probe(lab, src, dst, *extra, check=0):
    """`vpclab probe SRC DST ... --json`: the document, checked for agreement with explain."""
    p = run("probe", src, dst, "-l", lab, *extra, "--json", check=check)
    doc = json.loads(p.stdout)
    assert "mismatch" not in doc, f"probe and explain disagree: {doc['mismatch']}"
    return doc


def assert_verdict(doc, result, code=None, where=None, table=None):
    assert doc["result"] == result, json.dumps(doc, indent=1)
    r = doc["reason"]
    assert r["code"] == code, json.dumps(doc, indent=1)
    if where is not None:
        assert r["where"] == where, json.dumps(doc, indent=1)
    if table is not None:
        assert r["table"] == table, json.dumps(doc, indent=1)


def assert_reachable(doc, src, dst):
    assert_verdict(doc, "reachable")
    assert doc["forward"]["delivered"] is True and doc["forward"]["last_hop"] == dst
    assert doc["forward"]["path"][0] == src and doc["forward"]["path"][-1] == dst
    assert doc["return"]["delivered"] is True and doc["return"]["last_hop"] == src
    assert doc["return"]["path"][0] == dst and doc["return"]["path"][-1] == src
    assert isinstance(doc["rtt_ms"], (int, float)) and doc["rtt_ms"] >= 0


def build(topology, tmp_dir: Path):
    """Build a lab from `topology` (path or text) under a fresh name; yield (lab, path); always down."""
    lab = lab_name()
    path = renamed(topology, lab, tmp_dir)
    try:
        run("up", path, check=0)
        yield lab, path
    finally:
        run("down", lab)
        assert_gone(lab)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    yield from build(HUB, tmp_path_factory.mktemp("hub"))


@pytest.fixture(scope="module")
def xregion(tmp_path_factory):
    yield from build(TOPOLOGIES / "04-cross-region.yaml", tmp_path_factory.mktemp("xregion"))


def ns_of(lab, ref):
    vpc, _, inst = ref.partition("/")
    return f"vpclab-{lab}-{vpc}.{inst}"


class Sniffer:
    """An AF_PACKET socket opened inside one lab namespace: every frame the namespace sends."""

    PACKET_OUTGOING = 4

    def __init__(self, ns):
        from vpclab.kernel import netns

        with netns.entered(ns):
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
        self.sock.setblocking(False)

    def sent_ipv4(self):
        """(dst address, protocol number) of each IPv4 packet sent since the socket was opened."""
        out = []
        while select.select([self.sock], [], [], 0.2)[0]:
            frame, addr = self.sock.recvfrom(65535)
            if addr[2] == self.PACKET_OUTGOING and frame[12:14] == b"\x08\x00":
                out.append((socket.inet_ntoa(frame[30:34]), frame[23]))
        return out

    def close(self):
        self.sock.close()


# ---- verdicts on the hub lab -----------------------------------------------------------------


def test_routes_both_ways_reachable_both_ways(hub):
    lab, _ = hub
    there = probe(lab, "hub/cvm-1", "s1/cvm-1")
    assert_reachable(there, "hub/cvm-1", "s1/cvm-1")
    assert there["forward"]["path"] == ["hub/cvm-1", "hub", "pcx-s1", "s1", "s1/cvm-1"]
    assert there["return"]["path"] == ["s1/cvm-1", "s1", "pcx-s1", "hub", "hub/cvm-1"]
    back = probe(lab, "s1/cvm-1", "hub/cvm-1")
    assert_reachable(back, "s1/cvm-1", "hub/cvm-1")


def test_return_route_missing_is_no_return_at_destination_vpc(hub):
    lab, _ = hub
    doc = probe(lab, "hub/cvm-1", "s3/cvm-1")
    assert_verdict(doc, "no-return", "NO_ROUTE", where="s3", table="default")
    assert doc["forward"] == {"delivered": True, "last_hop": "s3/cvm-1",
                              "path": ["hub/cvm-1", "hub", "pcx-s3", "s3", "s3/cvm-1"]}
    assert doc["return"]["delivered"] is False
    assert doc["return"]["last_hop"] == "s3"
    assert doc["return"]["path"] == ["s3/cvm-1", "s3"]
    assert doc["rtt_ms"] is None


def test_forward_route_missing_is_unreachable_at_source_vpc(hub):
    lab, _ = hub
    doc = probe(lab, "s3/cvm-1", "hub/cvm-1")
    assert_verdict(doc, "unreachable", "NO_ROUTE", where="s3", table="default")
    assert doc["forward"] == {"delivered": False, "last_hop": "s3", "path": ["s3/cvm-1", "s3"]}
    assert doc["return"] == {"delivered": False, "last_hop": None, "path": []}


def test_a_spoke_without_a_route_to_a_peer_of_its_peer_is_no_route_not_not_transitive(hub):
    """Issue 19: s2 is a peer of hub, s1's peer; s1 has no route to s2, so the packet never
    leaves s1 (nothing came in over a peering): NO_ROUTE with s1's table, as explain says."""
    lab, _ = hub
    doc = probe(lab, "s1/cvm-1", "s2/cvm-1")
    assert_verdict(doc, "unreachable", "NO_ROUTE", where="s1", table="default")
    assert doc["forward"]["delivered"] is False
    assert doc["forward"]["last_hop"] == "s1"
    assert "s2/cvm-1" not in doc["forward"]["path"]
    assert doc["return"]["delivered"] is False
    # the packets agree: the request reached s1's router and went no further
    assert [(e["at"], e["way"]) for e in doc["evidence"]] == [("s1/cvm-1", "tx"), ("s1", "rx")]
    assert doc["seen_source"] is None


def test_pending_cross_account_peering_is_not_active(hub):
    lab, _ = hub
    doc = probe(lab, "hub/cvm-1", "bobv/cvm-1")
    assert_verdict(doc, "unreachable", "PEERING_NOT_ACTIVE", where="hub", table="default")
    assert doc["forward"] == {"delivered": False, "last_hop": "hub", "path": ["hub/cvm-1", "hub"]}
    doc = probe(lab, "bobv/cvm-1", "hub/cvm-1")
    assert_verdict(doc, "unreachable", "PEERING_NOT_ACTIVE", where="bobv", table="default")


@pytest.mark.parametrize("dst,port", [("s1/db-1", 3306), ("s1/cache-1", 11211)])
def test_tcp_to_a_service_listener_is_reachable(hub, dst, port):
    lab, _ = hub
    doc = probe(lab, "hub/cvm-1", dst, "--proto", "tcp", "--port", port)
    assert_reachable(doc, "hub/cvm-1", dst)
    assert (doc["proto"], doc["port"]) == ("tcp", port)
    assert "note" not in doc
    assert doc["observed"] == "SYN-ACK"


def test_tcp_to_a_closed_port_is_reachable_by_rst_with_a_note(hub):
    lab, _ = hub
    doc = probe(lab, "hub/cvm-1", "s1/cvm-1", "--proto", "tcp", "--port", 8080)
    assert_reachable(doc, "hub/cvm-1", "s1/cvm-1")
    assert doc["note"]["code"] == "NO_LISTENER"
    assert doc["note"]["where"] == "s1/cvm-1"


def test_udp_to_a_listener_is_reachable(hub):
    lab, _ = hub
    doc = probe(lab, "hub/cvm-1", "s1/db-1", "--proto", "udp", "--port", 3306)
    assert_reachable(doc, "hub/cvm-1", "s1/db-1")
    assert "note" not in doc


def test_udp_to_a_closed_port_is_reachable_with_the_note_no_listener(hub):
    # TOPOLOGY.md v2: the ICMP port unreachable is the reply
    lab, _ = hub
    doc = probe(lab, "hub/cvm-1", "s1/cvm-1", "--proto", "udp", "--port", 5353)
    assert_reachable(doc, "hub/cvm-1", "s1/cvm-1")
    assert doc["note"]["code"] == "NO_LISTENER" and doc["note"]["where"] == "s1/cvm-1"
    back = [e for e in doc["evidence"] if e["dir"] == "reply"]
    assert back and all(e["what"] == "icmp port unreachable" for e in back)
    assert (back[-1]["at"], back[-1]["way"]) == ("hub/cvm-1", "rx")


def test_udp_to_a_closed_port_without_a_return_route_is_no_return(hub):
    lab, _ = hub
    doc = probe(lab, "hub/cvm-1", "s3/cvm-1", "--proto", "udp", "--port", 5353)
    assert_verdict(doc, "no-return", "NO_ROUTE", where="s3")
    assert doc["note"]["code"] == "NO_LISTENER"


# ---- packet evidence -----------------------------------------------------------------------------


def test_evidence_shows_each_capture_point_in_time_order(hub):
    lab, _ = hub
    doc = probe(lab, "hub/cvm-1", "s1/cvm-1")
    ev = doc["evidence"]
    assert all({"at", "dir", "t_ms", "src", "dst"} <= set(e) for e in ev)
    assert [e["t_ms"] for e in ev] == sorted(e["t_ms"] for e in ev) and ev[0]["t_ms"] >= 0
    # each hop in and out, both ways: source, hub router, s1 router, destination
    want = [("hub/cvm-1", "request", "tx"), ("hub", "request", "rx"), ("hub", "request", "tx"),
            ("s1", "request", "rx"), ("s1", "request", "tx"), ("s1/cvm-1", "request", "rx"),
            ("s1/cvm-1", "reply", "tx"), ("s1", "reply", "rx"), ("s1", "reply", "tx"),
            ("hub", "reply", "rx"), ("hub", "reply", "tx"), ("hub/cvm-1", "reply", "rx")]
    assert [(e["at"], e["dir"], e["way"]) for e in ev] == want
    assert {(e["src"], e["dst"]) for e in ev if e["dir"] == "request"} == {("10.0.1.10", "10.1.1.10")}
    assert doc["seen_source"] == "10.0.1.10"
    assert doc["rtt_ms"] <= ev[-1]["t_ms"] + 0.001  # kernel timestamps at the source


def test_evidence_of_a_missing_return_route_stops_at_the_router(hub):
    lab, _ = hub
    doc = probe(lab, "hub/cvm-1", "s3/cvm-1")
    replies = [(e["at"], e["way"]) for e in doc["evidence"] if e["dir"] == "reply"]
    assert replies == [("s3/cvm-1", "tx"), ("s3", "rx")]  # in at s3's router, never out
    text = run("probe", "hub/cvm-1", "s3/cvm-1", "-l", lab, check=0).stdout
    assert "stopped: s3 router: reply came in on" in text and "never sent on (no route)" in text
    assert re.search(r"\d+\.\d{3} ms\s+s3/cvm-1\s+rx .*echo-request\s+10\.0\.1\.10 > 10\.3\.1\.10", text), text
    assert "request: hub/cvm-1 -> hub" not in text  # explain's path is not what a probe prints


def test_evidence_of_a_missing_forward_route_is_the_source_and_its_router(hub):
    lab, _ = hub
    doc = probe(lab, "s3/cvm-1", "hub/cvm-1")
    assert [(e["at"], e["dir"], e["way"]) for e in doc["evidence"]] == [
        ("s3/cvm-1", "request", "tx"), ("s3", "request", "rx")]
    assert doc["seen_source"] is None


def test_pcap_holds_every_captured_packet_and_tcpdump_reads_it(hub, tmp_path):
    from scapy.layers.inet import ICMP, IP
    from scapy.utils import rdpcap

    lab, _ = hub
    path = tmp_path / "probe.pcapng"
    doc = probe(lab, "hub/cvm-1", "s1/cvm-1", "--pcap", path)
    assert doc["pcap"] == {"path": str(path), "packets": len(doc["evidence"])}
    got = rdpcap(str(path))
    assert len(got) == len(doc["evidence"]) == 12
    types = [(p[IP].src, p[IP].dst, p[ICMP].type) for p in got]
    assert ("10.0.1.10", "10.1.1.10", 8) in types and ("10.1.1.10", "10.0.1.10", 0) in types
    assert {p.sniffed_on.split()[0] for p in got} == {"hub/cvm-1", "hub", "s1", "s1/cvm-1"}
    if shutil.which("tcpdump") is None:
        pytest.skip("tcpdump is not installed (scripts/setup installs it): scapy read the file")
    p = subprocess.run(["tcpdump", "-nr", str(path)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert len(p.stdout.splitlines()) == 12
    assert sum("ICMP echo request" in l for l in p.stdout.splitlines()) == 6


def test_pcap_explains_itself_the_verdict_in_its_header_each_packets_capture_point(hub, tmp_path):
    """Issue 22: the section header's comment is the verdict and its reason, each packet's comment
    names its capture point as the evidence lines do ("s3 router rx echo-reply")."""
    import struct

    from scapy.utils import rdpcap

    lab, _ = hub
    path = tmp_path / "noreturn.pcapng"
    doc = probe(lab, "hub/cvm-1", "s3/cvm-1", "--pcap", path)
    assert doc["result"] == "no-return" and doc["reason"]["code"] == "NO_ROUTE"
    data = path.read_bytes()
    kind, n = struct.unpack_from("<II", data, 0)
    assert kind == 0x0A0D0D0A
    opts, i, header = data[24:n - 4], 0, []
    while i + 4 <= len(opts):
        code, size = struct.unpack_from("<HH", opts, i)
        if code == 0:
            break
        header += [opts[i + 4:i + 4 + size].decode()] if code == 1 else []
        i += 4 + size + (-size % 4)
    assert len(header) == 1
    first, reason = header[0].splitlines()[:2]
    assert first == "vpclab probe hub/cvm-1 -> s3/cvm-1 (icmp): no-return"
    assert reason.startswith(f"reason: NO_ROUTE at {doc['reason']['where']}")
    want = [f"{e['at']} router" if e["role"] == "router" else e["at"] for e in doc["evidence"]]
    got = rdpcap(str(path))
    assert [p.comment.decode() for p in got] == [f"{w} {e['way']} {e['what']}" for w, e in zip(want, doc["evidence"])]
    assert "s3 router rx echo-reply" in [p.comment.decode() for p in got]
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed (the lab guides say how): the file was read back by hand and by scapy")
    p = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "frame.interface_name", "-e", "frame.comment"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert [line.split("\t")[1] for line in p.stdout.splitlines()] == [p.comment.decode() for p in got]
    assert [line.split("\t")[0] for line in p.stdout.splitlines()] == [f"{w} {e['if']}" for w, e in
                                                                       zip(want, doc["evidence"])]


def test_pcap_to_a_bad_path_is_refused_before_probing(hub, tmp_path):
    lab, _ = hub
    bad = tmp_path / "no-such-dir" / "x.pcapng"
    p = run("probe", "hub/cvm-1", "s1/cvm-1", "-l", lab, "--pcap", bad, check=2)
    assert "InvalidParameterValue" in p.stderr and "no such directory" in p.stderr
    assert p.stdout == "" and not bad.parent.exists()


# ---- exit codes and refusals -------------------------------------------------------------------


def test_expect_match_exits_0_and_mismatch_exits_1(hub):
    lab, _ = hub
    doc = probe(lab, "hub/cvm-1", "s3/cvm-1", "--expect", "no-return", check=0)
    assert doc["ok"] is True and doc["expected"] == "no-return"
    p = run("probe", "hub/cvm-1", "s3/cvm-1", "-l", lab, "--expect", "reachable", check=1)
    assert "expected reachable, got no-return" in p.stderr
    assert "no-return" in p.stdout  # the verdict is still shown


def test_expect_mismatch_json_is_one_document(hub):
    """CLI.md: with --json, stdout holds exactly one JSON document, even when the expectation fails."""
    lab, _ = hub
    p = run("probe", "hub/cvm-1", "s3/cvm-1", "-l", lab, "--expect", "reachable", "--json", check=1)
    doc = json.loads(p.stdout)  # fails with "Extra data" when a second document follows
    assert doc["result"] == "no-return" and doc["ok"] is False and doc["expected"] == "reachable"


def test_unknown_instance_exits_2_with_did_you_mean(hub):
    lab, _ = hub
    p = run("probe", "hub/cvm-1", "s1/cvm-2", "-l", lab, check=2)
    assert "s1/cvm-2" in p.stderr
    assert "did you mean 's1/cvm-1'" in p.stderr
    assert p.stdout == ""
    p = run("probe", "hub/cvm-9", "s1/cvm-1", "-l", lab, "--json", check=2)
    err = json.loads(p.stdout)["error"]
    assert err["code"] == "InstanceNotFound" and "did you mean 'hub/cvm-1'" in err["hint"]


def test_lab_not_running_exits_2(mklab):
    lab, _ = mklab(HUB, up=False)
    p = run("probe", "hub/cvm-1", "s1/cvm-1", "-l", lab, check=2)
    assert f"lab '{lab}' is not running" in p.stderr
    p = run("probe", "hub/cvm-1", "s1/cvm-1", "-l", lab, "--json", check=2)
    assert json.loads(p.stdout)["error"]["code"] == "LabNotFound"


def test_address_outside_the_lab_is_refused_and_nothing_is_sent(hub):
    lab, _ = hub
    outside = "192.0.2.55"  # TEST-NET-1: in no VPC of the lab
    sniff = Sniffer(ns_of(lab, "hub/cvm-1"))
    try:
        p = run("probe", "hub/cvm-1", outside, "-l", lab, "--json", check=2)
        sent = sniff.sent_ipv4()
        err = json.loads(p.stdout)["error"]
        assert outside in err["message"] and "not inside any VPC" in err["message"]
        p = run("probe", "hub/cvm-1", outside, "-l", lab, "--proto", "tcp", "--port", 80, check=2)
        assert "only the lab's own addresses" in p.stderr
        sent += sniff.sent_ipv4()
        assert sent == [], f"a refused probe sent packets: {sent}"
        # the sniffer does see a probe that is allowed (so the silence above means something)
        probe(lab, "hub/cvm-1", "10.1.1.10")
        assert ("10.1.1.10", 1) in sniff.sent_ipv4()
    finally:
        sniff.close()


@pytest.mark.parametrize("dst,extra", [
    ("10.1.1.10", ()),                          # an instance, by address: reported as its ref
    ("10.1.1.99", ()),                          # a free address of a peer's subnet
    ("10.1.200.5", ()),                         # in the peer's CIDR, in none of its subnets
    ("10.1.1.1", ()),                           # the peer subnet's gateway (reserved)
    ("10.0.1.1", ()),                           # the source subnet's own gateway (reserved)
    ("10.0.1.1", ("--proto", "tcp", "--port", 22)),
])
def test_bare_address_inside_the_lab_is_refused_or_agrees_with_explain(hub, dst, extra):
    """A bare IPv4 destination inside the lab: a subnet's reserved address is refused (exit 2);
    any other is probed with a verdict that agrees with explain -- never a `mismatch`."""
    lab, _ = hub
    reserved = dst.endswith(".1")
    p = run("probe", "hub/cvm-1", dst, "-l", lab, *extra, "--json")
    doc = json.loads(p.stdout)
    if reserved:  # the VPC router holds gateways and would answer for them: refused
        assert p.returncode == 2 and doc["error"]["code"] == "InvalidParameterValue.IpReserved", doc
        return
    assert p.returncode == 0, p.stderr
    assert "mismatch" not in doc, f"probe and explain disagree on {dst}: {doc['mismatch']}"
    assert doc["result"] == doc["explain"]
    if dst == "10.1.1.10":
        assert doc["dst"] == "s1/cvm-1"
        assert_reachable(doc, "hub/cvm-1", "s1/cvm-1")
    elif dst in ("10.1.1.99", "10.1.200.5"):
        assert_verdict(doc, "unreachable", "NO_ROUTE", where="s1")
        assert doc["dst"] == dst and doc["forward"]["last_hop"] == "s1"


# ---- matrix -----------------------------------------------------------------------------------


def test_matrix_every_pair_agrees_with_explain(hub):
    from vpclab import explain as analyze
    from vpclab.controller import status

    lab, _ = hub
    doc = json.loads(run("matrix", "-l", lab, "--json", check=0).stdout)
    model = status.load_model(lab)
    insts = [i.ref for i in model.instances()]
    assert sorted(doc["instances"]) == sorted(insts)
    want = {(s, d, "icmp", None) for s in insts for d in insts if s != d}
    want |= {(s, d, "tcp", port) for s in insts for d, port in (("s1/db-1", 3306), ("s1/cache-1", 11211))
             if s != d}
    got = [(r["src"], r["dst"], r["proto"], r["port"]) for r in doc["pairs"]]
    assert len(got) == len(set(got)), "a pair is probed twice"
    assert set(got) == want
    assert doc["mismatches"] == 0
    for r in doc["pairs"]:
        assert "mismatch" not in r, r["mismatch"]
        v = analyze.explain(model, r["src"], r["dst"], r["proto"], r["port"]).to_json()
        what = f"{r['src']} -> {r['dst']} {r['proto']}/{r['port']}"
        assert r["result"] == v["result"], what
        assert r["reason"] == v["reason"], what
        assert r["forward"] == v["forward"], what
        assert r["return"] == v["return"], what
        assert r["seen_source"] == v["seen_source"], what  # issue 19: rows carry it as probes do
        if "seen_source_from" in r:  # only a fast-path answer, not captured, takes explain's
            assert (r["seen_source_from"], r["result"]) == ("explain", "reachable"), what
    # issue 19: a spoke's missing route to a peer of its peer is NO_ROUTE, by packets too
    s1s2 = next(r for r in doc["pairs"] if (r["src"], r["dst"], r["proto"]) == ("s1/cvm-1", "s2/cvm-1", "icmp"))
    assert (s1s2["reason"]["code"], s1s2["reason"]["where"], s1s2["reason"]["table"]) == ("NO_ROUTE", "s1", "default")
    # rows the captures diagnosed say what the destination saw: hub -> s3 arrived, its reply died
    s3 = next(r for r in doc["pairs"] if (r["src"], r["dst"], r["proto"]) == ("hub/cvm-1", "s3/cvm-1", "icmp"))
    assert (s3["result"], s3["seen_source"]) == ("no-return", "10.0.1.10") and "seen_source_from" not in s3
    s = doc["summary"]
    assert sum(s.values()) == len(want)
    assert s["reachable"] and s["no-return"] and s["unreachable"]


# ---- peering lifecycle on a running lab ---------------------------------------------------------

LIFECYCLE = """\
lab: life
accounts: [alice, bob]
regions: {ap-guangzhou: {}}
vpcs:
  a:
    account: alice
    region: ap-guangzhou
    cidr: 10.0.0.0/16
    subnets: {app: {cidr: 10.0.1.0/24}}
    route_tables:
      default:
        routes:
          - {destination: 10.1.0.0/16, next_hop: pcx-ar}
          - {destination: 10.2.0.0/16, next_hop: pcx-ad}
    instances: {cvm-1: {subnet: app, ip: 10.0.1.10}}
  r:
    account: bob
    region: ap-guangzhou
    cidr: 10.1.0.0/16
    subnets: {app: {cidr: 10.1.1.0/24}}
    route_tables: {default: {routes: [{destination: 10.0.0.0/16, next_hop: pcx-ar}]}}
    instances: {cvm-1: {subnet: app, ip: 10.1.1.10}}
  d:
    account: alice
    region: ap-guangzhou
    cidr: 10.2.0.0/16
    subnets: {app: {cidr: 10.2.1.0/24}}
    route_tables: {default: {routes: [{destination: 10.0.0.0/16, next_hop: pcx-ad}]}}
    instances: {cvm-1: {subnet: app, ip: 10.2.1.10}}
peerings:
  pcx-ar: {vpc: a, peer_vpc: r, accepted: false}
  pcx-ad: {vpc: a, peer_vpc: d}
"""


@pytest.mark.long
def test_rejected_and_deleted_peerings_are_blackholes(mklab):
    lab, _ = mklab(LIFECYCLE)
    assert_verdict(probe(lab, "a/cvm-1", "r/cvm-1"), "unreachable", "PEERING_NOT_ACTIVE", where="a")
    assert_reachable(probe(lab, "a/cvm-1", "d/cvm-1"), "a/cvm-1", "d/cvm-1")

    run("peering", "reject", "pcx-ar", "--as", "bob", "-l", lab, check=0)
    doc = probe(lab, "a/cvm-1", "r/cvm-1")
    assert_verdict(doc, "unreachable", "BLACKHOLE_ROUTE", where="a", table="default")
    assert doc["forward"] == {"delivered": False, "last_hop": "a", "path": ["a/cvm-1", "a"]}
    assert_verdict(probe(lab, "r/cvm-1", "a/cvm-1"), "unreachable", "BLACKHOLE_ROUTE", where="r")

    run("peering", "delete", "pcx-ad", "--as", "alice", "-l", lab, check=0)
    doc = probe(lab, "a/cvm-1", "d/cvm-1")
    assert_verdict(doc, "unreachable", "BLACKHOLE_ROUTE", where="a", table="default")
    assert "DELETED" in doc["reason"]["detail"]
    assert_verdict(probe(lab, "d/cvm-1", "a/cvm-1"), "unreachable", "BLACKHOLE_ROUTE", where="d")

    routes = json.loads(run("route", "list", "-l", lab, "--json", check=0).stdout)["routes"]
    assert {r["state"] for r in routes} == {"blackhole"}


# ---- a load balancer within and across regions ---------------------------------------------------

CONNECT = ("import socket,sys\n"
           "try:\n"
           "    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)\n"
           "    s.settimeout(2)\n"
           "    print(s.recv(200).decode().strip())\n"
           "except OSError as e:\n"
           "    print('failed:', type(e).__name__)\n")


def connect(lab, src, ip, port):
    """A TCP connect from inside `src` (`vpclab exec`), printing the first line it receives."""
    p = run("exec", src, "-l", lab, "--", sys.executable, "-c", CONNECT, ip, port, check=0, timeout=30)
    return p.stdout.strip()


def test_clb_within_a_region_reaches_a_backend(xregion):
    lab, _ = xregion
    doc = probe(lab, "gz-ops/cvm-1", "gz-app/lb-1", "--proto", "tcp", "--port", 80)
    assert_reachable(doc, "gz-ops/cvm-1", "gz-app/lb-1")
    assert "pcx-gz-local" in doc["forward"]["path"]
    line = connect(lab, "gz-ops/cvm-1", "10.10.1.100", 80)
    assert re.fullmatch(r"hello from gz-app/cvm-[12] on tcp/80", line), line


def test_clb_across_regions_is_unreachable(xregion):
    lab, _ = xregion
    doc = probe(lab, "sg-app/cvm-1", "gz-app/lb-1", "--proto", "tcp", "--port", 80)
    assert_verdict(doc, "unreachable", "CLB_CROSS_REGION", where="gz-app")
    assert doc["forward"]["delivered"] is False
    assert doc["forward"]["last_hop"] == "gz-app"
    assert "pcx-gz-sg" in doc["forward"]["path"]
    assert connect(lab, "sg-app/cvm-1", "10.10.1.100", 80).startswith("failed:")
    # the backends themselves are reachable across the region
    assert_reachable(probe(lab, "sg-app/cvm-1", "gz-app/cvm-1"), "sg-app/cvm-1", "gz-app/cvm-1")


# ---- vpclab test FILE ---------------------------------------------------------------------------

EXPECTING = HUB + """\
expect:
  - {from: hub/cvm-1, to: s1/cvm-1}
  - {from: s1/cvm-1, to: hub/cvm-1, result: reachable}
  - {from: hub/cvm-1, to: s3/cvm-1, result: no-return}
  - {from: s1/cvm-1, to: s2/cvm-1, result: unreachable}
  - {from: hub/cvm-1, to: s1/db-1, proto: tcp, port: 3306}
  - {from: hub/cvm-1, to: bobv/cvm-1, result: reachable}     # wrong on purpose: PENDING
"""
N_EXPECT = 6


@pytest.fixture
def expecting(tmp_path):
    """A topology file with one wrong expectation; its lab must not outlive `vpclab test`."""
    lab = lab_name()
    path = renamed(EXPECTING, lab, tmp_path)
    try:
        yield lab, path
    finally:
        run("down", lab)
        assert_gone(lab)


def test_test_file_reports_failure_writes_junit_and_leaves_no_lab(expecting, tmp_path):
    lab, path = expecting
    xml = tmp_path / "report.xml"
    p = run("test", path, "--junit", xml, check=1)
    assert_gone(lab)
    lines = p.stdout.strip().splitlines()
    assert lines[-1] == f"{N_EXPECT - 1} passed, 1 failed"
    assert sum("FAIL" in l for l in lines) == 1 and "bobv/cvm-1" in next(l for l in lines if "FAIL" in l)
    suite = ET.parse(xml).getroot()
    assert suite.tag == "testsuite"
    assert suite.get("failures") == "1" and suite.get("tests") == str(N_EXPECT)
    cases = suite.findall("testcase")
    assert len(cases) == N_EXPECT
    failed = [c for c in cases if c.find("failure") is not None]
    assert len(failed) == 1 and "hub/cvm-1 -> bobv/cvm-1" in failed[0].get("name")
    assert "PEERING_NOT_ACTIVE" in failed[0].find("failure").get("message")


def test_test_file_json_shape(expecting):
    lab, path = expecting
    p = run("test", path, "--json", check=1)
    assert_gone(lab)
    doc = json.loads(p.stdout)
    assert doc["lab"] == lab and doc["passed"] == N_EXPECT - 1 and doc["failed"] == 1
    assert len(doc["cases"]) == N_EXPECT
    for c in doc["cases"]:
        assert {"from", "to", "proto", "port", "expected", "got", "ok", "reason"} <= set(c)
        assert c["ok"] == (c["expected"] == c["got"])
        assert not c.get("mismatch"), c["mismatch"]
    bad = [c for c in doc["cases"] if not c["ok"]]
    assert [(c["from"], c["to"], c["expected"], c["got"]) for c in bad] == [
        ("hub/cvm-1", "bobv/cvm-1", "reachable", "unreachable")]
    assert bad[0]["reason"]["code"] == "PEERING_NOT_ACTIVE"
    tcp = next(c for c in doc["cases"] if c["proto"] == "tcp")
    assert (tcp["port"], tcp["expected"], tcp["got"]) == (3306, "reachable", "reachable")
