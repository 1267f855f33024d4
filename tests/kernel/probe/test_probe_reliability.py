"""Issue 19, items 4-6, on real namespaces: what the probe engine may conclude from packets.

- NAT'd probes of one batch share the gateway's address: the matrix must still tell whose
  request arrived (item 4).
- A rule counter also counts other traffic: a probe names a rule only when the rule lies on
  its lost packet's way and its own packets were dropped there (item 5).
- A verdict never lacks a reason: what the packets cannot tell is probed again, then said to
  be `inconclusive` with what was seen (item 6).
"""
from __future__ import annotations

import json
import os
import sys
import threading

import pytest

if sys.platform != "linux" or os.geteuid() != 0:
    pytest.skip("kernel tests need root on Linux (they build network namespaces and send packets)",
                allow_module_level=True)

from labkit import mklab, run  # noqa: E402,F401

pytestmark = pytest.mark.kernel


def probe_json(lab, src, dst, *extra, check=None):
    p = run("probe", src, dst, "-l", lab, "--json", *extra, check=check)
    return json.loads(p.stdout), p


def matrix_rows(lab):
    doc = json.loads(run("matrix", "-l", lab, "--json").stdout)
    return doc, {(r["src"], r["dst"], r["proto"]): r for r in doc["pairs"]}


# ---- item 4: three instances behind one NAT gateway ----------------------------------------------

NAT3 = """\
lab: nat3
regions:
  ap-guangzhou: {}
internet:
  cidr: 203.0.113.0/24
vpcs:
  vpc-a:
    region: ap-guangzhou
    cidr: 10.0.0.0/16
    subnets:
      app: {cidr: 10.0.1.0/24}
    route_tables:
      default:
        routes:
          - {destination: 0.0.0.0/0, next_hop: nat-1}
    nat_gateways:
      nat-1: {eip: 203.0.113.20}
    instances:
      c1: {subnet: app, ip: 10.0.1.11}
      c2: {subnet: app, ip: 10.0.1.12}
      c3: {subnet: app, ip: 10.0.1.13}
  vpc-b:
    region: ap-guangzhou
    cidr: 10.1.0.0/16
    subnets:
      pub: {cidr: 10.1.1.0/24}
    network_acls:
      acl-1:                     # requests in, no reply out but UDP: pings and SYN-ACKs die here
        subnets: [pub]
        inbound:
          - {proto: all, source: 0.0.0.0/0, action: accept}
        outbound:
          - {proto: udp, port: 1-65535, destination: 0.0.0.0/0, action: accept}
    instances:
      s1: {subnet: pub, ip: 10.1.1.10, eip: 203.0.113.50, kind: cdb}
"""


def test_matrix_tells_nat_no_return_apart_for_every_source_behind_one_gateway(mklab):
    """Before: each probe of a batch had the same ICMP id (consecutive sequence numbers); behind
    one gateway, towards one address, the NAT must give the 2nd and 3rd another id, and the
    capture, which knew them by id, said `unreachable` (and a mismatch) for all rows but the
    first. A NAT keeps an echo's sequence number: the capture now knows them by it."""
    lab, _ = mklab(NAT3)
    for _ in range(2):  # the second matrix meets the first one's NAT entries
        doc, rows = matrix_rows(lab)
        for c in ("c1", "c2", "c3"):
            for proto in ("icmp", "tcp"):
                r = rows[(f"vpc-a/{c}", "203.0.113.50", proto)]
                assert (r["result"], r["reason"]["code"], r["reason"]["direction"]) == (
                    "no-return", "NETWORK_ACL_DENY", "outbound"), r
                assert r["seen_source"] == "203.0.113.20" and "mismatch" not in r, r
        assert doc["mismatches"] == 0
    for c in ("c1", "c2", "c3"):  # the probe of each pair agrees
        d, _ = probe_json(lab, f"vpc-a/{c}", "203.0.113.50")
        assert (d["result"], d["seen_source"]) == ("no-return", "203.0.113.20") and "mismatch" not in d, d


# ---- item 5: counters that other traffic moves ----------------------------------------------------

DEV = """\
lab: dev
regions: {ap-guangzhou: {}}
vpcs:
  dev:
    region: ap-guangzhou
    cidr: 10.0.0.0/16
    subnets:
      s1: {cidr: 10.0.1.0/24}
      s2: {cidr: 10.0.2.0/24}
    network_acls:
      acl-1:
        subnets: [s1]
        inbound:
          - {proto: tcp, port: 22, source: 10.9.0.0/16, action: accept}
        outbound:
          - {proto: tcp, port: 22, destination: 10.9.0.0/16, action: accept}
    instances:
      x: {subnet: s1, ip: 10.0.1.10}
      y: {subnet: s1, ip: 10.0.1.11}
      b: {subnet: s2, ip: 10.0.2.10}
  far:
    region: ap-guangzhou
    cidr: 10.9.0.0/16
    subnets: {app: {cidr: 10.9.1.0/24}}
    instances:
      f: {subnet: app, ip: 10.9.1.10}
"""


