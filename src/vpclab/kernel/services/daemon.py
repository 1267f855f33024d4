"""The service daemon of a lab: one process serving every `Service` of the lab.

`python -m vpclab.kernel.services.daemon --lab LAB --spec FILE --ready-fd N` (started
by the supervisor): for each service it enters the service's namespace (setns
on this thread), creates and binds a TCP and a UDP socket on (ip, port) (only one when `protos` says so), and
returns to its own namespace: a socket stays in the namespace it was created
in. One asyncio loop then serves all sockets:

  listener  TCP (if `protos` has it): write `hello from <name> on tcp/<port>\\n`, close.
            UDP (if `protos` has it): echo each datagram back to its sender
            (TOPOLOGY.md version 3).
  clb       TCP: connect to the next backend round-robin from the clb's own
            namespace (falling over to the next one), splice bytes both ways,
            half-closes included; no backend answers: close. UDP: as a listener.

The daemon exits on SIGTERM/SIGINT, and by itself once every namespace it
serves is gone (or replaced by a new namespace of the same name); it drops the
services of a namespace that goes away on its own.
"""
from __future__ import annotations

import errno
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import List, Optional

from .. import nsenter
from ...plan.objects import Service
from .spec import PID_FILE, STATE_FILE, fd_limit, family, from_dict, read_json, read_pid, write_atomic

WATCH_INTERVAL = 2.0  # seconds between namespace checks in the daemon
CONNECT_TIMEOUT = 2.0  # seconds a clb waits for one backend
LINGER = 2.0  # seconds a listener waits for the client's FIN before closing


def _log(msg: str) -> None:
    sys.stderr.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} services[{os.getpid()}]: {msg}\n")
    sys.stderr.flush()


def _stuck(e: OSError) -> None:
    _log(f"cannot return to the daemon's own namespace: {e}; exiting")
    os._exit(70)


class _Bound:
    """One service's sockets, and what serves them once the loop runs."""

    def __init__(self, svc: Service, ino: int, tcp: Optional[socket.socket], udp: Optional[socket.socket]):
        self.svc = svc
        self.ino = ino
        self.tcp = tcp
        self.udp = udp
        self.server = None  # asyncio Server on tcp
        self.udp_transport = None
        self.conns = set()  # open TCP transports
        self.rr = 0  # next backend (clb)

    def line(self, proto: str) -> bytes:
        # a greeting, not `vpclab NAME ...`: that read like a command to type (issue 22)
        return f"hello from {self.svc.name} on {proto}/{self.svc.port}\n".encode()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        elif self.tcp is not None:
            self.tcp.close()
        if self.udp_transport is not None:
            self.udp_transport.close()
        elif self.udp is not None:
            self.udp.close()
        for t in list(self.conns):
            t.abort()
        self.conns.clear()


def _bind(svc: Service) -> _Bound:
    """Create and bind the service's sockets (TCP, UDP or both: `svc.protos`) inside its namespace."""
    fam = family(svc.ip)
    tcp = udp = None
    try:
        with nsenter.entered(svc.ns, _stuck) as ino:
            if "tcp" in svc.protos:
                tcp = socket.socket(fam, socket.SOCK_STREAM)
            if "udp" in svc.protos:
                udp = socket.socket(fam, socket.SOCK_DGRAM)
    except FileNotFoundError:
        for sock in (tcp, udp):
            if sock is not None:
                sock.close()
        raise OSError(errno.ENOENT, f"namespace {svc.ns} does not exist") from None
    try:
        if tcp is not None:
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((svc.ip, svc.port))
            tcp.listen(128)
            tcp.setblocking(False)
        if udp is not None:
            udp.bind((svc.ip, svc.port))
            udp.setblocking(False)
    except OSError:
        for sock in (tcp, udp):
            if sock is not None:
                sock.close()
        raise
    return _Bound(svc, ino, tcp, udp)


