"""Cloud Connect Network (CLOUD-RULES.md, version 3): the CCN, its attachments, its routes.

A CCN joins VPCs, across regions and accounts, and carries traffic between every two ACTIVE
attachments (transitive inside the CCN, never with a peering). Its routes are not stored:
they follow from the attachments in attach order, what each publishes (one route per subnet,
or its VPC CIDR) and the owner's overrides (`disabled`, `enabled`: route keys
`DESTINATION@VPC`). `routes()` is the CCN's route table, `delivered()` what one route table of
an attached VPC receives; `validate()` is every rule over a lab (the loader and the state codec
run it); the live edits are in `ccn_ops`. explain and plan read the same functions, so the
model, the verdicts and the kernel routes cannot disagree.

Lab choices where the cloud is undocumented (docs/rules.md says so): a VPC attaches to one CCN;
a pending request expires after 7 days of the lab clock; the model keeps no history, so a
route's default state is decided against the routes of the attachments before it (whatever the
owner did to them since), and a table's own routes (peering, NAT, USER_CCN) always count as
"already there" against a delivered route.
"""
from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple

from .codes import (BW_OUT_OF_RANGE, CCN_ATTACHED, CCN_ROUTE_OVERLAP, COMBINATION, DUPLICATE, ECMP_WITH_CCN, LIMIT,
                    MALFORMED, NEXT_HOP_INVALID, NOT_FOUND, VPC_CIDR_CONFLICT, Violation)
from .types import ACTIVE, EXPIRED, MAX_BANDWIDTH_KBPS, MIN_BANDWIDTH_KBPS, PENDING, REJECTED, Lab, Vpc

CCN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,59}\Z")
SUBNETS, VPC_CIDR = "subnets", "vpc-cidr"
PUBLISH = (SUBNETS, VPC_CIDR)
INTER, OUTER = "inter-region", "outer-region"  # BandwidthLimitType INTER_REGION_LIMIT / OUTER_REGION_LIMIT
ATTACH_STATES = (PENDING, ACTIVE, REJECTED, EXPIRED)
LIVE = (PENDING, ACTIVE)  # count toward the quotas and the one-CCN-per-VPC rule
MAX_CCNS_PER_ACCOUNT = 5
MAX_ATTACHMENTS_PER_CCN = 25
DEFAULT_BANDWIDTH_KBPS = 1_000_000  # 1 Gbps between two regions (post-paid default)


@dataclass
class Attachment:
    """One VPC on a CCN: its state (PENDING until another account's CCN owner accepts)."""

    vpc: str
    state: str = ACTIVE
    publish: str = SUBNETS
    attached_at: float = 0.0  # lab clock of the request (a PENDING one expires 7 days later)
    line: int = field(default=0, compare=False)


@dataclass
class Ccn:
    name: str
    account: str
    attachments: List[Attachment] = field(default_factory=list)  # in attach order
    limit_type: str = INTER
    limits: Dict[str, int] = field(default_factory=dict)  # inter: "R1/R2" (sorted); outer: "R" -> kbps
    disabled: List[str] = field(default_factory=list)  # route keys the owner disabled
    enabled: List[str] = field(default_factory=list)  # route keys enabled though they came in disabled
    index: int = 0  # stable per-lab number (kernel names, link addresses)
    created_at: float = 0.0
    line: int = field(default=0, compare=False)
    lines: Dict[str, int] = field(default_factory=dict, compare=False)  # a route key or limit -> its line

    def attachment(self, vpc: str) -> Optional[Attachment]:
        return next((a for a in self.attachments if a.vpc == vpc), None)

    def active(self) -> List[Attachment]:
        return [a for a in self.attachments if a.state == ACTIVE]

    def bandwidth_kbps(self, src_region: str, dst_region: str) -> Optional[int]:
        """The cap from one region to another (None inside one region: uncapped)."""
        if src_region == dst_region:
            return None
        key = pair(src_region, dst_region) if self.limit_type == INTER else src_region
        return self.limits.get(key, DEFAULT_BANDWIDTH_KBPS)


def pair(r1: str, r2: str) -> str:
    return "/".join(sorted((r1, r2)))


