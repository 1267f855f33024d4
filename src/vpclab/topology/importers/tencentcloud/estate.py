"""What `convert` and `filters` share: the topology being built (`Out`), the resolution state
(`Ctx`: cloud ids -> names) and typed reads of the SDK's objects (the SDK checks no types)."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .snapshot import Note, Snapshot

DEFAULT_ACCOUNT = "default"


def s(obj, attr: str) -> str:
    """A string field of an SDK object ("" when absent or not a string: the SDK checks no types)."""
    v = getattr(obj, attr, None)
    return v.strip() if isinstance(v, str) else ""


def seq(obj, attr: str) -> list:
    v = getattr(obj, attr, None)
    return v if isinstance(v, list) else []


def num(obj, attr: str) -> Optional[int]:
    v = getattr(obj, attr, None)
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def network(text: str) -> Optional[ipaddress.IPv4Network]:
    try:
        return ipaddress.IPv4Network(text, strict=False)
    except ValueError:
        return None


@dataclass
class Out:
    """The topology being built (plain data, each object with the cloud id it came from)."""

    accounts: List[str] = field(default_factory=list)
    regions: List[str] = field(default_factory=list)
    internet: Optional[str] = None
    vpcs: Dict[str, dict] = field(default_factory=dict)
    peerings: Dict[str, dict] = field(default_factory=dict)
    ccns: Dict[str, dict] = field(default_factory=dict)  # name -> {account, attachments, bandwidth_limits, ...}
    ids: Dict[Tuple, str] = field(default_factory=dict)  # (kind, names...) -> cloud id


@dataclass
class Ctx:
    snap: Snapshot
    out: Out
    notes: List[Note]
    vpc: Dict[str, str] = field(default_factory=dict)  # vpc id -> name
    vpc_cidr: Dict[str, ipaddress.IPv4Network] = field(default_factory=dict)
    account: Dict[str, str] = field(default_factory=dict)  # vpc id -> account name
    region: Dict[str, str] = field(default_factory=dict)  # vpc id -> region
    subnet: Dict[str, Tuple[str, str]] = field(default_factory=dict)  # subnet id -> (vpc id, name)
    table: Dict[str, Tuple[str, str]] = field(default_factory=dict)  # table id -> (vpc id, name)
    peering: Dict[str, str] = field(default_factory=dict)  # peering id -> name
    ccn: Dict[str, str] = field(default_factory=dict)  # CCN id -> name
    nat: Dict[str, Tuple[str, str]] = field(default_factory=dict)  # nat id -> (vpc id, name)
    instance: Dict[str, Tuple[str, str, str]] = field(default_factory=dict)  # id -> (vpc id, name, ip)
    groups_of: Dict[str, List[str]] = field(default_factory=dict)  # instance id -> its group ids

    def note(self, address: str, what: str) -> None:
        self.notes.append(Note(address, what))
