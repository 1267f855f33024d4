"""Named network namespaces without forking.

Owns: creating (unshare + bind mount under /var/run/netns, like `ip netns add`,
so `ip netns exec` works), listing and removing named namespaces; entering one
in-process (setns, per thread) and coming back; sockets opened inside one;
sysctl writes inside one; bulk removal of a lab that waits until the kernel has
really torn the namespaces down.

Everything here acts on the calling thread only (setns/unshare are per
thread); the thread always returns to the namespace it came from.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import select
import threading
from typing import Callable, Dict, Iterator, List, Optional, TypeVar

from ..errors import EnvironmentProblem
from ..plan.names import lab_of_ns, lab_prefix
from . import rtnl

log = logging.getLogger(__name__)

NETNS_DIR = "/var/run/netns"
CLONE_NEWNET = 0x40000000
MS_BIND, MS_REC, MS_SHARED = 4096, 16384, 1 << 20
MNT_DETACH = 2
SELF_NS = "/proc/thread-self/ns/net"

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


def path_of(name: str) -> str:
    return f"{NETNS_DIR}/{name}"


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


def _setns(fd: int, name: str = "") -> None:
    _check(_libc.setns(fd, CLONE_NEWNET), "setns", name)


def open_fd(name: str) -> int:
    """An O_RDONLY fd of a named namespace (for setns or IFLA_NET_NS_FD). Caller closes it."""
    return os.open(path_of(name), os.O_RDONLY | os.O_CLOEXEC)


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
            _setns(home)
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


@contextlib.contextmanager
def entered(name: str) -> Iterator[None]:
    """Run the body with the calling thread inside namespace `name`."""
    home = os.open(SELF_NS, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fd = open_fd(name)
        try:
            _setns(fd, name)
        finally:
            os.close(fd)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(home)


def enter(name: str) -> None:
    """Move the calling thread into namespace `name` for good (e.g. right before exec)."""
    fd = open_fd(name)
    try:
        _setns(fd, name)
    finally:
        os.close(fd)



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


def pids_inside(prefix: str, lab: str) -> List[int]:
    """PIDs of the processes `vpclab exec` started in this lab's namespaces (e.g. an
    `iperf3 -D`): they would keep a namespace alive after its name is gone.

    A process counts only if it lives in one of the lab's namespaces (device and
    inode of the namespace file) AND carries the mark `VPCLAB_LAB=<lab>` that
    `vpclab exec` sets; nothing else is ever signalled (a `vpclab matrix` probing
    from inside a namespace, say, is not the lab's to end).
    """
    spaces = set()
    for name in list_names(prefix):
        try:
            st = os.stat(path_of(name))
            spaces.add((st.st_dev, st.st_ino))
        except OSError:
            pass
    pids: List[int] = []
    if not spaces:
        return pids
    mark = f"VPCLAB_LAB={lab}".encode()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            st = os.stat(f"/proc/{entry.name}/ns/net")
            if (st.st_dev, st.st_ino) not in spaces:
                continue
            with open(f"/proc/{entry.name}/environ", "rb") as f:
                if mark in f.read().split(b"\0"):
                    pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def run_in(name: str, fn: Callable[[], T]) -> T:
    with entered(name):
        return fn()


def anonymous(inside: Callable[[], T]) -> T:
    """Run `inside()` in a fresh unnamed namespace: it lives only as long as what inside() opened."""
    home = os.open(SELF_NS, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
        try:
            return inside()
        finally:
            _setns(home)
    finally:
        os.close(home)


def rtnl_socket(name: str, groups: int = 0) -> rtnl.Socket:
    """An rtnetlink socket bound inside namespace `name` (the caller stays where it is)."""
    return run_in(name, lambda: rtnl.Socket(groups=groups))


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


def write_sysctls_here(settings: Dict[str, str]) -> None:
    """Write sysctls in the namespace the calling thread is in now."""
    for key, value in settings.items():
        fd = os.open(_sysctl_path(key), os.O_WRONLY)
        try:
            os.write(fd, str(value).encode())
        finally:
            os.close(fd)


def read_sysctl_here(key: str) -> str:
    with open(_sysctl_path(key)) as f:
        return f.read().strip()


def sysctl_write(name: str, settings: Dict[str, str]) -> None:
    """Write sysctls (`{"net.ipv4.ip_forward": "1"}`) inside namespace `name`."""
    run_in(name, lambda: write_sysctls_here(settings))


def sysctl_read(name: str, key: str) -> str:
    return run_in(name, lambda: read_sysctl_here(key))


# ------------------------------------------------------------------ bulk removal

SENTINEL = "vpclab-sentnl"  # interface names are at most 15 characters


def remove_lab_namespaces(prefix: str, timeout: float = 10.0, wait: bool = True) -> List[str]:
    """Remove every namespace whose name starts with `prefix`; return their names.

    With `wait`, returns once the kernel has really destroyed them (their veths
    are gone); without, once their names are gone (the kernel finishes the
    teardown in the background: about 18 ms per bridge, see bench/README.md).
    How: a sentinel veth joins the last namespace to an unnamed watcher
    namespace; namespaces are unmounted in order and the kernel's netns cleanup
    runs them in order, so when the sentinel's watcher end disappears, every
    namespace unmounted before it is gone too. A namespace that something else
    still holds (a process inside, an open fd) is unmounted but outlives the
    wait: that is logged as a warning.
    """
    lab = lab_of_ns(prefix)
    if not lab or prefix != lab_prefix(lab):
        raise ValueError(f"refusing to remove namespaces by prefix {prefix!r}: not one lab's `vpclab-<lab>-`")
    names = list_names(prefix)
    if not names:
        return []
    last = names[-1]
    watcher = None
    sentinel = 0
    if not wait:
        for name in names:
            remove(name)
        return names
    try:
        watcher = anonymous(lambda: rtnl.Socket(groups=rtnl.RTMGRP_LINK))
        fd = open_fd(last)
        try:
            watcher.request(rtnl.veth_new(SENTINEL, SENTINEL, fd, up=False))
        finally:
            os.close(fd)
        for m in watcher.dump(rtnl.RTM_GETLINK, rtnl.link_dump_body()):
            if rtnl.cstr(m.attrs.get(rtnl.IFLA_IFNAME, b"\0")) == SENTINEL:
                sentinel = rtnl.i32(m.body[4:8])
    except (OSError, rtnl.NetlinkError) as e:
        log.debug("no teardown sentinel (%s); not waiting for the kernel", e)
        sentinel = 0
    try:
        for name in names:
            remove(name)
        if watcher is not None and sentinel:
            if not _wait_gone(watcher, sentinel, timeout):
                log.warning("namespaces %s* unmounted but still alive after %.0fs: a process or "
                            "open file still holds one of them", prefix, timeout)
    finally:
        if watcher is not None:
            watcher.close()
    return names


def _wait_gone(watcher: rtnl.Socket, index: int, timeout: float) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([watcher.sock], [], [], min(left, 0.5))
        if not r:
            # notifications can be lost (ENOBUFS); check by asking
            if not any(rtnl.i32(m.body[4:8]) == index
                       for m in watcher.dump(rtnl.RTM_GETLINK, rtnl.link_dump_body())):
                return True
            continue
        try:
            data = watcher.sock.recv(1 << 16)
        except OSError:  # ENOBUFS: fall back to a dump on the next round
            continue
        off = 0
        while off + 16 <= len(data):
            ln, t = rtnl._HDR.unpack_from(data, off)[:2]
            if t == rtnl.RTM_DELLINK and rtnl.i32(data[off + 20:off + 24]) == index:
                return True
            off += (ln + 3) & ~3
