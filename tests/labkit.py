"""Helpers shared by the tests that build real labs: unique lab names, topology
copies renamed to them, the CLI run as a real process, and a leak check."""
from __future__ import annotations

import json
import os
import random
import string
import subprocess
import sys
from pathlib import Path

import pytest

from vpclab.topology.relabel import renamed_text

REPO = Path(__file__).resolve().parent.parent
TOPOLOGIES = REPO / "topologies"
VPCLAB = str(Path(sys.executable).parent / "vpclab")
ROOT = os.geteuid() == 0

# Two accounts, one region, one instance each, no peering yet: tests make the peering and
# its routes live (lifecycle and student-trip tests).
XACCT = """\
lab: placeholder
accounts: [alice, bob]
regions: {ap-guangzhou: {}}
vpcs:
  alice-vpc:
    account: alice
    region: ap-guangzhou
    cidr: 172.16.0.0/16
    subnets: {app: {cidr: 172.16.1.0/24}}
    instances: {cvm-1: {subnet: app, ip: 172.16.1.10}}
  bob-vpc:
    account: bob
    region: ap-guangzhou
    cidr: 192.168.0.0/16
    subnets: {app: {cidr: 192.168.1.0/24}}
    instances: {cvm-1: {subnet: app, ip: 192.168.1.10}}
"""

needs_root = pytest.mark.skipif(not ROOT, reason="needs root: builds real network namespaces")


def lab_name() -> str:
    """`t` + 7 random [a-z0-9]: unique per test, valid as a lab name (<= 8 chars)."""
    return "t" + "".join(random.choices(string.ascii_lowercase + string.digits, k=7))


def renamed(src, lab: str, dest_dir: Path) -> Path:
    """A copy of topology `src` (path or YAML text) whose `lab:` is `lab`."""
    text = Path(src).read_text() if not str(src).lstrip().startswith("lab:") and Path(str(src)).exists() else str(src)
    text = renamed_text(text, lab)
    out = Path(dest_dir) / f"{lab}.yaml"
    out.write_text(text)
    return out


def run(*args, check=None, timeout=120):
    """Run `vpclab ARGS`; `check` is the exit code expected (None: any)."""
    p = subprocess.run([VPCLAB, *map(str, args)], capture_output=True, text=True, timeout=timeout)
    if check is not None and p.returncode != check:
        raise AssertionError(f"vpclab {' '.join(map(str, args))} exited {p.returncode}, wanted {check}\n"
                             f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


def run_json(*args, check=0):
    p = run(*args, "--json", check=check)
    return json.loads(p.stdout)


def lab_namespaces(lab: str):
    d = Path("/run/netns")
    prefix = f"vpclab-{lab}-"
    return sorted(p.name for p in d.iterdir() if p.name.startswith(prefix)) if d.is_dir() else []


def lab_pids(lab: str):
    """PIDs of processes whose command line names this lab (the services daemon)."""
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"vpclab.kernel.services.daemon" in b" ".join(cmd) and lab.encode() in cmd:
            out.append(int(p.name))
    return out


def meter_pids(lab: str):
    """PIDs of the lab's usage meter (`python -m vpclab.usage.meter --lab LAB ...`)."""
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"vpclab.usage.meter" in cmd and lab.encode() in cmd:
            out.append(int(p.name))
    return out


def assert_gone(lab: str):
    assert lab_namespaces(lab) == [], f"namespaces left: {lab_namespaces(lab)}"
    assert not Path(f"/run/vpclab/{lab}").exists(), "state directory left"
    assert lab_pids(lab) == [], "service processes left"
    assert meter_pids(lab) == [], "the usage meter was left"


@pytest.fixture
def mklab(tmp_path):
    """Build labs from topologies under unique names; always torn down."""
    made = []

    def make(topology, up=True, name=None):
        lab = name or lab_name()
        path = renamed(topology, lab, tmp_path)
        made.append(lab)
        if up:
            run("up", path, check=0)
        return lab, path

    yield make
    for lab in made:
        run("down", lab)
        assert_gone(lab)
