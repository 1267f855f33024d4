"""The usage report (pure): samples + model + billing -> per peering and day, and the cost.

Owns the billing arithmetic:
  lab time     the lab clock when a sample was taken plus the real seconds since the
               lab's first `up` (usage.db's epoch): it runs with real time, and
               `clock advance 1d` moves it one day on. A billing day is [86400 d,
               86400 (d + 1)) of lab time; a billing month is 30 lab days.
  window       two consecutive samples of a peering; its rate each way is bytes x 8 /
               real seconds between them (never lab seconds: a clock jump is no
               traffic). It belongs to the day its end sample was stamped with (the
               meter closes a window when the clock moves, so none straddles a jump).
               Windows shorter than half the sample window (closed early by a
               command) count their bytes but not as rate samples. The open window
               (since the meter's last sample) is closed by `vpclab usage`'s own read
               of the counters (a sample marked live, never stored), under the same
               rule: its bytes count at once, its rate once it is half a window long.
  peak         the day's billed bandwidth: the highest outbound window rate plus the
               highest inbound window rate (the cloud bills out max + in max).
  p95          95th percentile of the window rates: sorted, the top 5% (floor(n/20)
               samples) dropped, the highest left; outbound plus inbound, as for peak.
  cost         POSTPAID_BY_DAY_MAX: each day's peak (Mbps) x price per Mbps-day.
               POSTPAID_BY_MONTH_95: the month's p95 (Mbps) x price x the days of that
               month the lab was metered. The requester VPC's account pays.
               A regional peering is free.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from ..model.types import Lab
from ..model.billing import DAY_MAX, DEFAULT_WINDOW_S, MONTH_95, pair
from .samples import Sample

DAY_S = 86400.0
MONTH_DAYS = 30
SHORT_WINDOW = 0.5  # windows shorter than this share of the sample window are no rate samples


def lab_time(s: Sample, epoch: float) -> float:
    return s.clock + (s.wall - epoch)


def day_of(t: float) -> int:
    return int(math.floor(t / DAY_S))


def percentile95(values: Sequence[float]) -> float:
    """The 95th percentile as billed: drop the top 5% (floor(n/20) values), take the highest left."""
    if not values:
        return 0.0
    v = sorted(values)
    return v[len(v) - 1 - len(v) // 20]


@dataclass
class Window:
    t: float  # lab time of its end
    day: int
    seconds: float  # real seconds
    out_bytes: int
    in_bytes: int
    rate: bool  # counts as a rate sample
    open: bool = False  # the window the meter has not closed yet, up to `vpclab usage`'s own read

    @property
    def out_mbps(self) -> float:
        return self.out_bytes * 8 / self.seconds / 1e6

    @property
    def in_mbps(self) -> float:
        return self.in_bytes * 8 / self.seconds / 1e6


@dataclass
class Series:
    """One peering's metered life: windows, cap changes (lab time, Mbps or None), first bytes."""

    peering: str
    windows: List[Window] = field(default_factory=list)
    caps: List[Tuple[float, Optional[float]]] = field(default_factory=list)
    first: List[Tuple[int, int, int]] = field(default_factory=list)  # (day, out, in) before the first window


def series(samples: Sequence[Sample], epoch: float, window_s: float) -> Dict[str, Series]:
    out: Dict[str, Series] = {}
    last: Dict[str, Sample] = {}
    for s in sorted(samples, key=lambda s: s.wall):
        ser = out.setdefault(s.peering, Series(s.peering))
        t = lab_time(s, epoch)
        cap = _mbps(s.cap_kbps)
        prev = last.get(s.peering)
        if not ser.caps or ser.caps[-1][1] != cap:
            # the meter closed the window under the old cap the moment the cap changed: the new
            # cap holds from that sample on (its lab time, with this sample's clock)
            at = t if prev is None else s.clock + (prev.wall - epoch)
            ser.caps.append((at, cap))
        last[s.peering] = s
        if prev is None:
            ser.first.append((day_of(t), s.out_bytes, s.in_bytes))  # counters since the link was made
            continue
        d_out, d_in = s.out_bytes - prev.out_bytes, s.in_bytes - prev.in_bytes
        dt = s.wall - prev.wall
        if d_out < 0 or d_in < 0:  # the link was made anew: its counters restarted
            ser.first.append((day_of(t), s.out_bytes, s.in_bytes))
            continue
        if dt <= 0:
            continue
        ser.windows.append(Window(t, day_of(t), dt, d_out, d_in, dt >= SHORT_WINDOW * window_s, s.live))
    return out


def _mbps(kbps: Optional[int]):
    if kbps is None:
        return None
    return kbps // 1000 if kbps % 1000 == 0 else kbps / 1000


def _peak(ws: List[Window]) -> Tuple[float, float]:
    rated = [w for w in ws if w.rate]
    return (max((w.out_mbps for w in rated), default=0.0), max((w.in_mbps for w in rated), default=0.0))


def _p95(ws: List[Window]) -> Tuple[float, float]:
    rated = [w for w in ws if w.rate]
    return percentile95([w.out_mbps for w in rated]), percentile95([w.in_mbps for w in rated])