def route_key(destination, vpc: str) -> str:
    return f"{destination}@{vpc}"


def parse_key(text: str) -> Optional[Tuple[ipaddress.IPv4Network, str]]:
    """`10.8.1.0/24@spoke-2` -> (network, VPC); None when it is not one."""
    dst, sep, vpc = str(text).rpartition("@")
    if not sep or not vpc:
        return None
    try:
        return ipaddress.IPv4Network(dst, strict=True), vpc
    except ValueError:
        return None


def route_id(ccn: str, key: str) -> str:
    """`ccnr-` + 8 characters, stable for one route of one CCN (as DescribeCcnRoutes shows)."""
    return "ccnr-" + hashlib.sha1(f"{ccn}|{key}".encode()).hexdigest()[:8]


@dataclass(frozen=True)
class CcnRoute:
    """One route of a CCN's route table: a destination published by an attached VPC."""

    ccn: str
    destination: ipaddress.IPv4Network
    vpc: str
    region: str
    enabled: bool
    why: str = ""  # why it is disabled ("" when enabled)

    @property
    def key(self) -> str:
        return route_key(self.destination, self.vpc)

    @property
    def id(self) -> str:
        return route_id(self.ccn, self.key)


@dataclass(frozen=True)
class Delivered:
    """A CCN route as one route table of an attached VPC receives it (next hop: the CCN)."""

    route: CcnRoute
    enabled: bool
    why: str = ""  # why it is disabled in this table

    @property
    def destination(self) -> ipaddress.IPv4Network:
        return self.route.destination


# ---- lookups ------------------------------------------------------------------------------


def ccns(lab: Lab) -> Dict[str, Ccn]:
    return getattr(lab, "ccns", None) or {}


def ccn_of(lab: Lab, vpc: str, states: Iterable[str] = (ACTIVE,)) -> Optional[Tuple[Ccn, Attachment]]:
    """The CCN `vpc` is attached to, in one of `states`, and its attachment."""
    for c in ccns(lab).values():
        a = c.attachment(vpc)
        if a is not None and a.state in states:
            return c, a
    return None


def published(lab: Lab, a: Attachment) -> List[ipaddress.IPv4Network]:
    v = lab.vpcs.get(a.vpc)
    if v is None:
        return []
    return [v.cidr] if a.publish == VPC_CIDR else [s.cidr for s in v.subnets.values()]


def routes(lab: Lab, c: Ccn) -> List[CcnRoute]:
    """The CCN's route table, in arrival order. A route identical to, containing or inside a route
    of an earlier attachment that came in enabled comes in disabled (the first attached wins);
    then the owner's overrides apply."""
    out: List[CcnRoute] = []
    valid: List[Tuple[ipaddress.IPv4Network, str]] = []  # routes that came in enabled, so far
    off, on = set(c.disabled), set(c.enabled)
    for a in c.attachments:
        if a.state != ACTIVE or a.vpc not in lab.vpcs:
            continue
        region = lab.vpcs[a.vpc].region
        for dst in published(lab, a):
            clash = next(((d, v) for d, v in valid if v != a.vpc and d.overlaps(dst)), None)
            if clash is None:
                valid.append((dst, a.vpc))
            key = route_key(dst, a.vpc)
            if key in off:
                enabled, why = False, "disabled by the CCN's owner"
            elif clash is None or key in on:
                enabled, why = True, ""
            else:
                how = "identical to" if clash[0] == dst else "inside" if dst.subnet_of(clash[0]) else "containing"
                enabled, why = False, (f"came in disabled: {how} {route_key(*clash)}, attached first")
            out.append(CcnRoute(c.name, dst, a.vpc, region, enabled, why))
    return out


