"""Who keeps a lab's network namespaces alive once `down` has removed their names.

A network namespace lives while anything refers to it: its name under /run/netns
(which `down` unmounts), a process or thread inside it (`ip netns exec ... bash`, a
shell that entered it with nsenter), an open file descriptor on it (its /run/netns
file or some /proc/PID/ns/net), or a bind mount of it elsewhere. Such a namespace
outlives `down` with every object in it, and no lab name leads to it any more.

`holders(names)` finds the last three, from /proc alone (the caller's own process
excluded; bind mounts as seen from the caller's mount namespace). It only reads:
a process that is not the lab's own is never signalled.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional

from . import netns


@dataclass(frozen=True)
class Holder:
    namespace: str  # the namespace's name (already removed, perhaps)
    how: str  # "inside", "thread TID inside", "fd N on", "bind mount at PATH of"
    pid: Optional[int] = None  # None for a bind mount
    command: Optional[str] = None

    def describe(self) -> str:
        who = f"pid {self.pid} ({self.command}): " if self.pid is not None else ""
        return f"{who}{self.how} {self.namespace}"


def namespace_ids(names: Iterable[str]) -> Dict[str, str]:
    """{"net:[INODE]": name} for the named namespaces that exist now (read before removing them)."""
    ids = {}
    for name in names:
        try:
            ids[f"net:[{os.stat(netns.path_of(name)).st_ino}]"] = name
        except OSError:
            continue
    return ids


def _link(path: str) -> Optional[str]:
    try:
        return os.readlink(path)
    except OSError:
        return None


def _fd_ns(path: str, nsfs_dev: int) -> Optional[str]:
    """The "net:[INODE]" an open fd refers to, if it is a namespace file (opened through
    /proc/PID/ns/net, which reads back as such, or through a bind mount, which reads
    back as the mount's path)."""
    target = _link(path)
    if target is None or target.startswith("net:["):
        return target
    if not target.startswith("/"):
        return None  # socket:[...], pipe:[...], anon_inode:...
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"net:[{st.st_ino}]" if st.st_dev == nsfs_dev else None


def _command(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def holders(ids: Dict[str, str]) -> List[Holder]:
    """Every process, thread, fd and bind mount (other than the names under /run/netns)
    that refers to one of the namespaces `ids` (from `namespace_ids`)."""
    if not ids:
        return []
    out: List[Holder] = []
    me = str(os.getpid())
    nsfs_dev = os.stat(netns.SELF_NS).st_dev
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or pid == me:
            continue
        found = []
        ns = _link(f"/proc/{pid}/ns/net")
        if ns in ids:
            found.append((ids[ns], "inside"))
        else:
            try:
                tids = os.listdir(f"/proc/{pid}/task")
            except OSError:
                tids = []
            for tid in tids if len(tids) > 1 else ():
                ns = _link(f"/proc/{pid}/task/{tid}/ns/net")
                if ns in ids:
                    found.append((ids[ns], f"thread {tid} inside"))
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            fds = []
        for fd in fds:
            target = _fd_ns(f"/proc/{pid}/fd/{fd}", nsfs_dev)
            if target in ids:
                found.append((ids[target], f"fd {fd} on"))
        if found:
            cmd = _command(pid)
            out.extend(Holder(name, how, int(pid), cmd) for name, how in found)
    names = {netns.path_of(n) for n in ids.values()} | {"/run/netns/" + n for n in ids.values()}
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 4 and fields[3] in ids and fields[4] not in names:
                    out.append(Holder(ids[fields[3]], f"bind mount at {fields[4]} of"))
    except OSError:
        pass
    return out
