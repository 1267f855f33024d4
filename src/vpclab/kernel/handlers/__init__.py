"""The registry of kernel object handlers, one module per kind, in creation order.

Adding a kind: a plan object class (plan/objects.py), a handler module here
listed in REGISTRY, and the planner that produces it. Nothing else changes.
"""
from __future__ import annotations

from . import address, link, namespace, nft, qdisc, route, rule, service, sysctl

REGISTRY = (namespace.HANDLER, link.HANDLER, sysctl.HANDLER, address.HANDLER, rule.HANDLER, route.HANDLER,
            qdisc.HANDLER, nft.HANDLER, service.HANDLER)
BY_KIND = {h.kind: h for h in REGISTRY}


def handler(obj):
    return BY_KIND[obj.key[0]]
