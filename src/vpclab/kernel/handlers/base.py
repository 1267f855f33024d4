"""What a kernel object handler is: one per kind of plan object (plan.objects).

A handler knows its kind's create, change and delete requests, when in a run
they go (`stage`), and how to read its objects back. The engine (kernel.engine)
calls it for each action of its kind; the read-back (kernel.inspect) asks each
handler for its objects. Neither knows any kind.

Stages, in order; every namespace's requests of a stage go in one batch:
  namespace  namespaces appear and go (not netlink: unshare and mounts)
  link       links are created (later stages find them by name and index)
  object     addresses, rules, routes, qdiscs, settings on the links
  process    processes the lab runs (services)
Deletions of every kind but namespaces run first, in the actions' order.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, Optional

from ...errors import KernelRefused
from ...plan.objects import Action
from .. import rtnl

_NONE: frozenset = frozenset()


@dataclass
class Req:
    req: bytes
    action: Action
    ok: frozenset = _NONE      # errnos that count as success
    last: bool = True          # the action is complete once this request is acked
    check_kind: Optional[str] = None  # EEXIST on a link create: verify the kind afterwards


def refused(action: Action, code: int, text: str = "") -> KernelRefused:
    detail = f" ({text})" if text else ""
    return KernelRefused(f"the kernel refused to {action.op} {action.obj.describe()}: "
                         f"{os.strerror(code)}{detail}", obj=action.obj.describe(), errno=code)


def delete(s, a, req: Optional[bytes]) -> None:
    """Queue a delete that may find its object already gone; skip it (done, nothing to send)
    when there is no request (its link is gone) or its namespace is gone or going."""
    if req is None or not s.live(a.obj.ns):
        s.skip()
    else:
        s.add(a.obj.ns, Req(req, a, rtnl.GONE))


def on_link(s, a, request) -> Optional[bytes]:
    """`request(ifindex)` for an object on a link, or None if the link (or namespace) is gone."""
    o = a.obj
    i = s.index(o.ns, o.ifname) if s.live(o.ns) else None
    return None if i is None else request(i)


class Handler:
    kind = ""          # key[0] of the objects it owns
    stage = "object"

    def create(self, s, a) -> None:
        raise NotImplementedError

    def change(self, s, a) -> None:
        """In place where the kind allows it (the diff asks `can_change_to` first)."""
        self.create(s, a)

    def delete(self, s, a) -> None:
        raise NotImplementedError

    def after(self, s) -> None:
        """Called once after this handler's stage was sent."""

    def prepare(self, s, actions) -> None:
        """Called once when every namespace of the run exists, with this kind's create and
        change actions: a kind that needs nothing but its namespace may start them now (in the
        background, alongside the netlink stages) and must be done by `finish`."""

    def close(self, s) -> None:
        """Called when the run ends, also on an error: wait for any background work."""

    def finish(self, s) -> None:
        """Called once when every stage is done (last requests may still be queued)."""

    def read(self, view) -> Iterable:
        """This kind's objects in one namespace (a kernel.inspect.View: its links, `byindex`,
        `dump(spec)` for the dump this kind needs, made once per namespace, `run(fn)` inside)."""
        return ()

    def read_lab(self, views, ctx) -> Iterable:
        """This kind's objects in the whole lab; by default, namespace by namespace."""
        for v in views:
            yield from self.read(v)
