"""Probes through filters: the dropping rule named from the kernel's nftables counters.

Two kinds of cases:
- CANNED rulesets: the test installs, inside its own lab's namespaces, a few nftables
  rules carrying counters and vpclab's rule comments (RuleRef). The model of these labs
  has no filters, so explain disagrees: the `mismatch` is expected and asserted. They test
  the probe side (counters read around the probe, the reason named from them) apart from
  the planner.
- REAL filters: a topology with security_groups / network_acls built by `vpclab up`.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

if sys.platform != "linux" or os.geteuid() != 0:
    pytest.skip("kernel tests need root on Linux (they build network namespaces and send packets)",
                allow_module_level=True)

from labkit import TOPOLOGIES, mklab, run  # noqa: E402,F401

from vpclab.probe import counters as nftc  # noqa: E402

pytestmark = pytest.mark.kernel

if nftc.available() is not None:
    pytest.skip(f"nftables counters cannot be read here: {nftc.available()} (scripts/setup installs it)",
                allow_module_level=True)


def nft(ns: str, *commands: str) -> None:
    """Run nft commands inside a namespace this test's lab made."""
    from nftables import Nftables

    from vpclab.kernel import nsenter

    with nsenter.entered(ns):
        n = Nftables()
        for c in commands:
            rc, _, err = n.cmd(c)
            assert rc == 0, f"nft {c!r} in {ns}: {err}"


def canned_probe(monkeypatch, lab, src, dst, proto="icmp", port=None):
    """probing.probe in-process, counters read although the lab's model has no filters."""
    from vpclab.controller import attribution as probe_filters, probing

    monkeypatch.setattr(probe_filters, "has_filters", lambda model: True)
    return probing.probe(src, dst, proto, port, lab=lab)


def test_canned_acl_without_a_reply_rule_is_no_return_found_by_packets(mklab, monkeypatch):
    lab, _ = mklab(TOPOLOGIES / "01-two-vpcs.yaml")
    router = f"vpclab-{lab}-vpc-b"
    # stateless, in the router: requests into subnet app pass, replies out of it match nothing
    nft(router, "add table inet vpclabtest",
        "add chain inet vpclabtest acl_forward { type filter hook forward priority 0; policy accept; }",
        'add rule inet vpclabtest acl_forward ip daddr 10.1.1.0/24 counter accept '
        'comment "vpclab acl vpc-b/acl-app inbound 0 app"',
        'add rule inet vpclabtest acl_forward ip saddr 10.1.1.0/24 counter drop '
        'comment "vpclab acl vpc-b/acl-app outbound - app"')
    doc = canned_probe(monkeypatch, lab, "vpc-a/cvm-1", "vpc-b/cvm-1")
    assert doc["result"] == "no-return", json.dumps(doc, indent=1)
    r = doc["reason"]
    assert (r["code"], r["acl"], r["direction"], r["rule"], r["where"]) == (
        "NETWORK_ACL_DENY", "acl-app", "outbound", None, "vpc-b/app")
    assert doc["reason_from"] == "counters"
    # by packets: the reply came into vpc-b's router and never left it
    replies = [(e["at"], e["way"]) for e in doc["evidence"] if e["dir"] == "reply"]
    assert replies == [("vpc-b/cvm-1", "tx"), ("vpc-b", "rx")]
    met = {(c["rule"], c["verdict"], c["packets"]) for c in doc["counters"]}
    assert met == {("vpclab acl vpc-b/acl-app inbound 0 app", "accept", 1),
                   ("vpclab acl vpc-b/acl-app outbound - app", "drop", 1)}
    assert "explain says reachable" in doc["mismatch"]  # the model knows nothing of the canned rules


