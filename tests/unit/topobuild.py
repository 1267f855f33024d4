"""A tiny builder for topology files in tests: dicts in, YAML text out.

Tests describe a topology with a few calls instead of a giant literal:

    t = topo({"vpc-a": vpc(0, routes=[("10.1.0.0/16", "pcx-ab")]),
              "vpc-b": vpc(1, routes=[("10.0.0.0/16", "pcx-ab")])},
             {"pcx-ab": peer("vpc-a", "vpc-b")})
    lab = load(t)

`vpc(n)` is 10.n.0.0/16 with subnet `app` 10.n.1.0/24 and one instance `cvm-1`
at 10.n.1.10, unless told otherwise. `text(t)` renders block-style YAML (one key
per line), so `line_of(text, "pcx-ab:")` finds where a thing was written.
"""
from __future__ import annotations

import copy
from typing import Dict, Iterable, List, Optional, Tuple, Union

import pytest
import yaml

from vpclab.topology import load as loader
from vpclab.errors import TopologyInvalid

GZ, SG, TK = "ap-guangzhou", "ap-singapore", "ap-tokyo"

_DEFAULT = object()


def vpc(n: Optional[int] = None, *, cidr: Optional[str] = None, region: str = GZ, account: Optional[str] = None,
        subnets=_DEFAULT, routes: Iterable[Tuple[str, str]] = (), tables: Optional[Dict[str, list]] = None,
        instances=_DEFAULT) -> dict:
    """A VPC body. `routes` go to table `default`; `tables` maps other table names to route pairs."""
    if cidr is None:
        cidr = f"10.{n}.0.0/16"
    body: dict = {}
    if account is not None:
        body["account"] = account
    body["region"] = region
    body["cidr"] = cidr
    if subnets is _DEFAULT:
        subnets = {"app": f"10.{n}.1.0/24"} if n is not None else {}
    if subnets:
        body["subnets"] = {name: ({"cidr": s} if isinstance(s, str) else dict(s)) for name, s in subnets.items()}
    all_tables = {}
    if routes:
        all_tables["default"] = list(routes)
    for tname, rs in (tables or {}).items():
        all_tables[tname] = list(rs)
    if all_tables:
        body["route_tables"] = {t: {"routes": [{"destination": d, "next_hop": h} for d, h in rs]}
                                for t, rs in all_tables.items()}
    if instances is _DEFAULT:
        instances = {"cvm-1": {"subnet": "app", "ip": f"10.{n}.1.10"}} if n is not None else {}
    if instances:
        body["instances"] = {name: ({"subnet": i} if isinstance(i, str) else dict(i)) for name, i in instances.items()}
    return body


def peer(a: str, b: str, bandwidth: Optional[str] = None, accepted: Optional[bool] = None) -> dict:
    p = {"vpc": a, "peer_vpc": b}
    if bandwidth is not None:
        p["bandwidth"] = bandwidth
    if accepted is not None:
        p["accepted"] = accepted
    return p


def topo(vpcs: Dict[str, dict], peerings: Optional[Dict[str, dict]] = None, *, lab: str = "t",
         accounts: Optional[List[str]] = None, regions: Iterable[str] = (GZ, SG, TK),
         latency: Optional[dict] = None, expect: Optional[list] = None) -> dict:
    d: dict = {"lab": lab}
    if accounts:
        d["accounts"] = list(accounts)
    if regions:
        d["regions"] = {r: {} for r in regions}
    if latency:
        d["latency"] = dict(latency)
    d["vpcs"] = copy.deepcopy(vpcs)
    if peerings:
        d["peerings"] = copy.deepcopy(peerings)
    if expect:
        d["expect"] = list(expect)
    return d


def text(d: Union[dict, str]) -> str:
    """Block-style YAML of a topology dict (text passes through)."""
    if isinstance(d, str):
        return d
    return yaml.safe_dump(d, sort_keys=False, default_flow_style=False, width=1000)


def load(d: Union[dict, str], file: str = "t.yaml"):
    """The Lab of a topology that must be valid."""
    return loader.loads(text(d), file)


def problems(d: Union[dict, str], file: str = "t.yaml"):
    """The problems of a topology that must be invalid."""
    with pytest.raises(TopologyInvalid) as e:
        loader.loads(text(d), file)
    return e.value.problems


def codes(d: Union[dict, str]) -> List[str]:
    return [p.code for p in problems(d)]


def line_of(t: str, needle: str, after: int = 0) -> int:
    """1-based line of the first line (past line `after`) that contains `needle`."""
    for i, line in enumerate(t.splitlines(), start=1):
        if i > after and needle in line:
            return i
    raise AssertionError(f"{needle!r} not in the text after line {after}:\n{t}")


def key_line(t: str, key: str, after: int = 0) -> int:
    """1-based line (past line `after`) where the mapping key `key` is written."""
    import re

    pat = re.compile(rf"^\s*(- )?{re.escape(key)}:(\s|$)")
    for i, line in enumerate(t.splitlines(), start=1):
        if i > after and pat.match(line):
            return i
    raise AssertionError(f"key {key!r} not in the text after line {after}:\n{t}")


def pairs(ps) -> List[Tuple[str, int]]:
    """(code, line) of each problem: what a test usually pins."""
    return [(p.code, p.line) for p in ps]


def two_vpcs(routes_a=True, routes_b=True, **peering) -> dict:
    """vpc-a 10.0/16 and vpc-b 10.1/16 joined by pcx-ab, with routes on the sides asked for."""
    return topo(
        {"vpc-a": vpc(0, routes=[("10.1.0.0/16", "pcx-ab")] if routes_a else ()),
         "vpc-b": vpc(1, routes=[("10.0.0.0/16", "pcx-ab")] if routes_b else ())},
        {"pcx-ab": peer("vpc-a", "vpc-b", **peering)},
    )
