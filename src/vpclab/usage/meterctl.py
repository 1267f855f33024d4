"""Starting and stopping a lab's meter (caller side; imports nothing heavy).

  ensure(lab, run_dir) -> pid   start the meter unless ours already runs (`up`)
  stop(run_dir)                 SIGTERM it (verified by its command line), then SIGKILL (`down`, `cleanup`)
  running(run_dir) -> pid|None  its PID if it is alive and really this lab's meter

Files in the lab's run directory: meter.pid, meter.log (and usage.db, samples.py).
Only a PID whose /proc cmdline is `-m vpclab.usage.meter --lab LAB --run-dir DIR`
for this very directory is ever signalled; a stale PID file is just removed.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

from .samples import create

MODULE = "vpclab.usage.meter"
PID_FILE = "meter.pid"
LOG_FILE = "meter.log"
TERM_GRACE = 1.0

_children: Dict[int, subprocess.Popen] = {}  # meters this process started: reaped, never zombies


def _cmdline(pid: int) -> List[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode("utf-8", "surrogateescape") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def _after(args: List[str], flag: str) -> Optional[str]:
    for i, a in enumerate(args[:-1]):
        if a == flag:
            return args[i + 1]
    return None


def _reap() -> None:
    for pid, proc in list(_children.items()):
        if proc.poll() is not None:
            del _children[pid]


def _is_ours(pid: int, run_dir: Path) -> bool:
    _reap()
    args = _cmdline(pid)
    return MODULE in args and _after(args, "--run-dir") == str(run_dir) and _after(args, "--lab") == run_dir.name


def _read_pid(run_dir: Path) -> Optional[int]:
    try:
        text = (run_dir / PID_FILE).read_text().strip()
        return int(text) if text.isdigit() else None
    except OSError:
        return None


def running(run_dir) -> Optional[int]:
    run_dir = Path(run_dir).resolve()
    pid = _read_pid(run_dir)
    return pid if pid is not None and _is_ours(pid, run_dir) else None


def ensure(lab: str, run_dir) -> int:
    """Start the lab's meter unless it runs; return its PID. It does not wait for the
    meter's first sample (an `up` costs only the fork): the first sample reads the
    counters since the links were made, so no byte is lost meanwhile."""
    run_dir = Path(run_dir).resolve()
    pid = running(run_dir)
    if pid is not None:
        return pid
    create(run_dir)  # its epoch is lab time 0: the first `up`
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    fd = os.open(run_dir / LOG_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        proc = subprocess.Popen([sys.executable, "-m", MODULE, "--lab", lab, "--run-dir", str(run_dir)],
                                stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, start_new_session=True,
                                cwd="/", env=env)
    finally:
        os.close(fd)
    _children[proc.pid] = proc
    tmp = run_dir / (PID_FILE + ".tmp")
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600), "w") as f:
        f.write(f"{proc.pid}\n")
    os.replace(tmp, run_dir / PID_FILE)
    return proc.pid


def stop(run_dir) -> None:
    """Stop the lab's meter if it runs: SIGTERM, up to 1 s, SIGKILL. Already gone is fine."""
    run_dir = Path(run_dir).resolve()
    if not run_dir.is_dir():
        return
    pid = _read_pid(run_dir)
    if pid is None and (run_dir / "usage.db").exists():
        # an `up` killed between starting the meter and writing its PID: find it by its command line
        pid = next((int(p) for p in os.listdir("/proc") if p.isdigit() and _is_ours(int(p), run_dir)), None)
    if pid is not None:
        try:
            pidfd = os.pidfd_open(pid)
        except (ProcessLookupError, OSError):
            pidfd = None
        if pidfd is not None:
            try:
                if _is_ours(pid, run_dir):  # checked after pinning it: no PID reuse race
                    for sig, wait in ((signal.SIGTERM, TERM_GRACE), (signal.SIGKILL, 3.0)):
                        try:
                            signal.pidfd_send_signal(pidfd, sig)
                        except ProcessLookupError:
                            break
                        if _wait(pidfd, pid, wait):
                            break
            finally:
                os.close(pidfd)
    try:
        (run_dir / PID_FILE).unlink()
    except FileNotFoundError:
        pass


def _wait(pidfd: int, pid: int, timeout: float) -> bool:
    import select

    ready = bool(select.select([pidfd], [], [], timeout)[0])
    if ready and pid in _children:
        _children.pop(pid).wait()  # our child: reap it
    return ready