def test_canned_security_group_drop_at_the_instance_is_unreachable(mklab, monkeypatch):
    lab, _ = mklab(TOPOLOGIES / "01-two-vpcs.yaml")
    inst = f"vpclab-{lab}-vpc-b.cvm-1"
    nft(inst, "add table inet vpclabtest",
        "add chain inet vpclabtest sg_input { type filter hook input priority 0; policy accept; }",
        'add rule inet vpclabtest sg_input ct state established,related counter accept '
        'comment "vpclab sg vpc-b/sg-web ingress 0"',
        'add rule inet vpclabtest sg_input tcp dport 80 counter accept comment "vpclab sg vpc-b/sg-web ingress 1"',
        'add rule inet vpclabtest sg_input counter drop comment "vpclab sg vpc-b/cvm-1 ingress -"')
    doc = canned_probe(monkeypatch, lab, "vpc-a/cvm-1", "vpc-b/cvm-1")
    assert doc["result"] == "unreachable", json.dumps(doc, indent=1)
    r = doc["reason"]
    assert (r["code"], r["group"], r["direction"], r["rule"], r["where"]) == (
        "SECURITY_GROUP_DENY", None, "ingress", None, "vpc-b/cvm-1")
    assert doc["forward"]["delivered"] is False and doc["forward"]["last_hop"] == "vpc-b/cvm-1"
    # the request reached the instance's namespace (the capture taps before the filter); nothing came back
    assert ("vpc-b/cvm-1", "request", "rx") in [(e["at"], e["dir"], e["way"]) for e in doc["evidence"]]
    assert not [e for e in doc["evidence"] if e["dir"] == "reply"]
    assert doc["seen_source"] == "10.0.1.10"
    # tcp/80 is allowed by rule 1 (and answered by RST: nothing listens)
    ok = canned_probe(monkeypatch, lab, "vpc-a/cvm-1", "vpc-b/cvm-1", "tcp", 80)
    assert ok["result"] == "reachable" and "mismatch" not in ok
    assert ("vpclab sg vpc-b/sg-web ingress 1", "accept") in {(c["rule"], c["verdict"]) for c in ok["counters"]}


def test_canned_security_group_drop_in_the_matrix_is_unreachable_by_packets(mklab, monkeypatch):
    from vpclab.controller import attribution as probe_filters, probing, status

    lab, _ = mklab(TOPOLOGIES / "01-two-vpcs.yaml")
    inst = f"vpclab-{lab}-vpc-b.cvm-1"
    nft(inst, "add table inet vpclabtest",
        "add chain inet vpclabtest sg_input { type filter hook input priority 0; policy accept; }",
        'add rule inet vpclabtest sg_input ct state established,related accept',  # stateful: replies pass
        'add rule inet vpclabtest sg_input meta l4proto icmp counter drop comment "vpclab sg vpc-b/cvm-1 ingress -"')
    # the model has no filter: say where the canned one is, so the counters are read
    monkeypatch.setattr(probe_filters, "has_filters", lambda model: True)
    monkeypatch.setattr(probe_filters, "filtered_namespaces", lambda model: [inst])
    model = status.load_model(lab)
    rows = probing.run_many(model, [probing.target(model, "vpc-a/cvm-1", "vpc-b/cvm-1", "icmp", None),
                                    probing.target(model, "vpc-b/cvm-1", "vpc-a/cvm-1", "icmp", None)])
    assert [r["result"] for r in rows] == ["unreachable", "reachable"]
    assert rows[0]["forward"]["last_hop"] == "vpc-b/cvm-1"
    r = rows[0]["reason"]  # the packets' own reason (issue 19: never unreachable without one)
    assert (r["code"], r["where"], r["direction"], rows[0]["reason_from"]) == (
        "SECURITY_GROUP_DENY", "vpc-b/cvm-1", "ingress", "counters")


# ---- real filters, built by `vpclab up` ----------------------------------------------------------

