"""The pytest plugin on real labs, driven by pytester: a passing and a failing expectation,
single-process and under xdist (`-n 2`), JUnit, the `vpclab_lab` fixture, and Ctrl-C.

Each run builds its labs under unique names; the tests read those names from the run's
own summary line (`vpclab: FILE: lab NAME built and removed`) or from what the run
wrote, and check that nothing of them is left.
"""
from __future__ import annotations

import glob
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from labkit import TOPOLOGIES, assert_gone, needs_root
from vpclab.state.labs import known_labs

pytestmark = needs_root
pytest_plugins = ["pytester"]

ONE_WAY = (TOPOLOGIES / "02-one-way-route.yaml").read_text()
# The file expects vpc-a -> vpc-b to be no-return (right) and vpc-b -> vpc-a unreachable
# (right); this copy adds one expectation that is wrong: vpc-a -> vpc-b reachable.
FAILING = ONE_WAY.replace("expect:\n", "expect:\n  - {from: vpc-a/cvm-1, to: vpc-b/cvm-1, result: reachable}\n", 1)


def built(output: str):
    names = re.findall(r"vpclab: .*: lab ([a-z0-9]{1,8}) built and removed", output)
    assert names, output
    return names


def check_failure_text(text: str):
    assert "vpc-a/cvm-1 -> vpc-b/cvm-1 (icmp): expected reachable, got no-return" in text
    assert "request: vpc-a/cvm-1 -> vpc-a -> pcx-ab -> vpc-b -> vpc-b/cvm-1  (delivered)" in text
    assert "reply:   vpc-b/cvm-1 -> vpc-b  (lost after vpc-b)" in text
    assert "reason:  NO_ROUTE at vpc-b, table default" in text
    assert "AssertionError" not in text and "assert " not in text  # no bare assert


@pytest.mark.parametrize("workers", [None, "2"], ids=["single", "xdist-2"])
def test_expectations_pass_and_fail_with_the_story(pytester, workers):
    pytester.makefile(".yaml", oneway=FAILING)
    args = ["--vpclab", "oneway.yaml", "--junitxml", "report.xml", "-p", "no:cacheprovider"]
    if workers:
        args += ["-n", workers]
    r = pytester.runpytest_subprocess(*args, timeout=300)
    r.assert_outcomes(passed=2, failed=1)
    out = r.stdout.str()
    check_failure_text(out)
    for name in built(out):
        assert_gone(name)
    cases = ET.parse(pytester.path / "report.xml").getroot().iter("testcase")
    got = {c.get("name"): c.find("failure") is not None for c in cases}
    # the file's own no-return expectation asks the same question: it is told apart by its line
    second = 1 + FAILING.splitlines().index("  - {from: vpc-a/cvm-1, to: vpc-b/cvm-1, result: no-return}")
    assert got == {"vpc-a/cvm-1->vpc-b/cvm-1/icmp": True, f"vpc-a/cvm-1->vpc-b/cvm-1/icmp@{second}": False,
                   "vpc-b/cvm-1->vpc-a/cvm-1/icmp": False}, got


def test_the_fixture_builds_and_always_removes(pytester):
    topo = pytester.makefile(".yaml", oneway=ONE_WAY)
    pytester.makepyfile(test_mine=f"""
        def test_route_fixes_it(vpclab_lab, tmp_path):
            lab = vpclab_lab({str(topo)!r})
            open({str(pytester.path / 'names.txt')!r}, 'a').write(lab.name + '\\n')
            assert lab.probe("vpc-a/cvm-1", "vpc-b/cvm-1").result == "no-return"
            lab.route_add("vpc-b", "10.0.0.0/16", "pcx-ab")
            assert lab.probe("vpc-a/cvm-1", "vpc-b/cvm-1").reachable

        def test_removed_even_when_it_fails(vpclab_lab):
            lab = vpclab_lab({str(topo)!r})
            open({str(pytester.path / 'names.txt')!r}, 'a').write(lab.name + '\\n')
            raise RuntimeError("boom")
    """)
    r = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=300)
    r.assert_outcomes(passed=1, failed=1)
    names = (pytester.path / "names.txt").read_text().split()
    assert len(names) == 2 and names[0] != names[1]
    for n in names:
        assert_gone(n)


def test_the_fixture_never_takes_over_a_running_lab(pytester, tmp_path):
    from labkit import lab_name, lab_namespaces, renamed, run

    name = lab_name()
    path = renamed(TOPOLOGIES / "01-two-vpcs.yaml", name, tmp_path)
    run("up", path, check=0)  # someone else's lab
    try:
        before = lab_namespaces(name)
        pytester.makepyfile(test_mine=f"""
            import pytest
            from vpclab.errors import Refused

            def test_same_name_is_refused(vpclab_lab):
                with pytest.raises(Refused) as e:
                    vpclab_lab({str(path)!r}, name={name!r})
                assert e.value.code == "UnsupportedOperation.LabRunning"
        """)
        r = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=300)
        r.assert_outcomes(passed=1)
        assert lab_namespaces(name) == before and name in known_labs()
    finally:
        run("down", name)
    assert_gone(name)


