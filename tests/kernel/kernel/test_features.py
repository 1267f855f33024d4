"""Kernel features: netem delay where the kernel has it (a visible skip here, where it
does not), the warning when it is missing, `doctor`, and root checks."""
from __future__ import annotations

import pytest

from labkit import TOPOLOGIES, needs_root, run, run_json

pytestmark = needs_root


def _netem():
    from vpclab.kernel import features

    return features.netem_available()


def test_cross_region_latency_is_applied_where_the_kernel_has_netem(mklab):
    if not _netem():
        pytest.skip("this kernel has no netem (sch_netem): cross-region delay cannot be tested here; "
                    "the Vagrant VM (Ubuntu) has it")
    lab, _ = mklab(TOPOLOGIES / "04-cross-region.yaml")  # 35 ms one way, each direction
    doc = run_json("probe", "sg-app/cvm-1", "gz-app/cvm-1", "-l", lab)
    assert doc["result"] == "reachable"
    assert doc["rtt_ms"] >= 70.0
    local = run_json("probe", "gz-ops/cvm-1", "gz-app/cvm-1", "-l", lab)
    assert local["rtt_ms"] < 10.0


def test_without_netem_up_warns_and_still_caps(mklab, tmp_path):
    if _netem():
        pytest.skip("this kernel has netem: the degraded path is not taken")
    from labkit import lab_name, renamed

    lab = lab_name()
    path = renamed(TOPOLOGIES / "04-cross-region.yaml", lab, tmp_path)
    try:
        p = run("up", path, check=0)
        assert p.stderr.count("no netem") == 1
        qd = run("exec", "gz-app", "-l", lab, "--", "tc", "qdisc", "show", check=0).stdout
        assert "tbf" in qd and "rate 100Mbit" in qd and "netem" not in qd
    finally:
        run("down", lab, check=0)


def test_doctor_reports_features_and_what_degrades():
    doc = run_json("doctor")
    checks = {c["name"]: c for c in doc["checks"]}
    for name in ("root", "netns", "veth", "tbf", "htb", "netem"):
        assert name in checks
    assert checks["root"]["ok"] and checks["veth"]["ok"] and checks["tbf"]["ok"]
    assert checks["netem"]["ok"] == _netem()
    assert all(c["without"] for c in doc["checks"])
