"""An address held by instances of two unpeered, overlapping VPCs (issue 8): the batch path
(`matrix`, `test`) must tell the holders apart by their namespace, never by the address.

Both labs below come from the issue's independent checker. Each probe there is right on its
own (`probe`, `explain`); only many probes at once went wrong, because two pairs that differ
only by which VPC holds an address looked like one pair.
"""
from __future__ import annotations

from labkit import needs_root, run, run_json

pytestmark = needs_root

# The request reaches vpc-b/cvm-1, which has no route back: no-return. vpc-c, declared after
# vpc-b and peered with nobody, holds the same address 10.2.1.20.
HOLDER_AFTER_DST = """\
lab: x
vpcs:
  vpc-a:
    region: r1
    cidr: 10.1.0.0/16
    subnets: {app: {cidr: 10.1.1.0/24}}
    route_tables: {default: {routes: [{destination: 10.2.0.0/16, next_hop: pcx-ab}]}}
    instances: {cvm-1: {subnet: app, ip: 10.1.1.10}}
  vpc-b:
    region: r1
    cidr: 10.2.0.0/16
    subnets: {app: {cidr: 10.2.1.0/24}}
    instances: {cvm-1: {subnet: app, ip: 10.2.1.20}}
  vpc-c:
    region: r1
    cidr: 10.2.0.0/16
    subnets: {app: {cidr: 10.2.1.0/24}}
    instances: {cvm-1: {subnet: app, ip: 10.2.1.20}}
peerings:
  pcx-ab: {vpc: vpc-a, peer_vpc: vpc-b}
expect:
  - {from: vpc-a/cvm-1, to: vpc-b/cvm-1, result: no-return}
  - {from: vpc-a/cvm-1, to: vpc-c/cvm-1, result: unreachable}
"""

# vpc-b sends its replies for 10.1.1.0/24 to vpc-0, declared before vpc-a: vpc-a/cvm-1's
# request arrives, but its echo reply goes to vpc-0/cvm-1, the other holder of 10.1.1.10.
HOLDER_BEFORE_SRC = """\
lab: x
vpcs:
  vpc-0:
    region: r1
    cidr: 10.1.0.0/16
    subnets: {app: {cidr: 10.1.1.0/24}}
    instances: {cvm-1: {subnet: app, ip: 10.1.1.10}}
  vpc-a:
    region: r1
    cidr: 10.1.0.0/16
    subnets: {app: {cidr: 10.1.1.0/24}}
    route_tables: {default: {routes: [{destination: 10.2.0.0/16, next_hop: pcx-ab}]}}
    instances: {cvm-1: {subnet: app, ip: 10.1.1.10}}
  vpc-b:
    region: r1
    cidr: 10.2.0.0/16
    subnets: {app: {cidr: 10.2.1.0/24}}
    route_tables: {default: {routes: [{destination: 10.1.1.0/24, next_hop: pcx-b0}]}}
    instances: {cvm-1: {subnet: app, ip: 10.2.1.20}}
peerings:
  pcx-ab: {vpc: vpc-a, peer_vpc: vpc-b}
  pcx-b0: {vpc: vpc-b, peer_vpc: vpc-0}
expect:
  - {from: vpc-0/cvm-1, to: vpc-b/cvm-1, result: unreachable}
  - {from: vpc-a/cvm-1, to: vpc-b/cvm-1, result: no-return}
  - {from: vpc-b/cvm-1, to: vpc-0/cvm-1, result: no-return}
"""


def row(doc: dict, src: str, dst: str) -> dict:
    (r,) = [r for r in doc["pairs"] if (r["src"], r["dst"], r["proto"]) == (src, dst, "icmp")]
    return r


def check_batch_paths(lab: str, src: str, dst: str) -> None:
    """probe, matrix and test all say no-return for SRC -> DST, with no mismatch anywhere."""
    one = run_json("probe", src, dst, "-l", lab)
    assert one["result"] == "no-return" and "mismatch" not in one
    m = run_json("matrix", "-l", lab)
    r = row(m, src, dst)
    assert r["result"] == "no-return", r
    assert r["forward"]["last_hop"] == dst and r["forward"]["delivered"]
    assert not r["return"]["delivered"]
    assert m["mismatches"] == 0, [x["mismatch"] for x in m["pairs"] if "mismatch" in x]
    t = run_json("test", "-l", lab, check=None)
    bad = [c for c in t["cases"] if not c["ok"] or c["mismatch"]]
    assert not bad, bad
    assert t["failed"] == 0 and t["passed"] == len(t["cases"])


def test_request_delivered_while_a_later_vpc_holds_the_same_address_is_no_return(mklab):
    lab, _ = mklab(HOLDER_AFTER_DST)
    check_batch_paths(lab, "vpc-a/cvm-1", "vpc-b/cvm-1")
    m = run_json("matrix", "-l", lab)
    assert row(m, "vpc-a/cvm-1", "vpc-c/cvm-1")["result"] == "unreachable"


def test_reply_delivered_to_an_earlier_holder_of_the_source_address_is_no_return(mklab):
    lab, _ = mklab(HOLDER_BEFORE_SRC)
    check_batch_paths(lab, "vpc-a/cvm-1", "vpc-b/cvm-1")
    m = run_json("matrix", "-l", lab)
    assert row(m, "vpc-0/cvm-1", "vpc-b/cvm-1")["result"] == "unreachable"
    assert run("test", "-l", lab).returncode == 0
