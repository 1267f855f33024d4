"""Apply planned actions to the kernel through the handler registry.

Owns: the run of one apply: per-namespace sockets and namespace fds, one link
table per namespace (name -> ifindex, kind), the pending batch of each
namespace (one `sendmsg` per namespace and stage, no forks) and the checking of
every acknowledgement. It knows no kind: each action goes to its kind's handler
(kernel.handlers), stage by stage (see handlers/base.py).

Already-gone on delete and already-present on create are fine (decided on
errno by the handler); anything else raises KernelRefused naming the object.
"""
from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ..plan.objects import Action
from . import netns, rtnl
from .handlers import REGISTRY, handler
from .handlers.base import Req, refused

STAGES = ("namespace", "link", "object", "process")


@dataclass
class ApplyResult:
    done: int = 0          # actions carried out (or found already done)
    skipped: int = 0       # deletions made moot by their namespace going away
    warnings: List[str] = field(default_factory=list)


@dataclass
class Context:
    """What handlers of things beyond the kernel need (the services' supervisor)."""

    lab: str
    run_dir: Path
    desired: Sequence = ()
    full: bool = True  # a full reconcile: the supervisor checks its namespaces too


def open_files_cap() -> int:
    """How many sockets, namespace descriptors and kept /proc/sys directories one apply keeps
    open at once: a quarter of the open-file limit each (its soft limit raised to the hard one
    first).

    Unbounded, `up` of 10,000 namespaces held a netlink socket and a namespace descriptor for
    each, 20,000 files, and failed on a hard limit of 20,000 (EMFILE, issue 24). Past the cap
    the oldest are closed, and reopened if needed (`Session.sock`, `Session.fd`)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    limit = soft if soft != resource.RLIM_INFINITY else 1 << 20
    return max(16, limit // 4)


class _Bounded(dict):
    """Open sockets (or descriptors) by namespace, at most `cap`: a new one closes the oldest
    (`sock()` reopens it on demand; nothing pending names a socket, only its namespace)."""

    def __init__(self, cap: int, close=lambda sock: sock.close()):
        super().__init__()
        self.cap, self.close = cap, close

    def __setitem__(self, ns, sock) -> None:
        if ns not in self and len(self) >= self.cap:
            self.close(super().pop(next(iter(self))))
        super().__setitem__(ns, sock)


class Session:
    """Sockets, namespace fds, link tables and pending batches for one apply."""

    def __init__(self, total: int, progress, dying, ctx: Optional[Context]):
        self.cap = open_files_cap()
        self.socks: Dict[str, rtnl.Socket] = _Bounded(self.cap)
        self.fds: Dict[str, int] = {}
        # routers' /proc/sys/net/ipv4, kept from their creation (netns.SysctlDirs)
        self.sysdirs: Dict[str, int] = _Bounded(self.cap, os.close)
        self.links: Dict[str, Dict[str, Tuple[int, str]]] = {}
        self.fresh: set = set()  # namespaces this apply created: their link tables are known, not dumped
        self.pending: Dict[str, List[Req]] = {}
        self.result = ApplyResult()
        self.total = total
        self.progress = progress
        self.dying = dying  # namespaces this apply deletes
        self.ctx = ctx
        self.state: Dict[str, object] = {}  # each handler's own notes, by kind

    def close(self) -> None:
        for ns in list(self.socks) + list(self.fds) + list(self.sysdirs):
            self.forget(ns)

    def forget(self, ns: str) -> None:
        s = self.socks.pop(ns, None)
        if s:
            s.close()
        for fds in (self.fds, self.sysdirs):
            fd = fds.pop(ns, None)
            if fd is not None:
                os.close(fd)
        self.links.pop(ns, None)
        self.fresh.discard(ns)

    def created(self, ns: str) -> None:
        """`ns` was just created: it holds only lo (ifindex 1), and this apply names every
        index it adds (new_index), so no dump is needed to find them."""
        self.fresh.add(ns)
        self.links[ns] = {"lo": (1, "")}

    def new_index(self, ns: str, ifname: str, kind: str) -> int:
        """The ifindex to ask for a new link in `ns` (0: let the kernel choose, then dump)."""
        if ns not in self.fresh:
            return 0
        table = self.links[ns]
        index = max(i for i, _ in table.values()) + 1
        table[ifname] = (index, kind)
        return index

    def unknown(self, ns: str) -> None:
        """A link the kernel numbers itself arrives in `ns`: its table is dumped from now on."""
        self.fresh.discard(ns)

    def forget_links(self) -> None:
        """Links were created or deleted: dump again where the tables are not known."""
        for ns in [n for n in self.links if n not in self.fresh]:
            del self.links[ns]

    def sock(self, ns: str) -> Optional[rtnl.Socket]:
        s = self.socks.get(ns)
        if s is None:
            try:
                s = self.socks[ns] = rtnl.socket_in(ns)
            except FileNotFoundError:
                return None
        return s

    def live(self, ns: str) -> bool:
        """The namespace exists and this apply does not delete it."""
        return ns not in self.dying and self.sock(ns) is not None

    def fd(self, ns: str, action: Action) -> int:
        fd = self.fds.get(ns)
        if fd is None:
            if len(self.fds) >= self.cap:
                # pending requests may name these descriptors (a veth's peer): send them first
                self.flush()
                for old in list(self.fds)[:len(self.fds) // 2]:
                    os.close(self.fds.pop(old))
            try:
                fd = self.fds[ns] = netns.open_fd(ns)
            except FileNotFoundError:
                raise refused(action, errno.ENOENT, f"namespace {ns} does not exist") from None
        return fd

    def link_table(self, ns: str) -> Dict[str, Tuple[int, str]]:
        table = self.links.get(ns)
        if table is None:
            s = self.sock(ns)
            table = {}
            if s is not None:
                from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg  # only where no table is known

                for m in s.dump(rtnl.dump_request(ifinfmsg, rtnl.RTM_GETLINK), {rtnl.RTM_NEWLINK: rtnl.LinkBrief}):
                    table[m.name] = (m.index, m.kind)
            self.links[ns] = table
        return table

    def index(self, ns: str, ifname: str) -> Optional[int]:
        entry = self.link_table(ns).get(ifname)
        return entry[0] if entry else None

    def need_index(self, ns: str, ifname: str, action: Action) -> int:
        i = self.index(ns, ifname)
        if i is None:
            raise refused(action, errno.ENODEV, f"no interface {ifname} in {ns}")
        return i

    def add(self, ns: str, r: Req) -> None:
        self.pending.setdefault(ns, []).append(r)

    def skip(self) -> None:
        self.result.skipped += 1
        self.result.done += 1

    def flush(self) -> None:
        """Send every namespace's pending batch; raise on the first unexpected refusal."""
        pending, self.pending = self.pending, {}
        verify: List[Tuple[str, Req]] = []
        for ns, reqs in pending.items():
            s = self.sock(ns)
            if s is None:
                raise refused(reqs[0].action, errno.ENOENT, f"namespace {ns} does not exist")
            results = s.batch([r.req for r in reqs])
            for r, (code, text) in zip(reqs, results):
                if code and code not in r.ok:
                    raise refused(r.action, code, text)
                if code == errno.EEXIST and r.check_kind:
                    verify.append((ns, r))
                if r.last:
                    self.result.done += 1
        if verify:
            self.forget_links()
            for ns, r in verify:
                entry = self.link_table(ns).get(r.action.obj.ifname)
                if entry is None or entry[1] != r.check_kind:
                    raise refused(r.action, errno.EEXIST, "a different interface holds the name")
        if self.progress and pending:
            self.progress(self.result.done, self.total)


