"""desired objects vs what the kernel holds -> the ordered actions that reconcile them.

Pure: both sides are sets of plan objects. An object whose key exists on both
sides with other fields is changed in place where the kernel can do that
(routes are replaced, qdiscs re-capped without touching the link, a namespace's
sysctls rewritten, a link left down set up), otherwise
deleted and created again. Objects inside a namespace that is itself deleted
are not deleted one by one: the namespace takes them along.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Iterable, List

from .objects import ORDER, Action

CHANGEABLE = ("route", "qdisc", "netns", "service")


def category(obj) -> str:
    """netns, bridge, veth, ... (a Service's own `kind` field is listener/clb)."""
    return obj.key[0]


def _ns_of(obj):
    return obj.name if category(obj) == "netns" else obj.ns


# Link fields the kernel layer sets on an existing link (apply: the link's `change`).
SET_IN_PLACE = {"veth": ("master", "up"), "bridge": ("up",)}


def _set_in_place(have, want) -> bool:
    """A link left down (by a killed `up`, say), or a veth whose bridge port was lost (its
    bridge recreated), is set up and re-enslaved in place, not deleted and made again."""
    fields = SET_IN_PLACE.get(category(have))
    return fields is not None and replace(have, **{f: getattr(want, f) for f in fields}) == want


def _on_relinked(want: dict, have: dict, creates: List[Action], changes: List[Action]) -> List[Action]:
    """A link deleted and created again loses its addresses, routes and qdisc in the
    kernel, though the read-back listed them: plan them again."""
    relinked = set()
    for a in creates:
        o = a.obj
        if category(o) in ("bridge", "veth") and o.key in have:
            relinked.add((o.ns, o.ifname))
            if category(o) == "veth":
                relinked.add((o.peer_ns, o.peer_ifname))
    if not relinked:
        return []
    planned = {a.obj.key for a in creates + changes}
    out = []
    for key, obj in want.items():
        c = category(obj)
        on = (obj.ns, obj.ifname) if c in ("address", "qdisc") else (obj.ns, obj.dev) if c == "route" else None
        if key not in planned and on in relinked:
            out.append(Action("create", obj))
    return out


def diff(desired: Iterable, actual: Iterable) -> List[Action]:
    want = {o.key: o for o in desired}
    have = {o.key: o for o in actual}
    doomed_ns = {k[1] for k in have if k[0] == "netns" and k not in want}

    deletes, creates, changes = [], [], []
    for key, obj in have.items():
        if key not in want:
            if category(obj) != "netns" and _ns_of(obj) in doomed_ns:
                continue
            if category(obj) == "veth" and obj.peer_ns in doomed_ns:
                continue  # goes with the peer's namespace
            deletes.append(Action("delete", obj))
        elif want[key] != obj:
            if category(obj) in CHANGEABLE or _set_in_place(obj, want[key]):
                changes.append(Action("change", want[key]))
            else:
                deletes.append(Action("delete", obj))
                creates.append(Action("create", want[key]))
    for key, obj in want.items():
        if key not in have:
            creates.append(Action("create", obj))
    creates += _on_relinked(want, have, creates, changes)

    rank = {k: i for i, k in enumerate(ORDER)}
    deletes.sort(key=lambda a: -rank[category(a.obj)])
    # Objects keep the planner's order within a kind, so the result is deterministic.
    order = {o.key: i for i, o in enumerate(desired if isinstance(desired, list) else want.values())}
    ups = creates + changes
    ups.sort(key=lambda a: (rank[category(a.obj)], order.get(a.obj.key, 0)))
    return deletes + ups
