"""An address held by instances of two unpeered, overlapping VPCs (issue 8): the batch path
(`matrix`, `test`) must tell the holders apart by their namespace, never by the address.

Both labs below come from the issue's independent checker. Each probe there is right on its
own (`probe`, `explain`); only many probes at once went wrong, because two pairs that differ
only by which VPC holds an address looked like one pair.
"""
from __future__ import annotations

import json

import yaml

from labkit import needs_root, run, run_json

pytestmark = needs_root



def vpc(ip: str, routes=()) -> dict:
    """A VPC of region r1 whose /16 and /24 hold `ip`, with one instance cvm-1 at `ip`."""
    a, b, c, _ = ip.split(".")
    body = {"region": "r1", "cidr": f"{a}.{b}.0.0/16", "subnets": {"app": {"cidr": f"{a}.{b}.{c}.0/24"}},
            "instances": {"cvm-1": {"subnet": "app", "ip": ip}}}
    if routes:
        body["route_tables"] = {"default": {"routes": [{"destination": d, "next_hop": p} for d, p in routes]}}
    return body


def topology(vpcs: dict, peerings: dict, expect: list) -> str:
    """`expect` items: (from, to, result) or (from, to, result, proto, port)."""
    return yaml.safe_dump({"lab": "x", "vpcs": vpcs, "peerings": peerings,
                           "expect": [dict(zip(("from", "to", "result", "proto", "port"), e)) for e in expect]},
                          sort_keys=False)


# The request reaches vpc-b/cvm-1, which has no route back: no-return. vpc-c, declared after
# vpc-b and peered with nobody, holds the same address 10.2.1.20.
HOLDER_AFTER_DST = topology(
    {"vpc-a": vpc("10.1.1.10", [("10.2.0.0/16", "pcx-ab")]), "vpc-b": vpc("10.2.1.20"), "vpc-c": vpc("10.2.1.20")},
    {"pcx-ab": {"vpc": "vpc-a", "peer_vpc": "vpc-b"}},
    [("vpc-a/cvm-1", "vpc-b/cvm-1", "no-return"), ("vpc-a/cvm-1", "vpc-c/cvm-1", "unreachable")])

# vpc-b sends its replies for 10.1.1.0/24 to vpc-0, declared before vpc-a: vpc-a/cvm-1's
# request arrives, but its echo reply goes to vpc-0/cvm-1, the other holder of 10.1.1.10.
HOLDER_BEFORE_SRC = topology(
    {"vpc-0": vpc("10.1.1.10"), "vpc-a": vpc("10.1.1.10", [("10.2.0.0/16", "pcx-ab")]),
     "vpc-b": vpc("10.2.1.20", [("10.1.1.0/24", "pcx-b0")])},
    {"pcx-ab": {"vpc": "vpc-a", "peer_vpc": "vpc-b"}, "pcx-b0": {"vpc": "vpc-b", "peer_vpc": "vpc-0"}},
    [("vpc-0/cvm-1", "vpc-b/cvm-1", "unreachable"), ("vpc-a/cvm-1", "vpc-b/cvm-1", "no-return"),
     ("vpc-b/cvm-1", "vpc-0/cvm-1", "no-return")])


# vpc-4/cvm-1's UDP datagram reaches vpc-1/db-1, whose service answers; vpc-1 routes that
# answer to vpc-2, whose cvm-1 (the other holder of 10.3.1.10) has no socket for it and
# sends back "port unreachable". That error is about the reply, not the destination's port.
REPLY_MEETS_PORT_UNREACHABLE = topology(
    {"vpc-1": {**vpc("10.2.1.10", [("10.3.1.0/24", "pcx-12")]),
               "instances": {"cvm-1": {"subnet": "app", "ip": "10.2.1.10"},
                             "db-1": {"subnet": "app", "kind": "cdb", "ip": "10.2.1.20"}}},
     "vpc-2": vpc("10.3.1.10"), "vpc-4": vpc("10.3.1.10", [("10.2.0.0/16", "pcx-14")])},
    {"pcx-12": {"vpc": "vpc-1", "peer_vpc": "vpc-2"}, "pcx-14": {"vpc": "vpc-1", "peer_vpc": "vpc-4"}},
    [("vpc-4/cvm-1", "vpc-1/db-1", "no-return", "udp", 3306), ("vpc-4/cvm-1", "vpc-1/db-1", "no-return")])


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
    # --jsonl: the same rows, one per line, then the summary line
    lines = [json.loads(x) for x in run("matrix", "-l", lab, "--jsonl", check=0).stdout.splitlines()]
    *rows, last = lines
    assert sorted((r["src"], r["dst"], r["result"]) for r in rows) == \
        sorted((r["src"], r["dst"], r["result"]) for r in m["pairs"])
    assert last["summary"] == m["summary"] and last["mismatches"] == 0 and "pairs" not in last


def test_reply_delivered_to_an_earlier_holder_of_the_source_address_is_no_return(mklab):
    lab, _ = mklab(HOLDER_BEFORE_SRC)
    check_batch_paths(lab, "vpc-a/cvm-1", "vpc-b/cvm-1")
    m = run_json("matrix", "-l", lab)
    assert row(m, "vpc-0/cvm-1", "vpc-b/cvm-1")["result"] == "unreachable"
    assert run("test", "-l", lab).returncode == 0


def test_port_unreachable_met_by_the_reply_at_another_holder_is_no_return(mklab):
    lab, _ = mklab(REPLY_MEETS_PORT_UNREACHABLE)
    one = run_json("probe", "vpc-4/cvm-1", "vpc-1/db-1", "--proto", "udp", "--port", "3306", "-l", lab)
    assert one["result"] == "no-return" and "mismatch" not in one
    t = run_json("test", "-l", lab, check=None)
    bad = [c for c in t["cases"] if not c["ok"] or c["mismatch"]]
    assert not bad, bad
