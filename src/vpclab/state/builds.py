"""Builds in progress on this machine, so that a teardown can yield the kernel to them.

Owns: the markers /run/vpclab/.locks/.building (a build whose lab is not known
yet) and .building-<lab>. A command about to change the kernel holds a shared
flock on one: `up` from its very start (`Marker`: so that a teardown started at
the same moment sees it) and on its lab's once the file is read, before it waits
for the lab's lock; live operations while they apply (`building(lab)`).
`Yield.running()` tells whether a build other than the teardown's own lab's holds
one, without waiting and without holding anything.

Why: the kernel destroys a namespace's devices under RTNL, the lock every
netlink request and every new namespace of every lab also needs. For the scale
lab's 250 namespaces (850 devices) that is one hold of ~0.1-0.2 s, and a
neighbour's `up` stalls for all of it; its 250 unmounts and its own start-up
take CPU and the mount lock a build needs too. So `vpclab down` first waits
while a build runs, then unnames its namespaces, keeps them alive by fds and
hands them to the kernel in small groups, each only when no build is running:
at most `yield_seconds()` of waiting in all (kernel/teardown.py;
bench/neighbours_bench.py measures both ways).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import time
from typing import Dict, Iterator, Optional

from . import rundir
from .rundir import RunDir

ANONYMOUS = ".building"  # not lab names: lab names start with a letter
PREFIX = ANONYMOUS + "-"
YIELD_SECONDS = 2.0


def yield_seconds() -> float:
    """How long a teardown waits for builds in all; VPCLAB_TEARDOWN_YIELD=0 turns the wait off."""
    try:
        return max(0.0, float(os.environ.get("VPCLAB_TEARDOWN_YIELD", YIELD_SECONDS)))
    except ValueError:
        return YIELD_SECONDS


def _open(name: str, run: Optional[RunDir]) -> int:
    return os.open(rundir.given(run).private_locks() / name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _hold(name: str, run: Optional[RunDir]) -> int:
    fd = _open(name, run)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def building(lab: str, run: Optional[RunDir] = None) -> Iterator[None]:
    """Mark this process as about to change lab `lab`'s kernel objects (shared)."""
    fd = _hold(PREFIX + lab, run)
    try:
        yield
    finally:
        os.close(fd)


def forget(lab: str, run: Optional[RunDir] = None) -> None:
    """Unlink lab `lab`'s marker (its lab is gone), so that markers do not pile up."""
    try:
        (rundir.given(run).locks / (PREFIX + lab)).unlink()
    except FileNotFoundError:
        pass


class Marker:
    """`up`'s mark: anonymous from its start, its lab's from `named(lab)` on (then a teardown
    of that very lab, which holds the lock `up` is about to wait for, does not wait for it)."""

    def __init__(self, run: Optional[RunDir] = None):
        self.run = run
        self.fd = _hold(ANONYMOUS, run)

    def named(self, lab: str) -> None:
        fd = _hold(PREFIX + lab, self.run)
        os.close(self.fd)
        self.fd = fd

    def close(self) -> None:
        os.close(self.fd)


@contextlib.contextmanager
def marked(dry_run: bool = False, run: Optional[RunDir] = None) -> Iterator[object]:
    """A `Marker` for a build about to start (None for a dry run or without root: nothing
    to mark, and /run/vpclab is root's)."""
    if dry_run or os.geteuid() != 0:
        yield None
        return
    mark = Marker(run)
    try:
        yield mark
    finally:
        mark.close()


class Yield:
    """Lab `lab`'s teardown giving way to the other labs' builds, for `budget` seconds in all.

    `busy()`: another lab's build holds its marker now and the budget is not spent;
    `wait()`: sleep while busy()."""

    def __init__(self, budget: float, lab: str, run: Optional[RunDir] = None):
        self.deadline = time.monotonic() + budget
        self.own = PREFIX + lab
        self.fds: Dict[str, int] = {}
        self.locks = rundir.given(run).private_locks()

    def running(self) -> bool:
        for name in os.listdir(self.locks):
            if not name.startswith(ANONYMOUS) or name == self.own:
                continue
            fd = self.fds.get(name)
            if fd is None:
                try:
                    fd = self.fds[name] = os.open(self.locks / name, os.O_RDONLY | os.O_CLOEXEC)
                except FileNotFoundError:
                    continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fd, fcntl.LOCK_UN)
        return False

    def busy(self) -> bool:
        return time.monotonic() < self.deadline and self.running()

    def wait(self) -> None:
        while self.busy():
            time.sleep(0.005)

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()
