"""The lab model: plain dataclasses for everything a topology describes.

The loader builds these from YAML; the store round-trips them through JSON;
plan, analyze and the rules read them. Nothing here touches the kernel.
`line` fields remember where in the topology file a thing was written, so a
rule can name FILE:LINE; they are 0 for objects created live from the CLI.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .filters import Internet, NatGateway, NetworkAcl, SecurityGroup

IPv4Network = ipaddress.IPv4Network
IPv4Address = ipaddress.IPv4Address

KINDS = ("cvm", "cdb", "cmem", "clb")
SERVICE_PORTS = {"cdb": 3306, "cmem": 11211}
RESULTS = ("reachable", "no-return", "unreachable")
PROTOS = ("icmp", "tcp", "udp")

# Peering states (Tencent API 3.0 `PeerConnection.State`).
PENDING = "PENDING"
ACTIVE = "ACTIVE"
REJECTED = "REJECTED"
EXPIRED = "EXPIRED"
DELETED = "DELETED"
STATES = (PENDING, ACTIVE, REJECTED, EXPIRED, DELETED)
LIVE_STATES = (PENDING, ACTIVE)  # count toward quota and one-per-pair
TERMINAL_STATES = (REJECTED, EXPIRED, DELETED)

# Names (TOPOLOGY.md): shared by the loader and the live operations.
LAB_NAME = re.compile(r"^[a-z][a-z0-9]{0,7}\Z")
VPC_NAME = re.compile(r"^[a-z][a-z0-9-]{0,23}\Z")
ITEM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}\Z")
PEERING_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,59}\Z")
ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}\Z")

MAX_PEERINGS_PER_VPC = 10
# TOPOLOGY.md reserves link-local and loopback; ranges no kernel routes to a host
# (this network, multicast, class E) cannot be built either.
RESERVED_VPC_RANGES = tuple(ipaddress.ip_network(n) for n in (
    "169.254.0.0/16", "127.0.0.0/8", "0.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4"))
PENDING_VALIDITY_S = 7 * 24 * 3600
MIN_BANDWIDTH_KBPS = 1_000
MAX_BANDWIDTH_KBPS = 10_000_000


@dataclass
class Subnet:
    name: str
    cidr: IPv4Network
    route_table: str = "default"
    line: int = field(default=0, compare=False)  # where the file said it; not part of its identity

    @property
    def gateway(self) -> IPv4Address:
        return self.cidr.network_address + 1


@dataclass
class Route:
    destination: IPv4Network
    next_hop: str
    line: int = field(default=0, compare=False)  # where the file said it; not part of its identity


@dataclass
class RouteTable:
    name: str
    routes: List[Route] = field(default_factory=list)
    line: int = field(default=0, compare=False)  # where the file said it; not part of its identity


@dataclass
class Instance:
    name: str
    vpc: str
    subnet: str
    ip: Optional[IPv4Address] = None
    kind: str = "cvm"
    port: Optional[int] = None  # clb: its TCP port; cdb/cmem: their fixed port
    backends: List[str] = field(default_factory=list)
    line: int = field(default=0, compare=False)  # where the file said it; not part of its identity
    security_groups: List[str] = field(default_factory=list)  # ordered; empty = not filtered (v1)
    eip: Optional[IPv4Address] = None  # 1:1 public address (model/filters.py)
    listen: List[Tuple[str, int]] = field(default_factory=list)  # `listen:` (proto, port), as written (v3)

    @property
    def ref(self) -> str:
        return f"{self.vpc}/{self.name}"

    @property
    def service_port(self) -> Optional[int]:
        if self.kind == "clb":
            return self.port
        return SERVICE_PORTS.get(self.kind)


@dataclass
class Vpc:
    name: str
    account: str
    region: str
    cidr: IPv4Network
    subnets: Dict[str, Subnet] = field(default_factory=dict)
    route_tables: Dict[str, RouteTable] = field(default_factory=dict)
    instances: Dict[str, Instance] = field(default_factory=dict)
    line: int = field(default=0, compare=False)  # where the file said it; not part of its identity
    security_groups: Dict[str, SecurityGroup] = field(default_factory=dict)
    network_acls: Dict[str, NetworkAcl] = field(default_factory=dict)
    nat_gateways: Dict[str, NatGateway] = field(default_factory=dict)

    def acl_of(self, subnet: str) -> Optional[NetworkAcl]:
        for acl in self.network_acls.values():
            if subnet in acl.subnets:
                return acl
        return None

    def subnet_of(self, ip: IPv4Address) -> Optional[Subnet]:
        for s in self.subnets.values():
            if ip in s.cidr:
                return s
        return None


@dataclass
class Peering:
    name: str
    vpc: str  # requester
    peer_vpc: str  # accepter
    bandwidth_kbps: Optional[int] = None  # None: regional, no cap
    state: str = ACTIVE
    created_at: float = 0.0  # lab clock, seconds
    index: int = 0  # stable per-lab number; picks the link's 169.254 /30
    line: int = field(default=0, compare=False)  # where the file said it; not part of its identity

    def other(self, vpc: str) -> str:
        return self.peer_vpc if vpc == self.vpc else self.vpc

    def joins(self, a: str, b: str) -> bool:
        return {self.vpc, self.peer_vpc} == {a, b}

    @property
    def expires_at(self) -> Optional[float]:
        return self.created_at + PENDING_VALIDITY_S if self.state == PENDING else None

    @property
    def bandwidth_mbps(self):
        if self.bandwidth_kbps is None:
            return None
        mbps = self.bandwidth_kbps / 1000
        return int(mbps) if mbps == int(mbps) else mbps


@dataclass
class Expectation:
    src: str
    dst: str
    proto: str = "icmp"
    port: Optional[int] = None
    result: str = "reachable"
    line: int = field(default=0, compare=False)  # where the file said it; not part of its identity


@dataclass
class Lab:
    name: str
    accounts: List[str] = field(default_factory=lambda: ["default"])
    regions: Dict[str, dict] = field(default_factory=dict)
    latency_ms: Dict[str, float] = field(default_factory=dict)  # "r1/r2" sorted -> one-way ms
    vpcs: Dict[str, Vpc] = field(default_factory=dict)
    peerings: Dict[str, Peering] = field(default_factory=dict)
    expectations: List[Expectation] = field(default_factory=list)
    clock: float = 0.0  # lab time in seconds since the lab was built
    source: Optional[str] = None  # the topology file it came from
    internet: Optional[Internet] = None  # version 2: the lab's Internet (None: no Internet)
    billing: Optional[dict] = None  # the `billing:` key, normalised (usage/prices.py); None: not given
    ccns: Dict[str, "Ccn"] = field(default_factory=dict)  # noqa: F821  version 3: model/ccn.py's CCNs

    # ---- lookups -------------------------------------------------------
    def instance(self, ref: str) -> Optional[Instance]:
        vpc, _, name = ref.partition("/")
        v = self.vpcs.get(vpc)
        return v.instances.get(name) if v else None

    def instances(self) -> List[Instance]:
        return [i for v in self.vpcs.values() for i in v.instances.values()]

    def vpc_of_ip(self, ip: IPv4Address) -> Optional[Vpc]:
        for v in self.vpcs.values():
            if ip in v.cidr:
                return v
        return None

    def peerings_of(self, vpc: str, states=LIVE_STATES) -> List[Peering]:
        return [p for p in self.peerings.values() if vpc in (p.vpc, p.peer_vpc) and p.state in states]

    def is_cross_region(self, p: Peering) -> bool:
        a, b = self.vpcs.get(p.vpc), self.vpcs.get(p.peer_vpc)
        return bool(a and b and a.region != b.region)

    def latency_between(self, r1: str, r2: str) -> Optional[float]:
        return self.latency_ms.get("/".join(sorted((r1, r2))))

    def next_peering_index(self) -> int:
        """The smallest number no PENDING/ACTIVE peering holds: terminal peerings have no
        kernel objects, so their numbers (link /30, rule priority) are free again."""
        used = {p.index for p in self.peerings.values() if p.state in LIVE_STATES}
        n = 0
        while n in used:
            n += 1
        return n
