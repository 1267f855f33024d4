"""Kernel tests of the service daemon (vpclab.kernel.services): real namespaces, real sockets.

Every test builds its own namespaces `vpclab-t<random6>-...` with pyroute2 (no
`ip`), uses lab name `t<random6>`, talks only between its own namespaces, and
checks on teardown that none of its namespaces or daemons are left.
"""
from __future__ import annotations

import collections
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import pytest

if sys.platform != "linux" or os.geteuid() != 0:
    pytest.skip("kernel tests need root on Linux (they create network namespaces)", allow_module_level=True)

from pyroute2 import IPRoute, netns  # noqa: E402

try:
    import vpclab  # noqa: F401
except ImportError:  # the package is not installed: use this checkout's src/
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src"))

from vpclab.errors import KernelRefused, Refused  # noqa: E402
from vpclab.kernel import services as S  # noqa: E402
from vpclab.plan.objects import Service  # noqa: E402

pytestmark = pytest.mark.kernel

NETNS_DIR = "/var/run/netns"


# --------------------------------------------------------------------------
# helpers


@contextmanager
def inside(ns: str):
    """This thread inside namespace `ns` for the body (to create client sockets there)."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"{NETNS_DIR}/{ns}", os.O_RDONLY)
    try:
        netns.setns(target, flags=0)
        try:
            yield
        finally:
            netns.setns(home, flags=0)
    finally:
        os.close(target)
        os.close(home)


def tcp_talk(ns: str, ip: str, port: int, send: bytes = b"", timeout: float = 5.0) -> bytes:
    """Connect from `ns`, send `send` and half-close if any, read until EOF."""
    with inside(ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with s:
        s.settimeout(timeout)
        s.connect((ip, port))
        if send:
            s.sendall(send)
            s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def udp_talk(ns: str, ip: str, port: int, timeout: float = 3.0) -> bytes:
    with inside(ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with s:
        s.settimeout(timeout)
        s.sendto(b"ping", (ip, port))
        data, addr = s.recvfrom(2048)
        assert addr == (ip, port)
        return data


def daemons_of(lab: str):
    """PIDs whose command line is a service daemon of `lab` (read-only scan of /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if b"vpclab.kernel.services.daemon" in args and lab.encode() in args:
            found.append(int(entry))
    return found


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()[0] == b"Z"
    except OSError:
        return True


class Env:
    """One test's namespaces, links and run directory, all removed on teardown."""

    def __init__(self, tmp_path):
        self.tag = "t" + secrets.token_hex(3)
        self.lab = self.tag
        self.net = random.randint(16, 250)  # 10.<net>.<k>.0/24 per link
        self.run = tmp_path / "run"
        self.namespaces = []

    def ns(self, short: str) -> str:
        name = f"vpclab-{self.tag}-{short}"
        netns.create(name)
        self.namespaces.append(name)
        with IPRoute(netns=name, flags=0) as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
        return name

    def link(self, a: str, b: str, k: int):
        """A veth a<->b with 10.<net>.<k>.1/24 on a and .2/24 on b; returns (ip_a, ip_b)."""
        ifa, ifb = f"{self.tag}-{k}a", f"{self.tag}-{k}b"
        ip_a, ip_b = f"10.{self.net}.{k}.1", f"10.{self.net}.{k}.2"
        with IPRoute(netns=a, flags=0) as ipr:
            ipr.link("add", ifname=ifa, kind="veth", peer={"ifname": ifb, "net_ns_fd": b})
        for ns, ifname, ip in ((a, ifa, ip_a), (b, ifb, ip_b)):
            with IPRoute(netns=ns, flags=0) as ipr:
                idx = ipr.link_lookup(ifname=ifname)[0]
                ipr.addr("add", index=idx, address=ip, prefixlen=24)
                ipr.link("set", index=idx, state="up")
        return ip_a, ip_b

    def remove_ns(self, name: str):
        if os.path.exists(f"{NETNS_DIR}/{name}"):
            netns.remove(name)

    def cleanup(self):
        try:
            S.stop(self.run)
        finally:
            for name in self.namespaces:
                self.remove_ns(name)
        leftover_ns = [n for n in os.listdir(NETNS_DIR) if n.startswith(f"vpclab-{self.tag}-")] \
            if os.path.isdir(NETNS_DIR) else []
        assert leftover_ns == [], f"namespaces left behind: {leftover_ns}"
        assert daemons_of(self.lab) == [], f"daemons left behind: {daemons_of(self.lab)}"


@pytest.fixture
def env(tmp_path):
    e = Env(tmp_path)
    try:
        yield e
    finally:
        e.cleanup()


def listener(ns, name, ip, port):
    return Service(ns=ns, name=name, kind="listener", ip=ip, port=port)


# --------------------------------------------------------------------------
# tests


def test_listeners_answer_tcp_and_udp_from_one_daemon(env):
    cli, db = env.ns("v.cli"), env.ns("v.db")
    ip_cli, ip_db = env.link(cli, db, 1)
    svcs = [listener(db, "v/db", ip_db, 3306), listener(db, "v/db", ip_db, 11211)]

    pid = S.start(env.lab, svcs, env.run)

    assert S.running(env.run) == pid
    assert int((env.run / S.PID_FILE).read_text()) == pid
    assert os.getsid(pid) == pid  # its own session
    assert daemons_of(env.lab) == [pid]  # one process for every service

    assert tcp_talk(cli, ip_db, 3306) == b"hello from v/db on tcp/3306\n"
    assert tcp_talk(cli, ip_db, 11211) == b"hello from v/db on tcp/11211\n"
    assert tcp_talk(cli, ip_db, 3306, send=b"hello\n") == b"hello from v/db on tcp/3306\n"
    assert udp_talk(cli, ip_db, 3306) == b"ping"
    assert udp_talk(cli, ip_db, 11211) == b"ping"

    S.stop(env.run)
    assert gone(pid) and S.running(env.run) is None


def test_clb_round_robin_failover_and_splice(env):
    cli, lb, b1, b2 = env.ns("v.cli"), env.ns("v.lb"), env.ns("v.b1"), env.ns("v.b2")
    _, ip_lb = env.link(cli, lb, 1)
    _, ip_b1 = env.link(lb, b1, 2)
    _, ip_b2 = env.link(lb, b2, 3)

    # an echo backend run by the test itself, in b2, to push bytes both ways through the clb
    with inside(b2):
        echo = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    echo.bind((ip_b2, 5000))
    echo.listen(4)

    def serve_echo():
        conn, _ = echo.accept()
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)

    echo_thread = threading.Thread(target=serve_echo, daemon=True)
    echo_thread.start()

    svcs = [
        listener(b1, "v/b1", ip_b1, 8080),
        listener(b2, "v/b2", ip_b2, 8080),
        Service(ns=lb, name="v/lb", kind="clb", ip=ip_lb, port=8080, backends=((ip_b1, 8080), (ip_b2, 8080))),
        # first backend has nobody listening: the clb falls over to the second
        Service(ns=lb, name="v/lbhalf", kind="clb", ip=ip_lb, port=7070, backends=((ip_b2, 7071), (ip_b1, 8080))),
        # no backend answers: the client's connection is closed
        Service(ns=lb, name="v/lbdead", kind="clb", ip=ip_lb, port=9090, backends=((ip_b1, 9099),)),
        Service(ns=lb, name="v/lbecho", kind="clb", ip=ip_lb, port=5000, backends=((ip_b2, 5000),)),
    ]
    try:
        pid = S.start(env.lab, svcs, env.run)
        assert daemons_of(env.lab) == [pid]

        lines = collections.Counter(tcp_talk(cli, ip_lb, 8080) for _ in range(4))
        assert lines == {b"hello from v/b1 on tcp/8080\n": 2, b"hello from v/b2 on tcp/8080\n": 2}
        # client data and half-close pass through to the backend
        assert tcp_talk(cli, ip_lb, 8080, send=b"x" * 1000) in (b"hello from v/b1 on tcp/8080\n", b"hello from v/b2 on tcp/8080\n")
        assert udp_talk(cli, ip_lb, 8080) == b"ping"

        assert [tcp_talk(cli, ip_lb, 7070) for _ in range(2)] == [b"hello from v/b1 on tcp/8080\n"] * 2
        assert tcp_talk(cli, ip_lb, 9090) == b""
        assert udp_talk(cli, ip_lb, 9090) == b"ping"

        # 2 MiB up and back through the splice (flow control both ways)
        blob = os.urandom(2 << 20)
        with inside(cli):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        with c:
            c.settimeout(10)
            c.connect((ip_lb, 5000))

            def send():
                c.sendall(blob)
                c.shutdown(socket.SHUT_WR)

            sender = threading.Thread(target=send, daemon=True)
            sender.start()
            got = bytearray()
            while True:
                chunk = c.recv(1 << 16)
                if not chunk:
                    break
                got += chunk
            sender.join(5)
        assert bytes(got) == blob
        echo_thread.join(5)
        assert not echo_thread.is_alive()
    finally:
        echo.close()


