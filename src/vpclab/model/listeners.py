"""What an instance listens on: one answer for explain, the plan and the rules.

An instance runs a real listener (the lab's service daemon, kernel/services) on:
- each `listen:` entry (`tcp/80`, `udp/53`, TOPOLOGY.md version 3): that protocol only;
- a cdb's 3306 and a cmem's 11211 (their implicit service), TCP and UDP;
- a clb's `port`, and that port on each of its backends, TCP and UDP.
Any other TCP or UDP port of an instance is closed: the kernel answers a SYN with RST and a
datagram with ICMP port unreachable (explain's note NO_LISTENER), as in every earlier topology.
"""
from __future__ import annotations

import re
from typing import Dict, List, Optional, Tuple

from .types import Instance, Lab

LISTEN_PROTOS = ("tcp", "udp")
BOTH = LISTEN_PROTOS
LISTEN_ENTRY = re.compile(r"^(tcp|udp)/([0-9]{1,5})\Z")
LISTEN_PATTERN = r"^(tcp|udp)/[0-9]{1,5}$"  # the schema's form of an entry


def parse(text) -> Optional[Tuple[str, int]]:
    """`tcp/80` -> ("tcp", 80); None when it is not PROTO/PORT (the port's range is the caller's)."""
    m = LISTEN_ENTRY.match(text) if isinstance(text, str) else None
    return (m.group(1), int(m.group(2))) if m else None


def text(entry: Tuple[str, int]) -> str:
    return f"{entry[0]}/{entry[1]}"


def sockets(lab: Lab, inst: Instance) -> Dict[int, Tuple[str, ...]]:
    """port -> the protocols `inst` answers on it (in LISTEN_PROTOS order)."""
    out: Dict[int, set] = {}
    if inst.service_port is not None:
        out.setdefault(inst.service_port, set()).update(BOTH)
    vpc = lab.vpcs.get(inst.vpc)
    for c in vpc.instances.values() if vpc is not None else ():
        if c.kind == "clb" and c.port is not None and inst.name in c.backends:
            out.setdefault(c.port, set()).update(BOTH)
    for proto, port in inst.listen:
        out.setdefault(port, set()).add(proto)
    return {port: tuple(p for p in LISTEN_PROTOS if p in protos) for port, protos in sorted(out.items())}


def listens(lab: Lab, inst: Instance, proto: str, port: Optional[int]) -> bool:
    """Whether a packet of `proto` to `port` finds a listener at `inst` (ICMP always answers)."""
    if proto == "icmp":
        return True
    return proto in sockets(lab, inst).get(port, ())


def ports(lab: Lab, inst: Instance, proto: str = "tcp") -> List[int]:
    """The ports `inst` listens on for `proto`, sorted."""
    return [port for port, protos in sockets(lab, inst).items() if proto in protos]