class Noise:
    """Traffic of this test's lab that keeps both of acl-1's drop counters at dev/s1 moving:
    y -> b leaves s1 (outbound, no rule matches) and b -> x enters it (inbound, no rule
    matches), pings every few milliseconds from a thread, until stopped."""

    def __init__(self, lab):
        from vpclab.plan import names
        from vpclab.probe.types import ProbeSpec

        ns = lambda i: names.instance_ns(lab, "dev", i)  # noqa: E731
        self.specs = [ProbeSpec(ns("y"), "10.0.1.11", "10.0.2.10", "icmp"),
                      ProbeSpec(ns("b"), "10.0.2.10", "10.0.1.10", "icmp")]
        self.stop = threading.Event()
        self.rounds = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        from vpclab.probe.fast import fast_probe

        while not self.stop.is_set():
            fast_probe(self.specs, timeout=0.003)
            self.rounds += 1

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)


def acl_drops(lab):
    from vpclab.probe import counters as nftc

    snap = nftc.Reader([f"vpclab-{lab}-dev"]).read()
    return {c.ref.direction: c.packets for c in snap[f"vpclab-{lab}-dev"].values()
            if c.ref.kind == "acl" and c.ref.index is None}


def test_a_rule_off_the_way_or_moved_by_other_traffic_is_never_named(mklab):
    """Before: the reason was any drop rule whose counter grew in the namespace where the
    packets stopped: with other traffic dropped at dev/s1 meanwhile, a request with no
    route out of dev/s1 was said to match no INBOUND (or outbound) rule of acl-1 there, and
    a request leaving s1 could be given the inbound rule."""
    lab, _ = mklab(DEV)
    before = acl_drops(lab)
    with Noise(lab) as noise:
        # no route: stopped before any filter, whatever acl-1's counters do meanwhile
        for _ in range(3):
            d, _ = probe_json(lab, "dev/x", "far/f")
            assert (d["result"], d["reason"]["code"], d["reason"]["where"]) == ("unreachable", "NO_ROUTE", "dev"), d
            assert "reason_from" not in d and "mismatch" not in d, d
            assert all(c["direction"] != "inbound" for c in d.get("counters", [])), d["counters"]
        # leaving s1 for s2: acl-1's outbound drop, never its inbound one
        d, _ = probe_json(lab, "dev/x", "dev/b")
        r = d["reason"]
        assert (d["result"], r["code"], r["direction"], r["where"], d["reason_from"]) == (
            "unreachable", "NETWORK_ACL_DENY", "outbound", "dev/s1", "counters"), d
        assert "mismatch" not in d
        # the matrix, in the same noise
        doc, rows = matrix_rows(lab)
        assert noise.rounds > 10
    after = acl_drops(lab)
    assert after["inbound"] - before["inbound"] > 10 and after["outbound"] - before["outbound"] > 10  # it moved
    assert doc["mismatches"] == 0, [r for r in doc["pairs"] if "mismatch" in r]
    assert (rows[("dev/x", "far/f", "icmp")]["reason"]["code"], rows[("dev/y", "far/f", "icmp")]["reason"]["code"]) \
        == ("NO_ROUTE", "NO_ROUTE")
    for (src, dst), direction in {("dev/x", "dev/b"): "outbound", ("dev/y", "dev/b"): "outbound",
                                  ("dev/b", "dev/x"): "inbound", ("dev/b", "dev/y"): "inbound"}.items():
        r = rows[(src, dst, "icmp")]  # leaving s1: its outbound rules; entering it: its inbound ones
        assert (r["reason"]["code"], r["reason"]["direction"], r["reason"]["where"], r["reason_from"]) == (
            "NETWORK_ACL_DENY", direction, "dev/s1", "counters"), r
    # right after the matrix (its last SYN-ACKs may still come): the same answers
    d, _ = probe_json(lab, "dev/x", "far/f")
    assert (d["reason"]["code"], "reason_from" in d, "mismatch" in d) == ("NO_ROUTE", False, False), d


# ---- item 6: what the packets cannot tell ---------------------------------------------------------

TWO_SUBNETS = """\
lab: ld
regions: {ap-guangzhou: {}}
vpcs:
  dev:
    region: ap-guangzhou
    cidr: 10.0.0.0/16
    subnets:
      s1: {cidr: 10.0.1.0/24}
      s2: {cidr: 10.0.2.0/24}
    instances:
      a: {subnet: s1, ip: 10.0.1.10}
      b: {subnet: s2, ip: 10.0.2.10}
expect:
  - {from: dev/a, to: dev/b}
  - {from: dev/b, to: dev/a}
"""


def silent_drop(ns, daddr):
    """A drop in a namespace of this test's lab that nothing names: no vpclab comment, no
    counter, no ICMP error (as a full neighbour table drops a packet: issue 19's load case)."""
    from nftables import Nftables

    from vpclab.kernel import nsenter

    with nsenter.entered(ns):
        n = Nftables()
    for c in ("add table inet vpclabtest",
              "add chain inet vpclabtest silent { type filter hook forward priority 0; policy accept; }",
              f"add rule inet vpclabtest silent ip daddr {daddr} icmp type echo-request drop"):
        rc, _, err = n.cmd(c)
        assert rc == 0, err


