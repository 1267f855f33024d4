"""Scale curve (issues 9 and 24): `vpclab up` and `vpclab down` of labs of 50 to 5,000 VPCs
(20,000 instances, 10,000 peerings, 25,000 namespaces), the kernel memory each namespace
costs, `validate` and `explain` of one pair at each size, the matrix by class; a table, the
goals met or not, and one PNG chart.

    sudo .venv/bin/python bench/scale_curve.py [--sizes 50 250 2000] [--matrix-at 250]
        [--classes-at 2000] [--matrix] [--matrix-max 500] [--png bench/scale_curve.png]

Each lab: 4 instances per VPC (2 subnets), a ring of peerings (each VPC peers the
next two), 2 regions interleaved so that half the peerings cross regions (100
Mbps caps), routes on both sides (bench/scale_topology.py, interleave=True).
For each size, in order:
- `vpclab validate FILE` and `vpclab explain vpc-00/cvm-1 vpc-01/cvm-3 -f FILE`, end to end;
- `vpclab up FILE` (CLI, end to end), watched: if MemAvailable drops under 4 GB the build
  is stopped (its PID) and the lab removed; a size is skipped when the memory per namespace
  measured so far says it would not fit;
- memory from /proc/meminfo (Slab, and MemTotal - MemAvailable) with the lab built, minus
  the mean of before `up` and after `down`: per namespace and in all;
- what a big estate leans on: the store's state file (size; `vpclab status -l LAB --json`
  and `vpclab explain ... -l LAB`, end to end, which decode it), the kernel's neighbour table
  (entries, `table_fulls`), the open files of this machine (/proc/sys/fs/file-nr);
- at --matrix-at sizes: the plain `vpclab matrix --jsonl` (time, peak RSS and CPU of the
  child from wait4) and `vpclab matrix --by-class` (default 1% sample);
- at --classes-at sizes: `vpclab matrix --by-class --sample 0` (every class, one probe each);
- `vpclab down LAB` (CLI; it returns once the kernel has destroyed the namespaces), and a
  check that no namespace of the lab is left.

Goals (issue 24), each printed met or not with the smallest size (the baseline) of the same
run: `up` <= 120 s, `down` <= 20 s, per-VPC `up` <= 1.5x that of the smallest size, kernel
memory <= 10 GB, `validate` and `explain` <= 5 s; by class <= 20 s at 1,000 instances and
<= 10 min (every class) at 20,000; the plain matrix's peak RSS < 1 GB.
Other users of the machine add noise to times and memory alike: the load is printed.
Lab names sc50, sc250, ... (namespaces vpclab-sc<N>-*); each is removed after
its row. Raw results: bench/out/scale_curve-<time>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from scale_topology import scale_yaml  # noqa: E402

VPCLAB = str(Path(sys.executable).parent / "vpclab")
GOAL = 1.5
GOALS = {"up": 120.0, "down": 20.0, "memory_gb": 10.0, "validate": 5.0, "explain": 5.0,
         "by_class_1000": 20.0, "by_class_all": 600.0, "matrix_rss_mb": 1024.0}
MEM_FLOOR_KB = 4 * 1024 * 1024  # stop a build when MemAvailable drops under 4 GB (a shared machine)
PAIR = ("vpc-00/cvm-1", "vpc-01/cvm-3")  # explain's pair: across a peering


def meminfo() -> dict:
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            out[k] = int(v.split()[0])  # kB
    return out


def load() -> float:
    return round(os.getloadavg()[0], 2)


def vpclab(*argv, timeout=3600) -> float:
    t = time.perf_counter()
    r = subprocess.run([VPCLAB, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    if r.returncode not in (0, 1):  # matrix exits 1 when expectations fail: none here
        raise RuntimeError(f"vpclab {' '.join(argv)} -> rc {r.returncode}: {r.stderr.strip()[-600:]}")
    return time.perf_counter() - t


def child(*argv) -> dict:
    """Run `vpclab ARGV` as a child; its wall time, peak RSS and CPU (wait4), the number of
    lines it printed and the last 256 kB of its output (read as it streams, nothing kept)."""
    t = time.perf_counter()
    p = subprocess.Popen([VPCLAB, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines, tail = 0, b""
    err = []
    th = threading.Thread(target=lambda: err.append(p.stderr.read()), daemon=True)
    th.start()
    while True:
        chunk = p.stdout.read(1 << 20)
        if not chunk:
            break
        lines += chunk.count(b"\n")
        tail = (tail + chunk)[-(256 << 10):]
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t
    th.join()
    if p.returncode not in (0, 1):
        text = err[0].decode(errors="replace").replace("\r", "\n").strip()
        raise RuntimeError(f"vpclab {' '.join(argv)} -> rc {p.returncode}: {text[-1500:]}")
    return {"seconds": wall, "rss_mb": ru.ru_maxrss / 1024, "cpu": ru.ru_utime + ru.ru_stime,
            "lines": lines, "tail": tail.decode(errors="replace"), "load": load()}


def lab_namespaces(lab: str) -> int:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return sum(1 for line in out.splitlines() if line.startswith(f"vpclab-{lab}-"))


def arp_cache() -> dict:
    """The kernel's IPv4 neighbour table: one for every namespace of the machine."""
    try:
        with open("/proc/net/stat/arp_cache") as f:
            head, *rows = f.read().split("\n")
        cols = head.split()
        rows = [r.split() for r in rows if r.strip()]
        return {"entries": int(rows[0][cols.index("entries")], 16),
                "table_fulls": sum(int(r[cols.index("table_fulls")], 16) for r in rows)}
    except (OSError, ValueError, IndexError):
        return {}


