"""VPCs that are not peered may overlap (CLOUD-RULES.md): the same address can be two
instances in two VPCs. Probes must say which one answered, and a dead service must
show up as a disagreement with the model, not as a pass."""
from __future__ import annotations

import os
import signal
from pathlib import Path

from labkit import lab_pids, needs_root, run, run_json

pytestmark = needs_root
HERE = Path(__file__).parent.parent  # tests/kernel, beside overlap.yaml


def test_overlapping_isolated_vpcs_are_unreachable_and_agree_with_explain(mklab):
    lab, path = mklab(HERE / "overlap.yaml")
    # vpc-a/cvm-2 -> vpc-b/cvm-1: 10.0.1.2 is vpc-a/cvm-1 inside vpc-a; it answers, but it is not DST.
    doc = run_json("probe", "vpc-a/cvm-2", "vpc-b/cvm-1", "-l", lab)
    assert doc["result"] == "unreachable" and "mismatch" not in doc
    assert doc["reason"]["code"] == "NO_ROUTE" and "vpc-a/cvm-1" in doc["reason"]["detail"]
    m = run_json("matrix", "-l", lab)
    assert m["mismatches"] == 0
    cross = [r for r in m["pairs"] if r["src"].split("/")[0] != r["dst"].split("/")[0]]
    assert cross and all(r["result"] == "unreachable" for r in cross)
    assert run("test", "-l", lab).returncode == 0


def test_a_dead_service_is_a_loud_disagreement(mklab):
    from labkit import TOPOLOGIES

    lab, _ = mklab(TOPOLOGIES / "01-two-vpcs.yaml")
    doc = run_json("probe", "vpc-a/cvm-1", "vpc-b/db-1", "--proto", "tcp", "--port", "3306", "-l", lab)
    assert doc["observed"] == "SYN-ACK" and "mismatch" not in doc
    (pid,) = lab_pids(lab)  # the lab's service daemon, started by this test's `up`
    os.kill(pid, signal.SIGKILL)
    doc = run_json("probe", "vpc-a/cvm-1", "vpc-b/db-1", "--proto", "tcp", "--port", "3306", "-l", lab)
    assert doc["result"] == "reachable" and doc["observed"].startswith("RST")
    assert doc["note"]["code"] == "NO_LISTENER"
    assert "service process is not running" in doc["mismatch"]
