"""Sysctl writes walk /proc/sys/net/ipv4 (and ipv6) once per namespace visit, and a router's
interface settings walk nothing (issue 24, a 20,000-instance estate).

Every namespace's `ipv4` entry hangs from the one /proc/sys/net entry, so they share a dcache
hash chain that the kernel walks comparing each (under a global lock): with 10,000 namespaces a
path through net/ipv4 cost 10-120 ms, and `up` spent ~80% of its time there (perf,
proc_sys_compare). Paths are opened relative to one descriptor per family and visit, and a
router keeps its descriptor from its creation for its interfaces' settings.
These tests record the opens (no root, no namespace).
"""
from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from vpclab.errors import KernelRefused
from vpclab.kernel import netns
from vpclab.kernel.handlers import sysctl
from vpclab.plan.objects import Action, Sysctl


class Opens:
    def __init__(self, monkeypatch, missing: bool = False):
        self.calls = []
        self.next = 1000
        real_open, real_close = os.open, os.close
        owned = set()

        def fake_open(path, flags, mode=0o777, *, dir_fd=None):
            if not str(path).startswith("/proc/sys") and dir_fd is None:
                return real_open(path, flags, mode)
            self.calls.append((str(path), dir_fd))
            if missing and not str(path).startswith("/proc/sys/net/ipv"):
                raise FileNotFoundError(path)
            self.next += 1
            owned.add(self.next)
            return self.next

        def fake_close(fd):
            if fd in owned:
                owned.discard(fd)
                return None
            return real_close(fd)

        # /proc itself, as where the kernel gives no procfs of our own (see the private test)
        monkeypatch.setattr(netns, "private_proc", lambda: None)
        monkeypatch.setattr(os, "open", fake_open)
        monkeypatch.setattr(os, "close", fake_close)
        monkeypatch.setattr(os, "write", lambda fd, data: len(data))
        self.owned = owned

    def absolute(self):
        return [p for p, d in self.calls if d is None]


def test_namespace_sysctls_walk_proc_sys_net_once(monkeypatch):
    rec = Opens(monkeypatch)
    settings = dict(netns.LAB_SYSCTLS)
    settings[netns.FORWARDING] = "1"
    netns.write_sysctls_here(settings)
    families = sorted({k.split(".")[1] for k in settings})
    assert sorted(rec.absolute()) == [f"/proc/sys/net/{f}" for f in families], rec.calls
    relative = [p for p, d in rec.calls if d is not None]
    assert relative == [k.split(".", 2)[2].replace(".", "/") for k in settings]
    assert not rec.owned  # every descriptor closed


def test_interface_sysctls_of_a_namespace_walk_proc_sys_net_once(monkeypatch):
    rec = Opens(monkeypatch)
    action = SimpleNamespace(op="create", obj=SimpleNamespace(ifname="x", ns="n"))
    writes = [(sysctl.SETTINGS[name][0].format(f"i-cvm-{i}"), "0", action)
              for i in range(4) for name in ("proxy_arp", "proxy_delay")]
    sysctl._write_all(writes)
    assert rec.absolute() == ["/proc/sys/net/ipv4"], rec.calls
    assert [p for p, d in rec.calls if d is not None] == [w[0][len("net/ipv4/"):] for w in writes]
    assert not rec.owned


def test_a_missing_interface_is_still_refused_by_name(monkeypatch):
    rec = Opens(monkeypatch, missing=True)
    action = Action("create", Sysctl("vpclab-t-a", "gone0", "proxy_arp", "1"))
    with pytest.raises(KernelRefused) as e:
        sysctl._write_all([("net/ipv4/conf/gone0/proxy_arp", "1", action)])
    assert "gone0" in str(e.value)
    assert not rec.owned


def test_kept_descriptors_open_no_other_family(monkeypatch):
    """Descriptors kept from another namespace never open a family here (the caller's own)."""
    rec = Opens(monkeypatch)
    rec.owned.add(77)
    with netns.SysctlDirs({"ipv4": 77}) as dirs:
        dirs.open("net/ipv4/conf/x/proxy_arp", os.O_WRONLY)
        with pytest.raises(RuntimeError):
            dirs.open("net/ipv6/conf/all/disable_ipv6", os.O_WRONLY)
    assert rec.absolute() == [] and rec.calls == [("conf/x/proxy_arp", 77)]
    assert 77 not in rec.owned  # closed with the rest


def test_a_router_keeps_its_ipv4_directory_and_its_interfaces_walk_nothing(monkeypatch):
    """The namespace handler keeps a router's /proc/sys/net/ipv4; the sysctl stage writes
    through it without entering the namespace or opening any absolute path."""
    rec = Opens(monkeypatch)
    rec.owned.add(4242)
    entered = []
    monkeypatch.setattr(netns, "run_in", lambda ns, fn: entered.append(ns) or fn())
    monkeypatch.setattr(sysctl.netns, "run_in", lambda ns, fn: entered.append(ns) or fn())
    session = SimpleNamespace(state={}, sysdirs={"vpclab-t-r": 4242}, result=SimpleNamespace(done=0))
    for i in range(3):
        sysctl.HANDLER.create(session, Action("create", Sysctl("vpclab-t-r", f"i-{i}", "proxy_arp", "1")))
    sysctl.HANDLER.after(session)
    assert rec.absolute() == [] and entered == [], (rec.calls, entered)
    assert [d for _, d in rec.calls] == [4242] * 3 and session.result.done == 3
    assert session.sysdirs == {} and 4242 not in rec.owned  # used once, then closed


def test_a_visit_looks_its_directories_up_in_a_procfs_of_its_own(monkeypatch):
    """With a procfs instance of its own (netns.private_proc: fsopen + fsmount, mounted
    nowhere), a visit opens nothing under /proc: the instance's dcache tree holds no other
    namespace's entry to compare. Its descriptor closes with the visit."""
    rec = Opens(monkeypatch)
    rec.owned.add(555)
    monkeypatch.setattr(netns, "private_proc", lambda: 555)
    settings = dict(netns.LAB_SYSCTLS)
    netns.write_sysctls_here(settings)
    assert rec.absolute() == [], rec.calls
    assert sorted(c for c in rec.calls if c[1] == 555) == [("sys/net/ipv4", 555), ("sys/net/ipv6", 555)]
    assert not rec.owned


def test_a_private_procfs_writes_the_calling_namespace():
    """For real, where the kernel allows it (root): the instance's sysctls are this
    namespace's (read back through /proc)."""
    proc = netns.private_proc()
    if proc is None:
        pytest.skip("no procfs of our own here (needs CAP_SYS_ADMIN and Linux 5.2)")
    try:
        fd = os.open("sys/net/ipv4/ip_forward", os.O_RDONLY, dir_fd=proc)
        with open(fd) as f:
            via_private = f.read()
        with open("/proc/sys/net/ipv4/ip_forward") as f:
            assert f.read() == via_private
    finally:
        os.close(proc)