SG_TOPOLOGY = """\
lab: sg
regions:
  ap-guangzhou: {}
vpcs:
  vpc-a:
    region: ap-guangzhou
    cidr: 10.0.0.0/16
    subnets: {app: {cidr: 10.0.1.0/24}}
    route_tables: {default: {routes: [{destination: 10.1.0.0/16, next_hop: pcx-ab}]}}
    instances:
      cvm-1: {subnet: app, ip: 10.0.1.10}
  vpc-b:
    region: ap-guangzhou
    cidr: 10.1.0.0/16
    subnets: {app: {cidr: 10.1.1.0/24}}
    route_tables: {default: {routes: [{destination: 10.0.0.0/16, next_hop: pcx-ab}]}}
    security_groups:
      sg-web:
        ingress:
          - {proto: tcp, port: 80, source: 0.0.0.0/0, action: accept}
        egress:
          - {proto: all, destination: 0.0.0.0/0, action: accept}
    network_acls:
      acl-app:
        subnets: [app]
        inbound:
          - {proto: all, source: 0.0.0.0/0, action: accept}
        outbound:
          - {proto: tcp, destination: 10.0.0.0/16, action: accept}
    instances:
      cvm-1: {subnet: app, ip: 10.1.1.10, security_groups: [sg-web]}
      cvm-2: {subnet: app, ip: 10.1.1.11}
peerings:
  pcx-ab: {vpc: vpc-a, peer_vpc: vpc-b}
"""


@pytest.fixture
def sglab(mklab, tmp_path):
    lab, _ = mklab(SG_TOPOLOGY)
    rules = nftc.Reader([f"vpclab-{lab}-vpc-b.cvm-1"]).read()
    assert any(rules.values()), "`vpclab up` installed no nftables rule for vpc-b/cvm-1's security group"
    return lab


def test_real_sg_allows_tcp_80_but_not_icmp(sglab):
    doc = json.loads(run("probe", "vpc-a/cvm-1", "vpc-b/cvm-1", "-l", sglab, "--json").stdout)
    assert doc["result"] == "unreachable"
    r = doc["reason"]
    assert (r["code"], r["group"], r["direction"], r["rule"], r["where"]) == (
        "SECURITY_GROUP_DENY", "sg-web", "ingress", None, "vpc-b/cvm-1")
    assert doc["reason_from"] == "counters"
    tcp = json.loads(run("probe", "vpc-a/cvm-1", "vpc-b/cvm-1", "--proto", "tcp", "--port", "80", "-l", sglab,
                         "--json").stdout)
    assert tcp["result"] == "reachable"


def test_real_stateless_acl_without_a_reply_rule_is_no_return(sglab):
    # cvm-2 has no group; acl-app lets requests in, and only tcp out: the echo reply is dropped
    doc = json.loads(run("probe", "vpc-a/cvm-1", "vpc-b/cvm-2", "-l", sglab, "--json").stdout)
    assert doc["result"] == "no-return"
    r = doc["reason"]
    assert (r["code"], r["acl"], r["direction"], r["rule"]) == ("NETWORK_ACL_DENY", "acl-app", "outbound", None)
    assert "mismatch" not in doc, doc.get("mismatch")


# ---- the Internet, EIPs and the matrix (the kernel layer's test topology) -----------------------

INTERNET_LAB = Path(__file__).parent.parent / "internet.yaml"


@pytest.fixture(scope="module")
def netlab(tmp_path_factory):
    from labkit import assert_gone, lab_name, renamed

    lab = lab_name()
    path = renamed(INTERNET_LAB, lab, tmp_path_factory.mktemp("net"))
    p = run("up", path)
    try:
        assert p.returncode == 0, f"the Internet topology does not build: {p.stderr[-300:]}"
        yield lab
    finally:
        run("down", lab)
        assert_gone(lab)


