"""The supervisor of a lab's service daemon (caller side; imports nothing heavy).

  start(lab, services, run_dir) -> pid   stop any old daemon, spawn, wait for ready
  stop(run_dir)                          SIGTERM our daemon (verified by cmdline), then SIGKILL
  running(run_dir) -> pid | None         the daemon's PID if it is alive and ours
  current(run_dir) -> [Service]          what the running daemon serves
  reconcile(lab, services, run_dir)      keep the daemon if it serves exactly this set in
                                         the namespaces that exist now, else restart it;
                                         an empty set stops it

The daemon is `python -m vpclab.kernel.services.daemon --lab LAB --spec FILE --ready-fd N`
(see daemon.py); the files both use are in spec.py.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, List, Optional

from .. import nsenter
from ...errors import EnvironmentProblem, KernelRefused, Refused
from ...plan.objects import Service
from .spec import (
    LOCK_FILE,
    LOG_FILE,
    PID_FILE,
    SPEC_FILE,
    STATE_FILE,
    canonical,
    fd_limit,
    from_dict,
    read_json,
    read_pid,
    validate,
    write_atomic,
)

MODULE = "vpclab.kernel.services.daemon"
READY_TIMEOUT = 5.0  # seconds start() waits for the daemon to report ready
TERM_GRACE = 1.0  # seconds between SIGTERM and SIGKILL

# Daemons this process spawned, so that it reaps them (no zombies in long-lived callers).
_children: Dict[int, object] = {}


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
    spec = read_json(run_dir / SPEC_FILE)
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





def running(run_dir: Path) -> Optional[int]:
    """The PID of this run directory's daemon if it is alive and ours, else None."""
    _reap_all()
    run_dir = _run_dir(run_dir)
    pid = read_pid(run_dir)
    if pid is None or not _is_ours(pid, run_dir):
        return None
    return pid


def current(run_dir: Path) -> List[Service]:
    """The services the running daemon of this run directory serves (empty if none runs)."""
    run_dir = _run_dir(run_dir)
    if not run_dir.is_dir() or running(run_dir) is None:
        return []
    spec = read_json(run_dir / SPEC_FILE) or {}
    return [from_dict(d) for d in spec.get("services", ())]


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
    pid = read_pid(run_dir)
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
    validate(lab, services)
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
    validate(lab, services)
    run_dir = _run_dir(run_dir)
    if not services:
        stop(run_dir)
        return None
    run_dir.mkdir(parents=True, exist_ok=True)
    with _locked(run_dir):
        _reap_all()
        pid = read_pid(run_dir)
        if pid is not None and _is_ours(pid, run_dir) and _serves(pid, lab, services, run_dir):
            return pid
        _stop(run_dir)
        return _start(lab, services, run_dir)


def _serves(pid: int, lab: str, services: List[Service], run_dir: Path) -> bool:
    spec = read_json(run_dir / SPEC_FILE)
    state = read_json(run_dir / STATE_FILE)
    if spec is None or state is None or state.get("pid") != pid:
        return False
    if spec.get("lab") != lab or spec.get("services") != canonical(services):
        return False
    inodes = state.get("netns") or {}
    return all(inodes.get(s.ns) is not None and inodes.get(s.ns) == nsenter.inode(s.ns) for s in services)


def _start(lab: str, services: List[Service], run_dir: Path) -> int:
    import select
    import subprocess

    why = fd_limit(len(services))  # the daemon inherits our hard limit: refused here when it is too low
    if why:
        raise EnvironmentProblem(f"the service daemon of lab {lab} cannot start: {why}", code="ResourceLimit",
                                 hint=f"`vpclab down {lab}` removes what was built; docs/topology.md (Limits)")
    spec_path = run_dir / SPEC_FILE
    write_atomic(spec_path, json.dumps({"lab": lab, "services": canonical(services)}, indent=1) + "\n")
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[3])
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


