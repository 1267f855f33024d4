"""Issue 23's CCN figures, each goal with its baseline in the same run (root):

1. `up` of the scale topology (bench/scale_topology.py, 25 VPCs: a CCN takes at most 25
   attachments) with every VPC on one CCN and no peering, against `up` of the same VPCs with
   the ring of peerings (each VPC peers the next two, routes both sides). In-process
   (build.up), the two alternating, `down` between. Goal: CCN / peered <= 1.2.
2. The full matrix of each of those labs (probing.MatrixRun, every ordered pair), alternating.
   Goal: CCN / peered <= 1.2; 0 mismatches with explain in both.
3. Disabling, then enabling again, one CCN route of the CCN lab live, in-process, through
   the real path (operate.run -> execute with the CCN scope). Goal: <= 50 ms each. The
   namespaces the apply touched (the actions handed to kernel.engine.apply) are counted and
   compared with the namespaces whose planned routes differ before and after (the whole lab
   planned twice, not timed): touched must equal changed. Baseline: a live `route add` /
   `route del` of one route in the peered lab, the same way.
4. The CCN's inter-region cap at 10 Mbps, 100 Mbps, 1 Gbps and 5 Gbps: two VPCs in two regions
   on a CCN with a region-pair limit, iperf3 (one TCP stream, both directions, as
   bench/shape_bench.py), `--cap-reps` runs each. Figure: goodput / cap against the ideal 0.956
   (TCP payload per Ethernet frame), the median of the runs per direction. Goal: within +/-2 %.
   Baseline: the same cap on a cross-region peering, in the same run.

    sudo .venv/bin/python bench/ccn_bench.py [--reps N] [--only up,matrix,route,cap] [-t S]

Raw results: bench/out/ccn_bench-<time>.json. The load average is printed at the start and
the end (the machine is shared).
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import string
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import scale_topology  # noqa: E402
import shape_bench  # noqa: E402

from vpclab.controller import build, operate, probing, teardown  # noqa: E402
from vpclab.controller import status  # noqa: E402
from vpclab.plan import planner  # noqa: E402

OUT = HERE / "out"
VPCS = 25  # the attachment quota of one CCN
CCN = "ccn-all"
RATES = [("10Mbps", 10_000), ("100Mbps", 100_000), ("1Gbps", 1_000_000), ("5Gbps", 5_000_000)]
UP_GOAL, MATRIX_GOAL, LIVE_GOAL, CAP_GOAL = 1.2, 1.2, 0.050, 0.02


def lab_name(prefix: str) -> str:
    return prefix + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(5))


def scale_doc(lab: str, ccn: bool) -> dict:
    """The scale topology with 25 VPCs: peered (its ring), or every VPC on one CCN, no peering."""
    doc = scale_topology.scale(lab, vpcs=VPCS)
    if ccn:
        doc.pop("peerings")
        for v in doc["vpcs"].values():
            v.pop("route_tables")
        doc["ccns"] = {CCN: {"attachments": [{"vpc": name} for name in doc["vpcs"]]}}
    return doc


def cap_doc(lab: str, rate: str, ccn: bool) -> dict:
    """Two VPCs in two regions joined by a CCN capped at `rate` between them, or by a peering."""
    if not ccn:
        return shape_bench.topology(lab, rate)
    doc = shape_bench.topology(lab, rate)
    doc.pop("peerings")
    for v in doc["vpcs"].values():
        v.pop("route_tables")
    doc["ccns"] = {"ccn-ab": {"attachments": [{"vpc": "vpc-a"}, {"vpc": "vpc-b"}],
                              "bandwidth_limits": [{"regions": ["region-a", "region-b"], "bandwidth": rate}]}}
    return doc


def write(d: Path, doc: dict) -> Path:
    p = d / f"{doc['lab']}.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return p


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def med(xs, unit=1.0, fmt="{:.3f}"):
    xs = [x * unit for x in xs]
    return f"{fmt.format(statistics.median(xs))} ({fmt.format(min(xs))}-{fmt.format(max(xs))})"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def load() -> float:
    return os.getloadavg()[0]


# ---- 1 and 2: up and matrix -----------------------------------------------------------------------

def bench_up_matrix(d: Path, reps: int, matrix: bool, out: dict) -> None:
    rows = {"ccn": [], "peered": []}
    mats = {"ccn": [], "peered": []}
    docs = {"ccn": [], "peered": []}
    for rep in range(reps):
        for kind in (("ccn", "peered") if rep % 2 == 0 else ("peered", "ccn")):
            lab = lab_name("cb")
            path = write(d, scale_doc(lab, kind == "ccn"))
            try:
                t, _ = timed(lambda: build.up(str(path)))
                rows[kind].append(t)
                if matrix:
                    run = probing.MatrixRun(lab)
                    t, got = timed(lambda: list(run.rows()))
                    mats[kind].append(t)
                    docs[kind].append({"pairs": len(got), "summary": dict(run.summary), "mismatches": run.mismatches})
            finally:
                teardown.down(lab)
            print(f"  rep {rep + 1} {kind:<6}: up {rows[kind][-1]:.3f} s"
                  + (f", matrix {mats[kind][-1]:.3f} s ({docs[kind][-1]['pairs']} pairs, {docs[kind][-1]['summary']}, "
                     f"{docs[kind][-1]['mismatches']} mismatches)" if matrix else "")
                  + f", load {load():.1f}", flush=True)
    up_ratios = [c / p for c, p in zip(rows["ccn"], rows["peered"])]
    print(f"\nup, {VPCS} VPCs x 4 instances:  peered (baseline) {med(rows['peered'])} s, every VPC on one CCN "
          f"{med(rows['ccn'])} s")
    r = statistics.median(up_ratios)
    print(f"  ratio CCN / peered, per repetition: {med(up_ratios, fmt='{:.2f}')}; goal <= {UP_GOAL}: "
          f"{verdict(r <= UP_GOAL)}")
    out["up"] = {"peered_s": rows["peered"], "ccn_s": rows["ccn"], "ratios": up_ratios, "goal": UP_GOAL,
                 "met": r <= UP_GOAL}
    if matrix:
        m_ratios = [c / p for c, p in zip(mats["ccn"], mats["peered"])]
        r = statistics.median(m_ratios)
        bad = sum(x["mismatches"] for k in docs for x in docs[k])
        print(f"full matrix: peered (baseline) {med(mats['peered'])} s {docs['peered'][-1]['summary']}, CCN "
              f"{med(mats['ccn'])} s {docs['ccn'][-1]['summary']}")
        print(f"  ratio CCN / peered, per repetition: {med(m_ratios, fmt='{:.2f}')}; goal <= {MATRIX_GOAL}: "
              f"{verdict(r <= MATRIX_GOAL and bad == 0)}; mismatches with explain: {bad}")
        out["matrix"] = {"peered_s": mats["peered"], "ccn_s": mats["ccn"], "ratios": m_ratios, "docs": docs,
                         "goal": MATRIX_GOAL, "met": r <= MATRIX_GOAL and bad == 0}


# ---- 3: one CCN route, live ---------------------------------------------------------------------------

class Touched:
    """The namespaces of the actions operate hands to kernel.engine.apply, while active."""

    def __init__(self):
        self.ns = Counter()
        self._apply = operate.engine.apply

    def __enter__(self):
        def apply(actions, *a, **kw):
            for x in actions:
                o = x.obj
                self.ns[getattr(o, "ns", None) or getattr(o, "name", "?")] += 1
                if getattr(o, "peer_ns", None):
                    self.ns[o.peer_ns] += 1
            return self._apply(actions, *a, **kw)
        operate.engine.apply = apply
        return self

    def __exit__(self, *exc):
        operate.engine.apply = self._apply


def route_namespaces(lab: str) -> dict:
    """namespace -> the set of routes the whole lab's plan puts there (not timed)."""
    out: dict = {}
    for o in planner.plan(status.load_model(lab)).objects:
        if type(o).__name__ == "Route":
            out.setdefault(o.ns, set()).add(o)
    return out


