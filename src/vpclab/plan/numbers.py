"""The numbers a lab's kernel objects use: route table ids, rule priorities, peering link addresses.

The planner makes objects with them; status (plan/kernelnames) reads them back.
"""
from __future__ import annotations

import ipaddress
import socket
from typing import Dict

from ..model.filters import MAX_LISTENERS  # noqa: F401  (a lab's listeners: the kernel's service daemon sizes itself by it)
from ..model.types import Peering

MAIN_TABLE = 254
INGRESS_TABLE = 90  # traffic arriving over a regional peering
INGRESS_XR_TABLE = 91  # ... over a cross-region peering (no CLB)
FIRST_TABLE = 100
PEERING_RULE_PRIO = 1000  # + the peering's index (< 16,384 /30s in 169.254/16): before the subnets
SUBNET_RULE_PRIO = 20000
CCN_INGRESS_TABLE = 92  # traffic arriving from the VPC's CCN: its own subnets only (plan/ccn.py)
CCN_RULE_PRIO = 19999  # iif the CCN link: after every peering's (< 17,384), before the subnets'
LINK_NET = ipaddress.IPv4Network("169.254.0.0/16")
DEFAULT = "0.0.0.0/0"


def table_ids(vpc) -> Dict[str, int]:
    """Kernel table number of each route table: `default` first, then by name."""
    order = ["default"] + sorted(t for t in vpc.route_tables if t != "default")
    return {t: FIRST_TABLE + i for i, t in enumerate(order)}


def link_addresses(p: Peering):
    """(requester, accepter) addresses of a peering's /30, as strings (a hot path: plain integers)."""
    base = int(LINK_NET.network_address) + 4 * p.index
    return socket.inet_ntoa((base + 1).to_bytes(4, "big")), socket.inet_ntoa((base + 2).to_bytes(4, "big"))


def ccn_link_addresses(n: int):
    """(first, second) addresses of CCN link number `n`, from the top of 169.254.0.0/16 down
    (peerings count up from the bottom; plan/ccn.py refuses a lab where the two would meet)."""
    base = int(LINK_NET.broadcast_address) + 1 - 4 * (n + 1)
    return socket.inet_ntoa((base + 1).to_bytes(4, "big")), socket.inet_ntoa((base + 2).to_bytes(4, "big"))
