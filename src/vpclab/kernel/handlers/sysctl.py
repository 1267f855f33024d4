"""Per-interface IPv4 settings, written under /proc/sys inside the namespace.

SETTINGS names what a lab may set and the file it lives in. create and change
write the value; delete writes the kernel's default back (an interface already
gone: nothing to do). All writes of one namespace happen in one visit, after
the links exist. Read back: for every link of a namespace, each setting whose
value is not the kernel's default.
"""
from __future__ import annotations

import errno
import os
from typing import Dict, List, Optional, Tuple

from ...plan.objects import Sysctl
from .. import netns
from .base import Handler, refused

# name -> (path under /proc/sys with {} for the interface, the default of a new interface)
SETTINGS = {
    "proxy_arp": ("net/ipv4/conf/{}/proxy_arp", "0"),
    # a new interface copies the host's table default (its own namespace has none)
    "proxy_delay": ("net/ipv4/neigh/{}/proxy_delay", None),
}


def default(name: str) -> str:
    path, value = SETTINGS[name]
    if value is None:
        with open("/proc/sys/" + path.format("default")) as f:
            value = f.read().strip()
    return value


def _write_all(writes: List[Tuple[str, str, object]], dirs: Optional[netns.SysctlDirs] = None) -> None:
    """One namespace's writes: through `dirs` (kept from its creation), or relative to
    descriptors opened here, one per family (netns.SysctlDirs says why)."""
    with netns.SysctlDirs() as own:
        for path, value, a in writes:
            try:
                fd = (dirs or own).open(path, os.O_WRONLY)
            except FileNotFoundError:
                if a.op == "delete":
                    continue  # its interface is gone, and the setting with it
                raise refused(a, errno.ENODEV, f"no interface {a.obj.ifname} in {a.obj.ns}") from None
            try:
                os.write(fd, value.encode())
            finally:
                os.close(fd)


class SysctlHandler(Handler):
    kind = "sysctl"

    def _queue(self, s, a, value: str) -> None:
        o = a.obj
        per_ns: Dict[str, list] = s.state.setdefault(self.kind, {})
        per_ns.setdefault(o.ns, []).append((SETTINGS[o.name][0].format(o.ifname), value, a))

    def create(self, s, a) -> None:
        self._queue(s, a, a.obj.value)

    def delete(self, s, a) -> None:
        if not s.live(a.obj.ns):
            s.skip()
        else:
            self._queue(s, a, default(a.obj.name))
            self.after(s)  # before the links they sit on are deleted

    def after(self, s) -> None:
        per_ns = s.state.pop(self.kind, {})
        for ns, writes in per_ns.items():
            kept = s.sysdirs.pop(ns, None)  # its /proc/sys/net/ipv4, kept from its creation
            if kept is not None and all(w[0].startswith("net/ipv4/") for w in writes):
                with netns.SysctlDirs({"ipv4": kept}) as dirs:
                    _write_all(writes, dirs)
            else:
                if kept is not None:
                    os.close(kept)
                netns.run_in(ns, lambda: _write_all(writes))
            s.result.done += len(writes)

    def read(self, view):
        names = [n for n in view.byindex.values() if n != "lo"]
        defaults = {n: default(n) for n in SETTINGS}

        def values():
            out = []
            with netns.SysctlDirs() as dirs:
                for ifname in names:
                    for name, (path, _) in SETTINGS.items():
                        try:
                            with open(dirs.open(path.format(ifname), os.O_RDONLY)) as f:
                                v = f.read().strip()
                        except FileNotFoundError:
                            continue
                        if v != defaults[name]:
                            out.append(Sysctl(view.ns, ifname, name, v))
            return out

        return view.run(values) if names else ()


HANDLER = SysctlHandler()
