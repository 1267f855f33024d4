"""A CCN in the kernel (plan/ccn.py): one lab, three VPCs on one CCN across two regions, a
disabled route, a peered non-member. Real packets agree with explain on every pair; the
captures see the packet in both CCN routers; the inter-region link is capped both ways and the
VPC links are not; no transit between peering and CCN, by routing, in either direction (routes
planted by hand in the lab's own namespaces show the kernel stops it where the rule says);
`down` leaves nothing. Expected values worked out by hand from ccn_small.yaml."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

from labkit import assert_gone, needs_root, run, run_json
from vpclab.plan import names
from vpclab.plan.numbers import ccn_link_addresses, link_addresses
from vpclab.topology.load import load

pytestmark = needs_root
HERE = Path(__file__).parent


def sh(ns: str, *cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True, timeout=30)


def test_ccn_in_the_kernel(mklab):
    lab, path = mklab(HERE / "ccn_small.yaml")
    model = load(path)
    # every pair: packets and explain agree; the rows below worked out by hand
    m = run_json("matrix", "-l", lab)
    assert m["mismatches"] == 0, json.dumps([r for r in m["pairs"] if r.get("mismatch")])
    got = {(r["src"], r["dst"]): (r["result"], (r.get("reason") or {}).get("code")) for r in m["pairs"]}
    assert got[("a/cvm-1", "b/cvm-1")][0] == "reachable"  # across regions
    assert got[("b/cvm-1", "c/cvm-1")][0] == "reachable"  # inside Shanghai
    assert got[("a/cvm-1", "c/cvm-1")][0] == "reachable"
    assert got[("a/cvm-1", "b/cvm-2")] == ("unreachable", "CCN_ROUTE_DISABLED")  # 10.2.2.0/24@b disabled
    assert got[("b/cvm-2", "a/cvm-1")] == ("no-return", "CCN_ROUTE_DISABLED")
    assert got[("p/cvm-1", "a/cvm-1")][0] == "reachable"  # over the peering
    assert got[("p/cvm-1", "b/cvm-1")] == ("unreachable", "NO_ROUTE")  # not on the CCN
    assert got[("b/cvm-1", "p/cvm-1")] == ("unreachable", "NO_ROUTE")

    # the packet is seen in both CCN routers, both ways
    doc = run_json("probe", "a/cvm-1", "b/cvm-1", "-l", lab)
    assert doc["result"] == "reachable" and "mismatch" not in doc
    assert "ccn-core (ap-guangzhou -> ap-shanghai)" in doc["forward"]["path"]
    seen = {(e["at"], e["dir"], e["way"]) for e in doc["evidence"]}
    for region in ("ap-guangzhou", "ap-shanghai"):
        for way in ("request", "reply"):
            assert (f"ccn-core {region}", way, "rx") in seen, (region, way, sorted(seen))

    # the cap: 50 Mbit each way on the link between the regions' routers; none on a VPC's link
    gz, sh_ = names.ccn_ns(lab, 0, "ap-guangzhou"), names.ccn_ns(lab, 0, "ap-shanghai")
    for ns, other in ((gz, "ap-shanghai"), (sh_, "ap-guangzhou")):
        out = sh(ns, "tc", "qdisc", "show", "dev", names.ccn_region_port(lab, other)).stdout
        assert "tbf" in out and "rate 50Mbit" in out, out
    out = sh(sh_, "tc", "qdisc", "show", "dev", names.ccn_vpc_port(lab, "b")).stdout
    assert "tbf" not in out, out

    # no transit, peering -> CCN: p sends b's range over the peering (a route planted by hand);
    # a's router has a route to b in its subnet table, but traffic from the peering is looked up
    # in the peering's ingress table (a's own subnets only): the ping dies in a
    pns, ans = names.vpc_ns(lab, "p"), names.vpc_ns(lab, "a")
    req, acc = link_addresses(model.peerings["pcx-ap"])
    pp = names.peering_port(lab, "pcx-ap")
    assert sh(pns, "ip", "route", "add", "10.2.1.0/24", "via", req, "dev", pp, "table", "100").returncode == 0
    assert "10.2.1.0/24" in sh(ans, "ip", "route", "show", "table", "100").stdout
    ping = sh(names.instance_ns(lab, "p", "cvm-1"), "ping", "-c", "1", "-W", "1", "10.2.1.10")
    assert ping.returncode != 0, ping.stdout
    # CCN -> peering: b sends p's range to the CCN, the CCN routers carry it to a (by hand):
    # traffic from the CCN is looked up in a's CCN ingress table (own subnets only): dies in a
    bns = names.vpc_ns(lab, "b")
    _, b_router = ccn_link_addresses(list(model.vpcs).index("b"))
    a_side, _ = ccn_link_addresses(list(model.vpcs).index("a"))
    assert sh(bns, "ip", "route", "add", "10.9.1.0/24", "via", b_router, "dev", names.ccn_port(lab, 0),
              "table", "100").returncode == 0
    x_gz, x_sh = ccn_link_addresses(len(model.vpcs))  # the one region pair's link
    assert sh(sh_, "ip", "route", "add", "10.9.1.0/24", "via", x_gz, "dev",
              names.ccn_region_port(lab, "ap-guangzhou")).returncode == 0
    assert sh(gz, "ip", "route", "add", "10.9.1.0/24", "via", a_side, "dev",
              names.ccn_vpc_port(lab, "a")).returncode == 0
    ping = sh(names.instance_ns(lab, "b", "cvm-1"), "ping", "-c", "1", "-W", "1", "10.9.1.10")
    assert ping.returncode != 0, ping.stdout
    # and the way it dies: a's kernel has a route to p in its subnet table, but not for the CCN's
    assert "10.9.0.0/16" in sh(ans, "ip", "route", "show", "table", "100").stdout
    got = sh(ans, "ip", "route", "get", "10.9.1.10", "from", "10.2.1.10", "iif", names.ccn_port(lab, 0))
    assert got.returncode != 0 or "blackhole" in got.stdout or "unreachable" in got.stdout, got.stdout

    run("down", lab, check=0)
    assert_gone(lab)


def test_the_shipped_ccn_topology_passes_on_a_real_lab(mklab):
    """topologies/08-ccn.yaml: every hand-worked expectation holds with real packets."""
    from labkit import TOPOLOGIES

    lab, _ = mklab(TOPOLOGIES / "08-ccn.yaml")
    p = run("test", "-l", lab)
    assert p.returncode == 0 and "12 passed, 0 failed" in p.stdout, p.stdout + p.stderr
