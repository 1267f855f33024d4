"""`vpclab usage --plot FILE.png`: rate over lab time per peering and CCN region pair, the cap,
each day's peak.

One row of panels per peering, one column per lab day that has samples (a
`clock advance` jumps a day on, so one shared axis would squeeze the traffic into
slivers): each panel shows the outbound and inbound rate of every window, the cap
as a step line (a `peering modify --bandwidth` is a step), and the day's billed
peak (out max + in max) as a marked point. matplotlib is an optional extra
(`pip install 'vpclab[plot]'`), imported only here.
"""
from __future__ import annotations

from typing import Callable, ContextManager, Dict

from ..errors import EnvironmentProblem, Refused, shown
from .report import DAY_S, Series

MAX_DAYS = 8  # columns; more days: the last ones
WHAT = "the plot"


def _hms(x, _pos=None) -> str:
    x = max(0, int(x))
    return f"{x // 3600:02d}:{x % 3600 // 60:02d}:{x % 60:02d}"


def draw(doc: dict, series: Dict[str, Series], path: str,
         replacing: Callable[[str, str], ContextManager]) -> dict:
    """Write the PNG to `path` through `replacing(path, WHAT)` (the checked opener the caller
    hands, controller/outfiles.py); returns {"file", "peerings", "days"}."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter, MaxNLocator
    except ImportError:
        raise EnvironmentProblem("the usage plot needs matplotlib", code="ToolMissing",
                                 hint="pip install 'vpclab[plot]'")
    rows = [r for r in doc["peerings"] + [_as_row(c) for c in doc.get("ccns") or []]
            if series.get(r["id"]) and series[r["id"]].windows]
    if not rows:
        raise Refused("nothing to plot: no peering or CCN pair has two samples yet (the meter samples every "
                      f"{doc['window_s']:g} s)", code="ResourceNotFound")
    days = sorted({w.day for r in rows for w in series[r["id"]].windows})[-MAX_DAYS:]
    fig, axes = plt.subplots(len(rows), len(days), figsize=(max(6.0, 4.2 * len(days)) + 2.0, 2.9 * len(rows) + 0.6),
                             squeeze=False, sharey="row")
    for i, r in enumerate(rows):
        s = series[r["id"]]
        top = 0.0
        for j, day in enumerate(days):
            ax = axes[i][j]
            base = day * DAY_S
            ws = [w for w in s.windows if w.day == day]
            if ws:
                x = [w.t - base for w in ws]
                # each window a level from its start to its end: the first one's start leads (one
                # window, the open one alone included, is a line and not a lone point)
                xs = [ws[0].t - ws[0].seconds - base] + x
                ax.step(xs, [ws[0].out_mbps] + [w.out_mbps for w in ws], where="pre", color="tab:blue", lw=1.4,
                        label=f"out ({r['vpc']} -> {r['peer_vpc']})")
                ax.step(xs, [ws[0].in_mbps] + [w.in_mbps for w in ws], where="pre", color="tab:green", lw=1.0,
                        alpha=0.8, label="in")
                for w in ws:
                    if w.open:
                        ax.axvspan(w.t - w.seconds - base, w.t - base, color="0.85", alpha=0.5, lw=0,
                                   label="open window (read now)")
                top = max(top, max(w.out_mbps for w in ws), max(w.in_mbps for w in ws))
                lo, hi = min(w.t - w.seconds for w in ws) - base, max(x)
            else:
                lo, hi = 0.0, 1.0
            caps = _caps_in(s, base, lo, hi)
            if caps:
                ax.step([c[0] for c in caps], [c[1] for c in caps], where="post", color="tab:red", ls="--", lw=1.2,
                        label="cap")
                top = max(top, max(c[1] for c in caps))
            rated = [w for w in ws if w.rate]
            row = next((d for d in r["days"] if d["day"] == day), None)
            if rated and row:
                marks = []
                for attr, color in (("out_mbps", "tab:blue"), ("in_mbps", "tab:green")):
                    best = max(rated, key=lambda w: getattr(w, attr))
                    if getattr(best, attr) > 0:
                        marks.append((best.t - base, getattr(best, attr)))
                        ax.plot([best.t - base], [getattr(best, attr)], marker="v", color=color, mec="black",
                                ms=8, ls="none", label="day's peak window" if attr == "out_mbps" else None)
                if marks:
                    x0, y0 = max(marks, key=lambda m: m[1])
                    cur = shown(doc["currency"] or "", 16).replace("$", r"\$")  # "$" is no mathtext here
                    cost = f"\ncost {row['cost']:.2f} {cur}" if row["cost"] else ""
                    what = ("highest sample" if r.get("ccn") else "billed peak" if r["cross_region"]
                            else "peak (free)")
                    right = x0 > lo + 0.6 * (hi - lo)  # near the right edge: the text goes left of the mark
                    ax.annotate(f"{what} {row['peak_mbps']:.2f} Mbps{cost}", (x0, y0), textcoords="offset points",
                                xytext=(-6 if right else 6, 4), ha="right" if right else "left", fontsize=8)
            ax.set_xlim(lo, hi if hi > lo else lo + 1)
            ax.xaxis.set_major_formatter(FuncFormatter(_hms))
            ax.xaxis.set_major_locator(MaxNLocator(5, integer=True))  # whole seconds: h:m:s labels
            ax.tick_params(labelsize=8)
            ax.grid(alpha=0.3)
            if i == 0:
                ax.set_title(f"lab day {day}", fontsize=10)
            if i == len(rows) - 1:
                ax.set_xlabel("lab time in the day (h:m:s)", fontsize=8)
            if j == 0:
                kind = "CCN, monthly p95" if r.get("ccn") else "cross-region" if r["cross_region"] else "regional, free"
                ax.set_ylabel(f"{r['id']}\n({kind}) Mbps", fontsize=9)
        axes[i][0].set_ylim(0, top * 1.25 if top > 0 else 1)
        handles = {}
        for ax in axes[i]:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(lab, h)
        axes[i][-1].legend(list(handles.values()), list(handles), fontsize=7, loc="upper left",
                           bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.suptitle(f"lab {doc['lab']}: {'peering and CCN' if doc.get('ccns') else 'peering'} rate per "
                 f"{doc['window_s']:g} s window", fontsize=11)
    fig.tight_layout()
    try:
        with replacing(path, WHAT) as f:  # never through a link, never into a FIFO
            fig.savefig(f, format="png", dpi=100)
    finally:
        plt.close(fig)
    return {"file": path, "peerings": [r["id"] for r in rows], "days": days}


def _as_row(c: dict) -> dict:
    """A CCN region pair's report row as the panels read a peering's (out = its first region to the
    second; the day's mark: its highest sample, max(out, in); the cost is the month's, not a day's)."""
    r1, r2 = c["regions"]
    return {"id": c["id"], "vpc": f"{c['ccn']} {r1}", "peer_vpc": r2, "cross_region": True, "ccn": True,
            "days": [{"day": d["day"], "peak_mbps": d["peak_mbps"], "cost": None} for d in c["days"]]}


def _caps_in(s: Series, base: float, lo: float, hi: float):
    """The cap as (x, Mbps) steps over [lo, hi] of one day's panel (None caps: no line)."""
    pts = []
    current = None
    for t, cap in s.caps:
        x = t - base
        if x <= lo:
            current = cap
        elif x <= hi:
            if not pts and current is not None:
                pts.append((lo, current))
            if cap is not None:
                pts.append((x, cap))
            current = cap
    if not pts and current is not None:
        pts.append((lo, current))
    if pts and current is not None:
        pts.append((hi, current))
    return pts