def test_probe_over_eips_sees_the_senders_eip(netlab):
    # vpc-c is not peered with vpc-a: over the Internet, web-1 sees vpc-c/cvm-1's EIP
    doc = json.loads(run("probe", "vpc-c/cvm-1", "203.0.113.10", "--proto", "tcp", "--port", "80", "-l", netlab,
                         "--json", check=0).stdout)
    assert doc["result"] == "reachable" and "mismatch" not in doc, doc
    assert doc["seen_source"] == "203.0.113.30"
    assert "internet" in doc["forward"]["path"]
    at = [(e["at"], e["way"], e["src"], e["dst"]) for e in doc["evidence"] if e["dir"] == "request"]
    assert ("vpc-c/cvm-1", "tx", "10.2.1.10", "203.0.113.10") in at  # as sent
    assert ("vpc-a/web-1", "rx", "203.0.113.30", "10.0.1.10") in at  # as received, both ends rewritten


def test_probe_to_an_internet_host_through_the_nat_free_eip_path(netlab):
    doc = json.loads(run("probe", "vpc-c/cvm-1", "internet/web", "--proto", "tcp", "--port", "80", "-l", netlab,
                         "--json", check=0).stdout)
    assert doc["result"] == "reachable" and doc["observed"] == "SYN-ACK" and "mismatch" not in doc
    assert doc["seen_source"] == "203.0.113.30"
    assert doc["forward"]["path"][-2:] == ["internet", "internet/web"]


def test_matrix_covers_public_destinations_and_names_filter_drops_from_counters(netlab):
    doc = json.loads(run("matrix", "-l", netlab, "--json", check=0).stdout)
    assert set(doc["public"]) == {"203.0.113.10", "203.0.113.30", "internet/web"}
    assert doc["mismatches"] == 0
    rows = {(r["src"], r["dst"], r["proto"]): r for r in doc["pairs"]}
    assert ("vpc-c/cvm-1", "internet/web", "tcp") in rows and ("vpc-a/web-1", "203.0.113.30", "icmp") in rows
    assert rows[("vpc-c/cvm-1", "internet/web", "tcp")]["result"] == "reachable"
    for r in doc["pairs"]:
        if r["result"] != "reachable":
            assert r["reason"]["code"], r  # every unanswered pair is diagnosed
        if r["reason"]["code"] in ("SECURITY_GROUP_DENY", "NETWORK_ACL_DENY"):
            assert r["reason_from"] == "counters", r
    # the stateless ACL of subnet acl lets icmp in from 10.0/16 but has no outbound icmp rule:
    # the echo reply dies at the subnet boundary, found by packets
    acl = rows[("vpc-a/web-1", "vpc-a/acl-1", "icmp")]
    r = acl["reason"]
    assert (acl["result"], r["code"], r["acl"], r["direction"], r["rule"], r["where"]) == (
        "no-return", "NETWORK_ACL_DENY", "acl-in-only", "outbound", None, "vpc-a/acl")
    assert acl["return"]["delivered"] is False
    peer = rows[("vpc-b/cvm-1", "vpc-a/acl-1", "icmp")]  # from 10.1/16: no inbound rule
    assert (peer["result"], peer["reason"]["direction"]) == ("unreachable", "inbound")
    sg = rows[("vpc-c/cvm-1", "203.0.113.10", "icmp")]  # sg-web lets only tcp/80 in
    assert (sg["result"], sg["reason"]["code"], sg["reason"]["rule"]) == ("unreachable", "SECURITY_GROUP_DENY", None)


TWO_SUBNETS = """\
lab: two
regions:
  ap-guangzhou: {}
vpcs:
  vpc-a:
    region: ap-guangzhou
    cidr: 10.0.0.0/16
    subnets:
      app: {cidr: 10.0.1.0/24}
      data: {cidr: 10.0.2.0/24}
    network_acls:
      acl-1:
        subnets: [app, data]
        inbound:
          - {proto: tcp, port: 22, source: 10.9.0.0/16, action: accept}
        outbound:
          - {proto: tcp, port: 22, destination: 10.9.0.0/16, action: accept}
    instances:
      cvm-1: {subnet: app, ip: 10.0.1.10}
      db-1: {subnet: data, ip: 10.0.2.20}
"""