def delivered(lab: Lab, vpc: Vpc, table: str, table_of: Optional[List[CcnRoute]] = None) -> List[Delivered]:
    """What the CCN delivers into `vpc`'s route table `table`: every enabled route of the other
    attachments, next hop the CCN. One overlapping a route already in the table (equal or
    inclusive), or inside the VPC's own CIDR (the local route wins), is disabled there."""
    mine = ccn_of(lab, vpc.name)
    if mine is None:
        return []
    c = mine[0]
    t = vpc.route_tables.get(table)
    own = list(t.routes) if t is not None else []
    out = []
    for r in table_of if table_of is not None else routes(lab, c):
        if r.vpc == vpc.name or not r.enabled:
            continue
        if r.destination.subnet_of(vpc.cidr):
            out.append(Delivered(r, False, f"inside {vpc.name}'s own CIDR {vpc.cidr}: the local route wins"))
            continue
        clash = next((u for u in own if u.destination.overlaps(r.destination)), None)
        if clash is not None:
            out.append(Delivered(r, False, f"overlaps {clash.destination} via {clash.next_hop}, already in "
                                           f"{vpc.name}/{table}"))
        else:
            out.append(Delivered(r, True))
    return out


def effective(rs: Iterable[CcnRoute], dst) -> Optional[CcnRoute]:
    """The enabled route the CCN forwards `dst` by (longest prefix), or None."""
    best = None
    for r in rs:
        longer = best is None or r.destination.prefixlen > best.destination.prefixlen
        if r.enabled and dst in r.destination and longer:
            best = r
    return best


# ---- the rules ----------------------------------------------------------------------------


def check_enable(lab: Lab, c: Ccn, key: str, line: int = 0) -> List[Violation]:
    """Enabling route `key` of `c`: it must exist; an enabled route with the identical destination
    refuses it (CcnRouteCidrOverlap); an inclusive one does not (the longest prefix decides)."""
    rs = routes(lab, c)
    r = next((x for x in rs if x.key == key), None)
    if r is None:
        return [Violation(NOT_FOUND, f"{c.name} has no route {key} ({_known(rs)})", line)]
    twin = next((x for x in rs if x.enabled and x.vpc != r.vpc and x.destination == r.destination), None)
    if twin is not None:
        return [Violation(CCN_ROUTE_OVERLAP, f"{c.name}: route {key} has the same destination as enabled route "
                          f"{twin.key}; only one of them can be enabled (disable {twin.key} first)", line)]
    return []


def _known(rs: List[CcnRoute]) -> str:
    keys = [r.key for r in rs]
    return "routes: " + (", ".join(keys[:8]) + (", ..." if len(keys) > 8 else "") if keys else "none")


def check_bandwidth(lab: Lab, c: Ccn, regions: Tuple[str, ...], kbps: int, line: int = 0) -> List[Violation]:
    known = {v.region for v in lab.vpcs.values()} | set(lab.regions)
    for r in regions:
        if r not in known:
            return [Violation(NOT_FOUND, f"{c.name}: bandwidth limit names region '{r}', which no VPC of the lab "
                              f"is in ({', '.join(sorted(known))})", line)]
    if len(regions) == 2 and regions[0] == regions[1]:
        return [Violation(COMBINATION, f"{c.name}: a limit joins two different regions ({regions[0]} twice); "
                          "inside one region the CCN is uncapped", line)]
    if not MIN_BANDWIDTH_KBPS <= kbps <= MAX_BANDWIDTH_KBPS:
        return [Violation(BW_OUT_OF_RANGE, f"{c.name}: bandwidth {kbps / 1000:g}Mbps is outside 1Mbps..10Gbps",
                          line)]
    return []


