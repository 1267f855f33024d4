"""Wait until network namespaces are really destroyed (stdlib only: runs on the venv
python and on Debian's /usr/bin/python3, which Mininet needs).

`ip netns del`, Mininet's stop() and vpclab's unmount all return before the
kernel has torn the namespaces down (cleanup_net runs asynchronously in a
kernel worker). To time a teardown fairly every method is timed until the
kernel is done, the way vpclab's own `down` waits:

    w = Watcher()                 # an rtnetlink socket in a fresh unnamed namespace
    w.add(fd_of_the_namespace)    # a sentinel veth: one end here, one end there
    ... tear down ...
    w.wait()                      # returns when every sentinel's namespace is gone
    w.close()                     # the unnamed namespace goes with the socket

A sentinel is deleted by the kernel only when the namespace holding its other
end is destroyed. The veth codec is vpclab's own rtnl.py, loaded by file path
so that no vpclab dependency is needed.
"""
from __future__ import annotations

import ctypes
import importlib.util
import os
import select
import time
from pathlib import Path

RTNL_PY = Path(__file__).resolve().parent.parent / "src" / "vpclab" / "kernel" / "rtnl.py"
CLONE_NEWNET = 0x40000000
SELF_NS = "/proc/thread-self/ns/net"
_libc = ctypes.CDLL(None, use_errno=True)


def load_rtnl():
    spec = importlib.util.spec_from_file_location("bench_rtnl", RTNL_PY)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


rtnl = load_rtnl()


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


class Watcher:
    """Sentinel veths from an unnamed namespace into the namespaces to watch."""

    def __init__(self, prefix: str = "ubsnt"):
        home = os.open(SELF_NS, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
            try:
                self.sock = rtnl.Socket(groups=rtnl.RTMGRP_LINK)
            finally:
                _check(_libc.setns(home, CLONE_NEWNET), "setns back home")
        finally:
            os.close(home)
        self.prefix = prefix
        self.pending = set()
        self.count = 0

    def add(self, ns_fd: int) -> None:
        """A sentinel veth to the namespace of `ns_fd` (the caller closes the fd)."""
        name = f"{self.prefix}{self.count}"
        self.count += 1
        self.sock.request(rtnl.veth_new(name, name, ns_fd, up=False))
        for m in self.sock.dump(rtnl.RTM_GETLINK, rtnl.link_dump_body()):
            if rtnl.cstr(m.attrs.get(rtnl.IFLA_IFNAME, b"\0")) == name:
                self.pending.add(rtnl.i32(m.body[4:8]))
                return
        raise RuntimeError(f"sentinel {name} not found after creating it")

    def add_path(self, path: str) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            self.add(fd)
        finally:
            os.close(fd)

    def _alive(self) -> set:
        return {rtnl.i32(m.body[4:8]) for m in self.sock.dump(rtnl.RTM_GETLINK, rtnl.link_dump_body())}

    def wait(self, timeout: float = 60.0) -> bool:
        """True once every sentinel is gone; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.pending:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([self.sock.sock], [], [], min(left, 0.25))
            if not r:  # notifications can be lost (ENOBUFS): ask
                self.pending &= self._alive()
                continue
            try:
                data = self.sock.sock.recv(1 << 16)
            except OSError:
                self.pending &= self._alive()
                continue
            off = 0
            while off + 16 <= len(data):
                ln, t = rtnl._HDR.unpack_from(data, off)[:2]
                if t == rtnl.RTM_DELLINK:
                    self.pending.discard(rtnl.i32(data[off + 20:off + 24]))
                off += (ln + 3) & ~3
                if ln == 0:
                    break
        return True

    def close(self) -> None:
        self.sock.close()