def test_stop_signals_exactly_our_pid(env):
    srv = env.ns("v.db")
    svcs = [listener(srv, "v/db", "127.0.0.1", 3306)]
    # decoys: any process, and one whose command line looks like a daemon of this lab
    decoys = [
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]),
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                          "vpclab.kernel.services.daemon", "--lab", env.lab, "--spec", "/nonexistent"]),
    ]
    try:
        pid = S.start(env.lab, svcs, env.run)
        S.stop(env.run)
        assert gone(pid)
        assert not (env.run / S.PID_FILE).exists()
        S.stop(env.run)  # already stopped: fine

        # a PID file naming a process that is not our daemon: left alone
        for d in decoys:
            S.start(env.lab, svcs, env.run)
            real = S.running(env.run)
            S.stop(env.run)
            assert gone(real)
            (env.run / S.SPEC_FILE).write_text('{"lab": "%s", "services": []}\n' % env.lab)
            (env.run / S.PID_FILE).write_text(f"{d.pid}\n")
            assert S.running(env.run) is None
            S.stop(env.run)
        assert all(d.poll() is None for d in decoys), "stop() signalled a process that is not our daemon"

        # a daemon that cannot act on SIGTERM (stopped) gets SIGKILL after the grace second
        pid = S.start(env.lab, svcs, env.run)
        os.kill(pid, signal.SIGSTOP)
        t0 = time.monotonic()
        S.stop(env.run)
        assert gone(pid)
        assert 0.9 <= time.monotonic() - t0 < 4.0
    finally:
        for d in decoys:
            d.kill()
            d.wait()


