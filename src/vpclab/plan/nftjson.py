"""nftables rule expressions in libnftables' JSON, written the way `nft` lists them back.

Pure (no libnftables): the planner builds rules with these helpers, the kernel layer
(kernel.handlers.nft) sends them and reads them back. A rule's expressions are kept as
canonical JSON text (`canonical`) so that a ruleset read back from the kernel compares
equal to the planned one: the helpers emit nftables' own normal form (a single-element
set is a plain value, a /32 a plain address, `meta l4proto` left out when a port match
implies it, counters without their values).
"""
from __future__ import annotations

import ipaddress
import json
from typing import Iterable, List, Optional, Sequence, Union

Expr = dict
Net = Union[str, ipaddress.IPv4Network, ipaddress.IPv4Address]


def canonical(exprs: Sequence[Expr]) -> str:
    """The JSON text a rule is compared by: counters without values, keys sorted."""
    return json.dumps([{"counter": None} if "counter" in e else e for e in exprs],
                      sort_keys=True, separators=(",", ":"))


def match(left: Expr, right, op: str = "==") -> Expr:
    return {"match": {"op": op, "left": left, "right": right}}


def payload(proto: str, field: str) -> Expr:
    return {"payload": {"protocol": proto, "field": field}}


def meta(key: str) -> Expr:
    return {"meta": {"key": key}}


SADDR = payload("ip", "saddr")
DADDR = payload("ip", "daddr")
COUNTER: Expr = {"counter": None}
ACCEPT: Expr = {"accept": None}
DROP: Expr = {"drop": None}
RETURN: Expr = {"return": None}


def jump(chain: str) -> Expr:
    return {"jump": {"target": chain}}


def _net(n: Net):
    net = ipaddress.IPv4Network(str(n), strict=False)
    if net.prefixlen == 32:
        return str(net.network_address)
    return {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}


def addresses(nets: Iterable[Net]):
    """The right side matching any of `nets`: a plain value for one, else an anonymous set
    in address order (how the kernel gives an interval set back)."""
    uniq = sorted({ipaddress.IPv4Network(str(n), strict=False) for n in nets},
                  key=lambda n: (int(n.network_address), n.prefixlen))
    if not uniq:
        raise ValueError("no addresses")
    if len(uniq) == 1:
        return _net(uniq[0])
    return {"set": [_net(n) for n in uniq]}


def addr_match(which: Expr, nets: Sequence[Net], op: str = "==") -> List[Expr]:
    """Match the address against `nets`; nothing at all for 0.0.0.0/0 (every IPv4 address)."""
    nets = list(nets)
    if any(ipaddress.IPv4Network(str(n), strict=False).prefixlen == 0 for n in nets):
        return [] if op == "==" else [match(which, _net("0.0.0.0/0"), op)]
    return [match(which, addresses(nets), op)]


def proto_match(proto: str, ports: Optional[tuple], direction_field: str = "dport") -> List[Expr]:
    """`proto` tcp|udp|icmp|all and an inclusive port range (tcp/udp only, None = all)."""
    if proto == "all":
        return []
    if ports is None or proto not in ("tcp", "udp"):
        return [match(meta("l4proto"), proto)]
    lo, hi = ports
    return [match(payload(proto, direction_field), lo if lo == hi else {"range": [lo, hi]})]


def rule(*parts) -> List[Expr]:
    """Flatten expressions and lists of them into one rule."""
    out: List[Expr] = []
    for p in parts:
        if isinstance(p, list):
            out.extend(p)
        else:
            out.append(p)
    return out
