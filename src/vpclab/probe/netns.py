"""Entering named network namespaces in-process, for the calling thread only.

setns(2) moves only the calling thread; a socket stays in the namespace it was
created in, wherever it is used later. So the engine hops into a namespace,
creates its sockets there, and hops back home. `Hopper` keeps the home namespace
open and always returns to it on exit, even on error.

No pyroute2 here: its `setns` creates a missing namespace by default, and the
import alone costs ~0.2 s of a probe command's 1.5 s budget.
"""
from __future__ import annotations

import ctypes
import errno
import os
from typing import Dict, Optional

from ..errors import EnvironmentProblem, KernelRefused, NotFound
from .types import check_ns_name

NETNS_RUN_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _open_ns(ns: str) -> int:
    check_ns_name(ns)
    try:
        return os.open(os.path.join(NETNS_RUN_DIR, ns), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NotFound(f"network namespace {ns!r} does not exist") from None
    except PermissionError:
        raise EnvironmentProblem(
            f"cannot open network namespace {ns!r}", hint="probing needs root"
        ) from None


class Hopper:
    """Moves the calling thread between namespaces; back home on `close()`.

    Use as a context manager from one thread only. `enter(None)` means home.
    """

    def __init__(self) -> None:
        self._home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        self._fds: Dict[str, int] = {}
        self.current: Optional[str] = None

    def fd(self, ns: str) -> int:
        fd = self._fds.get(ns)
        if fd is None:
            fd = self._fds[ns] = _open_ns(ns)
        return fd

    def check(self, ns: str) -> None:
        """Fail now (NotFound) if `ns` does not exist."""
        self.fd(ns)

    def enter(self, ns: Optional[str]) -> None:
        if ns == self.current:
            return
        fd = self._home if ns is None else self.fd(ns)
        try:
            _setns(fd)
        except OSError as e:
            if e.errno == errno.EPERM:
                raise EnvironmentProblem(
                    "entering a network namespace needs CAP_SYS_ADMIN", hint="run as root"
                ) from None
            raise KernelRefused(f"setns into {ns or 'the home namespace'} failed: {e.strerror}",
                                obj=ns or "", errno=e.errno) from None
        self.current = ns

    def close(self) -> None:
        if self._home < 0:
            return
        try:
            if self.current is not None:
                self.enter(None)
        finally:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()
            os.close(self._home)
            self._home = -1

    def __enter__(self) -> "Hopper":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