def _r(x: Optional[float], n: int = 4) -> Optional[float]:
    return None if x is None else round(x, n)


def build(model: Lab, epoch: Optional[float], samples: Sequence[Sample], billing: Optional[dict]) -> dict:
    """The `vpclab usage --json` document."""
    billing = billing or {}
    window_s = float(billing.get("window_s") or DEFAULT_WINDOW_S)
    prices: Dict[str, float] = billing.get("prices") or {}
    charge_types: Dict[str, str] = billing.get("charge_types") or {}
    currency = billing.get("currency")
    priced = bool(prices)
    ser = series(samples, epoch or 0.0, window_s)
    rows, totals = [], {}
    for p in model.peerings.values():
        s = ser.get(p.name)
        if s is None and p.state != "ACTIVE":
            continue  # never metered and has no link now
        a, b = model.vpcs.get(p.vpc), model.vpcs.get(p.peer_vpc)
        if a is None or b is None:
            continue
        cross = a.region != b.region
        payer = a.account
        charge = charge_types.get(p.name, DAY_MAX) if cross else None
        price = prices.get(pair(a.region, b.region)) if cross else 0.0
        by_day: Dict[int, List[Window]] = {}
        first: Dict[int, List[int]] = {}
        if s is not None:
            for w in s.windows:
                by_day.setdefault(w.day, []).append(w)
            for day, o, i in s.first:
                f = first.setdefault(day, [0, 0])
                f[0] += o
                f[1] += i
        days = []
        cost_total = 0.0 if (not cross or price is not None) else None
        for day in sorted(set(by_day) | set(first)):
            ws = by_day.get(day, [])
            po, pi = _peak(ws)
            qo, qi = _p95(ws)
            caps = [c for t, c in (s.caps if s else []) if day_of(t) <= day]  # the cap in force at the day's end
            out_bytes = sum(w.out_bytes for w in ws) + first.get(day, [0, 0])[0]
            in_bytes = sum(w.in_bytes for w in ws) + first.get(day, [0, 0])[1]
            row = {"day": day, "out_bytes": out_bytes, "in_bytes": in_bytes,
                   "bytes_out": out_bytes, "bytes_in": in_bytes,
                   "peak_out_mbps": _r(po), "peak_in_mbps": _r(pi), "peak_mbps": _r(po + pi),
                   "p95_out_mbps": _r(qo), "p95_in_mbps": _r(qi), "p95_mbps": _r(qo + qi),
                   "windows": sum(1 for w in ws if w.rate),
                   "cap_mbps": caps[-1] if caps else (p.bandwidth_mbps if cross else None),
                   "cost": None}
            if not cross:
                row["cost"] = 0.0
            elif price is not None and charge == DAY_MAX:
                row["cost"] = round((po + pi) * price, 6)
                cost_total += row["cost"]
            days.append(row)
        months = []
        if cross and charge == MONTH_95:
            by_month: Dict[int, List[Window]] = {}
            for w in (s.windows if s else []):
                by_month.setdefault(w.day // MONTH_DAYS, []).append(w)
            for month in sorted({d["day"] // MONTH_DAYS for d in days}):
                ws = by_month.get(month, [])
                qo, qi = _p95(ws)
                n_days = sum(1 for d in days if d["day"] // MONTH_DAYS == month)
                cost = round((qo + qi) * price * n_days, 6) if price is not None else None
                if cost is not None:
                    cost_total += cost
                months.append({"month": month, "p95_mbps": _r(qo + qi), "days": n_days, "cost": cost,
                               "windows": sum(1 for w in ws if w.rate)})
        if cost_total is not None and priced:
            totals[payer] = totals.get(payer, 0.0) + cost_total
        rows.append({"id": p.name, "vpc": p.vpc, "peer_vpc": p.peer_vpc, "state": p.state,
                     "regions": [a.region, b.region], "cross_region": cross, "payer": payer,
                     "free": not cross, "charge_type": charge,
                     "price_per_mbps_day": price if cross else 0.0,
                     "bandwidth_mbps": p.bandwidth_mbps,
                     "bytes_out": sum(d["out_bytes"] for d in days), "bytes_in": sum(d["in_bytes"] for d in days),
                     "days": days, "months": months,
                     "cost": (round(cost_total, 6) if cost_total is not None else None) if priced else None})
    missing = sorted({"/".join(sorted(r["regions"])) for r in rows if r["cross_region"] and priced
                      and r["price_per_mbps_day"] is None})
    if not priced:
        note = "usage only: no prices (give --prices FILE or a billing: prices section for a cost estimate)"
    elif missing:
        note = "no price for region pair " + ", ".join(missing) + ": those peerings have no cost"
    else:
        note = None
    return {"lab": model.name, "window_s": window_s, "epoch": epoch, "currency": currency, "priced": priced,
            "note": note, "samples": sum(1 for s in samples if not s.live),
            "live": any(s.live for s in samples), "peerings": rows,
            "totals": [{"account": acct, "cost": round(c, 6), "currency": currency} for acct, c in sorted(totals.items())]}
