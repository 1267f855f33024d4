"""The service daemon of a lab: one process serving every `Service` of the lab.

This module owns the lab's service process and its files in the lab's run
directory:

  services.json        the spec the daemon serves (written by `start`)
  services.pid         the daemon's PID (written by the daemon once it is bound)
  services.state.json  the daemon's PID and the inode of each namespace it serves
  services.log         the daemon's stdout/stderr (its log)
  services.lock        serialises start/stop/reconcile on one run directory

API (caller side, imports nothing heavy):

  start(lab, services, run_dir) -> pid   stop any old daemon, spawn, wait for ready
  stop(run_dir)                          SIGTERM our daemon (verified by cmdline), then SIGKILL
  running(run_dir) -> pid | None         the daemon's PID if it is alive and ours
  reconcile(lab, services, run_dir)      keep the daemon if it serves exactly this set,
                                         else restart it; an empty set stops it

Daemon side (`python -m vpclab.kernel.services --lab LAB --spec FILE --ready-fd N`):
for each service it enters the service's namespace (setns on this thread),
creates and binds a TCP and a UDP socket on (ip, port), and returns to its own
namespace: a socket stays in the namespace it was created in. One asyncio loop
then serves all sockets:

  listener  TCP: write `vpclab <name> tcp/<port>\\n`, close. UDP: reply
            `vpclab <name> udp/<port>\\n` to each datagram.
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
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from ..errors import KernelRefused, Refused
from ..plan.objects import Service

MODULE = "vpclab.kernel.services"
NETNS_DIR = "/var/run/netns"

SPEC_FILE = "services.json"
PID_FILE = "services.pid"
STATE_FILE = "services.state.json"
LOG_FILE = "services.log"
LOCK_FILE = "services.lock"

KINDS = ("listener", "clb")
READY_TIMEOUT = 5.0  # seconds start() waits for the daemon to report ready
TERM_GRACE = 1.0  # seconds between SIGTERM and SIGKILL
WATCH_INTERVAL = 2.0  # seconds between namespace checks in the daemon
CONNECT_TIMEOUT = 2.0  # seconds a clb waits for one backend
LINGER = 2.0  # seconds a listener waits for the client's FIN before closing

CLONE_NEWNET = 0x40000000

# Daemons this process spawned, so that it reaps them (no zombies in long-lived callers).
_children: Dict[int, object] = {}


# --------------------------------------------------------------------------
# namespaces


def _ns_path(name: str) -> str:
    return os.path.join(NETNS_DIR, name)


_libc = None


def _setns(fd: int) -> None:
    """Move the calling thread into the network namespace open as `fd`."""
    if hasattr(os, "setns"):  # Python 3.12+
        os.setns(fd, CLONE_NEWNET)
        return
    global _libc
    if _libc is None:
        import ctypes

        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        import ctypes

        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


@contextmanager
def _in_netns(name: str):
    """Run the body with this thread inside namespace `name`, then come back.

    Yields the namespace's inode. Raises OSError if the namespace is missing.
    """
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(_ns_path(name), os.O_RDONLY | os.O_CLOEXEC)
        try:
            ino = os.fstat(target).st_ino
            _setns(target)
        finally:
            os.close(target)
        try:
            yield ino
        finally:
            try:
                _setns(home)
            except OSError as e:  # never seen; staying in the wrong namespace would be worse
                _log(f"cannot return from namespace {name}: {e}; exiting")
                os._exit(70)
    finally:
        os.close(home)


def _ns_inode(name: str) -> Optional[int]:
    try:
        return os.stat(_ns_path(name)).st_ino
    except OSError:
        return None


# --------------------------------------------------------------------------
# spec


def _family(ip: str) -> int:
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def _validate(lab: str, services: List[Service]) -> None:
    if not lab or any(c in lab for c in "\0\n/ "):
        raise Refused(f"invalid lab name {lab!r}")
    seen = set()
    for s in services:
        what = f"service {s.name!r}"
        if s.kind not in KINDS:
            raise Refused(f"{what}: unknown kind {s.kind!r} (expected one of {', '.join(KINDS)})")
        if not s.ns or "/" in s.ns or s.ns in (".", "..") or "\0" in s.ns:
            raise Refused(f"{what}: invalid namespace name {s.ns!r}")
        if not s.name or any(c in s.name for c in "\0\n\r "):
            raise Refused(f"invalid service name {s.name!r}")
        for ip, port in ((s.ip, s.port),) + tuple(s.backends):
            try:
                socket.inet_pton(_family(str(ip)), str(ip))
            except (OSError, ValueError):
                raise Refused(f"{what}: invalid address {ip!r}") from None
            if not isinstance(port, int) or not 0 < port < 65536:
                raise Refused(f"{what}: invalid port {port!r}")
        if s.key in seen:
            raise Refused(f"{what}: a second service on port {s.port} in {s.ns}")
        seen.add(s.key)


def _to_dict(s: Service) -> dict:
    return {
        "ns": s.ns,
        "name": s.name,
        "kind": s.kind,
        "ip": s.ip,
        "port": s.port,
        "backends": [[ip, port] for ip, port in s.backends],
    }


def _from_dict(d: dict) -> Service:
    return Service(
        ns=d["ns"],
        name=d["name"],
        kind=d["kind"],
        ip=d["ip"],
        port=int(d["port"]),
        backends=tuple((str(ip), int(port)) for ip, port in d.get("backends", ())),
    )


def _canonical(services: Iterable[Service]) -> list:
    return sorted((_to_dict(s) for s in services), key=lambda d: (d["ns"], d["port"]))


def _read_json(path: Path) -> Optional[dict]:
    try:
        with open(path) as f:
            doc = json.load(f)
        return doc if isinstance(doc, dict) else None
    except (OSError, ValueError):
        return None


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _read_pid(run_dir: Path) -> Optional[int]:
    try:
        pid = int((run_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid > 0 else None


# --------------------------------------------------------------------------
# processes


def _cmdline(pid: int) -> List[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return []
    return [a.decode("utf-8", "surrogateescape") for a in raw.split(b"\0") if a]


def _after(args: List[str], flag: str) -> Optional[str]:
    for i, a in enumerate(args[:-1]):
        if a == flag:
            return args[i + 1]
    return None


def _reap(pid: int) -> bool:
    """True if `pid` is a child of ours that has exited (and is now reaped)."""
    proc = _children.get(pid)
    if proc is not None and proc.poll() is not None:
        del _children[pid]
        return True
    return False


def _reap_all() -> None:
    for pid in list(_children):
        _reap(pid)


def _is_ours(pid: int, run_dir: Path) -> bool:
    """Alive (not a zombie) and really the daemon of this run directory."""
    if _reap(pid):
        return False
    args = _cmdline(pid)  # empty for a zombie or a vanished process
    if MODULE not in args:
        return False
    if _after(args, "--spec") != str(run_dir / SPEC_FILE):
        return False
    spec = _read_json(run_dir / SPEC_FILE)
    if spec is not None and _after(args, "--lab") != spec.get("lab"):
        return False
    return _after(args, "--lab") is not None


def _stat(pid: int):
    """(state, start time) of a process, or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rpartition(b")")[2].split()
        return fields[0], fields[19]
    except (OSError, IndexError):
        return None