def test_daemon_drops_vanished_namespaces_and_exits_when_all_are_gone(env):
    a, b = env.ns("v.a"), env.ns("v.b")
    pid = S.start(env.lab, [listener(a, "v/a", "127.0.0.1", 80), listener(b, "v/b", "127.0.0.1", 80)], env.run)
    assert tcp_talk(a, "127.0.0.1", 80) == b"hello from v/a on tcp/80\n"

    env.remove_ns(a)
    deadline = time.monotonic() + S.WATCH_INTERVAL + 4.0
    while "namespace %s is gone" % a not in (env.run / S.LOG_FILE).read_text():
        assert time.monotonic() < deadline, "the daemon never noticed its namespace was gone"
        time.sleep(0.1)
    assert S.running(env.run) == pid  # still serving b
    assert tcp_talk(b, "127.0.0.1", 80) == b"hello from v/b on tcp/80\n"
    assert "namespace %s is gone" % a in (env.run / S.LOG_FILE).read_text()

    env.remove_ns(b)
    deadline = time.monotonic() + S.WATCH_INTERVAL + 4.0
    while (S.running(env.run) is not None or not gone(pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert S.running(env.run) is None
    assert gone(pid)
    assert not (env.run / S.PID_FILE).exists()
    assert "every namespace is gone: exiting" in (env.run / S.LOG_FILE).read_text()


def test_reconcile(env):
    a, b = env.ns("v.a"), env.ns("v.b")
    svcs = [listener(a, "v/a", "127.0.0.1", 3306), listener(b, "v/b", "127.0.0.1", 3306)]

    pid = S.reconcile(env.lab, svcs, env.run)
    assert pid and S.running(env.run) == pid
    assert S.reconcile(env.lab, list(reversed(svcs)), env.run) == pid  # same set: untouched

    more = svcs + [listener(b, "v/b", "127.0.0.1", 11211)]
    pid2 = S.reconcile(env.lab, more, env.run)
    assert pid2 != pid and gone(pid)
    assert tcp_talk(b, "127.0.0.1", 11211) == b"hello from v/b on tcp/11211\n"
    assert S.reconcile(env.lab, more, env.run) == pid2

    # same set, but a namespace was replaced by a new one of the same name: restart
    env.remove_ns(a)
    netns.create(a)
    with IPRoute(netns=a, flags=0) as ipr:
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
    pid3 = S.reconcile(env.lab, more, env.run)
    assert pid3 != pid2 and gone(pid2)
    assert tcp_talk(a, "127.0.0.1", 3306) == b"hello from v/a on tcp/3306\n"

    assert S.reconcile(env.lab, [], env.run) is None
    assert gone(pid3) and S.running(env.run) is None


def test_start_failures_are_clear_and_leave_nothing(env):
    a = env.ns("v.a")
    with pytest.raises(KernelRefused, match=r"10\.250\.0\.1:3306.*(assign|address)"):
        S.start(env.lab, [listener(a, "v/a", "10.250.0.1", 3306)], env.run)
    with pytest.raises(KernelRefused, match="does not exist"):
        S.start(env.lab, [listener(f"vpclab-{env.tag}-nope", "v/x", "127.0.0.1", 1)], env.run)
    assert daemons_of(env.lab) == [] and S.running(env.run) is None

    with pytest.raises(Refused, match="unknown kind"):
        S.start(env.lab, [Service(ns=a, name="v/a", kind="dns", ip="127.0.0.1", port=53)], env.run)
    with pytest.raises(Refused, match="second service"):
        S.start(env.lab, [listener(a, "v/a", "127.0.0.1", 1), listener(a, "v/b", "127.0.0.1", 1)], env.run)
    with pytest.raises(Refused):
        S.start(env.lab, [], env.run)