def _new_labs(before, root=None):
    """Labs that appeared since `before` and are named as the plugin names them; with `root`,
    only those built from a file under `root` (other tests run the plugin at the same time,
    under the same naming: their labs are not this run's)."""
    names = sorted(n for n in set(known_labs()) - before if n.startswith("p") and len(n) == 8)
    return names if root is None else [n for n in names if _source_under(n, root)]


def _source_under(name, root) -> bool:
    from vpclab.state.store import Store

    try:
        tx = Store(name).read()
        try:
            source = tx.model().source or ""
        finally:
            tx.close()
    except Exception:  # not written yet, or already gone: not (yet) known to be ours
        return False
    return os.path.realpath(source).startswith(os.path.realpath(str(root)) + os.sep)


@pytest.mark.parametrize("workers,moment", [(None, "lab"), ("2", "start"), ("2", "probing")],
                         ids=["single", "xdist-2-start", "xdist-2-probing"])
def test_ctrl_c_removes_the_labs(pytester, workers, moment):
    # When Ctrl-C comes (this run's own conftest holds or marks the moment):
    # - "lab": as soon as the lab exists; without xdist the first item builds it.
    # - "start": under xdist the controller builds the labs (of two files here) while it
    #   brings up the workers; the conftest holds the bring-up, so Ctrl-C comes before the
    #   session has started, when pytest runs no `pytest_sessionfinish`.
    # - "probing": once the lab is ready and a worker has begun the first item. A slow first
    #   expectation keeps the run busy: the probe of a no-return pair waits for its capture
    #   diagnosis.
    files = {"oneway": FAILING} if moment != "start" else {"oneway": FAILING, "second": ONE_WAY}
    pytester.makefile(".yaml", **files)
    started, holding = pytester.path / "item-started", pytester.path / "holding-bring-up"
    hooks = f"""
        def pytest_runtest_setup(item):
            open({str(started)!r}, "w").close()
    """
    building = pytester.path / "builds"
    if moment == "start":
        # Besides holding the bring-up: log each build of the controller, and hold the second
        # file's build back until the session closes (a plugin that did not stop its builds
        # then would build it, and the log would show it).
        hooks += f"""
        import threading
        import time

        import vpclab.api.pytest_plugin as plugin_module

        _config, _interrupted, _build = [], threading.Event(), plugin_module._Run.build

        def pytest_configure(config):
            _config.append(config)

        def pytest_keyboard_interrupt(excinfo):
            _interrupted.set()

        def pytest_xdist_newgateway(gateway):
            open({str(holding)!r}, "w").close()
            time.sleep(600)  # Ctrl-C ends it

        def build(self):
            with open({str(building)!r}, "a") as f:
                f.write(self.path.name + "\\n")
            _build(self)
            deadline = time.monotonic() + 60
            while self.path.name == "oneway.yaml" and time.monotonic() < deadline:
                plugin = _config[0].pluginmanager.get_plugin("_vpclab_plugin") if _config else None
                stopping = getattr(plugin, "stopping", None)
                if stopping is not None and stopping.is_set():
                    break
                if stopping is None and _interrupted.wait(0.02):
                    time.sleep(1)  # a plugin without the stop: the next build would begin now
                    break
                time.sleep(0.02)

        plugin_module._Run.build = build
    """
    pytester.makeconftest(hooks)
    args = [sys.executable, "-m", "pytest", "--vpclab", *[f"{f}.yaml" for f in files], "-p", "no:cacheprovider", "-q"]
    if workers:
        args += ["-n", workers]
    before = set(known_labs())
    p = subprocess.Popen(args, cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True, text=True)

    def ready():
        mine = _new_labs(before, pytester.path)
        if not mine:
            return False
        if moment == "start":
            return holding.exists()
        if moment == "probing":  # the controller has built the lab, and a worker runs an item
            return started.exists() and all(n + ".ready" in _signals(n) for n in mine)
        return True

    try:
        deadline = time.monotonic() + 120
        while not ready() and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.02)
        mine = _new_labs(before, pytester.path)
        if not ready() or p.poll() is not None:
            os.killpg(p.pid, signal.SIGKILL)
            pytest.fail(f"the run never reached the moment {moment!r} (labs: {mine}):\n{p.communicate()[0]}")
        os.killpg(p.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C: the whole process group
        out, _ = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    for n in mine:
        if n in set(known_labs()):
            pytest.fail(f"lab {n} left after Ctrl-C:\n{out}")
        assert_gone(n)
        assert not _signals(n), "the controller left its folder of build signals"
    # "start": the second file's lab, if its build had begun, was finished and removed too
    assert not _new_labs(before, pytester.path), out
    assert p.returncode == pytest.ExitCode.INTERRUPTED, out
    # The summary line comes from `pytest_sessionfinish`: none when the session never started.
    if moment == "start":
        assert not started.exists() and "built and removed" not in out, out
        assert building.read_text().split() == ["oneway.yaml"], "a build began after Ctrl-C"
    if moment == "probing":
        assert built(out) == mine


def _signals(name):
    """The files of the xdist controller's build signals for lab `name` (in its temporary folder)."""
    return [os.path.basename(f) for f in glob.glob(f"{tempfile.gettempdir()}/vpclab-pytest-*/{name}.*")]
