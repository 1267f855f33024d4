"""Billing settings: the topology's `billing:` key and `vpclab usage --prices FILE`.

Owns: reading them, with FILE:LINE for every problem, into the normalised form kept in
the model (`Lab.billing`; model/billing.py holds the charge types and that form).

Prices come from the user: no public price table per region pair exists.
"""
from __future__ import annotations

from typing import Iterable, List, Optional

from ..errors import Problem, TopologyInvalid, did_you_mean, shown
from ..model.units import finite, parse_duration
from .include import file_of  # a line of an included file knows its file
from .yamltree import LDict, kind_of, parse_yaml, read_regular_file

from ..model.billing import (  # noqa: F401  (named here too)
    CHARGE_TYPES, DAY_MAX, DEFAULT_WINDOW_S, MAX_CURRENCY, MAX_WINDOW_S, MIN_WINDOW_S, MONTH_95, currency_ok, empty, pair)
from ..model.codes import NOT_FOUND, TYPE, UNKNOWN_KEY, VALUE  # noqa: F401  (named here too)

TOPOLOGY_KEYS = ("window", "currency", "prices", "charge_types")
FILE_KEYS = ("currency", "prices", "charge_types")


class _Collect:
    def __init__(self, file: str):
        self.file = file
        self.problems: List[Problem] = []
        self.lab_name: Optional[str] = None
        self.whole, self.key = "billing", "billing "

    def add(self, code: str, message: str, line: int, hint: Optional[str] = None) -> None:
        self.problems.append(Problem(code, message, file_of(line, self.file), int(line or 1), hint))


def read(node, file: str, line: int, problems: List[Problem], regions: Iterable[str] = (),
         peerings: Iterable[str] = (), allowed=TOPOLOGY_KEYS, lab_name: Optional[str] = None) -> Optional[dict]:
    """A `billing:` mapping (or a price file's, `allowed=FILE_KEYS`) -> the normalised dict;
    problems are appended (FILE:LINE: CODE). `regions`: the lab's (a price naming another is refused)."""
    c = _Collect(file)
    c.lab_name = lab_name
    c.whole, c.key = ("billing", "billing ") if allowed == TOPOLOGY_KEYS else ("the price file", "")
    out = _read(c, node, line, list(regions), list(peerings), allowed)
    problems.extend(c.problems)
    return None if c.problems else out


