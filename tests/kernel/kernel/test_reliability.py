"""Crashes and refusals: `up` killed with SIGKILL at random points, then `cleanup`
leaves nothing and a lab running alongside is untouched; a kernel refusal mid-apply
exits 4, names the object and errno, and `down` still removes the lab."""
from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


from labkit import (TOPOLOGIES, VPCLAB, assert_gone, lab_name, lab_namespaces, lab_pids, needs_root, renamed,
                    run, run_json)

pytestmark = needs_root

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
from scale_topology import scale_yaml  # noqa: E402

KILLS = 10


def _kernel_state(lab):
    from vpclab.kernel import inspect

    return inspect.read_lab(lab)


def _wait_no_pids(lab, timeout=5.0):
    deadline = time.monotonic() + timeout
    while lab_pids(lab) and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.mark.long(20)
def test_sigkill_during_up_then_cleanup_leaves_nothing(tmp_path, mklab):
    bystander, _ = mklab(TOPOLOGIES / "03-hub-spokes.yaml")
    before = _kernel_state(bystander)
    ns_before = lab_namespaces(bystander)
    rng = random.Random()
    mid_build = 0
    for i in range(KILLS):
        lab = lab_name()
        path = tmp_path / f"{lab}.yaml"
        path.write_text(scale_yaml(lab=lab, vpcs=20, regions=2))
        total = 20 * 5  # namespaces: 20 routers + 80 instances
        # A random point of the build: as soon as `target` of its namespaces exist (0: at
        # once, before or while the state is written), or, past `total`, a few ms into the
        # links, addresses, routes and services that follow the namespaces.
        target = rng.randrange(0, total + 40)
        p = subprocess.Popen([VPCLAB, "up", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while p.poll() is None and len(lab_namespaces(lab)) < min(target, total) and time.monotonic() < deadline:
            time.sleep(0.002)
        if target > total:
            time.sleep((target - total) * 0.003)
        running = p.poll() is None
        p.send_signal(signal.SIGKILL)
        p.wait()
        state = Path(f"/run/vpclab/{lab}/state.db")
        if running:
            mid_build += 1
        try:
            out = run_json("cleanup", lab)  # only this lab: other tests' labs run meanwhile
            st = None
            if state.exists():
                st = run_json("status", "-l", lab, check=None)
            if st and st.get("status") == "ready":
                run("down", lab, check=0)  # the kill came after up had finished: a healthy lab
            else:
                assert lab in out["removed"] or not lab_namespaces(lab)
            _wait_no_pids(lab)
            assert_gone(lab)
        finally:
            run("down", lab)
    assert mid_build >= KILLS // 2, f"only {mid_build} of {KILLS} kills landed during a build"
    # The lab running alongside was not touched.
    assert lab_namespaces(bystander) == ns_before
    assert _kernel_state(bystander) == before
    assert run_json("probe", "spoke-1/cvm-1", "hub/cvm-1", "-l", bystander)["result"] == "reachable"


def test_cleanup_keeps_a_ready_lab_and_removes_a_half_built_one(tmp_path, mklab):
    ready, _ = mklab(TOPOLOGIES / "02-one-way-route.yaml")
    half = lab_name()
    path = renamed(TOPOLOGIES / "01-two-vpcs.yaml", half, tmp_path)
    # A half-built lab: state says "building" and some of its namespaces exist.
    from vpclab.topology import load as loader
    from vpclab.kernel import engine as kapply
    from vpclab.plan.diff import diff
    from vpclab.plan.planner import plan
    from vpclab.state.store import Store

    model = loader.load(path)
    st = Store(half)
    with st.tx() as tx:
        tx.save_model(model)
        tx.set_status("building")
    actions = diff(plan(model).objects, [])
    kapply.apply([a for a in actions if a.obj.key[0] == "netns"][:3])
    assert len(lab_namespaces(half)) == 3
    try:
        out = run_json("cleanup", half, ready)
        assert half in out["removed"] and ready not in out["removed"]
        assert_gone(half)
        assert len(lab_namespaces(ready)) == 4
    finally:
        run("down", half)


def test_a_kernel_refusal_exits_4_names_the_object_and_down_still_works(tmp_path):
    """Plant, where one of the lab's namespaces must go, a namespace file that is not
    a network namespace (a bind mount of a UTS namespace): entering it fails with
    EINVAL. `up` exits 4 naming it and the errno; `down` removes everything."""
    lab = lab_name()
    path = renamed(TOPOLOGIES / "01-two-vpcs.yaml", lab, tmp_path)
    planted = Path(f"/run/netns/vpclab-{lab}-vpc-a.cvm-1")
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.touch()
    subprocess.run(["mount", "--bind", "/proc/self/ns/uts", str(planted)], check=True)
    try:
        p = run("up", path, "--json")
        assert p.returncode == 4, (p.stdout, p.stderr)
        err = json.loads(p.stdout)["error"]
        assert err["code"] == "KernelRefused"
        assert planted.name in err["message"] and "errno 22" in err["message"]
        assert "vpclab down" in err["hint"]
        p = run("up", path)
        assert p.returncode == 4 and "Traceback" not in p.stderr
        run("down", lab, check=0)
        assert not planted.exists()
        assert_gone(lab)
    finally:
        run("down", lab)
        if planted.exists():
            subprocess.run(["umount", str(planted)])
            planted.unlink()


def test_several_labs_build_and_tear_down_in_parallel(tmp_path):
    """Four labs from the same topology, built and removed at once: no name clashes,
    each whole and working, each fully gone after."""
    labs = [lab_name() for _ in range(4)]
    paths = [renamed(TOPOLOGIES / "01-two-vpcs.yaml", lab, tmp_path) for lab in labs]
    try:
        procs = [subprocess.Popen([VPCLAB, "up", str(p)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for p in paths]
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
        for lab in labs:
            assert len(lab_namespaces(lab)) == 5
            doc = run_json("probe", "vpc-a/cvm-1", "vpc-b/db-1", "--proto", "tcp", "--port", "3306", "-l", lab)
            assert doc["result"] == "reachable"
        procs = [subprocess.Popen([VPCLAB, "down", lab], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for lab in labs]
        for p in procs:
            p.communicate(timeout=60)
            assert p.returncode == 0
        for lab in labs:
            _wait_no_pids(lab)
            assert_gone(lab)
    finally:
        for lab in labs:
            run("down", lab)


def test_commands_racing_down_finish_cleanly_and_leave_nothing(tmp_path):
    """`down` while other commands on the lab wait for its lock: they end with exit 0
    (they ran first) or 2 (the lab is gone), never a traceback, and nothing is left."""
    lab = lab_name()
    path = renamed(TOPOLOGIES / "01-two-vpcs.yaml", lab, tmp_path)
    try:
        for _ in range(5):
            run("up", path, check=0)
            cmds = [["route", "del", "vpc-b", "--destination", "10.0.0.0/16", "-l", lab],
                    ["down", lab],
                    ["route", "add", "vpc-a", "--destination", "10.1.5.0/24", "--next-hop", "pcx-ab", "-l", lab]]
            procs = [subprocess.Popen([VPCLAB, *c], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for c in cmds]
            for c, p in zip(cmds, procs):
                out, err = p.communicate(timeout=60)
                assert "Traceback" not in err, err
                assert p.returncode in ((0,) if c[0] == "down" else (0, 2)), (c, p.returncode, err)
                if p.returncode == 2:
                    assert "LabNotFound" in err or "not running" in err, err
            run("down", lab, check=0)
            assert_gone(lab)
            assert not Path(f"/run/vpclab/.locks/{lab}").exists()
    finally:
        run("down", lab)