def test_between_two_bound_subnets_the_source_outbound_acl_drops_first(mklab):
    lab, _ = mklab(TWO_SUBNETS)
    doc = json.loads(run("probe", "vpc-a/db-1", "vpc-a/cvm-1", "-l", lab, "--json").stdout)
    assert doc["result"] == "unreachable"
    r = doc["reason"]
    assert (r["code"], r["direction"], r["where"]) == ("NETWORK_ACL_DENY", "outbound", "vpc-a/data"), doc
    assert "mismatch" not in doc


# ---- reply rules that cover part of the ephemeral ports ------------------------------------------

PARTIAL_REPLY_RULES = """\
lab: part
regions:
  ap-guangzhou: {}
vpcs:
  vpc-a:
    region: ap-guangzhou
    cidr: 10.0.0.0/16
    subnets:
      web: {cidr: 10.0.1.0/24}
      db: {cidr: 10.0.2.0/24}
      cache: {cidr: 10.0.3.0/24}
    network_acls:
      acl-db:        # drops the replies to the high ephemeral ports, then accepts everything
        subnets: [db]
        inbound:
          - {proto: all, source: 0.0.0.0/0, action: accept}
        outbound:
          - {proto: tcp, port: 50000-65535, destination: 0.0.0.0/0, action: drop}
          - {proto: all, destination: 0.0.0.0/0, action: accept}
      acl-cache:     # accepts the replies to every ephemeral port but one: 40001
        subnets: [cache]
        inbound:
          - {proto: all, source: 0.0.0.0/0, action: accept}
        outbound:
          - {proto: tcp, port: 32768-40000, destination: 10.0.0.0/16, action: accept}
          - {proto: tcp, port: 40002-65535, destination: 10.0.0.0/16, action: accept}
    instances:
      web-1: {subnet: web, ip: 10.0.1.10}
      db-1: {subnet: db, ip: 10.0.2.10, kind: cdb}
      cache-1: {subnet: cache, ip: 10.0.3.10, kind: cmem}
      cache-2: {subnet: cache, ip: 10.0.3.11, kind: cmem}
"""


def test_a_reply_rule_covering_part_of_the_ephemeral_ports_is_no_return_by_packets(mklab):
    """Some clients would get their replies and others not: explain says no-return with the lost
    ports, and the probe sends from one of them, so its packets show the drop (before, a
    single probe from 61000-65535 disagreed with explain on one lab or the other). A lost
    range of one port is shared by every probe that needs it."""
    lab, _ = mklab(PARTIAL_REPLY_RULES)
    for dst, port, rule in (("vpc-a/db-1", 3306, 0), ("vpc-a/cache-1", 11211, None)):
        doc = json.loads(run("probe", "vpc-a/web-1", dst, "--proto", "tcp", "--port", str(port), "-l", lab,
                             "--json").stdout)
        assert doc["result"] == "no-return", doc
        r = doc["reason"]
        assert (r["code"], r["direction"], r["rule"]) == ("NETWORK_ACL_DENY", "outbound", rule), r
        assert doc["reason_from"] == "counters" and "mismatch" not in doc, doc.get("mismatch")
        replies = [e for e in doc["evidence"] if e["dir"] == "reply"]
        assert replies and all(e["at"] != "vpc-a/web-1" for e in replies), replies
    rows = json.loads(run("matrix", "-l", lab, "--json", check=0).stdout)
    assert rows["mismatches"] == 0, [r for r in rows["pairs"] if r.get("mismatch")]
    got = {(r["src"], r["dst"], r["proto"]): r["result"] for r in rows["pairs"]}
    assert got[("vpc-a/web-1", "vpc-a/db-1", "tcp")] == "no-return"
    # four probes (two sources, two caches) must all send from port 40001: they share it
    for src in ("vpc-a/web-1", "vpc-a/db-1"):
        for dst in ("vpc-a/cache-1", "vpc-a/cache-2"):
            assert got[(src, dst, "tcp")] == "no-return", (src, dst)
    assert got[("vpc-a/web-1", "vpc-a/db-1", "icmp")] == "reachable"
