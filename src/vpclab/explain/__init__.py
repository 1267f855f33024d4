"""Answers from the model alone, no packets: `explain(lab, SRC, DST, proto, port)`.

A lab with security groups, ACLs, EIPs, NAT gateways or an Internet is answered by
filtered.py (which walks the routes with routes.py and the rules with match.py); any other
by routes.py alone (a CCN on the way: ccn.py). verdict.py is the vocabulary every answer speaks (its names are here
too); questions.py and diff.py answer `vpclab diff` (differential reachability).
"""
from __future__ import annotations

from .answer import explain  # noqa: F401
from .verdict import (  # noqa: F401  (the vocabulary, named here too)
    BLACKHOLE_ROUTE, CCN_ATTACHMENT_NOT_ACTIVE, CCN_ROUTE_DISABLED, CLB_CROSS_REGION, INCONCLUSIVE, NETWORK_ACL_DENY, NO_LISTENER, NO_PUBLIC_IP, NO_RETURN, NO_ROUTE,
    NOT_TRANSITIVE, PEERING_NOT_ACTIVE, REACHABLE, SECURITY_GROUP_DENY, UNREACHABLE, Leg, Reason, Verdict,
    dropped_on_arrival)
from .routes import frozen, listens, lookup  # noqa: F401  (named here too)

