"""vpclab.state.builds: the machine-wide mark of builds in progress, and a teardown's hand-over
of its namespaces in groups between builds (kernel/teardown.py), without root: the marker
lives in a temporary run directory, the namespaces' fds are plain files."""
from __future__ import annotations

import os
import threading
import time

import pytest

from vpclab.state import builds
from vpclab.state.rundir import RunDir
from vpclab.kernel import teardown


@pytest.fixture
def rundir(tmp_path, monkeypatch):
    monkeypatch.setattr("vpclab.state.rundir.current", RunDir(tmp_path))
    return tmp_path


def test_a_teardown_sees_other_labs_builds_while_they_run(rundir):
    w = builds.Yield(60, "mine")
    try:
        assert not w.running()
        with builds.building("other"):
            assert w.running()
            with builds.building("third"):  # builds run side by side
                assert w.running()
            assert w.running()
        assert not w.running()
        with builds.building("mine"):  # its own lab's: an `up` waiting for the lock this teardown holds
            assert not w.running()
        started, release = threading.Event(), threading.Event()

        def build():
            with builds.building("other"):
                started.set()
                release.wait(10)

        t = threading.Thread(target=build)
        t.start()
        started.wait(10)
        assert w.running()
        release.set()
        t.join(10)
        assert not w.running()
    finally:
        w.close()


def test_up_is_marked_from_its_start_then_as_its_lab(rundir):
    w_mine, w_other = builds.Yield(60, "mine"), builds.Yield(60, "other")
    try:
        m = builds.Marker()  # the file is not read yet: a build of some lab
        assert w_mine.running() and w_other.running()
        m.named("mine")
        assert not w_mine.running() and w_other.running()
        m.close()
        assert not w_mine.running() and not w_other.running()
        assert sorted(os.listdir(rundir / ".locks")) == [builds.ANONYMOUS, builds.PREFIX + "mine"]
        builds.forget("mine")
        builds.forget("mine")  # fine if already gone
        assert os.listdir(rundir / ".locks") == [builds.ANONYMOUS]
    finally:
        w_mine.close()
        w_other.close()


def test_yield_seconds(monkeypatch):
    monkeypatch.delenv("VPCLAB_TEARDOWN_YIELD", raising=False)
    assert builds.yield_seconds() == builds.YIELD_SECONDS
    for text, want in (("0", 0.0), ("0.5", 0.5), ("-3", 0.0), ("soon", builds.YIELD_SECONDS)):
        monkeypatch.setenv("VPCLAB_TEARDOWN_YIELD", text)
        assert builds.yield_seconds() == want


def fds(n):
    return [os.open(os.devnull, os.O_RDONLY) for _ in range(n)]


def is_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def test_hand_over_closes_in_order_in_groups_between_builds():
    kept = fds(3 * teardown.GROUP + 2)
    order = list(kept)
    answers = iter([True, True, False, False, True, False, False])  # busy() per question
    seen = []

    def busy():
        seen.append([fd for fd in order if is_open(fd)])
        return next(answers)

    teardown._hand_over(kept, busy)
    assert kept == [] and not any(is_open(fd) for fd in order)
    n, g = len(order), teardown.GROUP
    # a group goes at the first "not busy"; before it, the earlier groups are closed, the rest open
    assert [len(s) for s in seen] == [n, n, n, n - g, n - 2 * g, n - 2 * g, n - 3 * g]
    assert all(s == order[-len(s):] for s in seen)


def test_giving_way_ends_when_the_budget_is_spent(rundir):
    g = builds.Yield(0.2, "mine")
    try:
        with builds.building("other"):
            assert g.running() and g.busy()
            t0 = time.monotonic()
            g.wait()
            assert 0.15 <= time.monotonic() - t0 < 5
            assert g.running() and not g.busy()  # the build still runs; the teardown goes on
    finally:
        g.close()


def test_marked_marks_a_real_build_only(rundir, monkeypatch):
    w = builds.Yield(60, "mine")
    try:
        with builds.marked(dry_run=True) as m:
            assert m is None and not w.running()
        monkeypatch.setattr(builds.os, "geteuid", lambda: 1000)
        with builds.marked() as m:  # not root: /run/vpclab is not ours to touch
            assert m is None and not w.running()
        monkeypatch.setattr(builds.os, "geteuid", lambda: 0)
        with builds.marked() as m:
            assert isinstance(m, builds.Marker) and w.running()
        assert not w.running()
    finally:
        w.close()