def changed(before: dict, after: dict) -> set:
    return {ns for ns in set(before) | set(after) if before.get(ns, set()) != after.get(ns, set())}


def bench_route(d: Path, reps: int, out: dict) -> None:
    ccn_lab, peer_lab = lab_name("cr"), lab_name("cp")
    key = "10.3.1.0/24@vpc-03"  # vpc-03's app subnet: delivered into the 24 other VPCs' tables
    times = {"disable": [], "enable": [], "route add": [], "route del": []}
    counts = {}
    try:
        build.up(str(write(d, scale_doc(ccn_lab, True))))
        build.up(str(write(d, scale_doc(peer_lab, False))))
        for rep in range(reps):
            for op in ("disable", "enable"):
                before = route_namespaces(ccn_lab)
                with Touched() as seen:
                    t, _ = timed(lambda: operate.run(ccn_lab, f"ccn route {op}", CCN, key))
                after = route_namespaces(ccn_lab)
                times[op].append(t)
                want = changed(before, after)
                counts[op] = {"touched": sorted(seen.ns), "changed": sorted(want), "actions": sum(seen.ns.values())}
                print(f"  rep {rep + 1} ccn route {op} {key}: {t * 1000:.1f} ms, {sum(seen.ns.values())} actions in "
                      f"{len(seen.ns)} namespaces; the routes of {len(want)} namespaces changed"
                      f"{'' if set(seen.ns) == want else ' (NOT the same namespaces)'}; load {load():.1f}", flush=True)
            # baseline: one live route in the peered lab (its only peering-free destination: the subnet)
            t, _ = timed(lambda: operate.route_add(peer_lab, "vpc-00", "10.1.1.0/24", "pcx-00-01"))
            times["route add"].append(t)
            t, _ = timed(lambda: operate.route_del(peer_lab, "vpc-00", "10.1.1.0/24"))
            times["route del"].append(t)
    finally:
        teardown.down(ccn_lab)
        teardown.down(peer_lab)
    same = all(set(c["touched"]) == set(c["changed"]) for c in counts.values())
    worst = max(statistics.median(times["disable"]), statistics.median(times["enable"]))
    print(f"\none CCN route live, in-process ({VPCS} VPCs on the CCN): disable {med(times['disable'], 1000, '{:.1f}')} "
          f"ms, enable {med(times['enable'], 1000, '{:.1f}')} ms; goal <= {LIVE_GOAL * 1000:.0f} ms: "
          f"{verdict(worst <= LIVE_GOAL)}")
    print(f"  baseline, live route add / del in the peered lab: {med(times['route add'], 1000, '{:.1f}')} / "
          f"{med(times['route del'], 1000, '{:.1f}')} ms; ratio disable / route add "
          f"{statistics.median(times['disable']) / statistics.median(times['route add']):.2f}")
    print(f"  namespaces touched = namespaces whose routes changed: {verdict(same)} "
          "(" + "; ".join(f"{op}: {len(c['touched'])} touched, {len(c['changed'])} changed"
                          for op, c in counts.items()) + ")")
    out["route"] = {"times_s": times, "namespaces": counts, "goal_s": LIVE_GOAL, "met": worst <= LIVE_GOAL and same}


