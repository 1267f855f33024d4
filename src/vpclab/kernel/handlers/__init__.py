"""The registry of kernel object handlers, one module per kind, in creation order.

Adding a kind: a plan object class (plan/objects.py, with its place in ORDER), a
handler module here listed in REGISTRY, and the planner that produces it. Nothing
else changes (tests/kernel/kernel/test_extending.py adds one from a test with
`plan.objects.add_kind` and `register`).
"""
from __future__ import annotations

from . import address, link, namespace, nft, qdisc, route, rule, service, sysctl

REGISTRY = [namespace.HANDLER, link.HANDLER, sysctl.HANDLER, address.HANDLER, rule.HANDLER, route.HANDLER,
            qdisc.HANDLER, nft.HANDLER, service.HANDLER]
BY_KIND = {h.kind: h for h in REGISTRY}


def register(h) -> None:
    """Add the handler of a new kind: apply, read-back and teardown then know it."""
    if h.kind in BY_KIND:
        raise ValueError(f"a handler for {h.kind} is registered already")
    REGISTRY.append(h)
    BY_KIND[h.kind] = h


def handler(obj):
    return BY_KIND[obj.key[0]]
