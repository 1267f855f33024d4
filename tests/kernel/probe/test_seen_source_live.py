"""Issue 19, items 2 and 3 on real packets: `seen_source` in probe, explain and every matrix row,
and one meaning for a request a security group drops at the destination.

The lab is tests/kernel/internet.yaml (under a unique name, always torn down): vpc-b/cvm-1
(10.1.1.10) is peered with vpc-a, whose web-1 (10.0.1.10, EIP 203.0.113.10) carries sg-web:
tcp/80 only, from 10.1/16 and from 203.0.113/24. vpc-c/cvm-1 (EIP 203.0.113.30) is not peered.
So a ping to web-1 reaches its namespace and sg-web drops it there (ingress, no rule matched):
from vpc-b with the private address 10.1.1.10, over the EIP from vpc-c with 203.0.113.30.
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

NET = Path(__file__).parent.parent / "internet.yaml"
WEB, PEER, FAR = "vpc-a/web-1", "vpc-b/cvm-1", "vpc-c/cvm-1"
ARRIVED = ("the request reached vpc-a/web-1 (seen source {}) and its security group sg-web dropped it "
           "(ingress, no rule matched")


@pytest.fixture(scope="module")
def netlab(tmp_path_factory):
    lab = lab_name()
    path = renamed(NET, lab, tmp_path_factory.mktemp("seen"))
    try:
        p = run("up", path)
        assert p.returncode == 0, f"the Internet topology does not build: {p.stderr[-300:]}"
        yield lab
    finally:
        run("down", lab)
        assert_gone(lab)


def as_json(*args):
    p = run(*args, "--json")
    assert p.returncode in (0, 1), p.stderr
    return json.loads(p.stdout)


@pytest.mark.parametrize("src, dst, seen", [(PEER, WEB, "10.1.1.10"), (FAR, "203.0.113.10", "203.0.113.30")],
                         ids=["over-the-peering", "over-the-eip"])
def test_a_security_group_drop_at_the_destination_means_one_thing_everywhere(netlab, src, dst, seen):
    doc = as_json("probe", src, dst, "-l", netlab)
    ex = as_json("explain", src, dst, "-l", netlab)
    assert "mismatch" not in doc, doc["mismatch"]
    for d in (doc, ex):
        r = d["reason"]
        assert d["result"] == "unreachable", json.dumps(d, indent=1)
        assert (r["code"], r["where"], r["group"], r["direction"], r["rule"]) == (
            "SECURITY_GROUP_DENY", WEB, "sg-web", "ingress", None), r
        assert d["seen_source"] == seen  # it did arrive: a capture in web-1 shows it
        assert r["detail"].startswith(ARRIVED.format(seen)), r["detail"]
        assert d["forward"]["last_hop"] == WEB and d["forward"]["delivered"] is False
    # the packets: in at web-1 with that source, and nothing after
    came = [(e["at"], e["way"], e["src"]) for e in doc["evidence"] if e["dir"] == "request"]
    assert came[-1] == (WEB, "rx", seen)
    assert not [e for e in doc["evidence"] if e["dir"] == "reply"]
    text = run("probe", src, dst, "-l", netlab, check=0).stdout
    assert f"reason: SECURITY_GROUP_DENY at {WEB}: " + ARRIVED.format(seen) in text, text
    assert text.count(ARRIVED.format(seen)) == 1, text  # said once: the reason, not a stop line too
    assert "never sent on" not in text


def test_every_matrix_row_carries_the_seen_source_explain_gives(netlab):
    from vpclab import explain as analyze
    from vpclab.controller import status

    model = status.load_model(netlab)
    lines = [json.loads(l) for l in run("matrix", "-l", netlab, "--jsonl", check=0).stdout.splitlines()]
    rows, summary = lines[:-1], lines[-1]
    assert summary["mismatches"] == 0 and rows
    doc = as_json("matrix", "-l", netlab)
    assert {(r["src"], r["dst"], r["proto"], r["port"]) for r in doc["pairs"]} == \
        {(r["src"], r["dst"], r["proto"], r["port"]) for r in rows}
    for r in rows + doc["pairs"]:
        what = f"{r['src']} -> {r['dst']} {r['proto']}/{r['port']}"
        assert "seen_source" in r, what
        v = analyze.explain(model, r["src"], r["dst"], r["proto"], r["port"])
        assert (r["result"], r["seen_source"]) == (v.result, v.seen_source), what
        if "seen_source_from" in r:  # a fast-path answer was not captured: explain's, said so
            assert (r["seen_source_from"], r["result"]) == ("explain", "reachable"), what
    by = {(r["src"], r["dst"], r["proto"]): r for r in rows}
    for key, seen in (((PEER, WEB, "icmp"), "10.1.1.10"), ((FAR, "203.0.113.10", "icmp"), "203.0.113.30")):
        r = by[key]
        assert (r["result"], r["reason"]["code"], r["seen_source"]) == ("unreachable", "SECURITY_GROUP_DENY", seen)
        assert "seen_source_from" not in r  # measured: the captures saw it arrive
        assert r["reason"]["detail"].startswith(ARRIVED.format(seen)), r["reason"]["detail"]
    # a row that never arrived: vpc-b has no route to vpc-c
    assert by[(PEER, FAR, "icmp")]["seen_source"] is None
