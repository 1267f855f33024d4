"""Desired kernel objects: what a lab is made of, as plain hashable values.

The planner produces these from the model; the kernel layer reads the same
types back from the kernel, so a diff is a set difference. Each object has a
`key` (its identity; `key[0]` names its kind) and compares equal on all fields
(its configuration): the same key with other fields means "change it".

What the pure diff needs to know about a kind is declared here, on its class:
`rank` (creation order; deletion runs in reverse), `changeable` (the kernel can
change it in place), `is_link` (recreating it takes along everything on it) and
`on` (the link an object lives on, or None). The kernel layer has one handler
per kind (vpclab.kernel.handlers) that knows its messages.

Nothing here imports pyroute2. Namespaces are named `vpclab-<lab>-<vpc>` (the
VPC's router) and `vpclab-<lab>-<vpc>.<instance>`; every interface name starts
with `<lab>-` and is at most 15 characters.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional, Tuple

NS_PREFIX = "vpclab-"

# The lab's mark on every route and rule it creates (rtm_protocol); read back by it.
RTPROT_VPCLAB = 77

# Creation order of the kinds; deletion runs in reverse. A new kind takes its place with add_kind.
ORDER = ["netns", "veth", "sysctl", "address", "rule", "route", "qdisc", "nft", "service"]


def add_kind(kind: str, after: str) -> None:
    """Give a new kind of object its place in the creation order, right after `after`
    (its kernel handler is registered with kernel.handlers.register)."""
    if kind in ORDER:
        raise ValueError(f"kind {kind} is known already")
    ORDER.insert(ORDER.index(after) + 1, kind)


class Kind:
    """Class-level facts the diff uses; each object class sets its own."""

    changeable = False
    is_link = False

    @property
    def rank(self) -> int:
        return ORDER.index(self.key[0])

    @property
    def on(self) -> Optional[Tuple[str, str]]:
        return None

    def can_change_to(self, want) -> bool:
        """Whether the kernel can turn this object into `want` (same key) in place."""
        return self.changeable


@dataclass(frozen=True)
class Netns(Kind):
    name: str
    forwarding: bool = False  # VPC routers forward; instances do not
    lo_up: bool = True  # reads back False if `lo` was set down by hand (changed in place)
    kind = "netns"
    changeable = True

    @property
    def key(self):
        return ("netns", self.name)

    def describe(self) -> str:
        return (f"netns {self.name}" + (" (router, forwarding on)" if self.forwarding else "")
                + ("" if self.lo_up else " (lo down)"))


@dataclass(frozen=True)
class Veth(Kind):
    """A veth pair created with each end directly in its namespace; both ends up.

    `up` reads back False when either end is administratively down (changed in place).
    """

    ns: str
    ifname: str
    peer_ns: Optional[str]
    peer_ifname: Optional[str]
    up: bool = True
    kind = "veth"
    is_link = True

    @property
    def key(self):
        return ("veth", self.ns, self.ifname)

    def can_change_to(self, want) -> bool:
        return replace(self, up=want.up) == want  # only up/down differs: set it up

    def describe(self) -> str:
        return f"veth {self.ns}:{self.ifname} <-> {self.peer_ns}:{self.peer_ifname}" + ("" if self.up else " (down)")


@dataclass(frozen=True)
class Address(Kind):
    ns: str
    ifname: str
    cidr: str  # "10.0.1.1/24"
    kind = "address"

    @property
    def key(self):
        return ("address", self.ns, self.ifname, self.cidr)

    @property
    def on(self):
        return (self.ns, self.ifname)

    def describe(self) -> str:
        return f"address {self.cidr} on {self.ns}:{self.ifname}"


@dataclass(frozen=True)
class Sysctl(Kind):
    """A per-interface IPv4 setting: `name` is one of kernel.handlers.sysctl.SETTINGS."""

    ns: str
    ifname: str
    name: str  # "proxy_arp" | "proxy_delay"
    value: str
    kind = "sysctl"
    changeable = True

    @property
    def key(self):
        return ("sysctl", self.ns, self.ifname, self.name)

    @property
    def on(self):
        return (self.ns, self.ifname)

    def describe(self) -> str:
        return f"sysctl {self.name}={self.value} on {self.ns}:{self.ifname}"


@dataclass(frozen=True)
class Route(Kind):
    """A route in table `table` of `ns`.

    type "unicast" needs `dev` (and `via` for a gateway, added onlink);
    "blackhole" drops silently; "throw" ends the lookup in this table so the
    next policy rule decides (a subnet's range: its hosts are in the main table).
    """

    ns: str
    table: int
    dst: str  # "10.1.0.0/16" or "0.0.0.0/0"
    type: str = "unicast"
    via: Optional[str] = None
    dev: Optional[str] = None
    kind = "route"
    changeable = True

    @property
    def key(self):
        return ("route", self.ns, self.table, self.dst)

    @property
    def on(self):
        return (self.ns, self.dev) if self.dev else None

    def describe(self) -> str:
        if self.type != "unicast":
            return f"route {self.type} {self.dst} table {self.table} in {self.ns}"
        via = f" via {self.via}" if self.via else ""
        return f"route {self.dst}{via} dev {self.dev} table {self.table} in {self.ns}"


@dataclass(frozen=True)
class Rule(Kind):
    """A policy rule: packets arriving on `iif` (or from `src`, a CIDR) look up `table`."""

    ns: str
    priority: int
    iif: Optional[str]
    table: int
    src: Optional[str] = None
    kind = "rule"

    @property
    def key(self):
        return ("rule", self.ns, self.priority)

    def describe(self) -> str:
        sel = " ".join(x for x in (f"from {self.src}" if self.src else "", f"iif {self.iif}" if self.iif else "") if x)
        return f"rule {self.priority}: {sel or 'all'} lookup {self.table} in {self.ns}"


@dataclass(frozen=True)
class Qdisc(Kind):
    """A rate cap (tbf) on the root of an interface, with netem delay where wanted.

    rate, burst and queue limit come from plan.shaping, the one shaping policy.
    """

    ns: str
    ifname: str
    rate_kbit: int
    burst_bytes: int
    limit_bytes: int
    delay_ms: Optional[float] = None
    kind = "qdisc"
    changeable = True

    @property
    def key(self):
        return ("qdisc", self.ns, self.ifname)

    @property
    def on(self):
        return (self.ns, self.ifname)

    def describe(self) -> str:
        d = f" delay {self.delay_ms:g}ms" if self.delay_ms else ""
        return (f"qdisc tbf rate {self.rate_kbit}kbit burst {self.burst_bytes}b limit {self.limit_bytes}b{d} "
                f"on {self.ns}:{self.ifname}")


@dataclass(frozen=True)
class Service(Kind):
    """A listener the lab runs inside an instance namespace.

    kind: "listener" (cdb/cmem, CLB backends, `listen:`: TCP and UDP on `port`, or only the
    protocols of `protos`, answering with a line naming `name`), or "clb" (TCP load balancer
    on `port` spreading connections across `backends`, a tuple of (ip, port); it also answers
    UDP).
    """

    ns: str
    name: str  # "<vpc>/<instance>"
    kind: str
    ip: str
    port: int
    backends: Tuple[Tuple[str, int], ...] = ()
    # the sockets it binds (out of repr: a version-1 plan's text stays what it was; describe() shows it)
    protos: Tuple[str, ...] = field(default=("tcp", "udp"), repr=False)
    changeable = True

    @property
    def key(self):
        # the address too: the Internet's namespace serves several hosts on one port
        return ("service", self.ns, self.ip, self.port)

    def describe(self) -> str:
        b = f" -> {', '.join(f'{i}:{p}' for i, p in self.backends)}" if self.backends else ""
        only = "" if self.protos == ("tcp", "udp") else "/" + "+".join(self.protos)
        return f"service {self.kind} {self.ip}:{self.port}{only}{b} in {self.ns} ({self.name})"


NFT_FAMILY = "inet"
NFT_TABLE = "vpclab"  # the one table vpclab owns in a namespace


@dataclass(frozen=True)
class NftChain:
    """One chain of vpclab's table. A base chain has `hook`, `type`, `prio` and `policy`;
    a regular chain (a jump target) has none. `rules` are (expr, comment) pairs, `expr`
    the rule's expressions as canonical JSON text (plan.nftjson.canonical), comment or None."""

    name: str
    rules: Tuple[Tuple[str, Optional[str]], ...] = ()
    hook: Optional[str] = None
    type: Optional[str] = None
    prio: Optional[int] = None
    policy: Optional[str] = None


@dataclass(frozen=True)
class Ruleset(Kind):
    """The nftables table `inet vpclab` of one namespace, replaced as a whole in one
    transaction (create and change alike): chains sorted by name."""

    ns: str
    chains: Tuple[NftChain, ...] = ()
    kind = "nft"
    changeable = True

    @property
    def key(self):
        return ("nft", self.ns)

    def chain(self, name: str) -> Optional[NftChain]:
        for c in self.chains:
            if c.name == name:
                return c
        return None

    def describe(self) -> str:
        n = sum(len(c.rules) for c in self.chains)
        return f"nft table {NFT_FAMILY} {NFT_TABLE} in {self.ns} ({len(self.chains)} chains, {n} rules)"


@dataclass(frozen=True)
class Action:
    op: str  # "create" | "delete" | "change"
    obj: object

    def describe(self) -> str:
        return f"{self.op} {self.obj.describe()}"


@dataclass
class Plan:
    """Every kernel object one lab needs."""

    lab: str
    objects: list = field(default_factory=list)

    def by_kind(self, kind: str):
        """Objects of one kind (the first element of their key)."""
        return [o for o in self.objects if o.key[0] == kind]

    def namespaces(self):
        return [o.name for o in self.by_kind("netns")]
