"""What "closed" and "isolated" mean, once (lab/README.md, "Closed and isolated"): every
item kind of a check file that says "must not reach" is graded by these functions.

- A destination is **closed** to a source (for a protocol and port) when a probe from the
  source is `unreachable`: the request never arrives. `no-return` is not closed: the request
  arrived (the destination saw it; only its reply was lost).
- Two VPCs are **isolated** when no PENDING or ACTIVE peering joins them, neither holds a
  route toward the other (not even a blackhole: a stale route is not isolation), and every
  instance of each is closed to every instance of the other, both ways.
"""
from __future__ import annotations

import ipaddress
from typing import List, Tuple

from ..controller import status
from ..controller.targets import Target, matrix_targets
from ..model.types import LIVE_STATES, RESULTS, Lab

CLOSED = "unreachable"  # the one verdict that is "closed"
OPENNESS = {r: n for n, r in enumerate(reversed(RESULTS))}  # unreachable 0 < no-return 1 < reachable 2


def closed(result: str) -> bool:
    """A probe's verdict is closed: nothing of the request arrived."""
    return result == CLOSED


def most_open(results: List[str]) -> str:
    """The most open of some verdicts (an inconclusive one counts as open: nothing proves it closed)."""
    return max(results, key=lambda r: OPENNESS.get(r, len(OPENNESS)), default=CLOSED)


def live_peerings(model: Lab, a: str, b: str) -> List[dict]:
    """The PENDING or ACTIVE peerings joining VPCs a and b."""
    return [p for p in status.peering_rows(model) if {p["vpc"], p["peer_vpc"]} == {a, b}
            and p["state"] in LIVE_STATES]


def routes_toward(model: Lab, a: str, b: str) -> List[dict]:
    """The routes of VPC a (every table) toward VPC b: a destination inside b's CIDR, or one
    overlapping it over a peering (a default route to a NAT gateway is not toward b)."""
    cidr = model.vpcs[b].cidr
    peerings = set(model.peerings)
    out = []
    for r in status.route_rows(model, a):
        dst = ipaddress.IPv4Network(r["destination"])
        if dst.overlaps(cidr) and (dst.subnet_of(cidr) or r["next_hop"] in peerings):
            out.append(r)
    return out


def isolation_targets(model: Lab, a: str, b: str) -> List[Target]:
    """Every instance of a to every instance of b and back: ICMP, and each service's port."""
    insts = model.instances()
    out = []
    for src_vpc, dst_vpc in ((a, b), (b, a)):
        for s in insts:
            if s.vpc == src_vpc:
                out += [t for t in matrix_targets(s, insts) if t.dst is not None and t.dst.vpc == dst_vpc
                        and t.dst_ref == t.dst.ref]  # private addresses only: isolation is of the VPCs
    return out


def isolation(model: Lab, a: str, b: str, rows: List[dict]) -> Tuple[bool, List[str], dict]:
    """(isolated, what is not, facts) for VPCs a and b; `rows` the probes of isolation_targets."""
    problems = [f"{p['id']} joining them is {p['state']}" for p in live_peerings(model, a, b)]
    routes = routes_toward(model, a, b) + routes_toward(model, b, a)
    problems += [f"{r['vpc']}'s table {r['table']} routes {r['destination']} via {r['next_hop']} ({r['state']})"
                 for r in routes]
    opened = [r for r in rows if not closed(r["result"])]
    problems += [f"{r['src']} -> {r['dst']} {r['proto']}{'/' + str(r['port']) if r.get('port') else ''} "
                 f"is {r['result']}" for r in opened]
    live = live_peerings(model, a, b)
    facts = {"peering": live[0]["id"] if live else "none",
             "peering_state": live[0]["state"] if live else "none",
             "routes": len(routes), "result": most_open([r["result"] for r in rows])}
    return not problems, problems, facts
