"""Issue 21 item 7 on real packets: an Internet host as the source of `probe`, `matrix`, `test`
(`expect:`), the Python API and the pytest plugin (TOPOLOGY.md v3, "Internet hosts as sources").

The lab is internet_sources.yaml beside this file (under a unique name, always torn down): one
VPC; web-1 (EIP 203.0.113.10, group sg-web: tcp/443 only), db-1 (a cdb, EIP 203.0.113.20),
priv-1 (no EIP), locked-1 (EIP 203.0.113.40) in a subnet whose ACL has no outbound rule for the
replies' ephemeral ports. internet/client is 203.0.113.200. So, from the client: tcp/443 to
web-1 passes its EIP (DNAT in, SNAT out) and web-1 sees 203.0.113.200; a ping is dropped by
sg-web at web-1; priv-1 cannot be reached (no EIP); locked-1's reply is lost leaving its subnet.
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

from labkit import assert_gone, lab_name, renamed, run  # noqa: E402

pytestmark = pytest.mark.kernel
pytest_plugins = ["pytester"]

NET = Path(__file__).parent / "internet_sources.yaml"
CLIENT, CLIENT_IP = "internet/client", "203.0.113.200"
WEB, DB, PRIV, LOCKED = "vpc-a/web-1", "vpc-a/db-1", "vpc-a/priv-1", "vpc-a/locked-1"


@pytest.fixture(scope="module")
def netlab(tmp_path_factory):
    lab = lab_name()
    path = renamed(NET, lab, tmp_path_factory.mktemp("isrc"))
    try:
        p = run("up", path)
        assert p.returncode == 0, f"the topology does not build: {p.stderr[-300:]}"
        yield lab, path
    finally:
        run("down", lab)
        assert_gone(lab)


def as_json(*args):
    p = run(*args, "--json")
    assert p.returncode in (0, 1), p.stderr
    return json.loads(p.stdout)


def test_probe_from_an_internet_host_goes_through_the_eip_both_ways(netlab):
    lab, _ = netlab
    doc = as_json("probe", CLIENT, WEB, "--proto", "tcp", "--port", "443", "-l", lab)
    assert "mismatch" not in doc, doc["mismatch"]
    assert (doc["src"], doc["dst"], doc["result"]) == (CLIENT, WEB, "reachable")
    assert doc["seen_source"] == CLIENT_IP
    ev = doc["evidence"]
    # the request leaves the client for the EIP, arrives at web-1 rewritten to its private address,
    # with the client's address as its source; the reply leaves by the EIP (SNAT)
    assert any(e["at"] == CLIENT and e["role"] == "source" and e["dir"] == "request" and e["way"] == "tx"
               and (e["src"], e["dst"]) == (CLIENT_IP, "203.0.113.10") for e in ev), ev
    assert any(e["at"] == WEB and e["dir"] == "request" and e["way"] == "rx"
               and (e["src"], e["dst"]) == (CLIENT_IP, "10.0.1.10") for e in ev), ev
    assert any(e["at"] == CLIENT and e["dir"] == "reply" and e["way"] == "rx"
               and (e["src"], e["dst"]) == ("203.0.113.10", CLIENT_IP) for e in ev), ev
    assert doc["forward"]["path"] == [CLIENT, "internet", "vpc-a", WEB]
    assert doc["return"]["path"] == [WEB, "vpc-a", "internet", CLIENT]


def test_probe_from_an_internet_host_meets_the_group_and_the_acl(netlab):
    lab, _ = netlab
    ping = as_json("probe", CLIENT, WEB, "-l", lab)
    r = ping["reason"]
    assert (ping["result"], r["code"], r["where"], r["group"], r["direction"]) == \
        ("unreachable", "SECURITY_GROUP_DENY", WEB, "sg-web", "ingress")
    assert ping.get("reason_from") == "counters" and ping["seen_source"] == CLIENT_IP
    assert "mismatch" not in ping
    locked = as_json("probe", CLIENT, LOCKED, "--proto", "tcp", "--port", "22", "-l", lab)
    r = locked["reason"]
    assert (locked["result"], r["code"], r["acl"], r["direction"]) == \
        ("no-return", "NETWORK_ACL_DENY", "acl-locked", "outbound")
    assert locked.get("reason_from") == "counters" and "mismatch" not in locked
    # the reply was seen leaving locked-1 and never left the VPC router toward the Internet
    assert any(e["at"] == LOCKED and e["dir"] == "reply" and e["way"] == "tx" for e in locked["evidence"])
    assert not any(e["at"] == CLIENT and e["dir"] == "reply" for e in locked["evidence"])


def test_probe_from_an_internet_host_to_an_instance_without_eip(netlab):
    lab, _ = netlab
    doc = as_json("probe", CLIENT, PRIV, "-l", lab)
    assert (doc["result"], doc["reason"]["code"], doc["reason"]["where"]) == ("unreachable", "NO_PUBLIC_IP",
                                                                               "internet")
    # the packets: the Internet's own kernel has no route for the private address; nothing left it
    assert doc["observed"].startswith("refused at source") and doc["evidence"] == []
    assert "mismatch" not in doc
    # and between two Internet hosts there is nothing to probe: refused with its code
    p = run("probe", CLIENT, "203.0.113.200", "-l", lab)
    assert p.returncode != 0 and "InvalidParameterValue" in p.stderr


def test_matrix_has_rows_from_the_internet_host_to_every_eip(netlab):
    lab, _ = netlab
    doc = as_json("matrix", "-l", lab)
    rows = [r for r in doc["pairs"] if r["src"] == CLIENT]
    got = sorted((r["dst"], r["proto"], r["port"]) for r in rows)
    assert got == [("203.0.113.10", "icmp", None), ("203.0.113.20", "icmp", None), ("203.0.113.20", "tcp", 3306),
                   ("203.0.113.40", "icmp", None)]
    by = {(r["dst"], r["proto"]): r for r in rows}
    assert by[("203.0.113.10", "icmp")]["reason"]["code"] == "SECURITY_GROUP_DENY"
    assert by[("203.0.113.20", "tcp")]["result"] == "reachable"
    assert by[("203.0.113.40", "icmp")]["result"] == "no-return"
    assert all("mismatch" not in r for r in rows), [r["mismatch"] for r in rows if "mismatch" in r]
    assert all(r["result"] == r["explain"] for r in rows)
    assert sum(doc["summary"].values()) == len(doc["pairs"])


def test_expectations_from_an_internet_host_pass_with_test_the_api_and_the_plugin(netlab, pytester):
    lab, path = netlab
    doc = as_json("test", "-l", lab)
    assert (doc["passed"], doc["failed"]) == (5, 0), [c for c in doc["cases"] if not c["ok"]]
    assert {c["from"] for c in doc["cases"]} == {CLIENT}

    from vpclab import Lab

    v = Lab(lab, str(path)).probe(CLIENT, DB, "tcp", 3306)
    assert (v.result, v.seen_source) == ("reachable", CLIENT_IP)

    pytester.makefile(".yaml", isrc=NET.read_text())
    r = pytester.runpytest_subprocess("--vpclab", "isrc.yaml", "-p", "no:cacheprovider", "-v", timeout=300)
    r.assert_outcomes(passed=5)
    assert f"{CLIENT}->{WEB}/tcp/443" in r.stdout.str()
