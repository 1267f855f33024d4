"""Named network namespaces without forking: their life cycle.

Owns: creating (unshare + bind mount under /var/run/netns, like `ip netns add`,
so `ip netns exec` works), listing and removing named namespaces; sockets
opened inside one; sysctl writes inside one; bulk removal of a lab that waits
until the kernel has really torn the namespaces down. Entering a namespace is
vpclab.kernel.nsenter's (re-exported here for the kernel layer's callers).

Everything here acts on the calling thread only (setns/unshare are per
thread); the thread always returns to the namespace it came from.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import threading
from typing import Callable, Dict, List, Optional, TypeVar

from ..errors import EnvironmentProblem
from .nsenter import NETNS_DIR, SELF_NS, entered, enter, open_fd, path_of, run_in, setns

__all__ = ["entered", "enter", "open_fd", "path_of", "run_in"]  # from nsenter, for the kernel layer's callers

log = logging.getLogger(__name__)

CLONE_NEWNET = 0x40000000
MS_BIND, MS_REC, MS_SHARED = 4096, 16384, 1 << 20
MNT_DETACH = 2

# What every lab namespace gets (ARCHITECTURE.md, kernel mapping), written in this order.
# The last one differs from a new namespace's default: the read-back reads only it to tell
# whether a killed command left a namespace with its sysctls half written.
LAB_SYSCTLS = {
    "net.ipv4.conf.all.rp_filter": "0",
    "net.ipv4.conf.default.rp_filter": "0",
    "net.ipv6.conf.default.disable_ipv6": "1",
    "net.ipv6.conf.all.disable_ipv6": "1",
}
LAST_SYSCTL = list(LAB_SYSCTLS)[-1]
FORWARDING = "net.ipv4.ip_forward"

T = TypeVar("T")
_libc = ctypes.CDLL(None, use_errno=True)
_rundir_ready = False
_rundir_lock = threading.Lock()


def _check(rc: int, what: str, name: str = "") -> None:
    if rc != 0:
        err = ctypes.get_errno()
        if err == errno.EPERM:
            raise EnvironmentProblem(f"{what} needs root (CAP_SYS_ADMIN): {os.strerror(err)}",
                                     hint="run vpclab as root")
        raise OSError(err, f"{what}: {os.strerror(err)}", name)


def _ensure_rundir() -> None:
    """Make /var/run/netns a shared mount, as iproute2 does, once per process."""
    global _rundir_ready
    if _rundir_ready:
        return
    with _rundir_lock:
        os.makedirs(NETNS_DIR, exist_ok=True)
        d = NETNS_DIR.encode()
        if _libc.mount(b"", d, b"none", MS_SHARED | MS_REC, None) != 0:
            _check(_libc.mount(d, d, b"none", MS_BIND | MS_REC, None), "bind mount of " + NETNS_DIR)
            _check(_libc.mount(b"", d, b"none", MS_SHARED | MS_REC, None), "make-shared " + NETNS_DIR)
        _rundir_ready = True


def list_names(prefix: str = "") -> List[str]:
    """Named namespaces whose name starts with prefix, sorted."""
    try:
        return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(prefix))
    except FileNotFoundError:
        return []


_nsfs_dev: Optional[int] = None


def exists(name: str) -> bool:
    """True if `name` is a mounted namespace (not just a stale mount point file)."""
    global _nsfs_dev
    if _nsfs_dev is None:
        _nsfs_dev = os.stat(SELF_NS).st_dev
    try:
        return os.stat(path_of(name)).st_dev == _nsfs_dev
    except FileNotFoundError:
        return False


def create(name: str, inside: Optional[Callable[[], T]] = None) -> Optional[T]:
    """Create named namespace `name`; run `inside()` in it and return its result.

    Raises FileExistsError if the name is taken by a live namespace. A stale
    mount point (file without a namespace) is reused.
    """
    path = path_of(name)
    try:
        _ensure_rundir()
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
    except FileExistsError:
        if exists(name):
            raise
    except PermissionError as e:
        raise EnvironmentProblem(f"cannot create namespace {name}: {e.strerror}", hint="run vpclab as root") from None
    home = os.open(SELF_NS, os.O_RDONLY | os.O_CLOEXEC)
    mounted = False
    try:
        _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)", name)
        try:
            _check(_libc.mount(SELF_NS.encode(), path.encode(), b"none", MS_BIND, None), "mount", name)
            mounted = True
            return inside() if inside is not None else None
        finally:
            setns(home)
    except BaseException:
        if mounted:
            _libc.umount2(path.encode(), MNT_DETACH)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        raise
    finally:
        os.close(home)


def remove(name: str) -> bool:
    """Unmount and unlink a named namespace (the kernel frees it asynchronously). False if absent."""
    path = path_of(name)
    _libc.umount2(path.encode(), MNT_DETACH)
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False


def private_sysfs() -> bool:
    """Like `ip netns exec`: give this process its own mount namespace with a /sys of the
    network namespace it is in, so /sys/class/net shows the lab's interfaces. Only this
    process (about to exec) sees the change; best effort, True if done."""
    CLONE_NEWNS, MS_REC, MS_SLAVE = 0x00020000, 16384, 1 << 19
    if _libc.unshare(CLONE_NEWNS) != 0:
        return False
    if _libc.mount(b"none", b"/", None, MS_SLAVE | MS_REC, None) != 0:
        return False
    _libc.umount2(b"/sys", MNT_DETACH)
    return _libc.mount(b"sysfs", b"/sys", b"sysfs", 0, None) == 0


def anonymous(inside: Callable[[], T]) -> T:
    """Run `inside()` in a fresh unnamed namespace: it lives only as long as what inside() opened."""
    home = os.open(SELF_NS, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
        try:
            return inside()
        finally:
            setns(home)
    finally:
        os.close(home)


@contextlib.contextmanager
def iproute(name: str):
    """A pyroute2 IPRoute whose socket lives in namespace `name`; the caller stays where it is."""
    from pyroute2 import IPRoute

    ipr = run_in(name, lambda: IPRoute(groups=0))
    try:
        yield ipr
    finally:
        ipr.close()


def _sysctl_path(key: str) -> str:
    return "/proc/sys/" + key.replace(".", "/")


# fsopen/fsconfig/fsmount (Linux 5.2; the same numbers on every architecture but alpha)
_SYS_FSOPEN, _SYS_FSCONFIG, _SYS_FSMOUNT = 430, 431, 432
_FSCONFIG_CMD_CREATE = 6
_private_proc_works = True


def private_proc() -> Optional[int]:
    """A procfs instance of this process's own, mounted nowhere (fsopen + fsmount), or None
    where the kernel cannot make one (before 5.2, or without CAP_SYS_ADMIN): then /proc.

    Its sysctl entries are a dcache tree of their own, so finding the calling namespace's
    net/ipv4 there compares no other namespace's entry (SysctlDirs says why that matters).
    Making and dropping one costs ~0.1 ms; nothing is attached to any mount namespace."""
    global _private_proc_works
    if not _private_proc_works:
        return None
    fs = _libc.syscall(_SYS_FSOPEN, b"proc", 1)  # FSOPEN_CLOEXEC
    if fs < 0:
        _private_proc_works = False
        return None
    try:
        if _libc.syscall(_SYS_FSCONFIG, fs, _FSCONFIG_CMD_CREATE, None, None, 0) < 0:
            _private_proc_works = False
            return None
        m = _libc.syscall(_SYS_FSMOUNT, fs, 1, 0)  # FSMOUNT_CLOEXEC
        if m < 0:
            _private_proc_works = False
            return None
        return m
    finally:
        os.close(fs)


class SysctlDirs:
    """Descriptors of net/ipv4 and net/ipv6 under /proc/sys of the namespace the calling
    thread is in when each is first needed; sysctls are opened relative to them (`open`).

    Why: every namespace's `ipv4` (and `ipv6`) entry hangs from the one /proc/sys/net entry
    of the dcache, so they share a hash chain, and the kernel compares them one by one (under
    a global lock) to find the calling namespace's: a path through net/ipv4 costs a walk past
    every newer namespace's entry (and of all of them for a new namespace). With 10,000
    namespaces that was 10-120 ms a path, 70-98% of `up` (perf: proc_sys_compare), growing
    with the square of the namespaces (bench/README.md, big estates). So each visit looks its
    directories up in a procfs instance of its own (`private_proc`: a chain of one), once per
    family; `take` keeps a descriptor for a later visit (a router's interfaces)."""

    def __init__(self, kept: Optional[Dict[str, int]] = None) -> None:
        # kept: descriptors opened earlier in another namespace (`take`); then no other family
        # may be opened, since the calling thread's namespace is not theirs
        self.fds: Dict[str, int] = dict(kept or {})
        self.fixed = kept is not None
        self.proc: Optional[int] = None  # this visit's procfs (private_proc), -1: /proc

    def dir(self, family: str) -> int:
        fd = self.fds.get(family)
        if fd is None:
            if self.fixed:
                raise RuntimeError(f"no kept descriptor of /proc/sys/net/{family}")
            if self.proc is None:
                proc = private_proc()
                self.proc = -1 if proc is None else proc
            flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
            if self.proc >= 0:
                fd = os.open(f"sys/net/{family}", flags, dir_fd=self.proc)
            else:
                fd = os.open(f"/proc/sys/net/{family}", flags)
            self.fds[family] = fd
        return fd

    def open(self, path: str, flags: int) -> int:
        """`path` under /proc/sys ("net/ipv4/conf/...", or a key "net.ipv4.ip_forward")."""
        parts = (path if "/" in path else path.replace(".", "/")).split("/", 2)
        if len(parts) < 3 or parts[0] != "net":
            raise ValueError(f"not a net.<family>.* sysctl: {path}")
        return os.open(parts[2], flags | os.O_CLOEXEC, dir_fd=self.dir(parts[1]))

    def take(self, family: str) -> int:
        """The family's descriptor, for the caller to keep (and close)."""
        self.dir(family)
        return self.fds.pop(family)

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()
        if self.proc is not None and self.proc >= 0:
            os.close(self.proc)  # a descriptor `take` gave away keeps its instance alive
        self.proc = None

    def __enter__(self) -> "SysctlDirs":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_sysctl_at(dirs: SysctlDirs, path: str, value) -> None:
    fd = dirs.open(path, os.O_WRONLY)
    try:
        os.write(fd, str(value).encode())
    finally:
        os.close(fd)


def write_sysctls_here(settings: Dict[str, str], dirs: Optional[SysctlDirs] = None) -> None:
    """Write sysctls (net.*) in the namespace the calling thread is in now (through `dirs`,
    opened in it, when given)."""
    with SysctlDirs() as own:
        for key, value in settings.items():
            write_sysctl_at(dirs or own, key, value)


def read_sysctls_here(keys) -> List[str]:
    """The values of sysctls (net.*) in the namespace the calling thread is in now."""
    out = []
    with SysctlDirs() as dirs:
        for key in keys:
            with open(dirs.open(key, os.O_RDONLY)) as f:
                out.append(f.read().strip())
    return out


def read_sysctl_here(key: str) -> str:
    return read_sysctls_here([key])[0]


def sysctl_write(name: str, settings: Dict[str, str]) -> None:
    """Write sysctls (`{"net.ipv4.ip_forward": "1"}`) inside namespace `name`."""
    run_in(name, lambda: write_sysctls_here(settings))


def sysctl_read(name: str, key: str) -> str:
    return run_in(name, lambda: read_sysctl_here(key))