def apply(actions: Sequence[Action], progress: Optional[Callable[[int, int], None]] = None,
          context: Optional[Context] = None) -> ApplyResult:
    """Carry out the planner's actions in their order; return counts and warnings.

    `progress(done, total)` is called after each batch. Without a `context`
    (no lab run directory), actions of kinds beyond the kernel (services) are left alone.
    """
    # Each action's handler, found once (a scale lab's `up` has ~3,000 actions and looked
    # each one up ~14 times); then each stage's actions and each kind's, in the actions' order.
    pairs = [(a, handler(a.obj)) for a in actions]
    pairs = [(a, h) for a, h in pairs if context is not None or h.stage != "process"]
    dying = {a.obj.name for a, h in pairs if a.op == "delete" and h.stage == "namespace"}
    staged: Dict[str, List[Tuple[Action, object]]] = {stage: [] for stage in STAGES}
    kinds: Dict[int, List[Action]] = {id(h): [] for h in REGISTRY}
    for a, h in pairs:
        if (a.op != "delete" or h.stage == "namespace") and h.stage in staged:
            staged[h.stage].append((a, h))
        if a.op != "delete":
            kinds.setdefault(id(h), []).append(a)
    s = Session(len(pairs), progress, dying, context)
    try:
        for a, h in pairs:
            if a.op == "delete" and h.stage != "namespace":
                h.delete(s, a)
        s.flush()
        for stage in STAGES:
            for a, h in staged[stage]:
                getattr(h, a.op)(s, a)
            s.flush()
            for h in REGISTRY:
                if h.stage == stage:
                    h.after(s)
            if stage == "namespace":  # every namespace exists: kinds that need no more may start now
                for h in REGISTRY:
                    h.prepare(s, kinds.get(id(h), []))
        for h in REGISTRY:
            h.finish(s)
        s.flush()
    finally:
        for h in REGISTRY:
            h.close(s)
        s.close()
    return s.result
