"""`vpclab diff` and the CCN (version 3): what a CCN change reaches, and how it is named.

- `changed_prefixes`: per (VPC, table), the destinations of the routes a CCN delivers there
  that differ between the two models (added, removed, enabled or disabled there, or now from
  another VPC). A CCN change (an attachment, its state, a route enabled or disabled, a subnet
  published) reaches explain only through these deliveries, so `diff` treats them as it
  treats a table's own routes.
- `leg_causes`: the CCN facts behind a changed verdict: the attachment state of either end's
  VPC, and the CCN route that carries the address (`ccn-core: route 10.2.1.0/24@vpc-c is
  disabled (was enabled): disabled by the CCN's owner`).
"""
from __future__ import annotations

import ipaddress
from typing import Dict, List, Optional, Set, Tuple

from ..model import ccn as model
from ..model.types import Instance, Lab


def _delivered(lab: Lab, vpc: str, table: str, cache: dict) -> Set[tuple]:
    v = lab.vpcs.get(vpc)
    on = model.ccn_of(lab, vpc) if v is not None else None
    if on is None or table not in v.route_tables:
        return set()
    c = on[0]
    if c.name not in cache:
        cache[c.name] = model.routes(lab, c)
    return {(d.destination, d.route.ccn, d.route.vpc, d.enabled)
            for d in model.delivered(lab, v, table, cache[c.name])}


def changed_prefixes(old: Lab, new: Lab) -> Dict[Tuple[str, str], Set[ipaddress.IPv4Network]]:
    if not model.ccns(old) and not model.ccns(new):
        return {}
    out: Dict[Tuple[str, str], Set[ipaddress.IPv4Network]] = {}
    co: dict = {}
    cn: dict = {}
    for name in set(old.vpcs) & set(new.vpcs):
        for t in set(old.vpcs[name].route_tables) | set(new.vpcs[name].route_tables):
            diff = _delivered(old, name, t, co) ^ _delivered(new, name, t, cn)
            if diff:
                out[(name, t)] = {x[0] for x in diff}
    return out


def _state(lab: Lab, ccn: str, vpc: str) -> str:
    c = model.ccns(lab).get(ccn)
    a = c.attachment(vpc) if c is not None else None
    return a.state if a is not None else ("not attached" if c is not None else "absent")


def _carrier(lab: Lab, ccn: str, vpc: str, ip) -> Optional[model.CcnRoute]:
    """The route of `ccn` published by `vpc` that covers `ip` (longest prefix), enabled or not."""
    c = model.ccns(lab).get(ccn)
    if c is None:
        return None
    best = None
    for r in model.routes(lab, c):
        if r.vpc == vpc and ip in r.destination and (best is None
                                                      or r.destination.prefixlen > best.destination.prefixlen):
            best = r
    return best


def _route_text(r: Optional[model.CcnRoute]) -> str:
    if r is None:
        return "no route"
    return f"{r.key} enabled" if r.enabled else f"{r.key} disabled ({r.why})"


def leg_causes(old: Lab, new: Lab, frm: Tuple[Instance, Instance], to: Tuple[Instance, Instance],
               leg: str) -> List[dict]:
    """The CCN causes of the leg from instance `frm` (old, new) to `to` (old, new)."""
    names = {c.name for lab in (old, new) for c in model.ccns(lab).values()
             for v in (frm[0].vpc, frm[1].vpc, to[0].vpc, to[1].vpc) if c.attachment(v) is not None}
    out: List[dict] = []
    for ccn in sorted(names):
        for vpc in dict.fromkeys((frm[1].vpc, to[1].vpc)):
            so, sn = _state(old, ccn, vpc), _state(new, ccn, vpc)
            if so != sn:
                what = (f"{vpc} is no longer attached (was {so})" if sn == "not attached" else
                        f"{vpc} is attached, {sn} (was not)" if so == "not attached" else
                        f"{vpc}'s attachment is {sn} (was {so})")
                out.append({"kind": "ccn_attachment", "leg": leg, "where": ccn, "vpc": vpc, "old": so, "new": sn,
                            "detail": f"{ccn}: {what}"})
        ro, rn = _carrier(old, ccn, to[0].vpc, to[0].ip), _carrier(new, ccn, to[1].vpc, to[1].ip)
        if (_route_text(ro)) != (_route_text(rn)):
            r = rn or ro
            now = ("enabled" if rn.enabled else f"disabled ({rn.why})") if rn is not None else "gone"
            was = ("enabled" if ro.enabled else "disabled") if ro is not None else "absent"
            out.append({"kind": "ccn_route", "leg": leg, "where": ccn, "route": r.key, "old": _route_text(ro),
                        "new": _route_text(rn),
                        "detail": f"{ccn}: route {r.key} is {now} (was {was}); it carries {to[1].ip}"})
    return out