def _daemon(lab: str, spec_path: Path, ready_fd: int) -> int:
    import asyncio

    def report(text: str) -> None:
        nonlocal ready_fd
        if ready_fd >= 0:
            try:
                os.write(ready_fd, text.encode() + b"\n")
            except OSError:
                pass
            os.close(ready_fd)
            ready_fd = -1

    spec = read_json(spec_path)
    if spec is None or spec.get("lab") != lab:
        report(f"error cannot read spec {spec_path} for lab {lab}")
        return 2
    run_dir = spec_path.parent
    try:
        services = [from_dict(d) for d in spec.get("services", [])]
    except (KeyError, TypeError, ValueError) as e:
        report(f"error bad spec {spec_path}: {e}")
        return 2

    why = fd_limit(len(services), raise_soft=True)  # soft up to hard; a budget beyond it is refused
    if why:
        _log(why)
        report(f"error {why}")
        return 1

    bound: List[_Bound] = []
    for svc in services:
        try:
            bound.append(_bind(svc))
        except OSError as e:
            for b in bound:
                b.close()
            msg = f"{svc.describe()}: {e.strerror or e}"
            _log(f"cannot bind {msg}")
            report(f"error {msg}")
            return 1

    # ---- protocols

    class Greeter(asyncio.Protocol):
        """A listener's TCP connection: the line, FIN, wait for the client's FIN."""

        def __init__(self, b: _Bound):
            self.b = b
            self.t = None
            self.timer = None

        def connection_made(self, t):
            self.t = t
            self.b.conns.add(t)
            t.write(self.b.line("tcp"))
            t.write_eof()
            self.timer = asyncio.get_running_loop().call_later(LINGER, t.close)

        def data_received(self, data):
            pass

        def eof_received(self):
            return False  # close

        def connection_lost(self, exc):
            self.b.conns.discard(self.t)
            if self.timer is not None:
                self.timer.cancel()

    class Splice(asyncio.Protocol):
        """One side of a clb connection; bytes go to `other`, half-closes too."""

        def __init__(self, b: _Bound):
            self.b = b
            self.t = None
            self.other: Optional[Splice] = None
            self.eof = False

        def connection_made(self, t):
            self.t = t
            self.b.conns.add(t)

        def data_received(self, data):
            self.other.t.write(data)

        def eof_received(self):
            self.eof = True
            if self.other.eof:
                self.other.t.close()
                return False
            if self.other.t.can_write_eof():
                self.other.t.write_eof()
            return True  # keep reading the other way

        def connection_lost(self, exc):
            self.b.conns.discard(self.t)
            if self.other is not None and self.other.t is not None:
                self.other.t.close()

        def pause_writing(self):
            if self.other is not None and self.other.t is not None:
                self.other.t.pause_reading()

        def resume_writing(self):
            if self.other is not None and self.other.t is not None:
                self.other.t.resume_reading()

    class Front(Splice):
        """The client side of a clb connection: holds reading until a backend answers."""

        def connection_made(self, t):
            super().connection_made(t)
            t.pause_reading()
            self.task = asyncio.get_running_loop().create_task(self.dial())  # keep a reference

        async def dial(self):
            loop = asyncio.get_running_loop()
            sock = await dial_backend(self.b)
            if sock is None or self.t.is_closing():
                if sock is not None:
                    sock.close()
                self.t.close()
                return
            back = Splice(self.b)
            back.other = self
            try:
                await loop.create_connection(lambda: back, sock=sock)
            except OSError:
                sock.close()
                self.t.close()
                return
            self.other = back
            if self.t.is_closing():
                back.t.close()
            else:
                self.t.resume_reading()

    async def dial_backend(b: _Bound) -> Optional[socket.socket]:
        """A socket connected to the next backend that answers, created in the clb's namespace."""
        loop = asyncio.get_running_loop()
        backends = b.svc.backends
        first = b.rr
        if backends:
            b.rr = (b.rr + 1) % len(backends)
        for i in range(len(backends)):
            ip, port = backends[(first + i) % len(backends)]
            try:
                with nsenter.entered(b.svc.ns, _stuck):
                    sock = socket.socket(family(ip), socket.SOCK_STREAM)
            except OSError as e:
                _log(f"{b.svc.name}: cannot enter {b.svc.ns}: {e}")
                return None
            sock.setblocking(False)
            try:
                await asyncio.wait_for(loop.sock_connect(sock, (ip, port)), CONNECT_TIMEOUT)
                return sock
            except (OSError, asyncio.TimeoutError):
                sock.close()
            except BaseException:
                sock.close()
                raise
        return None

    class Echo(asyncio.DatagramProtocol):
        def __init__(self, b: _Bound):
            self.b = b
            self.t = None

        def connection_made(self, t):
            self.t = t

        def datagram_received(self, data, addr):
            self.t.sendto(data, addr)  # an echo (TOPOLOGY.md v3: "UDP echoes")

        def error_received(self, exc):
            pass  # ICMP errors from earlier replies

    # ---- main

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, done.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: None)
        for b in bound:
            factory = (lambda b=b: Front(b)) if b.svc.kind == "clb" else (lambda b=b: Greeter(b))
            if b.tcp is not None:
                b.server = await loop.create_server(factory, sock=b.tcp, backlog=128)
            if b.udp is not None:
                b.udp_transport, _ = await loop.create_datagram_endpoint(lambda b=b: Echo(b), sock=b.udp)
        pid = os.getpid()
        write_atomic(run_dir / STATE_FILE, json.dumps({"pid": pid, "lab": lab,
                                                        "netns": {b.svc.ns: b.ino for b in bound}}) + "\n")
        write_atomic(run_dir / PID_FILE, f"{pid}\n")
        _log(f"serving {len(bound)} service(s) of lab {lab}: "
             + ", ".join(f"{b.svc.name} {b.svc.kind} {b.svc.ip}:{b.svc.port}" for b in bound))
        report("ready")

        live = list(bound)
        while live:
            try:
                await asyncio.wait_for(done.wait(), WATCH_INTERVAL)
                _log("terminated by signal")
                break
            except asyncio.TimeoutError:
                pass
            for b in list(live):
                if nsenter.inode(b.svc.ns) != b.ino:
                    _log(f"namespace {b.svc.ns} is gone: dropping {b.svc.name} {b.svc.kind} port {b.svc.port}")
                    b.close()
                    live.remove(b)
            if not live:
                _log("every namespace is gone: exiting")
        for b in live:
            b.close()
        await asyncio.sleep(0)  # let transports finish closing

    try:
        asyncio.run(serve())
    except Exception as e:  # pragma: no cover - logged for the operator
        _log(f"crashed: {e!r}")
        report(f"error {e!r}")
        return 1
    finally:
        # Our files only if they still name us (a newer daemon may own them by now).
        if read_pid(run_dir) == os.getpid():
            for name in (PID_FILE, STATE_FILE):
                try:
                    (run_dir / name).unlink()
                except FileNotFoundError:
                    pass
    return 0


def _main(argv: List[str]) -> int:
    opts = {}
    it = iter(argv)
    for a in it:
        if a in ("--lab", "--spec", "--ready-fd"):
            opts[a] = next(it, None)
        else:
            _log(f"unknown argument {a!r}")
            return 2
    if not opts.get("--lab") or not opts.get("--spec"):
        _log("usage: python -m vpclab.kernel.services.daemon --lab LAB --spec FILE [--ready-fd N]")
        return 2
    try:
        ready_fd = int(opts.get("--ready-fd") or -1)
    except ValueError:
        ready_fd = -1
    return _daemon(opts["--lab"], Path(opts["--spec"]), ready_fd)


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))

