"""The shared vocabulary of every answer: the verdicts, the reason codes, Reason, Leg and Verdict.

explain (routes, filtered, match), the probes' classification (controller/verdicts) and the
faces all speak it; it imports nothing of vpclab, so any of them may.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

REACHABLE, NO_RETURN, UNREACHABLE = "reachable", "no-return", "unreachable"
INCONCLUSIVE = "inconclusive"  # probes only: the packets could not tell (controller/verdicts.py)

NO_ROUTE = "NO_ROUTE"
BLACKHOLE_ROUTE = "BLACKHOLE_ROUTE"
NOT_TRANSITIVE = "NOT_TRANSITIVE"
PEERING_NOT_ACTIVE = "PEERING_NOT_ACTIVE"
CLB_CROSS_REGION = "CLB_CROSS_REGION"
NO_LISTENER = "NO_LISTENER"
# Version 2 (filtering and the Internet)
SECURITY_GROUP_DENY = "SECURITY_GROUP_DENY"
NETWORK_ACL_DENY = "NETWORK_ACL_DENY"
NO_PUBLIC_IP = "NO_PUBLIC_IP"
# Version 3 (Cloud Connect Network, explain/ccn.py)
CCN_ROUTE_DISABLED = "CCN_ROUTE_DISABLED"
CCN_ATTACHMENT_NOT_ACTIVE = "CCN_ATTACHMENT_NOT_ACTIVE"


@dataclass
class Reason:
    code: Optional[str] = None
    where: Optional[str] = None
    table: Optional[str] = None
    detail: Optional[str] = None
    # The filtering reasons name what dropped it: `group` or `acl`, its `direction`
    # (ingress/egress, inbound/outbound) and `rule`, the 0-based index, None for "no rule
    # matched". Left out of the JSON for every other reason (version-1 shape).
    group: Optional[str] = None
    acl: Optional[str] = None
    direction: Optional[str] = None
    rule: Optional[int] = None
    # The destination ports the filter drops, for a reply (all of EPHEMERAL or part of it): a
    # probe sends from one of them so that its packets show the drop. Not in the JSON.
    ports: Optional[Tuple[int, int]] = None

    def to_json(self) -> dict:
        doc = {"code": self.code, "where": self.where, "table": self.table, "detail": self.detail}
        if self.code in (SECURITY_GROUP_DENY, NETWORK_ACL_DENY):
            doc.update({"group" if self.code == SECURITY_GROUP_DENY else "acl": self.group or self.acl,
                        "direction": self.direction, "rule": self.rule})
        return doc


def dropped_on_arrival(ref: str, seen, group: Optional[str], direction: Optional[str], rule: Optional[int],
                       how: Optional[str] = None) -> str:
    """The words for a request that reached the destination instance `ref`, arriving from
    `seen`, and that its security group dropped there (explain, probe and matrix say it
    alike): the verdict is `unreachable` (nothing was delivered to the application), yet the
    request did arrive, so `seen_source` is the address it came with. `group` may list the
    instance's groups joined by commas (no rule matched); `how`: the rule or the counter."""
    groups = [g for g in (group or "").split(",") if g]
    which = f"security group {groups[0]}" if len(groups) == 1 else \
        f"security groups {', '.join(groups)}" if groups else "security group"
    rule_words = "no rule matched" if rule is None else f"rule {rule}"
    tail = f": {how}" if how else ""
    return (f"the request reached {ref} (seen source {seen}) and its {which} dropped it "
            f"({direction or 'ingress'}, {rule_words}{tail})")


@dataclass
class Leg:
    delivered: bool = False
    last_hop: Optional[str] = None
    path: List[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"delivered": self.delivered, "last_hop": self.last_hop, "path": list(self.path)}


@dataclass
class Verdict:
    src: str
    dst: str
    proto: str
    port: Optional[int]
    result: str
    forward: Leg
    ret: Leg
    reason: Reason
    rtt_ms: Optional[float] = None
    note: Optional[Reason] = None  # e.g. NO_LISTENER on a closed TCP/UDP port (RST / port unreachable: still reachable)
    # The source address the request arrived with at the destination (private, EIP or NAT);
    # None when it never arrived. A request a security group drops on arrival did arrive.
    seen_source: Optional[str] = None

    def to_json(self) -> dict:
        doc = {"src": self.src, "dst": self.dst, "proto": self.proto, "port": self.port, "result": self.result,
               "forward": self.forward.to_json(), "return": self.ret.to_json(), "reason": self.reason.to_json(),
               "rtt_ms": self.rtt_ms}
        if self.note is not None:
            doc["note"] = self.note.to_json()
        doc["seen_source"] = self.seen_source  # always there: null when the request never arrived
        return doc
