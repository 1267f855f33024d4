"""desired objects vs what the kernel holds -> the ordered actions that reconcile them.

Pure: both sides are sets of plan objects. What the diff knows about a kind is
declared on its class (plan.objects.Kind): its rank, whether it changes in
place, whether it is a link and which link an object lives on. An object whose
key exists on both sides with other fields is changed in place where the kernel
can do that, otherwise deleted and created again. Objects inside a namespace
that is itself deleted are not deleted one by one: the namespace takes them along.
"""
from __future__ import annotations

from typing import Iterable, List

from .objects import Action


def category(obj) -> str:
    """netns, veth, route, ... (a Service's own `kind` field is listener/clb)."""
    return obj.key[0]


def _ns_of(obj):
    return obj.name if category(obj) == "netns" else obj.ns


def _on_relinked(want: dict, have: dict, creates: List[Action], changes: List[Action]) -> List[Action]:
    """A link deleted and created again loses what lived on it in the kernel, though
    the read-back listed it: plan that again."""
    relinked = set()
    for a in creates:
        o = a.obj
        if o.is_link and o.key in have:
            relinked.add((o.ns, o.ifname))
            relinked.add((o.peer_ns, o.peer_ifname))
    if not relinked:
        return []
    planned = {a.obj.key for a in creates + changes}
    return [Action("create", obj) for key, obj in want.items() if key not in planned and obj.on in relinked]


def diff(desired: Iterable, actual: Iterable) -> List[Action]:
    want = {o.key: o for o in desired}
    have = {o.key: o for o in actual}
    doomed_ns = {k[1] for k in have if k[0] == "netns" and k not in want}

    deletes, creates, changes = [], [], []
    for key, obj in have.items():
        if key not in want:
            if category(obj) != "netns" and _ns_of(obj) in doomed_ns:
                continue
            if obj.is_link and obj.peer_ns in doomed_ns:
                continue  # goes with the peer's namespace
            deletes.append(Action("delete", obj))
        elif want[key] != obj:
            if obj.can_change_to(want[key]):
                changes.append(Action("change", want[key]))
            else:
                deletes.append(Action("delete", obj))
                creates.append(Action("create", want[key]))
    for key, obj in want.items():
        if key not in have:
            creates.append(Action("create", obj))
    creates += _on_relinked(want, have, creates, changes)

    deletes.sort(key=lambda a: -a.obj.rank)
    # Objects keep the planner's order within a kind, so the result is deterministic.
    order = {o.key: i for i, o in enumerate(desired if isinstance(desired, list) else want.values())}
    ups = creates + changes
    ups.sort(key=lambda a: (a.obj.rank, order.get(a.obj.key, 0)))
    return deletes + ups
