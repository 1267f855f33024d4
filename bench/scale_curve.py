"""Scale curve (issue 9): `vpclab up` and `vpclab down` of labs of 50, 200, 500 and 1,000 VPCs,
and the kernel memory each namespace costs; a table and one PNG chart.

    sudo .venv/bin/python bench/scale_curve.py [--sizes 50 200 500 1000] [--matrix-max 500]
        [--matrix] [--png bench/scale_curve.png]

Each lab: 4 instances per VPC (2 subnets), a ring of peerings (each VPC peers the
next two), 2 regions interleaved so that half the peerings cross regions (100
Mbps caps), routes on both sides (bench/scale_topology.py, interleave=True).
For each size, in order: `vpclab up FILE` (CLI, end to end), memory read from
/proc/meminfo (Slab, and MemTotal - MemAvailable) with the lab built, minus the mean
of before `up` and after `down`, divided by the lab's namespaces; `vpclab matrix`
(with --matrix, up to --matrix-max VPCs); `vpclab down LAB` (CLI; it returns once
the kernel has destroyed the namespaces).

Goal: the per-VPC `up` time at the largest size within 1.5x of that at the
smallest. Other users of the machine add noise to times and memory alike.
Lab names sc50, sc200, ... (namespaces vpclab-sc<N>-*); each is removed after
its row. Raw results: bench/out/scale_curve-<time>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from scale_topology import scale_yaml  # noqa: E402

VPCLAB = str(Path(sys.executable).parent / "vpclab")
GOAL = 1.5


def meminfo() -> dict:
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            out[k] = int(v.split()[0])  # kB
    return out


def vpclab(*argv, timeout=3600) -> float:
    t = time.perf_counter()
    r = subprocess.run([VPCLAB, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    if r.returncode not in (0, 1):  # matrix exits 1 when expectations fail: none here
        raise RuntimeError(f"vpclab {' '.join(argv)} -> rc {r.returncode}: {r.stderr.strip()[-600:]}")
    return time.perf_counter() - t


def row(n: int, work: Path, matrix: bool) -> dict:
    lab = f"sc{n}"
    path = work / f"{lab}.yaml"
    path.write_text(scale_yaml(lab=lab, vpcs=n, regions=2, interleave=True))
    subprocess.run([VPCLAB, "down", lab], capture_output=True)
    namespaces = 5 * n
    before = meminfo()
    up = vpclab("up", str(path))
    time.sleep(1.0)  # let deferred frees settle
    built = meminfo()
    r = {"vpcs": n, "namespaces": namespaces, "up": up}
    if matrix:
        r["matrix"] = vpclab("matrix", "-l", lab, "--json")
    r["down"] = vpclab("down", lab)
    time.sleep(1.0)
    gone = meminfo()
    # what the lab holds: built minus the mean of before and after (others' drift cancels in part)
    used = lambda m: m["MemTotal"] - m["MemAvailable"]
    r["slab_kb_per_ns"] = (built["Slab"] - (before["Slab"] + gone["Slab"]) / 2) / namespaces
    r["used_kb_per_ns"] = (used(built) - (used(before) + used(gone)) / 2) / namespaces
    return r


def chart(rows, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    xs = [r["vpcs"] for r in rows]
    ax1.plot(xs, [r["up"] * 1000 / r["vpcs"] for r in rows], "o-", label="up")
    ax1.plot(xs, [r["down"] * 1000 / r["vpcs"] for r in rows], "s-", label="down")
    if any("matrix" in r for r in rows):
        m = [r for r in rows if "matrix" in r]
        ax1.plot([r["vpcs"] for r in m], [r["matrix"] * 1000 / r["vpcs"] for r in m], "^-", label="matrix")
    base = rows[0]["up"] * 1000 / rows[0]["vpcs"]
    ax1.axhline(GOAL * base, color="grey", linestyle=":", label=f"goal: {GOAL}x the per-VPC up at {xs[0]}")
    ax1.set_xlabel("VPCs (4 instances each, 2 peerings each)")
    ax1.set_ylabel("ms per VPC")
    ax1.set_xscale("log")
    ax1.set_ylim(bottom=0)
    ax1.set_title("time per VPC (flat = linear cost)")
    ax1.legend()
    # a negative figure means others freed more meanwhile than the lab took: not a measurement
    ok = [r for r in rows if r["slab_kb_per_ns"] > 0 and r["used_kb_per_ns"] > 0]
    ax2.plot([r["vpcs"] for r in ok], [r["slab_kb_per_ns"] for r in ok], "o-", label="slab")
    ax2.plot([r["vpcs"] for r in ok], [r["used_kb_per_ns"] for r in ok], "s-", label="MemTotal - MemAvailable")
    for r in rows:
        if r not in ok:
            ax2.annotate(f"{r['vpcs']}: lost in others' noise", (r["vpcs"], 10), fontsize=8)
    ax2.set_xlabel("VPCs")
    ax2.set_ylabel("kB per namespace")
    ax2.set_xscale("log")
    ax2.set_xlim(min(xs) * 0.8, max(xs) * 1.25)
    ax2.set_ylim(bottom=0)
    ax2.set_title("kernel memory per namespace")
    ax2.legend()
    fig.suptitle(f"vpclab scale curve ({os.cpu_count()} CPUs, a shared machine: others' load 6-12)")
    fig.tight_layout()
    fig.savefig(png, dpi=90)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 500, 1000])
    ap.add_argument("--matrix", action="store_true", help="also time `vpclab matrix` (up to --matrix-max VPCs)")
    ap.add_argument("--matrix-max", type=int, default=500)
    ap.add_argument("--png", type=Path, default=HERE / "scale_curve.png")
    ap.add_argument("--redraw", type=Path, metavar="JSON", help="only draw the chart of an earlier run's raw results")
    args = ap.parse_args()
    if args.redraw:
        chart(json.loads(args.redraw.read_text())["rows"], args.png)
        print(f"chart: {args.png}")
        return
    if os.geteuid() != 0:
        raise SystemExit("run as root: it creates network namespaces")
    work = Path(tempfile.mkdtemp(prefix="scale-curve-"))
    rows = []
    try:
        for n in args.sizes:
            r = row(n, work, args.matrix and n <= args.matrix_max)
            rows.append(r)
            print(f"{n:>5} VPCs: up {r['up']:.2f} s, down {r['down']:.2f} s"
                  + (f", matrix {r['matrix']:.2f} s" if "matrix" in r else "")
                  + f"; {r['slab_kb_per_ns']:.0f} kB slab / namespace, load {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        for n in args.sizes:
            subprocess.run([VPCLAB, "down", f"sc{n}"], capture_output=True)
    print(f"\n{'VPCs':>6} {'namespaces':>10} {'up s':>8} {'ms/VPC':>7} {'down s':>7} {'ms/VPC':>7} "
          f"{'matrix s':>9} {'slab kB/ns':>10} {'used kB/ns':>10}")
    for r in rows:
        m = f"{r['matrix']:9.2f}" if "matrix" in r else f"{'-':>9}"
        print(f"{r['vpcs']:>6} {r['namespaces']:>10} {r['up']:8.2f} {r['up'] * 1000 / r['vpcs']:7.1f} "
              f"{r['down']:7.2f} {r['down'] * 1000 / r['vpcs']:7.1f} {m} {r['slab_kb_per_ns']:10.0f} "
              f"{r['used_kb_per_ns']:10.0f}")
    if len(rows) >= 2:
        first, last = rows[0], rows[-1]
        ratio = (last["up"] / last["vpcs"]) / (first["up"] / first["vpcs"])
        print(f"\nper-VPC up at {last['vpcs']} / at {first['vpcs']}: {ratio:.2f}   goal <= {GOAL}   "
              f"met: {'yes' if ratio <= GOAL else 'NO'}   (load {os.getloadavg()[0]:.1f})")
    chart(rows, args.png)
    print(f"chart: {args.png}")
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    f = out / f"scale_curve-{time.strftime('%Y%m%d-%H%M%S')}.json"
    f.write_text(json.dumps({"rows": rows, "loadavg": os.getloadavg()}, indent=1))
    print(f"raw results: {f}")


if __name__ == "__main__":
    main()
