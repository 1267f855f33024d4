"""Ctrl-C at the worst moments of a `pytest --vpclab` run: during the lab's removal itself.

A run of the plugin was seen leaving its lab `deleting`, with its namespaces and its meter,
after Ctrl-C: the SIGINT came while the lab was being removed (at the end of the session, or
while `Lab.up` removed a lab that Ctrl-C had cut short), and the KeyboardInterrupt it raised
stopped the removal half-way. Here the run's own conftest holds the run at a chosen step (it
writes the step's name to `held`, then waits for the file `sent-STEP`, which this test writes
once it has sent SIGINT to the run's process group, as a terminal does): so the signal lands
exactly inside the removal (or the build), every time, with no fixed sleep. Afterwards no
namespace, no meter or service process and no state of the lab may remain.

Moments:
- `teardown`: the session ended (its expectations passed) and the lab's removal has begun
  (state `deleting`, before the removal stops the services and the meter; every namespace
  still there);
- `namespaces`: later in the removal: the meter is stopped, the namespaces are not removed yet;
- `up-then-teardown`: Ctrl-C while `up` builds (a namespace of the lab exists, the state says
  `building`), then Ctrl-C again inside the removal that the first one started;
- `xdist-2-teardown`: under `-n 2`, where the controller removes the lab it built.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labkit import assert_gone, lab_namespaces, meter_pids, needs_root, run
from vpclab.state.labs import known_labs, status_of
from vpclab.state.store import BUILDING, DELETING, Store

pytestmark = needs_root

# The smallest lab with a meter: a cross-region peering (the meter bills it), one instance a side.
TOPOLOGY = """\
lab: sigint
regions: {ap-guangzhou: {}, ap-singapore: {}}
vpcs:
  gz:
    region: ap-guangzhou
    cidr: 10.10.0.0/16
    subnets: {web: {cidr: 10.10.1.0/24}}
    route_tables: {default: {routes: [{destination: 10.20.0.0/16, next_hop: pcx-gz-sg}]}}
    instances: {cvm-1: {subnet: web, ip: 10.10.1.10}}
  sg:
    region: ap-singapore
    cidr: 10.20.0.0/16
    subnets: {web: {cidr: 10.20.1.0/24}}
    route_tables: {default: {routes: [{destination: 10.10.0.0/16, next_hop: pcx-gz-sg}]}}
    instances: {cvm-1: {subnet: web, ip: 10.20.1.10}}
peerings:
  pcx-gz-sg: {vpc: gz, peer_vpc: sg, bandwidth: 100Mbps}
expect:
  - {from: gz/cvm-1, to: sg/cvm-1}
  - {from: sg/cvm-1, to: gz/cvm-1}
"""

CONFTEST = """
import os
import time

import vpclab.controller.teardown as controller_teardown
import vpclab.kernel.teardown as kernel_teardown
from vpclab.state.store import Store

TMP, MOMENT = {tmp!r}, {moment!r}


def _holding(owner, name, step):
    original = getattr(owner, name)

    def held(*args, **kwargs):
        with open(os.path.join(TMP, "held"), "a") as f:
            f.write(step + "\\n")
        deadline = time.monotonic() + 60
        while not os.path.exists(os.path.join(TMP, "sent-" + step)) and time.monotonic() < deadline:
            time.sleep(0.01)  # Ctrl-C comes here
        return original(*args, **kwargs)

    setattr(owner, name, held)


if MOMENT == "namespaces":
    _holding(kernel_teardown, "remove_lab_namespaces", "namespaces")  # meter stopped; namespaces there
else:
    _holding(controller_teardown, "_remove_now", "teardown")  # `deleting`; services and namespaces there
if MOMENT == "up-then-teardown":
    _holding(Store, "finish_build", "up")  # `up` has made every namespace, the state says `building`
"""


def _source_under(name: str, root: Path) -> bool:
    try:
        tx = Store(name).read()
        try:
            source = tx.model().source or ""
        finally:
            tx.close()
    except Exception:  # not written yet, or already gone
        return False
    return os.path.realpath(source).startswith(os.path.realpath(str(root)) + os.sep)


def _mine(before, root: Path):
    """This run's labs: new since `before` and built from a file under `root` (other tests
    run the plugin at the same time)."""
    return [n for n in sorted(set(known_labs()) - before) if _source_under(n, root)]


def _wait_for(what: str, cond, p, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        if p.poll() is not None:
            break
        time.sleep(0.01)
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGKILL)
    pytest.fail(f"the run never reached {what} (exit {p.wait()}):\n{p.communicate()[0]}")


@pytest.mark.parametrize("moment", ["teardown", "namespaces", "up-then-teardown", "xdist-2-teardown"])
def test_ctrl_c_during_the_removal_still_removes_everything(tmp_path, moment):
    topo = tmp_path / "xregion.yaml"
    topo.write_text(TOPOLOGY)
    held = tmp_path / "held"
    step = "namespaces" if moment == "namespaces" else "teardown"
    (tmp_path / "conftest.py").write_text(CONFTEST.format(tmp=str(tmp_path), moment=moment))
    args = [sys.executable, "-m", "pytest", "--vpclab", topo.name, "-p", "no:cacheprovider", "-q"]
    if moment.startswith("xdist-2"):
        args += ["-n", "2"]
    before = set(known_labs())
    p = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True, text=True)

    def holding(at):
        return held.exists() and at in held.read_text().split()

    def ctrl_c(at):  # what a terminal sends on Ctrl-C: SIGINT to the whole process group
        os.killpg(p.pid, signal.SIGINT)
        (tmp_path / f"sent-{at}").touch()

    mine, out = [], ""
    try:
        if moment == "up-then-teardown":
            _wait_for("the end of `up`", lambda: holding("up"), p)
            mine = _mine(before, tmp_path)
            assert len(mine) == 1 and status_of(Store(mine[0])) == BUILDING and lab_namespaces(mine[0]), mine
            ctrl_c("up")  # `Lab.up` stops and removes the lab it was building
        _wait_for("the removal of its lab", lambda: holding(step), p)
        mine = mine or _mine(before, tmp_path)
        assert len(mine) == 1, mine
        lab = mine[0]
        # (the meter is not asserted here: it exits by itself once the state says `deleting`)
        assert status_of(Store(lab)) == DELETING and lab_namespaces(lab)
        ctrl_c(step)  # Ctrl-C inside the removal
        out, _ = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        for at in ("up", step):
            (tmp_path / f"sent-{at}").touch()
        leftover = [n for n in mine if n in set(known_labs()) or lab_namespaces(n) or meter_pids(n)]
        for n in leftover:  # this test's lab is always removed, even when the plugin left it
            run("down", n)
    assert not leftover, f"lab {leftover} left after Ctrl-C during its removal:\n{out}"
    assert_gone(lab)
    if moment == "up-then-teardown":
        # the removal ran to its end, then the interrupt went on (pytest captured the line
        # that said so: it came while a test item ran)
        assert p.returncode == pytest.ExitCode.INTERRUPTED, out
        return
    assert f"vpclab: Ctrl-C: removing lab {lab} first" in out, out
    if moment in ("teardown", "namespaces"):
        # the session had ended and its expectations passed; the removal ran to its end
        assert p.returncode == pytest.ExitCode.OK and "2 passed" in out, out
