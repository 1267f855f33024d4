"""The files a lab's service daemon and its supervisor share, in the lab's run directory.

  services.json        the spec the daemon serves (written by the supervisor)
  services.pid         the daemon's PID (written by the daemon once it is bound)
  services.state.json  the daemon's PID and the inode of each namespace it serves
  services.log         the daemon's stdout/stderr (its log)
  services.lock        serialises start/stop/reconcile on one run directory

Owns: those names, checking a service list, and a Service to and from JSON.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Iterable, List, Optional

from ...errors import Refused
from ...plan.numbers import MAX_LISTENERS
from ...plan.objects import Service

SPEC_FILE = "services.json"
PID_FILE = "services.pid"
STATE_FILE = "services.state.json"
LOG_FILE = "services.log"
LOCK_FILE = "services.lock"

KINDS = ("listener", "clb")
BOTH = ("tcp", "udp")  # a service's sockets unless `protos` names fewer

# The daemon's file descriptors: a TCP and a UDP socket per listener, two per open CLB
# connection, and its own (the interpreter, the log, the ready pipe, asyncio's selector).
FD_PER_LISTENER = 2
FD_CONNECTIONS = 128  # 64 CLB connections at once, or 128 greetings; more wait in the backlog
FD_OWN = 32


def fd_budget(listeners: int) -> int:
    """The open files a daemon serving `listeners` needs (2,160 for MAX_LISTENERS)."""
    return FD_PER_LISTENER * listeners + FD_CONNECTIONS + FD_OWN


def fd_limit(listeners: int, raise_soft: bool = False) -> str:
    """"" when a daemon serving `listeners` fits its file limit, else why not. The daemon may
    raise its soft RLIMIT_NOFILE up to the hard one (it does, with `raise_soft`, up to 65536), so
    the hard limit it inherits from its supervisor is what counts."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
        if raise_soft and soft != resource.RLIM_INFINITY and soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ImportError, OSError, ValueError):
        return ""  # cannot tell: the daemon reports what it cannot open
    need = fd_budget(listeners)
    if need > want:
        return (f"{listeners} listener(s) need {need} open files (2 each, {FD_CONNECTIONS} for connections, "
                f"{FD_OWN} of its own), and the limit is {want} (`ulimit -Hn`); raise it, or serve fewer ports")
    return ""


def family(ip: str) -> int:
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def validate(lab: str, services: List[Service]) -> None:
    if not lab or any(c in lab for c in "\0\n/ "):
        raise Refused(f"invalid lab name {lab!r}")
    if len(services) > MAX_LISTENERS:
        raise Refused(f"{len(services)} listeners: a lab's service daemon serves at most {MAX_LISTENERS}",
                      code="LimitExceeded.Listener")
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
                socket.inet_pton(family(str(ip)), str(ip))
            except (OSError, ValueError):
                raise Refused(f"{what}: invalid address {ip!r}") from None
            if not isinstance(port, int) or not 0 < port < 65536:
                raise Refused(f"{what}: invalid port {port!r}")
        if not s.protos or any(p not in BOTH for p in s.protos) or len(set(s.protos)) != len(s.protos):
            raise Refused(f"{what}: invalid protocols {s.protos!r} (tcp, udp)")
        if s.key in seen:
            raise Refused(f"{what}: a second service on {s.ip}:{s.port} in {s.ns}")
        seen.add(s.key)


def to_dict(s: Service) -> dict:
    return {
        "ns": s.ns,
        "name": s.name,
        "kind": s.kind,
        "ip": s.ip,
        "port": s.port,
        "backends": [[ip, port] for ip, port in s.backends],
        **({} if s.protos == BOTH else {"protos": list(s.protos)}),  # absent: TCP and UDP (as before)
    }


def from_dict(d: dict) -> Service:
    return Service(
        ns=d["ns"],
        name=d["name"],
        kind=d["kind"],
        ip=d["ip"],
        port=int(d["port"]),
        backends=tuple((str(ip), int(port)) for ip, port in d.get("backends", ())),
        protos=tuple(str(p) for p in d.get("protos", BOTH)),
    )


def canonical(services: Iterable[Service]) -> list:
    return sorted((to_dict(s) for s in services), key=lambda d: (d["ns"], d["ip"], d["port"]))


def read_json(path: Path) -> Optional[dict]:
    try:
        with open(path) as f:
            doc = json.load(f)
        return doc if isinstance(doc, dict) else None
    except (OSError, ValueError):
        return None


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)




def read_pid(run_dir: Path) -> Optional[int]:
    try:
        pid = int((run_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid > 0 else None