def validate(lab: Lab) -> List[Violation]:
    """Every CCN rule over a whole lab (a file's or a state's), in file order."""
    out: List[Violation] = []
    per_account: Dict[str, int] = {}
    on_ccn: Dict[str, str] = {}  # VPC -> the CCN it is attached to (PENDING or ACTIVE)
    hops = set(lab.peerings) | {n for v in lab.vpcs.values() for n in v.nat_gateways}
    for c in ccns(lab).values():
        if c.name in hops:
            out.append(Violation(DUPLICATE, f"CCN {c.name}: a peering or NAT gateway has that name, and a route's "
                                 "next hop must name one thing", c.line))
        per_account[c.account] = per_account.get(c.account, 0) + 1
        if per_account[c.account] > MAX_CCNS_PER_ACCOUNT:
            out.append(Violation(LIMIT, f"CCN {c.name}: account {c.account} already has {MAX_CCNS_PER_ACCOUNT} "
                                 f"CCNs (the quota is {MAX_CCNS_PER_ACCOUNT})", c.line))
        live = 0
        for a in c.attachments:
            if a.vpc not in lab.vpcs:
                out.append(Violation(NOT_FOUND, f"CCN {c.name}: VPC '{a.vpc}' does not exist", a.line))
                continue
            if a.state not in LIVE:
                continue
            if a.vpc in on_ccn:
                out.append(Violation(CCN_ATTACHED, f"CCN {c.name}: {a.vpc} is already attached to {on_ccn[a.vpc]}; "
                                     "a VPC attaches to one CCN", a.line))
                continue
            on_ccn[a.vpc] = c.name
            live += 1
            if live > MAX_ATTACHMENTS_PER_CCN:
                out.append(Violation(LIMIT, f"CCN {c.name}: more than {MAX_ATTACHMENTS_PER_CCN} attachments (the "
                                     f"quota is {MAX_ATTACHMENTS_PER_CCN} per CCN)", a.line))
        for key, kbps in c.limits.items():
            out += check_bandwidth(lab, c, tuple(key.split("/")), kbps, c.lines.get(key, c.line))
        out += _check_overrides(lab, c)
    return out


def _check_overrides(lab: Lab, c: Ccn) -> List[Violation]:
    out: List[Violation] = []
    rs = {r.key: r for r in routes(lab, c)}
    for what, keys in (("disabled_routes", c.disabled), ("enabled_routes", c.enabled)):
        for key in keys:
            line = c.lines.get(f"{what}:{key}", c.line)
            parsed = parse_key(key)
            if parsed is None:
                out.append(Violation(MALFORMED, f"CCN {c.name}: {what} entry '{key}' is not DESTINATION@VPC "
                                     "(e.g. 10.8.1.0/24@spoke-2)", line))
            elif key not in rs:
                out.append(Violation(NOT_FOUND, f"CCN {c.name}: {what} names route {key}, which the CCN does not "
                                     f"have ({_known(list(rs.values()))})", line))
            elif what == "enabled_routes" and key in c.disabled:
                out.append(Violation(COMBINATION, f"CCN {c.name}: route {key} is both disabled and enabled", line))
            elif what == "enabled_routes":
                twin = next((x for x in rs.values() if x.enabled and x.vpc != rs[key].vpc
                             and x.destination == rs[key].destination), None)
                if twin is not None:
                    out.append(Violation(CCN_ROUTE_OVERLAP, f"CCN {c.name}: route {key} has the same destination as "
                                         f"enabled route {twin.key}; only one of them can be enabled", line))
    return out


def check_user_route(lab: Lab, vpc: Vpc, table: str, route, in_file: bool = False) -> List[Violation]:
    """A route the user writes in `vpc`'s `table`. Next hop a CCN (USER_CCN): the VPC must be on that
    CCN. Live (`route add`), a destination equal to a route the CCN delivers there enabled is
    refused (EcmpWithCcnRoute); in a file the table's route came first, and the CCN's comes in
    disabled there instead."""
    c = ccns(lab).get(route.next_hop)
    if c is not None:
        a = c.attachment(vpc.name)
        if a is None or a.state not in LIVE:
            state = f"its attachment is {a.state}" if a is not None else "it is not attached"
            return [Violation(NEXT_HOP_INVALID, f"route {route.destination} in {vpc.name}/{table}: next hop {c.name} "
                              f"is a CCN {vpc.name} is not on ({state})", route.line)]
        if route.destination.overlaps(vpc.cidr):
            return [Violation(VPC_CIDR_CONFLICT, f"route {route.destination} in {vpc.name}/{table} overlaps the VPC's "
                              f"own CIDR {vpc.cidr} (the local route already covers it)", route.line)]
    if not in_file:
        twin = next((d for d in delivered(lab, vpc, table) if d.enabled and d.destination == route.destination), None)
        if twin is not None:
            return [Violation(ECMP_WITH_CCN, f"route {route.destination} in {vpc.name}/{table}: {twin.route.ccn} "
                              f"delivers the same destination there ({twin.route.key}); a user route and a CCN "
                              "route to one destination would form ECMP", route.line)]
    return []
