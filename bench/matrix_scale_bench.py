"""Matrix scale benchmark (issue 9, "Scale curve"): `vpclab matrix` at 200 and at 2,000
instances, per-pair time and peak memory.

    sudo .venv/bin/python bench/matrix_scale_bench.py [--vpcs 50,500] [--reps-small 2]

Each lab is the scale topology (bench/scale_topology.py) with 50 and 500 VPCs of 4
instances: 200 instances (39,800 ordered pairs) and 2,000 (3,998,000). Each is built
with `vpclab up` (not timed: only the matrix is measured), then `vpclab matrix --jsonl`
runs as its own process; the benchmark reads its output as it streams (counting rows,
keeping the last line, the summary) and takes the process's peak RSS from wait4().

Goals: per-pair time at 2,000 instances <= 1.5x the per-pair time at 200, measured in
the same run (the matrix's own `seconds`, from its summary line); peak RSS at 2,000
<= 1 GB. The matrix process's CPU time per pair is printed too: on a shared machine
it moves less with the load than wall time does. The 2,000-instance matrix takes ~10 minutes
on 2 vCPUs: run it once, not in a loop. Labs `bmsc50`, `bmsc500` (one per size) are
removed at the end. Raw figures go to bench/out/matrix_scale.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from scale_topology import scale_yaml  # noqa: E402

VPCLAB = str(Path(sys.executable).parent / "vpclab")
OUT = Path(__file__).parent / "out"
RATIO_GOAL, RSS_GOAL_MB = 1.5, 1024


def lab_name(vpcs: int) -> str:
    return f"bmsc{vpcs}"


def run_matrix(lab: str) -> dict:
    """One `vpclab matrix --jsonl` as a child process: wall time, rows, summary, peak RSS."""
    t0 = time.perf_counter()
    p = subprocess.Popen([VPCLAB, "matrix", "-l", lab, "--jsonl"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    lines, tail = 0, b""
    fd = p.stdout.fileno()
    while True:
        block = os.read(fd, 1 << 20)
        if not block:
            break
        lines += block.count(b"\n")
        tail = (tail + block)[-(1 << 16):]
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    err = p.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"vpclab matrix -l {lab} failed:\n{err}")
    summary = json.loads(tail.rstrip(b"\n").rsplit(b"\n", 1)[-1])
    return {"wall_s": wall, "seconds": summary["seconds"], "cpu_s": usage.ru_utime + usage.ru_stime,
            "rows": lines - 1, "summary": summary["summary"], "mismatches": summary["mismatches"],
            "peak_rss_mb": usage.ru_maxrss / 1024}


def measure(vpcs: int, reps: int) -> dict:
    lab = lab_name(vpcs)
    path = Path(tempfile.mkdtemp()) / f"{lab}.yaml"
    path.write_text(scale_yaml(lab=lab, vpcs=vpcs))
    subprocess.run([VPCLAB, "down", lab], capture_output=True)
    t0 = time.perf_counter()
    p = subprocess.run([VPCLAB, "up", str(path)], capture_output=True, text=True)
    t_up = time.perf_counter() - t0
    if p.returncode:
        sys.exit(f"vpclab up ({vpcs} VPCs) failed:\n{p.stderr}")
    try:
        runs = [run_matrix(lab) for _ in range(reps)]
    finally:
        subprocess.run([VPCLAB, "down", lab], capture_output=True)
    per_pair = [r["seconds"] / r["rows"] * 1e6 for r in runs]
    best = runs[per_pair.index(statistics.median_low(per_pair))]
    return {"vpcs": vpcs, "instances": vpcs * 4, "up_s": t_up, "runs": runs, "us_per_pair": statistics.median(per_pair),
            "cpu_us_per_pair": statistics.median(r["cpu_s"] / r["rows"] * 1e6 for r in runs),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs), **{k: best[k] for k in ("rows", "summary",
                                                                                       "mismatches")}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vpcs", default="50,500", help="VPC counts, smallest first (4 instances each)")
    ap.add_argument("--reps-small", type=int, default=2, help="matrix runs of the smallest lab (median)")
    args = ap.parse_args()
    sizes = [int(x) for x in args.vpcs.split(",")]
    results = []
    for i, n in enumerate(sizes):
        r = measure(n, args.reps_small if i == 0 else 1)
        results.append(r)
        s = r["summary"]
        print(f"{r['instances']:>6} instances: {r['rows']:>9,} rows in {r['runs'][-1]['seconds']:8.1f} s "
              f"({r['us_per_pair']:6.1f} us/pair; CPU {r['cpu_us_per_pair']:5.1f} us/pair), "
              f"peak RSS {r['peak_rss_mb']:6.0f} MB; "
              f"{s['reachable']:,} reachable, {s['no-return']:,} no-return, {s['unreachable']:,} unreachable, "
              f"{r['mismatches']} mismatches (lab built in {r['up_s']:.1f} s, not counted)", flush=True)
    base, big = results[0], results[-1]
    ratio = big["us_per_pair"] / base["us_per_pair"]
    print()
    print("| figure | value | goal | met |")
    print("|---|---|---|---|")
    print(f"| per-pair time {big['instances']:,} / {base['instances']:,} instances | {ratio:.2f} "
          f"({big['us_per_pair']:.1f} / {base['us_per_pair']:.1f} us) | <= {RATIO_GOAL} | "
          f"{'yes' if ratio <= RATIO_GOAL else '**no**'} |")
    cpu = big["cpu_us_per_pair"] / base["cpu_us_per_pair"]
    print(f"| CPU time per pair (the matrix process), {big['instances']:,} / {base['instances']:,} | {cpu:.2f} "
          f"({big['cpu_us_per_pair']:.1f} / {base['cpu_us_per_pair']:.1f} us) | | |")
    print(f"| peak RSS at {big['instances']:,} instances | {big['peak_rss_mb']:.0f} MB | <= {RSS_GOAL_MB} MB | "
          f"{'yes' if big['peak_rss_mb'] <= RSS_GOAL_MB else '**no**'} |")
    print(f"| mismatches with explain | {sum(r['mismatches'] for r in results)} | 0 | "
          f"{'yes' if not any(r['mismatches'] for r in results) else '**no**'} |")
    OUT.mkdir(exist_ok=True)
    (OUT / "matrix_scale.json").write_text(json.dumps({"results": results, "ratio": ratio, "cpu_ratio": cpu,
                                                       "load": os.getloadavg()}, indent=2))


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("matrix_scale_bench: run as root")
    main()
