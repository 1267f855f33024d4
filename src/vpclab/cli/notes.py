"""Notes a live operation prints on stderr so that a student is not left guessing.

A peering created across accounts waits for the other account; a route through a
peering that is not ACTIVE is a blackhole in the kernel. The commands succeed all the
same (the cloud accepts both), so these are notes, never errors: stdout keeps its
contract (the bare id, the route line).
"""
from __future__ import annotations

from typing import Optional

from ..model.types import ACTIVE, PENDING, Lab


def pending_peering(model: Lab, pid: str) -> Optional[str]:
    """'PENDING: bob must accept ...' for a peering waiting for its accepter, else None."""
    p = model.peerings.get(pid)
    if p is None or p.state != PENDING:
        return None
    acc = model.vpcs[p.peer_vpc].account
    return (f"PENDING: {acc} must accept (`vpclab peering accept {p.name}`, which acts as {acc}); "
            f"until then no packet crosses it, and a PENDING request expires after 7 days of lab time")


def blackhole_route(model: Lab, vpc: str, table: str, destination: str, next_hop: str) -> Optional[str]:
    """A warning for a route whose next hop is a peering that is not ACTIVE, else None."""
    p = model.peerings.get(next_hop)
    if p is None or p.state == ACTIVE:
        return None
    route = f"{vpc}/{table}: {destination} via {p.name}"
    if p.state == PENDING:
        acc = model.vpcs[p.peer_vpc].account
        return (f"{route} is a blackhole until {p.name} is ACTIVE (it is PENDING: {acc} must accept it); "
                "packets to it are dropped in the VPC's router")
    return f"{route} is a blackhole: {p.name} is {p.state} and will never carry traffic again"
