"""Apply planned actions to the kernel: namespaces, links, addresses, rules, routes, qdiscs.

Owns: turning `Action(op, obj)` lists from the planner into rtnetlink requests,
grouped per namespace into one batch (one `sendmsg`, one socket per
namespace, no forks), and the conventions of the kernel mapping:

- netns: `lo` up, IPv6 off, rp_filter 0 (all/default), ip_forward from `forwarding`.
- bridge: STP off, forward delay 0, up.
- veth: made once with each end directly in its namespace; both ends up; the
  first end enslaved to `master`; ends (and bridges) get alias `vpclab:<lab>`.
  A link's `change` (one left down, or a veth that lost its bridge port) sets
  it up, its master and alias in place: the same requests as after a create.
- route: protocol RTPROT_VPCLAB, `via` added onlink; create/change = replace.
- rule: `iif <ifname> lookup <table>` at `priority`; change = delete + add.
- qdisc: see tc.py; create/change = replace (a live re-cap, the link stays); a
  delay is netem, which the planner asks for only where the kernel has it.

Work runs in passes, each one batch per namespace: deletions (objects in a
namespace that is itself deleted are skipped; a veth with one surviving end is
deleted from that end), namespace removals and creations, link creations,
then everything else (after one link dump per namespace for the ifindexes),
and last a get of every new link, which makes the kernel finish its
asynchronous link-watch work so the lab forwards when apply returns.
Already-gone on delete and already-present on create are fine (decided on
errno); anything else raises KernelRefused naming the object. Service actions
are not ours and are ignored.
"""
from __future__ import annotations

import errno
import logging
import os
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ..errors import KernelRefused
from ..plan.names import lab_of_ns
from ..plan.objects import RTPROT_VPCLAB, Action
from . import netns, rtnl, tc

log = logging.getLogger(__name__)

KINDS = frozenset({"netns", "bridge", "veth", "address", "rule", "route", "qdisc"})
_EEXIST = frozenset({errno.EEXIST})
_NONE: frozenset = frozenset()


@dataclass
class ApplyResult:
    done: int = 0          # actions carried out (or found already done)
    skipped: int = 0       # deletions made moot by their namespace going away
    warnings: List[str] = field(default_factory=list)


@dataclass
class _Req:
    req: Tuple[int, int, bytes]
    action: Action
    ok: frozenset = _NONE      # errnos that count as success
    last: bool = True          # the action is complete once this request is acked
    check_kind: Optional[str] = None  # EEXIST on a link create: verify the kind afterwards


def alias_of(ns: str) -> Optional[str]:
    lab = lab_of_ns(ns)
    return f"vpclab:{lab}" if lab else None


def _refused(action: Action, code: int, text: str = "") -> KernelRefused:
    detail = f" ({text})" if text else ""
    return KernelRefused(f"the kernel refused to {action.op} {action.obj.describe()}: "
                         f"{os.strerror(code)}{detail}", obj=action.obj.describe(), errno=code)