@pytest.mark.long(20)
def test_what_the_packets_cannot_tell_is_inconclusive_never_unreachable_without_a_reason(mklab):
    """Before: the probe and the matrix said `unreachable` with a null reason. Now the pair is
    probed again (3 attempts) and then said to be `inconclusive`, with where the request was
    last seen; --expect and `test` count it as not matching, and say why."""
    lab, path = mklab(TWO_SUBNETS)
    silent_drop(f"vpclab-{lab}-dev", "10.0.2.10")
    d, p = probe_json(lab, "dev/a", "dev/b", "--expect", "reachable", check=1)
    assert d["result"] == "inconclusive" and d["ok"] is False, d
    r = d["reason"]
    assert r["code"] is None and r["where"] == "dev" and d["attempts"] == 3, d
    for words in ("cannot tell", "last seen at dev", "explain says reachable"):
        assert words in r["detail"], r["detail"]
    human = run("probe", "dev/a", "dev/b", "-l", lab, "--expect", "reachable")
    assert human.returncode == 1
    assert "INCONCLUSIVE" in human.stdout and "got inconclusive: the packets could not tell" in human.stderr
    doc, rows = matrix_rows(lab)
    bad = [r for r in doc["pairs"] if r["result"] != "reachable"]
    assert [(r["src"], r["dst"], r["result"]) for r in bad] == [("dev/a", "dev/b", "inconclusive")]
    assert bad[0]["attempts"] == 3 and bad[0]["reason"]["detail"] and "mismatch" not in bad[0]
    assert doc["summary"]["inconclusive"] == 1 and doc["summary"]["unreachable"] == 0
    assert all(r["reason"]["code"] or r["result"] in ("reachable", "inconclusive") for r in doc["pairs"])
    t = run("test", "-l", lab, "--json")
    assert t.returncode == 1
    cases = json.loads(t.stdout)["cases"]
    assert [(c["from"], c["got"], c["ok"]) for c in cases] == [("dev/a", "inconclusive", False),
                                                               ("dev/b", "reachable", True)]


@pytest.mark.skipif(os.environ.get("VPCLAB_NEIGHBOUR_FLOOD") != "1",
                    reason="fills the machine's one neighbour table for ~10 s, which disturbs every other lab "
                           "of the machine: set VPCLAB_NEIGHBOUR_FLOOD=1 to run it")
def test_the_load_case_a_full_neighbour_table_gives_no_verdict_without_a_reason(mklab):
    """Issue 19's load case, reproduced: a lab of 600 instances keeps more than
    net.ipv4.neigh.default.gc_thresh3 (1,024) neighbour entries busy, and the kernel drops
    packets to addresses it has no entry for. Before, a small lab's matrix said `unreachable`
    with a null reason for every pair; now no verdict lacks a reason, and an inconclusive
    one says the table was full."""
    from vpclab.controller import probing
    from vpclab.plan import names
    from vpclab.probe.fast import fast_probe
    from vpclab.probe.types import ProbeSpec

    insts = [(f"i{s}x{k}", f"10.50.{s}.{k + 10}") for s in range(4) for k in range(150)]
    big = ["lab: big", "regions: {ap-guangzhou: {}}", "vpcs:", "  big:", "    region: ap-guangzhou",
           "    cidr: 10.50.0.0/16", "    subnets:"] + [f"      s{s}: {{cidr: 10.50.{s}.0/24}}" for s in range(4)]
    big += ["    instances:"] + [f"      {n}: {{subnet: s{n[1]}, ip: {ip}}}" for n, ip in insts]
    big_lab, _ = mklab("\n".join(big) + "\n")
    small, _ = mklab(TWO_SUBNETS)
    specs = [ProbeSpec(names.instance_ns(big_lab, "big", n), ip, insts[(j + d) % len(insts)][1], "icmp")
             for d in (1, 7) for j, (n, ip) in enumerate(insts)]
    stop, full = threading.Event(), threading.Event()
    start = probing.neighbour_table_fulls()

    def churn():
        while not stop.is_set():
            fast_probe(specs, timeout=0.3)
            if probing.neighbour_table_fulls() > start:
                full.set()

    th = threading.Thread(target=churn, daemon=True)
    th.start()
    try:
        assert full.wait(30), "the neighbour table never filled up: nothing to reproduce"
        doc, rows = matrix_rows(small)
    finally:
        stop.set()
        th.join(30)
    print(f"\nunder a full neighbour table: {doc['summary']}")  # what the flood did this time
    for r in doc["pairs"]:
        assert r["result"] in ("reachable", "inconclusive") or r["reason"]["code"], r
        if r["result"] == "inconclusive":
            assert "neighbour table was full" in r["reason"]["detail"], r
