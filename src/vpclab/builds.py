"""Builds in progress on this machine, so that a teardown can yield the kernel to them.

Owns: one machine-wide marker, /run/vpclab/.locks/.building. Every command that
applies changes to the kernel (`up`, live operations) holds a shared flock on it
while it applies (`building()`); `Yield.running()` tells whether any does,
without waiting and without holding anything.

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
from typing import Iterator

from .store import LOCK_DIR, RUN_DIR, _private

MARKER = ".building"  # not a lab name: lab names start with a letter
YIELD_SECONDS = 2.0


def yield_seconds() -> float:
    """How long a teardown waits for builds in all; VPCLAB_TEARDOWN_YIELD=0 turns the wait off."""
    try:
        return max(0.0, float(os.environ.get("VPCLAB_TEARDOWN_YIELD", YIELD_SECONDS)))
    except ValueError:
        return YIELD_SECONDS


def _open() -> int:
    _private(RUN_DIR, 0o700)
    _private(LOCK_DIR, 0o700)
    return os.open(LOCK_DIR / MARKER, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


@contextlib.contextmanager
def building() -> Iterator[None]:
    """Mark this process as applying changes to the kernel (shared: many builds at once)."""
    fd = _open()
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


class Yield:
    """A teardown's way of giving way to builds, for `budget` seconds in all.

    `busy()`: a build holds the marker now and the budget is not spent (one open fd,
    two flock calls a question); `wait()`: sleep while busy()."""

    def __init__(self, budget: float):
        self.fd = _open()
        self.deadline = time.monotonic() + budget

    def running(self) -> bool:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        return False

    def busy(self) -> bool:
        return time.monotonic() < self.deadline and self.running()

    def wait(self) -> None:
        while self.busy():
            time.sleep(0.005)

    def close(self) -> None:
        os.close(self.fd)
