"""A failing `up` (issue 19 #13): the service daemon's file budget is beyond the hard limit
`up` runs with, so `up` stops at the daemon with exit 3 and ResourceLimit, leaving the lab
`building`; `down` and `cleanup` each remove all of it. Real namespaces, own lab names."""
from __future__ import annotations

import json
import resource
import subprocess

import pytest

from labkit import VPCLAB, assert_gone, lab_name, lab_namespaces, needs_root, renamed, run, run_json

pytestmark = needs_root

TOPOLOGY = """\
lab: placeholder
regions: {ap-guangzhou: {}}
internet:
  hosts:
    web: {ip: 203.0.113.200, ports: [80, 443]}
vpcs:
  vpc-a:
    region: ap-guangzhou
    cidr: 10.0.0.0/16
    subnets: {app: {cidr: 10.0.1.0/24}}
    instances: {cvm-1: {subnet: app, eip: 203.0.113.10}}
"""
HARD = 150  # below the daemon's budget for 2 listeners (164), above what `up` itself needs


def _low_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (HARD, HARD))


@pytest.mark.parametrize("remover", ["down", "cleanup"])
def test_an_up_stopped_by_the_file_budget_is_removed_by_down_or_cleanup(tmp_path, remover):
    lab = lab_name()
    path = renamed(TOPOLOGY, lab, tmp_path)
    try:
        p = subprocess.run([VPCLAB, "up", str(path), "--json"], capture_output=True, text=True, timeout=120,
                           preexec_fn=_low_limit)
        assert p.returncode == 3, (p.stdout, p.stderr)
        err = json.loads(p.stdout)["error"]
        assert err["code"] == "ResourceLimit" and f"limit is {HARD}" in err["message"], err
        assert "need 164 open files" in err["message"] and f"vpclab down {lab}" in err["hint"]
        assert "Traceback" not in p.stderr
        assert lab_namespaces(lab)  # half built ...
        assert run_json("status", "-l", lab)["status"] == "building"  # ... and says so
        run(remover, lab, check=0)
        assert_gone(lab)
    finally:
        run("down", lab)
        assert_gone(lab)