class _Session:
    """Per-namespace sockets, namespace fds, link tables and pending batches for one apply."""

    def __init__(self, total: int, progress: Optional[Callable[[int, int], None]]):
        self.socks: Dict[str, rtnl.Socket] = {}
        self.fds: Dict[str, int] = {}
        self.links: Dict[str, Dict[str, Tuple[int, str]]] = {}
        self.pending: Dict[str, List[_Req]] = {}
        self.result = ApplyResult()
        self.total = total
        self.progress = progress

    def close(self) -> None:
        for s in self.socks.values():
            s.close()
        for fd in self.fds.values():
            os.close(fd)
        self.socks.clear()
        self.fds.clear()

    def forget(self, ns: str) -> None:
        s = self.socks.pop(ns, None)
        if s:
            s.close()
        fd = self.fds.pop(ns, None)
        if fd is not None:
            os.close(fd)
        self.links.pop(ns, None)

    def sock(self, ns: str) -> Optional[rtnl.Socket]:
        s = self.socks.get(ns)
        if s is None:
            try:
                s = self.socks[ns] = netns.rtnl_socket(ns)
            except FileNotFoundError:
                return None
        return s

    def fd(self, ns: str, action: Action) -> int:
        fd = self.fds.get(ns)
        if fd is None:
            try:
                fd = self.fds[ns] = netns.open_fd(ns)
            except FileNotFoundError:
                raise _refused(action, errno.ENOENT, f"namespace {ns} does not exist") from None
        return fd

    def link_table(self, ns: str) -> Dict[str, Tuple[int, str]]:
        table = self.links.get(ns)
        if table is None:
            s = self.sock(ns)
            table = {}
            if s is not None:
                for m in s.dump(rtnl.RTM_GETLINK, rtnl.link_dump_body()):
                    kind = ""
                    info = m.attrs.get(rtnl.IFLA_LINKINFO)
                    if info is not None:
                        kind = rtnl.cstr(rtnl.attrs(info, 0, len(info)).get(rtnl.IFLA_INFO_KIND, b"\0"))
                    table[rtnl.cstr(m.attrs[rtnl.IFLA_IFNAME])] = (rtnl.i32(m.body[4:8]), kind)
            self.links[ns] = table
        return table

    def index(self, ns: str, ifname: str) -> Optional[int]:
        entry = self.link_table(ns).get(ifname)
        return entry[0] if entry else None

    def need_index(self, ns: str, ifname: str, action: Action) -> int:
        i = self.index(ns, ifname)
        if i is None:
            raise _refused(action, errno.ENODEV, f"no interface {ifname} in {ns}")
        return i

    def add(self, ns: str, r: _Req) -> None:
        self.pending.setdefault(ns, []).append(r)

    def skip(self) -> None:
        self.result.skipped += 1
        self.result.done += 1

    def flush(self) -> None:
        """Send every namespace's pending batch; raise on the first unexpected refusal."""
        pending, self.pending = self.pending, {}
        verify: List[Tuple[str, _Req]] = []
        for ns, reqs in pending.items():
            s = self.sock(ns)
            if s is None:
                raise _refused(reqs[0].action, errno.ENOENT, f"namespace {ns} does not exist")
            results = s.batch([r.req for r in reqs])
            for r, (code, text) in zip(reqs, results):
                if code and code not in r.ok:
                    raise _refused(r.action, code, text)
                if code == errno.EEXIST and r.check_kind:
                    verify.append((ns, r))
                if r.last:
                    self.result.done += 1
        if verify:
            self.links.clear()
            for ns, r in verify:
                entry = self.link_table(ns).get(r.action.obj.ifname)
                if entry is None or entry[1] != r.check_kind:
                    raise _refused(r.action, errno.EEXIST, "a different interface holds the name")
        if self.progress:
            self.progress(self.result.done, self.total)


def apply(actions: Sequence[Action], progress: Optional[Callable[[int, int], None]] = None) -> ApplyResult:
    """Carry out the planner's actions in their order; return counts and warnings.

    `progress(done, total)` is called after each batch.
    """
    acts = [a for a in actions if a.obj.key[0] in KINDS]  # key[0]: Service's `kind` is a field
    dying = {a.obj.name for a in acts if a.obj.kind == "netns" and a.op == "delete"}
    s = _Session(len(acts), progress)
    try:
        # 1. deletions of objects, in the given order
        for a in acts:
            if a.op == "delete" and a.obj.kind != "netns":
                _delete(s, a, dying)
        s.flush()
        # 2. namespaces
        for a in acts:
            if a.obj.kind == "netns":
                _namespace(s, a)
        # 3. links
        made: List[Action] = []
        for a in acts:
            if a.op != "delete" and a.obj.kind in ("bridge", "veth"):
                _link(s, a)
                made.append(a)
        s.flush()
        s.links.clear()
        # 4. the rest: finish links, then addresses, rules, routes, qdiscs in order
        for a in made:
            _finish_link(s, a)
        for a in acts:
            if a.op != "delete" and a.obj.kind in ("address", "rule", "route", "qdisc"):
                _other(s, a)
        s.flush()
        # 5. make the new links work now rather than when link-watch gets round to it
        _sync_links(s, made)
    finally:
        s.close()
    return s.result


def _delete(s: _Session, a: Action, dying) -> None:
    o = a.obj
    k = o.kind
    if k == "veth":  # from a surviving end: a dying namespace would take it away only later
        if o.ns not in dying and s.sock(o.ns) is not None:
            s.add(o.ns, _Req(rtnl.link_del(o.ifname), a, rtnl.GONE))
        elif o.peer_ns and o.peer_ns not in dying and s.sock(o.peer_ns) is not None:
            s.add(o.peer_ns, _Req(rtnl.link_del(o.peer_ifname), a, rtnl.GONE))
        else:
            s.skip()
        return
    if o.ns in dying or s.sock(o.ns) is None:
        s.skip()
        return
    if k == "bridge":
        s.add(o.ns, _Req(rtnl.link_del(o.ifname), a, rtnl.GONE))
    elif k == "address":
        i = s.index(o.ns, o.ifname)
        if i is None:
            s.skip()
        else:
            s.add(o.ns, _Req(rtnl.addr("delete", i, o.cidr), a, rtnl.GONE))
    elif k == "rule":
        s.add(o.ns, _Req(rtnl.rule("delete", o.priority), a, rtnl.GONE))
    elif k == "route":
        s.add(o.ns, _Req(rtnl.route("delete", o.table, o.dst, protocol=RTPROT_VPCLAB), a, rtnl.GONE))
    elif k == "qdisc":
        i = s.index(o.ns, o.ifname)
        if i is None:
            s.skip()
        else:
            s.add(o.ns, _Req(tc.delete_request(i), a, rtnl.GONE))


