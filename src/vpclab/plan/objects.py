"""Desired kernel objects: what a lab is made of, as plain hashable values.

The planner produces these from the model; the kernel layer reads the same
types back from the kernel, so a diff is a set difference. Each object has a
`key` (its identity) and compares equal on all fields (its configuration): the
same key with other fields means "change it".

Nothing here imports pyroute2. Namespaces are named `vpclab-<lab>-<vpc>` (the
VPC's router) and `vpclab-<lab>-<vpc>.<instance>`; every interface name starts
with `<lab>-` and is at most 15 characters.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple

NS_PREFIX = "vpclab-"

# The lab's mark on every route it creates (rtm_protocol); read back by it.
RTPROT_VPCLAB = 77

# Creation order; deletion runs in reverse.
ORDER = ("netns", "bridge", "veth", "address", "rule", "route", "qdisc", "service")


@dataclass(frozen=True)
class Netns:
    name: str
    forwarding: bool = False  # VPC routers forward; instances do not
    # `lo` up and the lab's sysctls set (kernel/netns.py LAB_SYSCTLS): always so in a
    # plan; a read-back of a namespace a killed command left half-made says False.
    configured: bool = True
    kind = "netns"

    @property
    def key(self):
        return ("netns", self.name)

    def describe(self) -> str:
        return (f"netns {self.name}" + (" (router, forwarding on)" if self.forwarding else "")
                + ("" if self.configured else " (lo or sysctls not set)"))


@dataclass(frozen=True)
class Bridge:
    ns: str
    ifname: str
    up: bool = True  # administratively up (always so in a plan; a read-back can say False)
    kind = "bridge"

    @property
    def key(self):
        return ("bridge", self.ns, self.ifname)

    def describe(self) -> str:
        return f"bridge {self.ifname} in {self.ns}" + ("" if self.up else " (down)")


@dataclass(frozen=True)
class Veth:
    """A veth pair created with each end directly in its namespace; both ends up.

    `master` optionally enslaves the first end to a bridge in `ns`. `up`: both ends
    administratively up (always so in a plan; a read-back can say False).
    """

    ns: str
    ifname: str
    peer_ns: str
    peer_ifname: str
    master: Optional[str] = None
    up: bool = True
    kind = "veth"

    @property
    def key(self):
        return ("veth", self.ns, self.ifname)

    def describe(self) -> str:
        m = f" (master {self.master})" if self.master else ""
        return f"veth {self.ns}:{self.ifname}{m} <-> {self.peer_ns}:{self.peer_ifname}" + ("" if self.up else " (down)")


@dataclass(frozen=True)
class Address:
    ns: str
    ifname: str
    cidr: str  # "10.0.1.1/24"
    kind = "address"

    @property
    def key(self):
        return ("address", self.ns, self.ifname, self.cidr)

    def describe(self) -> str:
        return f"address {self.cidr} on {self.ns}:{self.ifname}"


@dataclass(frozen=True)
class Route:
    """A route in table `table` of `ns`.

    type "unicast" needs `dev` (and `via` for a gateway, added onlink);
    type "blackhole" drops silently.
    """

    ns: str
    table: int
    dst: str  # "10.1.0.0/16" or "0.0.0.0/0"
    type: str = "unicast"
    via: Optional[str] = None
    dev: Optional[str] = None
    kind = "route"

    @property
    def key(self):
        return ("route", self.ns, self.table, self.dst)

    def describe(self) -> str:
        if self.type == "blackhole":
            return f"route blackhole {self.dst} table {self.table} in {self.ns}"
        via = f" via {self.via}" if self.via else ""
        return f"route {self.dst}{via} dev {self.dev} table {self.table} in {self.ns}"


@dataclass(frozen=True)
class Rule:
    """A policy rule: packets arriving on `iif` look up `table`."""

    ns: str
    priority: int
    iif: str
    table: int
    kind = "rule"

    @property
    def key(self):
        return ("rule", self.ns, self.priority)

    def describe(self) -> str:
        return f"rule {self.priority}: iif {self.iif} lookup {self.table} in {self.ns}"


@dataclass(frozen=True)
class Qdisc:
    """A rate cap (tbf) on the root of an interface, with netem delay where wanted.

    burst follows baseline-perf.md: max(rate x 10 ms, a small floor) so that
    shaping stays exact up to 10 Gbit.
    """

    ns: str
    ifname: str
    rate_kbit: int
    burst_bytes: int
    delay_ms: Optional[float] = None
    kind = "qdisc"

    @property
    def key(self):
        return ("qdisc", self.ns, self.ifname)

    def describe(self) -> str:
        d = f" delay {self.delay_ms:g}ms" if self.delay_ms else ""
        return f"qdisc tbf rate {self.rate_kbit}kbit burst {self.burst_bytes}b{d} on {self.ns}:{self.ifname}"


@dataclass(frozen=True)
class Service:
    """A listener the lab runs inside an instance namespace.

    kind: "listener" (cdb/cmem, and CLB backends: TCP and UDP on `port`, answers
    with `name`), or "clb" (TCP load balancer on `port` spreading connections
    across `backends`, a tuple of (ip, port); it also answers UDP).
    """

    ns: str
    name: str  # "<vpc>/<instance>"
    kind: str
    ip: str
    port: int
    backends: Tuple[Tuple[str, int], ...] = ()

    @property
    def key(self):
        return ("service", self.ns, self.port)

    def describe(self) -> str:
        b = f" -> {', '.join(f'{i}:{p}' for i, p in self.backends)}" if self.backends else ""
        return f"service {self.kind} {self.ip}:{self.port}{b} in {self.ns} ({self.name})"


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
        """Objects of one category (the first element of their key)."""
        return [o for o in self.objects if o.key[0] == kind]

    def namespaces(self):
        return [o.name for o in self.by_kind("netns")]
