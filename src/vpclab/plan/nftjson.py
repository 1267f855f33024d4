"""nftables rule expressions in libnftables' JSON, written the way `nft` lists them back.

Pure (no libnftables): the planner builds rules with these helpers, the kernel layer
(kernel.handlers.nft) sends them and reads them back. A rule's expressions are kept as
canonical JSON text (`canonical`) so that a ruleset read back from the kernel compares
equal to the planned one: the helpers emit nftables' own normal form (a single-element
set is a plain value, a /32 a plain address, `meta l4proto` left out when a port match
implies it, counters without their values).
"""
from __future__ import annotations

import functools
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


@functools.lru_cache(maxsize=65536)
def _parse(text: str):
    """(network as int, prefix length, its nft JSON form) of a CIDR or address, parsed once."""
    net = ipaddress.IPv4Network(text, strict=False)
    form = str(net.network_address) if net.prefixlen == 32 else \
        {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}
    return int(net.network_address), net.prefixlen, form


def _net(n: Net):
    return _parse(str(n))[2]


def addresses(nets: Iterable[Net]):
    """The right side matching any of `nets`: a plain value for one, else an anonymous set
    in address order (how the kernel gives an interval set back)."""
    uniq = sorted({_parse(str(n))[:2]: _parse(str(n))[2] for n in nets}.items())
    if not uniq:
        raise ValueError("no addresses")
    if len(uniq) == 1:
        return uniq[0][1]
    return {"set": [form for _, form in uniq]}


def addr_match(which: Expr, nets: Sequence[Net], op: str = "==") -> List[Expr]:
    """Match the address against `nets`; nothing at all for 0.0.0.0/0 (every IPv4 address)."""
    nets = list(nets)
    if any(_parse(str(n))[1] == 0 for n in nets):
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
