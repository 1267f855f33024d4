"""Read back from the kernel what a lab owns, as the planner's own objects.

Owns: `read_lab(lab, run_dir)` (a set of plan objects, so that a diff is a set
difference) and `list_labs()`. It knows no kind: it opens one socket per
namespace of the lab, hands each handler (kernel.handlers) a View per
namespace, and takes what they read.

Fast by design: one socket per namespace; each dump is made at most once per
namespace, when the first handler asks for it; no per-object gets.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Set

from ..plan.names import lab_of_ns, lab_prefix
from ..plan.objects import NS_PREFIX
from . import netns, rtnl
from .engine import Context
from .handlers import REGISTRY



def LINK_DUMP():
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg  # imported only when a lab has namespaces

    return rtnl.dump_request(ifinfmsg, rtnl.RTM_GETLINK), None


def list_labs() -> List[str]:
    """Lab names seen in namespace names."""
    return sorted({lab for lab in map(lab_of_ns, netns.list_names(NS_PREFIX)) if lab})


class View:
    """One namespace as the handlers read it: its socket, cached dumps, a way in."""

    def __init__(self, ns: str, sock: rtnl.Socket):
        self.ns, self.sock = ns, sock
        self._dumps: Dict[object, list] = {}
        self.links = self.dump(LINK_DUMP)
        self.byindex = {m["index"]: m.get_attr("IFLA_IFNAME") for m in self.links}

    def dump(self, spec) -> list:
        """The messages of a dump, made once per namespace however many handlers ask.
        `spec()` gives (request, {type: class} or None); handlers keep theirs."""
        got = self._dumps.get(spec)
        if got is None:
            req, classes = spec()
            got = self._dumps[spec] = self.sock.dump(req, classes)
        return got

    def run(self, fn):
        """fn() with the calling thread inside this namespace (for /proc/sys)."""
        return netns.run_in(self.ns, fn)


def read_lab(lab: str, run_dir: Optional[Path] = None) -> Set[object]:
    """Everything lab `lab` has in the kernel (and, given its run directory, its services)."""
    names = [n for n in netns.list_names(lab_prefix(lab)) if netns.exists(n)]
    views: List[View] = []
    try:
        for ns in names:
            try:
                sock = rtnl.socket_in(ns)
            except FileNotFoundError:
                continue
            try:
                views.append(View(ns, sock))
            except BaseException:
                sock.close()
                raise
        ctx = Context(lab, run_dir) if run_dir is not None else None
        out: Set[object] = set()
        for h in REGISTRY:
            out.update(h.read_lab(views, ctx))
        return out
    finally:
        for v in views:
            v.sock.close()