# ---- 4: the inter-region cap ---------------------------------------------------------------------------

def bench_cap(d: Path, seconds: float, reps: int, out: dict) -> None:
    work = Path(tempfile.mkdtemp(prefix="ccn_bench-"))
    results = []
    labs = []
    try:
        for text, kbit in RATES:
            for kind in ("ccn", "peering"):
                lab = lab_name("cc" if kind == "ccn" else "cq")
                build.up(str(write(d, cap_doc(lab, text, kind == "ccn"))))
                labs.append((lab, kind, text, kbit))
        for rep in range(reps):
            for lab, kind, text, kbit in labs:
                for reverse in (False, True):
                    srv = [shape_bench.VPCLAB, "exec", "-l", lab, "vpc-b/cvm-1", "--"]
                    cli = [shape_bench.VPCLAB, "exec", "-l", lab, shape_bench.CLIENT, "--"]
                    r = shape_bench.iperf(srv, cli, shape_bench.SERVER_IP, seconds, reverse, work)
                    err = r["goodput_bps"] / (kbit * 1000) / shape_bench.IDEAL - 1
                    r.update({"kind": kind, "rate": text, "rate_kbit": kbit, "direction": "b->a" if reverse else "a->b",
                              "error": err, "rep": rep, "load": load()})
                    results.append(r)
                    rate = shape_bench.fmt_rate(r["goodput_bps"])
                    print(f"  {kind:<7} {text:>8} {r['direction']}: goodput {rate:>16}"
                          f"  error {err * 100:+.2f}%  retr {r['retransmits']}  load {r['load']:.1f}", flush=True)
    finally:
        for lab, *_ in labs:
            teardown.down(lab)
    print(f"\ninter-region cap (iperf3, one TCP stream, {seconds:g} s, goodput / cap vs {shape_bench.IDEAL:.4f}):")
    met = True
    for text, kbit in RATES:
        # per direction, the median of the runs (a run below the cap on a busy machine is the CPU's)
        c = [statistics.median(r["error"] for r in results if r["kind"] == "ccn" and r["rate"] == text
                               and r["direction"] == way) for way in ("a->b", "b->a")]
        p = [statistics.median(r["error"] for r in results if r["kind"] == "peering" and r["rate"] == text
                               and r["direction"] == way) for way in ("a->b", "b->a")]
        runs = [r["error"] for r in results if r["kind"] == "ccn" and r["rate"] == text]
        worst = max(abs(x) for x in c)
        met &= worst <= CAP_GOAL
        print(f"  {text:>8}: CCN a->b {c[0] * 100:+.2f}%, b->a {c[1] * 100:+.2f}% (runs {min(runs) * 100:+.2f}% to "
              f"{max(runs) * 100:+.2f}%); peering (baseline) {p[0] * 100:+.2f}%, {p[1] * 100:+.2f}%; goal "
              f"+/-{CAP_GOAL * 100:.0f}%: {verdict(worst <= CAP_GOAL)}")
    out["cap"] = {"results": results, "goal": CAP_GOAL, "met": met}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", default="up,matrix,route,cap", help="comma-separated parts (default: all)")
    ap.add_argument("-t", type=float, default=4.0, help="iperf3 seconds per test (after 1 s omitted)")
    ap.add_argument("--cap-reps", type=int, default=2, help="iperf3 runs per rate, direction and link (default 2)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("ccn_bench builds labs: run it as root")
    parts = set(args.only.split(","))
    out = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "load_start": os.getloadavg(),
           "cpus": os.cpu_count()}
    print(f"load average at the start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        if parts & {"up", "matrix"}:
            bench_up_matrix(d, args.reps, "matrix" in parts, out)
        if "route" in parts:
            bench_route(d, max(args.reps, 5), out)
        if "cap" in parts:
            bench_cap(d, args.t, args.cap_reps, out)
    out["load_end"] = os.getloadavg()
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    OUT.mkdir(exist_ok=True)
    f = OUT / f"ccn_bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    f.write_text(json.dumps(out, indent=1, default=str))
    print(f"raw results: {f}")
    return 0 if all(v.get("met", True) for v in out.values() if isinstance(v, dict)) else 1


if __name__ == "__main__":
    sys.exit(main())