def _namespace(s: _Session, a: Action) -> None:
    o = a.obj
    if a.op == "delete":
        s.forget(o.name)
        netns.remove(o.name)
        s.result.done += 1
        return
    settings = dict(netns.LAB_SYSCTLS)
    settings[netns.FORWARDING] = "1" if o.forwarding else "0"

    def inside():
        netns.write_sysctls_here(settings)
        return rtnl.Socket()

    sock = None
    if a.op == "create":
        try:
            sock = netns.create(o.name, inside)
        except FileExistsError:
            sock = None
    if sock is None:  # change, or create of one that exists
        s.forget(o.name)
        try:
            sock = netns.run_in(o.name, inside)
        except FileNotFoundError:
            raise _refused(a, errno.ENOENT, "namespace does not exist") from None
    s.socks[o.name] = sock
    s.links.pop(o.name, None)
    s.add(o.name, _Req(rtnl.link_set(index=1, up=True), a))  # lo up


def _link(s: _Session, a: Action) -> None:
    o = a.obj
    if o.kind == "bridge":
        if a.op == "create":
            s.add(o.ns, _Req(rtnl.bridge_new(o.ifname), a, _EEXIST, last=False, check_kind="bridge"))
        return
    if a.op == "create":
        peer_fd = None if o.peer_ns == o.ns else s.fd(o.peer_ns, a)
        s.add(o.ns, _Req(rtnl.veth_new(o.ifname, o.peer_ifname, peer_fd), a, _EEXIST, last=False,
                         check_kind="veth"))


def _finish_link(s: _Session, a: Action) -> None:
    """Up, master and alias, set by name once the links exist (the peer end from its own side)."""
    o = a.obj
    alias = alias_of(o.ns)
    if o.kind == "bridge":
        s.add(o.ns, _Req(rtnl.link_set(o.ifname, up=True, alias=alias), a))
        return
    master = None
    if o.master:
        master = s.need_index(o.ns, o.master, a)
    elif a.op == "change":
        master = 0  # nomaster
    s.add(o.ns, _Req(rtnl.link_set(o.ifname, up=True, master=master, alias=alias), a, last=False))
    s.add(o.peer_ns, _Req(rtnl.link_set(o.peer_ifname, up=True, alias=alias_of(o.peer_ns)), a))


def _sync_links(s: _Session, made: List[Action]) -> None:
    """Run pending link-watch work on every new veth end, then on the bridges.

    Until link-watch has seen a veth end's carrier, its qdisc is `noop` (drops
    everything) and a bridge port stays disabled; the kernel does that work
    asynchronously, and under load a first ARP request can be lost and the
    first probe fails. A get of the link runs that work synchronously.
    """
    bridges: Dict[str, Dict[str, Action]] = {}  # per namespace, after its ports
    for a in made:
        o = a.obj
        if o.kind == "veth":
            s.add(o.ns, _Req(rtnl.link_get(o.ifname), a, last=False))
            s.add(o.peer_ns, _Req(rtnl.link_get(o.peer_ifname), a, last=False))
            if o.master:
                bridges.setdefault(o.ns, {})[o.master] = a
        else:
            bridges.setdefault(o.ns, {})[o.ifname] = a
    for ns, names in bridges.items():
        for name, a in names.items():
            s.add(ns, _Req(rtnl.link_get(name), a, last=False))
    if s.pending:
        s.flush()


def _other(s: _Session, a: Action) -> None:
    o = a.obj
    k = o.kind
    if k == "address":
        s.add(o.ns, _Req(rtnl.addr("create", s.need_index(o.ns, o.ifname, a), o.cidr), a))
    elif k == "rule":
        if a.op == "change":
            s.add(o.ns, _Req(rtnl.rule("delete", o.priority), a, rtnl.GONE, last=False))
        s.add(o.ns, _Req(rtnl.rule("create", o.priority, o.iif, o.table, RTPROT_VPCLAB), a, _EEXIST))
    elif k == "route":
        oif = s.need_index(o.ns, o.dev, a) if (o.dev and o.type == "unicast") else None
        s.add(o.ns, _Req(rtnl.route("create", o.table, o.dst, o.type, o.via, oif, RTPROT_VPCLAB), a))
    elif k == "qdisc":  # a delay is planned only where the kernel has netem (planner.plan)
        reqs = tc.requests(s.need_index(o.ns, o.ifname, a), o.rate_kbit, o.burst_bytes, o.delay_ms)
        for j, r in enumerate(reqs):
            s.add(o.ns, _Req(r, a, last=(j == len(reqs) - 1)))
