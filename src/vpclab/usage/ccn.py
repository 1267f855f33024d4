"""Inter-region CCN traffic in the usage report (pure): per CCN and region pair, the month's
95th percentile as the cloud bills a post-paid CCN (research ccn.md §5, "monthly 95th
percentile"), and its cost.

  sample       one window of the pair's link (the meter samples it like a cross-region
               peering's, under the id `CCN@R1/R2`, regions sorted; out = R1 -> R2, in = back):
               its value is max(out, in) in Mbps (the cloud takes, every 5 minutes, the larger
               of the two directions between the two regions).
  valid day    a lab day with at least one sample above 10 Kbps.
  p95          the month's samples sorted, the top 5% (floor(n/20)) dropped, the highest left.
  cost         p95 (Mbps) x price x the month's valid days: the cloud's p95 x valid-day ratio x
               price per Mbps-month, with a month of 30 lab days and the price per Mbps-day of
               the region pair from `billing: prices` (a month's price is 30 times it).
  payer        the CCN's account (the CCN owner pays cross-region traffic, whoever's VPCs send it).
  free         traffic inside one region: not metered (the lab has no link for it).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from ..model.billing import MONTH_95
from .report import MONTH_DAYS, Series, Window, _r, percentile95

VALID_MBPS = 0.01  # 10 Kbps: a day with a sample above it is a valid (billed) day
SEP = "@"  # no peering name holds it: a CCN pair's samples never mix with a peering's


def sample_id(ccn: str, r1: str, r2: str) -> str:
    a, b = sorted((r1, r2))
    return f"{ccn}{SEP}{a}/{b}"


def parse_id(text: str) -> Optional[Tuple[str, str, str]]:
    """`ccn-core@ap-guangzhou/ap-shanghai` -> (ccn, r1, r2); None for a peering's id."""
    ccn, sep, pair = text.rpartition(SEP)
    regions = pair.split("/")
    return (ccn, regions[0], regions[1]) if sep and ccn and len(regions) == 2 and all(regions) else None


def pairs(model) -> List[Tuple[str, str, str]]:
    """(ccn, r1, r2), regions sorted, for every two regions that ACTIVE attachments of a CCN are in."""
    out = []
    for c in (getattr(model, "ccns", None) or {}).values():
        regions = sorted({model.vpcs[a.vpc].region for a in c.active() if a.vpc in model.vpcs})
        out += [(c.name, a, b) for i, a in enumerate(regions) for b in regions[i + 1:]]
    return out


def value(w: Window) -> float:
    """A window's billed sample: the larger direction, in Mbps."""
    return max(w.out_mbps, w.in_mbps)


def month_p95(ws: List[Window]) -> float:
    return percentile95([value(w) for w in ws if w.rate])


def valid_days(ws: List[Window]) -> List[int]:
    return sorted({w.day for w in ws if w.rate and value(w) > VALID_MBPS})


def rows(model, ser: Dict[str, Series], prices: Dict[str, float], priced: bool) -> Tuple[List[dict], Dict[str, float]]:
    """The report's `ccns` rows and the cost per paying account."""
    out, totals = [], {}
    known = {sample_id(*p): p for p in pairs(model)}
    for sid in sorted(set(known) | {k for k in ser if parse_id(k) is not None}):
        ccn, r1, r2 = known.get(sid) or parse_id(sid)
        c = (getattr(model, "ccns", None) or {}).get(ccn)
        s = ser.get(sid)
        if c is None and s is None:
            continue
        payer = c.account if c is not None else None
        price = prices.get(f"{r1}/{r2}")
        windows = s.windows if s is not None else []
        by_day: Dict[int, List[Window]] = {}
        for w in windows:
            by_day.setdefault(w.day, []).append(w)
        first: Dict[int, Tuple[int, int]] = {}
        for day, o, i in (s.first if s is not None else []):
            f = first.get(day, (0, 0))
            first[day] = (f[0] + o, f[1] + i)
        valid = set(valid_days(windows))
        days = []
        for day in sorted(set(by_day) | set(first)):
            ws = by_day.get(day, [])
            o = sum(w.out_bytes for w in ws) + first.get(day, (0, 0))[0]
            i = sum(w.in_bytes for w in ws) + first.get(day, (0, 0))[1]
            days.append({"day": day, "bytes_out": o, "bytes_in": i,
                         "peak_mbps": _r(max((value(w) for w in ws if w.rate), default=0.0)),
                         "windows": sum(1 for w in ws if w.rate), "valid": day in valid})
        months, cost_total = [], (0.0 if price is not None else None)
        for month in sorted({d["day"] // MONTH_DAYS for d in days}):
            ws = [w for w in windows if w.day // MONTH_DAYS == month]
            q = month_p95(ws)
            n_valid = sum(1 for d in valid if d // MONTH_DAYS == month)
            cost = round(q * price * n_valid, 6) if price is not None else None
            if cost is not None:
                cost_total += cost
            months.append({"month": month, "p95_mbps": _r(q), "valid_days": n_valid, "days": MONTH_DAYS,
                           "windows": sum(1 for w in ws if w.rate), "cost": cost})
        if priced and cost_total is not None and payer is not None:
            totals[payer] = totals.get(payer, 0.0) + cost_total
        caps = [c.bandwidth_kbps(r1, r2), c.bandwidth_kbps(r2, r1)] if c is not None else [None, None]
        out.append({"id": sid, "ccn": ccn, "regions": [r1, r2], "payer": payer, "charge_type": MONTH_95,
                    "price_per_mbps_day": price, "cap_mbps": [None if k is None else k / 1000 for k in caps],
                    "bytes_out": sum(d["bytes_out"] for d in days), "bytes_in": sum(d["bytes_in"] for d in days),
                    "days": days, "months": months,
                    "cost": (round(cost_total, 6) if cost_total is not None else None) if priced else None})
    return out, totals


def add(doc: dict, model, ser: Dict[str, Series], billing: Optional[dict]) -> None:
    """Add the `ccns` rows to a report document (report.build's) and their cost to its totals."""
    billing = billing or {}
    prices = billing.get("prices") or {}
    doc["ccns"], totals = rows(model, ser, prices, bool(prices))
    missing = sorted({"/".join(r["regions"]) for r in doc["ccns"] if r["price_per_mbps_day"] is None})
    if prices and missing:
        note = "no price for region pair " + ", ".join(missing) + ": those CCN pairs have no cost"
        doc["note"] = f"{doc['note']}; {note}" if doc.get("note") else note
    if not totals:
        return
    merged = {t["account"]: t["cost"] for t in doc["totals"]}
    for acct, cost in totals.items():
        merged[acct] = round(merged.get(acct, 0.0) + cost, 6)
    doc["totals"] = [{"account": a, "cost": c, "currency": doc.get("currency")} for a, c in sorted(merged.items())]
