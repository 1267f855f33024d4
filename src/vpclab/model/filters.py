"""The model of version 2's data path: security groups, network ACLs, NAT gateways, the Internet.

Plain dataclasses, like `types`; nothing here touches the kernel. A version-1 topology
has none of these: `Vpc.security_groups`, `Vpc.network_acls` and `Vpc.nat_gateways`
are empty, `Instance.security_groups` is empty (not filtered), `Instance.eip` is None
and `Lab.internet` is None, and every path means what it meant before.

Semantics (the cloud's, see docs/rules.md):
- A security group is stateful and sits at the instance. Its rules per direction are
  ordered and the first match decides; no match drops. An instance's groups are
  evaluated in the order it lists them, as one list. Replies of an allowed flow pass.
- A network ACL is stateless and sits at the subnet boundary, in the VPC router:
  `inbound` is traffic entering a bound subnet from outside it, `outbound` traffic
  leaving it. First match decides, no match drops; a reply needs its own rule.
- An EIP is a 1:1 public address of an instance; a NAT gateway SNATs the subnets whose
  route table sends 0.0.0.0/0 (or any range) to it. Both lie in `Lab.internet.cidr`.
"""
from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

IPv4Network = ipaddress.IPv4Network
IPv4Address = ipaddress.IPv4Address

FILTER_PROTOS = ("tcp", "udp", "icmp", "all")
ACTIONS = ("accept", "drop")
SG_DIRECTIONS = ("ingress", "egress")
ACL_DIRECTIONS = ("inbound", "outbound")
MAX_RULES_PER_DIRECTION = 100
# What one lab's service daemon serves (services/): each listener is a TCP and a UDP socket, so
# the two limits below keep it inside a file-descriptor budget (services.spec.fd_budget).
MAX_HOST_PORTS = 100  # ports one Internet host or instance listens on
MAX_LISTENERS = 1000  # listeners of one lab: Internet host ports, cdb/cmem, CLBs and their backends
DEFAULT_INTERNET_CIDR = ipaddress.IPv4Network("203.0.113.0/24")
INTERNET = "internet"  # the lab's Internet: the hop of a path, its namespace, and no VPC's or NAT gateway's name
INTERNET_PREFIX = INTERNET + "/"  # its hosts: internet/<host>
ANY = ipaddress.IPv4Network("0.0.0.0/0")


@dataclass
class FilterRule:
    """One ordered rule of a security group or ACL direction.

    `peer` is the far side of the rule: the `source` of an ingress/inbound rule or the
    `destination` of an egress/outbound rule, as written: a CIDR ("10.1.0.0/16") or, in
    a security group only, the name of a group of the same VPC (its members' private
    addresses). `ports` is None for all ports, else an inclusive (low, high) range;
    it is None for icmp and all.
    """
    proto: str = "all"
    ports: Optional[Tuple[int, int]] = None
    peer: str = "0.0.0.0/0"
    action: str = "accept"
    line: int = field(default=0, compare=False)  # where the file said it; not part of its identity

    @property
    def peer_network(self) -> Optional[IPv4Network]:
        """The peer as a network, or None when it names a group."""
        return _network(self.peer)

    def port_text(self) -> str:
        if self.ports is None:
            return "all"
        lo, hi = self.ports
        return str(lo) if lo == hi else f"{lo}-{hi}"


@dataclass
class SecurityGroup:
    name: str
    vpc: str
    ingress: List[FilterRule] = field(default_factory=list)
    egress: List[FilterRule] = field(default_factory=list)
    line: int = field(default=0, compare=False)

    def rules(self, direction: str) -> List[FilterRule]:
        return self.ingress if direction == "ingress" else self.egress


@dataclass
class NetworkAcl:
    name: str
    vpc: str
    subnets: List[str] = field(default_factory=list)
    inbound: List[FilterRule] = field(default_factory=list)
    outbound: List[FilterRule] = field(default_factory=list)
    line: int = field(default=0, compare=False)

    def rules(self, direction: str) -> List[FilterRule]:
        return self.inbound if direction == "inbound" else self.outbound


@dataclass
class NatGateway:
    name: str
    vpc: str
    eip: IPv4Address
    line: int = field(default=0, compare=False)


@dataclass
class InternetHost:
    name: str
    ip: IPv4Address
    ports: List[int] = field(default_factory=list)
    line: int = field(default=0, compare=False)

    @property
    def ref(self) -> str:
        return INTERNET_PREFIX + self.name


@dataclass
class Internet:
    """The lab's own emulated Internet: one namespace owning `cidr`, never linked to the host."""
    cidr: IPv4Network = DEFAULT_INTERNET_CIDR
    hosts: Dict[str, InternetHost] = field(default_factory=dict)
    line: int = field(default=0, compare=False)

    def host(self, ref) -> Optional[InternetHost]:
        """The host `ref` (`internet/<name>`) names, or None."""
        if isinstance(ref, str) and ref.startswith(INTERNET_PREFIX):
            return self.hosts.get(ref[len(INTERNET_PREFIX):])
        return None


@functools.lru_cache(maxsize=65536)
def _network(text: str) -> Optional[IPv4Network]:
    """A rule peer's network (IPv4Network is immutable: one object serves every rule naming it)."""
    try:
        return ipaddress.IPv4Network(text, strict=False)
    except (TypeError, ValueError):
        return None
