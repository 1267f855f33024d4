"""Entering named network namespaces in-process: the one module that does it.

Used by the kernel layer (building and reading labs), the probes and the
services' daemon. Standard library only (no pyroute2: its `setns` creates a
missing namespace by default, and the import alone costs ~0.2 s of a probe
command), and nothing of vpclab but its errors, so every layer may import it.

setns(2) moves only the calling thread, and a socket stays in the namespace it
was created in, wherever it is used later: so callers hop into a namespace,
create their sockets there, and hop back home. Every helper here returns the
thread to where it came from, even on error.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import os
from typing import Callable, Dict, Iterator, Optional, TypeVar

from ..errors import EnvironmentProblem, KernelRefused, NotFound, Refused

NETNS_DIR = "/var/run/netns"
CLONE_NEWNET = 0x40000000
SELF_NS = "/proc/thread-self/ns/net"

T = TypeVar("T")
_libc = ctypes.CDLL(None, use_errno=True)


def path_of(name: str) -> str:
    return f"{NETNS_DIR}/{name}"


def check_name(ns: str) -> None:
    """A namespace name is a file name under /run/netns: no '/', not '.' or '..'."""
    if not ns or "/" in ns or ns in (".", "..") or "\0" in ns:
        raise Refused(f"bad namespace name {ns!r}")


def setns(fd: int, name: str = "") -> None:
    """Move the calling thread into the network namespace open as `fd`."""
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        if err == errno.EPERM:
            raise EnvironmentProblem(f"entering a network namespace needs root (CAP_SYS_ADMIN): {os.strerror(err)}",
                                     hint="run vpclab as root")
        raise OSError(err, f"setns: {os.strerror(err)}", name)


def open_fd(name: str) -> int:
    """An O_RDONLY fd of a named namespace (for setns or IFLA_NET_NS_FD). Caller closes it.
    Raises FileNotFoundError if there is no such namespace."""
    return os.open(path_of(name), os.O_RDONLY | os.O_CLOEXEC)


def inode(name: str) -> Optional[int]:
    """The namespace's inode (a namespace recreated under the same name has another), or None."""
    try:
        return os.stat(path_of(name)).st_ino
    except OSError:
        return None


@contextlib.contextmanager
def entered(name: str, stuck: Optional[Callable[[OSError], None]] = None) -> Iterator[int]:
    """Run the body with the calling thread inside namespace `name`; yields its inode.

    If the thread cannot return home (never seen), `stuck(error)` is called (a daemon
    exits rather than serve from the wrong namespace); by default the error is raised."""
    home = os.open(SELF_NS, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fd = open_fd(name)
        try:
            ino = os.fstat(fd).st_ino
            setns(fd, name)
        finally:
            os.close(fd)
        try:
            yield ino
        finally:
            try:
                setns(home)
            except OSError as e:
                if stuck is None:
                    raise
                stuck(e)
    finally:
        os.close(home)


def run_in(name: str, fn: Callable[[], T]) -> T:
    with entered(name):
        return fn()


def enter(name: str) -> None:
    """Move the calling thread into namespace `name` for good (e.g. right before exec)."""
    fd = open_fd(name)
    try:
        setns(fd, name)
    finally:
        os.close(fd)


class Hopper:
    """Moves the calling thread between namespaces; back home on `close()`.

    Use as a context manager from one thread only. `enter(None)` means home.
    Namespace fds stay open until close, so hopping costs one setns.
    """

    def __init__(self) -> None:
        self._home = os.open(SELF_NS, os.O_RDONLY | os.O_CLOEXEC)
        self._fds: Dict[str, int] = {}
        self.current: Optional[str] = None
        # At most this many namespace descriptors stay open (the oldest close first, reopened
        # when needed): a matrix of 10,000 namespaces kept one each beside its sockets, past a
        # hard limit of 20,000 files (issue 24).
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        self.cap = 1024 if soft == resource.RLIM_INFINITY else max(8, min(1024, soft // 8))

    def fd(self, ns: str) -> int:
        fd = self._fds.get(ns)
        if fd is None:
            if len(self._fds) >= self.cap:
                for old in [n for n in self._fds if n != self.current][:len(self._fds) // 2]:
                    os.close(self._fds.pop(old))
            check_name(ns)
            try:
                fd = self._fds[ns] = open_fd(ns)
            except FileNotFoundError:
                raise NotFound(f"network namespace {ns!r} does not exist") from None
            except PermissionError:
                raise EnvironmentProblem(f"cannot open network namespace {ns!r}", hint="run as root") from None
        return fd

    def check(self, ns: str) -> None:
        """Fail now (NotFound) if `ns` does not exist."""
        self.fd(ns)

    def enter(self, ns: Optional[str]) -> None:
        if ns == self.current:
            return
        try:
            setns(self._home if ns is None else self.fd(ns), ns or "")
        except OSError as e:
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


CLONE_NEWUTS = 0x04000000


def own_hostname(hostname: str) -> bool:
    """Give the calling process a UTS namespace of its own named `hostname` (before an exec).

    The host's name is left alone: only this process and what it starts see the new one,
    so a shell from `vpclab exec vpc-a/cvm-1 -- bash` shows where it runs in its prompt.
    Best effort (True if done): where UTS namespaces are not allowed, the command runs
    all the same, with the host's name.
    """
    import socket

    if _libc.unshare(CLONE_NEWUTS) != 0:
        return False
    try:
        socket.sethostname(hostname)
    except OSError:
        return False
    return True