def _exited(pid: int, started: bytes, pidfd: Optional[int]) -> bool:
    """The process (that start time) has exited: its sockets are closed."""
    if _reap(pid):
        return True
    if pidfd is not None:
        import select

        return bool(select.select([pidfd], [], [], 0)[0])
    st = _stat(pid)
    return st is None or st[0] in (b"Z", b"X") or st[1] != started


def _wait_exit(pid: int, started: bytes, pidfd: Optional[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not _exited(pid, started, pidfd):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if pidfd is not None:
            import select

            select.select([pidfd], [], [], min(left, 0.2))
        else:
            time.sleep(min(left, 0.02))
    _reap(pid)
    return True


def _signal(pid: int, pidfd: Optional[int], sig: int) -> None:
    try:
        if pidfd is not None:
            signal.pidfd_send_signal(pidfd, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


@contextmanager
def _locked(run_dir: Path):
    import fcntl

    fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _run_dir(run_dir) -> Path:
    return Path(run_dir).resolve()


# --------------------------------------------------------------------------
# caller API


def running(run_dir: Path) -> Optional[int]:
    """The PID of this run directory's daemon if it is alive and ours, else None."""
    _reap_all()
    run_dir = _run_dir(run_dir)
    pid = _read_pid(run_dir)
    if pid is None or not _is_ours(pid, run_dir):
        return None
    return pid


def current(run_dir: Path) -> List[Service]:
    """The services the running daemon of this run directory serves (empty if none runs)."""
    run_dir = _run_dir(run_dir)
    if not run_dir.is_dir() or running(run_dir) is None:
        return []
    spec = _read_json(run_dir / SPEC_FILE) or {}
    return [_from_dict(d) for d in spec.get("services", ())]


def stop(run_dir: Path) -> None:
    """Stop this run directory's daemon: SIGTERM, up to 1 s, SIGKILL.

    Only a PID whose command line is our daemon for this run directory is ever
    signalled; a stale PID file is just removed. Already gone is fine.
    """
    run_dir = _run_dir(run_dir)
    if not run_dir.is_dir():
        return
    with _locked(run_dir):
        _stop(run_dir)


def _stop(run_dir: Path) -> None:
    _reap_all()
    pid = _read_pid(run_dir)
    if pid is not None:
        pidfd = None
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            pid = None
        except (AttributeError, OSError):
            pidfd = None  # no pidfd support: fall back to kill, guarded by the start time
        try:
            # Verified after pinning the process with the pidfd: no PID reuse race.
            st = _stat(pid) if pid is not None else None
            if st is not None and _is_ours(pid, run_dir):
                _signal(pid, pidfd, signal.SIGTERM)
                if not _wait_exit(pid, st[1], pidfd, TERM_GRACE):
                    _signal(pid, pidfd, signal.SIGKILL)
                    if not _wait_exit(pid, st[1], pidfd, 3.0):
                        raise KernelRefused(
                            f"service daemon {pid} did not exit after SIGKILL", obj=str(run_dir)
                        )
        finally:
            if pidfd is not None:
                os.close(pidfd)
    _forget(run_dir)


def _forget(run_dir: Path) -> None:
    """Remove the files that describe a running daemon (not the log)."""
    for name in (PID_FILE, STATE_FILE, SPEC_FILE):
        try:
            (run_dir / name).unlink()
        except FileNotFoundError:
            pass


def start(lab: str, services: List[Service], run_dir: Path) -> int:
    """Spawn the lab's service daemon (stopping an old one first); return its PID once ready.

    Raises Refused for a bad service list, KernelRefused if the daemon cannot
    bind its sockets or does not report ready within READY_TIMEOUT.
    """
    services = list(services)
    _validate(lab, services)
    if not services:
        raise Refused("no services to start", hint="use reconcile() or stop() for an empty set")
    run_dir = _run_dir(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with _locked(run_dir):
        _stop(run_dir)
        return _start(lab, services, run_dir)


def reconcile(lab: str, services: List[Service], run_dir: Path) -> Optional[int]:
    """Make the daemon serve exactly `services`; return its PID (None for an empty set).

    A daemon already serving this very set, in the very namespaces that exist
    now, is left alone.
    """
    services = list(services)
    _validate(lab, services)
    run_dir = _run_dir(run_dir)
    if not services:
        stop(run_dir)
        return None
    run_dir.mkdir(parents=True, exist_ok=True)
    with _locked(run_dir):
        _reap_all()
        pid = _read_pid(run_dir)
        if pid is not None and _is_ours(pid, run_dir) and _serves(pid, lab, services, run_dir):
            return pid
        _stop(run_dir)
        return _start(lab, services, run_dir)


def _serves(pid: int, lab: str, services: List[Service], run_dir: Path) -> bool:
    spec = _read_json(run_dir / SPEC_FILE)
    state = _read_json(run_dir / STATE_FILE)
    if spec is None or state is None or state.get("pid") != pid:
        return False
    if spec.get("lab") != lab or spec.get("services") != _canonical(services):
        return False
    inodes = state.get("netns") or {}
    return all(inodes.get(s.ns) is not None and inodes.get(s.ns) == _ns_inode(s.ns) for s in services)


def _start(lab: str, services: List[Service], run_dir: Path) -> int:
    import select
    import subprocess

    spec_path = run_dir / SPEC_FILE
    _write_atomic(spec_path, json.dumps({"lab": lab, "services": _canonical(services)}, indent=1) + "\n")
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    rfd, wfd = os.pipe()
    log_path = run_dir / LOG_FILE
    try:
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", MODULE, "--lab", lab, "--spec", str(spec_path), "--ready-fd", str(wfd)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(wfd,),
                start_new_session=True,
                cwd="/",
                env=env,
            )
    except BaseException:
        os.close(rfd)
        raise
    finally:
        os.close(wfd)
    _children[proc.pid] = proc

    # The daemon writes "ready\n" once every socket is bound and served, or
    # "error <message>\n" before it exits; EOF without either means it died.
    buf = b""
    deadline = time.monotonic() + READY_TIMEOUT
    try:
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([rfd], [], [], left)[0]:
                proc.kill()
                proc.wait()
                _children.pop(proc.pid, None)
                _forget(run_dir)
                raise KernelRefused(
                    f"service daemon of lab {lab} did not report ready within {READY_TIMEOUT:g} s",
                    obj=str(run_dir),
                    hint=f"see {log_path}",
                )
            chunk = os.read(rfd, 4096)
            if not chunk:
                break
            buf += chunk
    finally:
        os.close(rfd)
    line = buf.split(b"\n", 1)[0].decode("utf-8", "replace")
    if line != "ready":
        try:
            proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        _children.pop(proc.pid, None)
        _forget(run_dir)
        reason = line[len("error "):] if line.startswith("error ") else _log_tail(log_path)
        raise KernelRefused(f"service daemon of lab {lab} failed to start: {reason}", obj=str(run_dir),
                            hint=f"see {log_path}")
    return proc.pid


def _log_tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "it exited without a word"
    return lines[-1] if lines else "it exited without a word"


# --------------------------------------------------------------------------
# the daemon


def _log(msg: str) -> None:
    sys.stderr.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} services[{os.getpid()}]: {msg}\n")
    sys.stderr.flush()


class _Bound:
    """One service's sockets, and what serves them once the loop runs."""

    def __init__(self, svc: Service, ino: int, tcp: socket.socket, udp: socket.socket):
        self.svc = svc
        self.ino = ino
        self.tcp = tcp
        self.udp = udp
        self.server = None  # asyncio Server on tcp
        self.udp_transport = None
        self.conns = set()  # open TCP transports
        self.rr = 0  # next backend (clb)

    def line(self, proto: str) -> bytes:
        return f"vpclab {self.svc.name} {proto}/{self.svc.port}\n".encode()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        else:
            self.tcp.close()
        if self.udp_transport is not None:
            self.udp_transport.close()
        else:
            self.udp.close()
        for t in list(self.conns):
            t.abort()
        self.conns.clear()


def _bind(svc: Service) -> _Bound:
    """Create and bind the service's sockets inside its namespace."""
    fam = _family(svc.ip)
    try:
        with _in_netns(svc.ns) as ino:
            tcp = socket.socket(fam, socket.SOCK_STREAM)
            udp = socket.socket(fam, socket.SOCK_DGRAM)
    except FileNotFoundError:
        raise OSError(errno.ENOENT, f"namespace {svc.ns} does not exist") from None
    try:
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind((svc.ip, svc.port))
        tcp.listen(128)
        tcp.setblocking(False)
        udp.bind((svc.ip, svc.port))
        udp.setblocking(False)
    except OSError:
        tcp.close()
        udp.close()
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

    spec = _read_json(spec_path)
    if spec is None or spec.get("lab") != lab:
        report(f"error cannot read spec {spec_path} for lab {lab}")
        return 2
    run_dir = spec_path.parent
    try:
        services = [_from_dict(d) for d in spec.get("services", [])]
    except (KeyError, TypeError, ValueError) as e:
        report(f"error bad spec {spec_path}: {e}")
        return 2

    try:  # a clb holds two descriptors per connection
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
        if soft != resource.RLIM_INFINITY and soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ImportError, OSError, ValueError):
        pass

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
                with _in_netns(b.svc.ns):
                    sock = socket.socket(_family(ip), socket.SOCK_STREAM)
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
            self.t.sendto(self.b.line("udp"), addr)

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
            b.server = await loop.create_server(factory, sock=b.tcp, backlog=128)
            b.udp_transport, _ = await loop.create_datagram_endpoint(lambda b=b: Echo(b), sock=b.udp)
        pid = os.getpid()
        _write_atomic(run_dir / STATE_FILE, json.dumps({"pid": pid, "lab": lab,
                                                        "netns": {b.svc.ns: b.ino for b in bound}}) + "\n")
        _write_atomic(run_dir / PID_FILE, f"{pid}\n")
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
                if _ns_inode(b.svc.ns) != b.ino:
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
        if _read_pid(run_dir) == os.getpid():
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
        _log("usage: python -m vpclab.kernel.services --lab LAB --spec FILE [--ready-fd N]")
        return 2
    try:
        ready_fd = int(opts.get("--ready-fd") or -1)
    except ValueError:
        ready_fd = -1
    return _daemon(opts["--lab"], Path(opts["--spec"]), ready_fd)


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
