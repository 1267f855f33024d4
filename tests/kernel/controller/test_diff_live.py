"""`vpclab diff -l LAB NEW`: a running lab, with its live changes, against a file."""
from __future__ import annotations

from labkit import TOPOLOGIES, needs_root, run, run_json

pytestmark = needs_root


def test_diff_of_a_live_lab_sees_its_live_route(mklab):
    lab, path = mklab(TOPOLOGIES / "02-one-way-route.yaml")
    run("route", "add", "vpc-b", "--destination", "10.0.0.0/16", "--next-hop", "pcx-ab", "-l", lab, check=0)
    # the lab now has the return route; the file does not: going back to the file loses both ways
    doc = run_json("diff", "-l", lab, path, check=0)
    got = {(c["src"], c["dst"], c["old"]["result"], c["new"]["result"]) for c in doc["changes"]}
    assert got == {("vpc-a/cvm-1", "vpc-b/cvm-1", "reachable", "no-return"),
                   ("vpc-b/cvm-1", "vpc-a/cvm-1", "reachable", "unreachable")}
    assert all(c["causes"][0]["detail"] == "route 10.0.0.0/16 via pcx-ab removed from vpc-b/default"
               for c in doc["changes"])
    assert doc["old"] == f"lab {lab}"