def _read(c: _Collect, node, line: int, regions: List[str], peerings: List[str], allowed) -> dict:
    out = empty()
    if node is None:
        return out
    if not isinstance(node, dict):
        c.add(TYPE, f"{c.whole} must be a mapping, not {kind_of(node)}", line)
        return out
    lines = getattr(node, "lines", {})
    at = lambda k: lines.get(k, getattr(node, "line", line))
    for k in node:
        if k not in allowed:
            hint = did_you_mean(str(k), list(allowed))
            if k == "window" and "window" not in allowed:
                hint = "the sample window is set in the topology's billing: key"
            c.add(UNKNOWN_KEY, f"unknown key '{shown(k)}' in {c.whole}", at(k), hint)
    if node.get("window") is not None and "window" in allowed:
        try:
            w = parse_duration(node["window"])
        except ValueError as e:
            c.add(VALUE, f"billing window: {e}", at("window"))
        else:
            if not MIN_WINDOW_S <= w <= MAX_WINDOW_S:
                c.add(VALUE, f"billing window {shown(node['window'])} is outside 1s..1h (the cloud samples every 5m)",
                      at("window"))
            else:
                out["window_s"] = w
    cur = node.get("currency")
    if cur is not None:
        if not currency_ok(cur):
            c.add(VALUE, f"{c.key}currency must be a code like CNY or USD or a symbol like \u00a5: 1 to "
                         f"{MAX_CURRENCY} letters or currency symbols, not {shown(cur, as_repr=True)}", at("currency"))
        else:
            out["currency"] = cur
    prices = node.get("prices")
    if prices is not None:
        if not isinstance(prices, dict):
            c.add(TYPE, f"{c.key}prices must be a mapping REGION/REGION: price per Mbps-day", at("prices"))
        else:
            plines = getattr(prices, "lines", {})
            for key, value in prices.items():
                pl = plines.get(key, at("prices"))
                parts = str(key).split("/")
                if len(parts) != 2 or not all(parts):
                    c.add(VALUE, f"price key '{shown(key)}' must be REGION/REGION", pl)
                    continue
                if parts[0] == parts[1]:
                    c.add(VALUE, f"price key '{shown(key)}' names one region: a regional peering is free", pl)
                    continue
                for reg in parts:
                    if regions and reg not in regions:
                        what = (f"region '{shown(reg)}', which lab {c.lab_name} does not have" if c.lab_name
                                else f"unknown region '{shown(reg)}'")
                        c.add(NOT_FOUND, f"price names {what}", pl,
                              did_you_mean(reg, regions) or "the lab's regions: " + ", ".join(regions))
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not finite(value) \
                        or value < 0:
                    c.add(VALUE, f"price of {shown(key)} must be a number >= 0 (per Mbps-day), not {shown(value)}", pl)
                    continue
                k = pair(*parts)
                if k in out["prices"]:
                    c.add(VALUE, f"price of {shown(key)} is given twice (either order names one pair)", pl)
                out["prices"][k] = float(value)
    charge = node.get("charge_types")
    if charge is not None:
        if not isinstance(charge, dict):
            c.add(TYPE, f"{c.key}charge_types must be a mapping PEERING: " + " | ".join(CHARGE_TYPES),
                  at("charge_types"))
        else:
            clines = getattr(charge, "lines", {})
            for key, value in charge.items():
                cl = clines.get(key, at("charge_types"))
                if peerings and key not in peerings:
                    c.add(NOT_FOUND, f"charge_types names unknown peering '{shown(key)}'", cl,
                          did_you_mean(str(key), peerings))
                    continue
                if value not in CHARGE_TYPES:
                    c.add(VALUE, f"charge type of {shown(key)} must be one of {', '.join(CHARGE_TYPES)}, "
                                 f"not {shown(value)}", cl, did_you_mean(str(value), list(CHARGE_TYPES)))
                    continue
                out["charge_types"][str(key)] = value
    return out


def load_file(path: str, lab=None) -> dict:
    """A price file (YAML: currency, prices, charge_types; or those under one `billing:` key).
    Raises TopologyInvalid (exit 2) listing every problem as FILE:LINE: CODE: message."""

    text = read_regular_file(path, "a price file is a YAML file")
    doc = parse_yaml(text, path)
    if isinstance(doc, dict) and set(doc) == {"billing"}:
        doc = doc["billing"]
    line = getattr(doc, "line", 1)
    problems: List[Problem] = []
    if doc is None:
        problems.append(Problem(TYPE, "the price file is empty: it needs 'prices' (REGION/REGION: price per Mbps-day)",
                                path, 1))
        raise TopologyInvalid(problems, what="the price file")
    # checked against the lab as its billing: key is: a region or peering it does not have is a typo
    out = read(doc, path, line, problems, _regions(lab) if lab is not None else (),
               list(lab.peerings) if lab is not None else (), FILE_KEYS, lab.name if lab is not None else None)
    if problems:
        raise TopologyInvalid(sorted(problems, key=lambda p: p.line or 0), what="the price file")
    return out


def merged(base: Optional[dict], override: Optional[dict]) -> Optional[dict]:
    """The topology's billing with a price file's settings on top (a file's prices win)."""
    if override is None:
        return base
    out = dict(base or empty())
    out["currency"] = override["currency"] or out.get("currency")
    out["prices"] = {**out.get("prices", {}), **override["prices"]}
    out["charge_types"] = {**out.get("charge_types", {}), **override["charge_types"]}
    return out


def _regions(lab) -> List[str]:
    return sorted(set(lab.regions) | {v.region for v in lab.vpcs.values()})


def hook(r, doc: LDict, lab) -> None:
    """The loader's hook for the top-level `billing:` key (called after VPCs and peerings are read)."""
    if "billing" not in doc:
        return
    regions = _regions(lab)
    lab.billing = read(doc["billing"], r.file, doc.lines.get("billing", 1), r.problems, regions,
                       list(lab.peerings) + sorted(r.unreadable_peerings))