def file_nr() -> int:
    with open("/proc/sys/fs/file-nr") as f:
        return int(f.read().split()[0])


def up_watched(path: Path, lab: str) -> dict:
    """`vpclab up FILE`, stopped (by its PID) if MemAvailable drops under MEM_FLOOR_KB."""
    t = time.perf_counter()
    p = subprocess.Popen([VPCLAB, "up", str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    low = None
    out = []
    th = threading.Thread(target=lambda: out.append(p.stdout.read()), daemon=True)
    th.start()
    while p.poll() is None:
        avail = meminfo()["MemAvailable"]
        low = avail if low is None else min(low, avail)
        if avail < MEM_FLOOR_KB:
            p.terminate()
            p.wait()
            th.join()
            subprocess.run([VPCLAB, "down", lab], capture_output=True)
            raise MemoryError(f"MemAvailable fell to {avail // 1024} MB during `up` of {lab}: stopped and removed")
        time.sleep(0.25)  # a sampling period, not a wait for an event
    th.join()
    if p.returncode != 0:
        raise RuntimeError(f"vpclab up {path} -> rc {p.returncode}: {out[0].decode()[-600:]}")
    return {"up": time.perf_counter() - t, "mem_available_min_mb": (low or 0) // 1024}


def by_class(lab: str, sample: Optional[float]) -> dict:
    argv = ["matrix", "-l", lab, "--by-class", "--json", "--seed", "24"]
    if sample is not None:
        argv += ["--sample", str(sample)]
    r = child(*argv)
    tail = r.pop("tail")
    i = tail.rfind('\n  "summary": ')
    doc = json.loads("{" + tail[i + 1:]) if i >= 0 else {}
    r.update({k: doc.get(k) for k in ("pairs", "probed", "inferred", "mismatches", "class_mismatches", "summary")})
    r["in_command"] = doc.get("seconds")
    r.pop("lines")
    return r


def plain_matrix(lab: str) -> dict:
    m = child("matrix", "-l", lab, "--jsonl")
    tail = m.pop("tail").strip().splitlines()
    summary = json.loads(tail[-1]) if tail else {}
    m.update(rows=m.pop("lines") - 1, in_command=summary.get("seconds"),
             mismatches=summary.get("mismatches"), summary=summary.get("summary"))
    return m


def step(fn, *args) -> dict:
    """A measurement that may fail at this size: its error is the figure (what broke first)."""
    t = time.perf_counter()
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        print(f"  {fn.__name__}{args}: FAILED after {time.perf_counter() - t:.1f} s: {e}", flush=True)
        return {"error": str(e), "seconds": time.perf_counter() - t, "load": load()}


def row(n: int, work: Path, matrix: bool, matrix_at: bool, classes_at: bool, kb_per_ns: float) -> dict:
    lab = f"sc{n}"
    path = work / f"{lab}.yaml"
    path.write_text(scale_yaml(lab=lab, vpcs=n, regions=2, interleave=True))
    subprocess.run([VPCLAB, "down", lab], capture_output=True)
    namespaces = 5 * n
    before = meminfo()
    need = namespaces * kb_per_ns * 1.3
    if before["MemAvailable"] - need < MEM_FLOOR_KB:
        raise MemoryError(f"{n} VPCs would need ~{need / 2**20:.1f} GB ({kb_per_ns:.0f} kB a namespace so far); "
                          f"MemAvailable is {before['MemAvailable'] / 2**20:.1f} GB and the floor 4 GB: skipped")
    r = {"vpcs": n, "namespaces": namespaces, "instances": 4 * n, "peerings": 2 * n,
         "file_bytes": path.stat().st_size, "load_before": load()}
    r["validate"] = vpclab("validate", str(path))
    r["explain"] = vpclab("explain", *PAIR, "-f", str(path))
    fds0, arp0 = file_nr(), arp_cache()
    r.update(up_watched(path, lab))
    r["load_up"] = load()
    time.sleep(1.0)  # let deferred frees settle
    built = meminfo()
    try:
        db = Path("/run/vpclab") / lab / "state.db"
        r["state_db_bytes"] = db.stat().st_size if db.exists() else None
        r["status"] = vpclab("status", "-l", lab, "--json")
        r["explain_lab"] = vpclab("explain", *PAIR, "-l", lab)
        r["file_nr_delta"] = file_nr() - fds0
        if matrix:
            r["matrix"] = vpclab("matrix", "-l", lab, "--json")
        if matrix_at:
            r["matrix_plain"] = step(plain_matrix, lab)
            r["by_class"] = step(by_class, lab, None)
        if classes_at:
            r["by_class_all"] = step(by_class, lab, 0)
        r["arp"] = {k: arp_cache().get(k, 0) - arp0.get(k, 0) for k in arp0}
    finally:
        r["down"] = vpclab("down", lab)
        r["left"] = lab_namespaces(lab)
        if r["left"]:
            subprocess.run([VPCLAB, "cleanup"], capture_output=True)
            r["left_after_cleanup"] = lab_namespaces(lab)
    r["load_down"] = load()
    time.sleep(1.0)
    gone = meminfo()
    # what the lab holds: built minus the mean of before and after (others' drift cancels in part)
    used = lambda m: m["MemTotal"] - m["MemAvailable"]
    r["slab_kb"] = built["Slab"] - (before["Slab"] + gone["Slab"]) / 2
    r["used_kb"] = used(built) - (used(before) + used(gone)) / 2
    r["slab_kb_per_ns"] = r["slab_kb"] / namespaces
    r["used_kb_per_ns"] = r["used_kb"] / namespaces
    return r


def chart(rows, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(rows, key=lambda r: r["vpcs"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    xs = [r["vpcs"] for r in rows]
    ax1.plot(xs, [r["up"] * 1000 / r["vpcs"] for r in rows], "o-", label="up")
    ax1.plot(xs, [r["down"] * 1000 / r["vpcs"] for r in rows], "s-", label="down")
    if any("matrix" in r for r in rows):
        m = [r for r in rows if "matrix" in r]
        ax1.plot([r["vpcs"] for r in m], [r["matrix"] * 1000 / r["vpcs"] for r in m], "^-", label="matrix")
    base = rows[0]["up"] * 1000 / rows[0]["vpcs"]  # the smallest size
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
    loads = [r.get("load_up") for r in rows if r.get("load_up") is not None]
    shared = f"load {min(loads):.1f}-{max(loads):.1f} after each up" if loads else "others' load 6-12"
    fig.suptitle(f"vpclab scale curve, {xs[0]}-{xs[-1]} VPCs ({os.cpu_count()} CPUs, a shared machine: {shared})")
    fig.tight_layout()
    fig.savefig(png, dpi=90)


def goals(rows) -> list:
    """Every goal of issue 24 at every size but the baseline (the smallest size of the run):
    (what, size, figure, goal, met, baseline text)."""
    base = rows[0]
    out = []
    per_vpc = lambda r: r["up"] / r["vpcs"]
    for r in rows[1:]:
        n = r["vpcs"]
        ld = f"load {r['load_up']}"
        out.append(("up s", n, r["up"], GOALS["up"], r["up"] <= GOALS["up"],
                    f"{base['vpcs']} VPCs: {base['up']:.2f} s; {ld}"))
        out.append(("down s", n, r["down"], GOALS["down"], r["down"] <= GOALS["down"],
                    f"{base['vpcs']} VPCs: {base['down']:.2f} s; load {r['load_down']}"))
        ratio = per_vpc(r) / per_vpc(base)
        out.append(("per-VPC up / at baseline", n, ratio, GOAL, ratio <= GOAL,
                    f"{per_vpc(r) * 1000:.1f} vs {per_vpc(base) * 1000:.1f} ms/VPC; {ld}"))
        gb = r["used_kb"] / 2**20
        out.append(("kernel memory GB (MemTotal-MemAvailable)", n, gb, GOALS["memory_gb"], gb <= GOALS["memory_gb"],
                    f"slab {r['slab_kb'] / 2**20:.2f} GB; {r['used_kb_per_ns']:.0f} kB/ns vs "
                    f"{base['used_kb_per_ns']:.0f} at {base['vpcs']}"))
        for k, what in (("validate", "validate s"), ("explain", "explain -f s"), ("explain_lab", "explain -l s")):
            if k in r:
                out.append((what, n, r[k], GOALS[k.split("_")[0]], r[k] <= GOALS[k.split("_")[0]],
                            f"{base['vpcs']} VPCs: {base[k]:.2f} s ({r[k] / base[k]:.1f}x); load {r['load_before']}"))
        if "by_class" in r:
            m, c = r["matrix_plain"], r["by_class"]
            what = f"matrix --by-class s ({r['instances']} instances)"
            if "error" in c:
                out.append((what, n, c["seconds"], GOALS["by_class_1000"], False, f"FAILED: {c['error'][-300:]}"))
            else:
                out.append((what, n, c["seconds"], GOALS["by_class_1000"], c["seconds"] <= GOALS["by_class_1000"],
                            f"plain matrix {m['seconds']:.1f} s ({m['seconds'] / c['seconds']:.1f}x); "
                            f"{c['probed']} probed, {c['inferred']} inferred, {c['mismatches']} mismatches, "
                            f"{c['class_mismatches']} class mismatches; load {c['load']}"))
            what = f"plain matrix peak RSS MB ({r['instances']} instances)"
            if "error" in m:
                out.append((what, n, 0.0, GOALS["matrix_rss_mb"], False, f"FAILED: {m['error'][-300:]}"))
            else:
                out.append((what, n, m["rss_mb"], GOALS["matrix_rss_mb"], m["rss_mb"] < GOALS["matrix_rss_mb"],
                            f"{m['rows']} rows in {m['seconds']:.1f} s, CPU {m['cpu']:.1f} s, "
                            f"{m['mismatches']} mismatches; load {m['load']}"))
        if "by_class_all" in r:
            c = r["by_class_all"]
            what = f"matrix --by-class --sample 0 s ({r['instances']} instances)"
            if "error" in c:
                out.append((what, n, c["seconds"], GOALS["by_class_all"], False, f"FAILED: {c['error'][-300:]}"))
            else:
                out.append((what, n, c["seconds"], GOALS["by_class_all"], c["seconds"] <= GOALS["by_class_all"],
                            f"{c['probed']} classes probed, {c['pairs']} pairs, {c['mismatches']} mismatches, "
                            f"in-command {c['in_command']} s, peak RSS {c['rss_mb']:.0f} MB; load {c['load']}"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[50, 250, 2000])
    ap.add_argument("--matrix", action="store_true", help="also time `vpclab matrix --json` (up to --matrix-max VPCs)")
    ap.add_argument("--matrix-max", type=int, default=500)
    ap.add_argument("--matrix-at", type=int, nargs="*", default=[250],
                    help="sizes where the plain matrix (peak RSS) and --by-class (1%% sample) are timed")
    ap.add_argument("--classes-at", type=int, nargs="*", default=None,
                    help="sizes where every class is probed (--by-class --sample 0); default: the largest size")
    ap.add_argument("--png", type=Path, default=HERE / "scale_curve.png")
    ap.add_argument("--redraw", type=Path, metavar="JSON", nargs="+",
                    help="only draw the chart of earlier runs' raw results (rows merged by size, the last wins)")
    args = ap.parse_args()
    if args.redraw:
        merged = {}
        for f in args.redraw:
            for r in json.loads(f.read_text())["rows"]:
                merged[r["vpcs"]] = r
        chart([merged[k] for k in sorted(merged)], args.png)
        print(f"chart: {args.png}")
        return
    if os.geteuid() != 0:
        raise SystemExit("run as root: it creates network namespaces")
    classes_at = args.classes_at if args.classes_at is not None else [max(args.sizes)]
    work = Path(tempfile.mkdtemp(prefix="scale-curve-"))
    rows, skipped = [], []
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    raw = out / f"scale_curve-{time.strftime('%Y%m%d-%H%M%S')}.json"
    try:
        for n in args.sizes:
            kb = max([r["used_kb_per_ns"] for r in rows if r["used_kb_per_ns"] > 0] + [400.0])
            try:
                r = row(n, work, args.matrix and n <= args.matrix_max, n in args.matrix_at, n in classes_at, kb)
            except MemoryError as e:
                print(f"{n:>5} VPCs: {e}", flush=True)
                skipped.append({"vpcs": n, "why": str(e)})
                break
            rows.append(r)
            raw.write_text(json.dumps({"rows": rows, "skipped": skipped, "loadavg": os.getloadavg()}, indent=1))
            print(f"{n:>5} VPCs: up {r['up']:.2f} s, down {r['down']:.2f} s"
                  + (f", matrix {r['matrix']:.2f} s" if "matrix" in r else "")
                  + (f", plain matrix {r['matrix_plain']['seconds']:.1f} s ({r['matrix_plain'].get('rss_mb', 0):.0f} MB)"
                     f", by class {r['by_class']['seconds']:.1f} s" if "by_class" in r else "")
                  + (f", every class {r['by_class_all']['seconds']:.1f} s" if "by_class_all" in r else "")
                  + f"; validate {r['validate']:.2f} s, explain {r['explain']:.2f} s / -l {r['explain_lab']:.2f} s"
                  + f"; {r['slab_kb_per_ns']:.0f} kB slab / namespace, {r['used_kb'] / 2**20:.2f} GB in all"
                  + f"; left {r['left']} namespaces; load {r['load_up']}", flush=True)
    finally:
        for n in args.sizes:
            if lab_namespaces(f"sc{n}"):
                subprocess.run([VPCLAB, "down", f"sc{n}"], capture_output=True)
    print(f"\n{'VPCs':>6} {'namespaces':>10} {'up s':>8} {'ms/VPC':>7} {'down s':>7} {'ms/VPC':>7} "
          f"{'matrix s':>9} {'slab kB/ns':>10} {'used kB/ns':>10} {'used GB':>8} {'valid. s':>8} {'expl. s':>8} "
          f"{'state MB':>8} {'status s':>8} {'load':>5}")
    for r in rows:
        m = f"{r['matrix']:9.2f}" if "matrix" in r else f"{'-':>9}"
        print(f"{r['vpcs']:>6} {r['namespaces']:>10} {r['up']:8.2f} {r['up'] * 1000 / r['vpcs']:7.1f} "
              f"{r['down']:7.2f} {r['down'] * 1000 / r['vpcs']:7.1f} {m} {r['slab_kb_per_ns']:10.0f} "
              f"{r['used_kb_per_ns']:10.0f} {r['used_kb'] / 2**20:8.2f} {r['validate']:8.2f} {r['explain']:8.2f} "
              f"{(r['state_db_bytes'] or 0) / 2**20:8.1f} {r['status']:8.2f} {r['load_up']:5.1f}")
    if len(rows) >= 2:
        print(f"\ngoals (baseline: {rows[0]['vpcs']} VPCs in the same run)")
        for what, n, fig, goal, met, base in goals(rows):
            print(f"  {what:<48} {n:>5} VPCs: {fig:9.2f}  goal {'<=' if 'RSS' not in what else '<'} {goal:<6g} "
                  f"{'met' if met else 'MISSED':<6}  ({base})")
    chart(rows, args.png)
    print(f"chart: {args.png}")
    raw.write_text(json.dumps({"rows": rows, "skipped": skipped, "loadavg": os.getloadavg(),
                               "goals": goals(rows) if len(rows) >= 2 else []}, indent=1))
    print(f"raw results: {raw}")


if __name__ == "__main__":
    main()
