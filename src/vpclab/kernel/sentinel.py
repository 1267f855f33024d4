"""Wait until network namespaces are really destroyed: sentinel veths (standard library only).

`ip netns del`, and vpclab's unmount, return before the kernel has torn a
namespace down (cleanup_net runs asynchronously in a kernel worker):

    w = Watcher()                 # an rtnetlink socket in a fresh unnamed namespace
    w.add(fd_of_the_namespace)    # a sentinel veth: one end here, one end there
    ... unmount ...
    w.wait()                      # returns when every sentinel's namespace is gone
    w.close()                     # the unnamed namespace goes with the socket

A sentinel is deleted by the kernel only when the namespace holding its other
end is destroyed, and the kernel destroys namespaces in the order they lost
their last reference.

Why a hand-packed message here and pyroute2's classes everywhere else: this
module is all `vpclab down` needs from netlink, and importing pyroute2 costs
more than the whole teardown of a 250-namespace lab (bench/README.md). It packs
three messages (a veth, a link dump, a deleted link), each parsed back by
pyroute2 in tests/unit/cli/test_messages.py. bench/nswatch.py loads this file by
path (Mininet's Python has no vpclab).
"""
from __future__ import annotations

import ctypes
import os
import select
import socket
import struct
import time

CLONE_NEWNET = 0x40000000
SELF_NS = "/proc/thread-self/ns/net"
_libc = ctypes.CDLL(None, use_errno=True)
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
NLMSG_ERROR, NLMSG_DONE = 2, 3
IFLA_IFNAME, IFLA_LINKINFO, IFLA_NET_NS_FD = 3, 18, 28
_HDR = struct.Struct("=IHHII")
_IFI = struct.Struct("=BxHiII")


def _attr(kind: int, payload: bytes) -> bytes:
    n = 4 + len(payload)
    return struct.pack("=HH", n, kind) + payload + b"\0" * (-n & 3)


NEW_FLAGS = 0x4 | 0x400 | 0x200  # ACK | CREATE | EXCL (REQUEST is added when sent)
DUMP_FLAGS = 0x300


def veth_body(name: str, ns_fd: int) -> bytes:
    """RTM_NEWLINK's body: a veth `name` here, its peer `name` in the namespace of `ns_fd`."""
    ifname = _attr(IFLA_IFNAME, name.encode() + b"\0")
    peer = _IFI.pack(0, 0, 0, 0, 0) + ifname + _attr(IFLA_NET_NS_FD, struct.pack("=I", ns_fd))
    info = _attr(IFLA_LINKINFO | 0x8000, _attr(1, b"veth\0") + _attr(2 | 0x8000, _attr(1, peer)))
    return _IFI.pack(0, 0, 0, 0, 0) + ifname + info


def packed(mtype: int, flags: int, body: bytes, seq: int = 1) -> bytes:
    return _HDR.pack(16 + len(body), mtype, flags | 1, seq, 0) + body


class _Rtnl:
    """The three rtnetlink messages a watcher needs, on a socket of the current namespace."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((0, 1))  # RTMGRP_LINK
        self.seq = 0

    def _send(self, mtype: int, flags: int, body: bytes) -> int:
        self.seq += 1
        self.sock.send(packed(mtype, flags, body, self.seq))
        return self.seq

    def veth(self, name: str, ns_fd: int) -> None:
        seq = self._send(RTM_NEWLINK, NEW_FLAGS, veth_body(name, ns_fd))
        for t, s, data, off in self._recv_until(seq):
            if t == NLMSG_ERROR:
                code = -struct.unpack_from("=i", data, off + 16)[0]
                if code:
                    raise OSError(code, os.strerror(code), name)
                return

    def links(self) -> dict:
        """{ifname: ifindex} of the current namespace."""
        seq = self._send(RTM_GETLINK, DUMP_FLAGS, _IFI.pack(0, 0, 0, 0, 0))
        out = {}
        for t, s, data, off in self._recv_until(seq):
            if t == RTM_NEWLINK:
                out[_ifname(data, off)] = _IFI.unpack_from(data, off + 16)[2]
        return out

    def _recv_until(self, seq: int):
        while True:
            data = self.sock.recv(1 << 16)
            for t, s, off in messages(data):
                if s != seq:
                    continue
                if t in (NLMSG_DONE, NLMSG_ERROR):
                    yield t, s, data, off
                    return
                yield t, s, data, off

    def close(self) -> None:
        self.sock.close()


def messages(data: bytes):
    off = 0
    while off + 16 <= len(data):
        ln, t, _, s, _ = _HDR.unpack_from(data, off)
        yield t, s, off
        if ln == 0:
            break
        off += (ln + 3) & ~3


def _ifname(data: bytes, off: int) -> str:
    ln = _HDR.unpack_from(data, off)[0]
    a, end = off + 32, off + ln
    while a + 4 <= end:
        n, kind = struct.unpack_from("=HH", data, a)
        if n < 4:
            break
        if kind == IFLA_IFNAME:
            return data[a + 4:a + n].split(b"\0", 1)[0].decode()
        a += (n + 3) & ~3
    return ""


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


class Watcher:
    """Sentinel veths from an unnamed namespace into the namespaces to watch."""

    def __init__(self, prefix: str = "vpclab-snt"):
        home = os.open(SELF_NS, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
            try:
                self.sock = _Rtnl()
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
        self.sock.veth(name, ns_fd)
        index = self.sock.links().get(name)
        if index is None:
            raise RuntimeError(f"sentinel {name} not found after creating it")
        self.pending.add(index)

    def add_path(self, path: str) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            self.add(fd)
        finally:
            os.close(fd)

    def _alive(self) -> set:
        return set(self.sock.links().values())

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
            for t, _, off in messages(data):
                if t == RTM_DELLINK:
                    self.pending.discard(_IFI.unpack_from(data, off + 16)[2])
        return True

    def close(self) -> None:
        self.sock.close()
