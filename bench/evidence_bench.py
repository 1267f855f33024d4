"""Packet evidence benchmark (issue 12): evidence must not slow the matrix, and what it
costs a single probe. Baseline: the same commands from an older revision of vpclab
(default `main`), extracted with `git archive` and run in the same run, on the same lab.

    sudo .venv/bin/python bench/evidence_bench.py [--baseline-rev main] [--reps 3] [--vpcs 50]

The scale topology (bench/scale_topology.py, 50 VPCs of 4 instances: 200 instances,
39,800 ordered pairs) is built once under a random name. Then, alternating baseline and
this checkout `--reps` times each:
- `vpclab matrix --jsonl`: the matrix's own `seconds` (summary line), per pair;
- `vpclab probe` of an answered and of an unanswered pair (`--json`), process included,
  and the evidence's size.
Goal: matrix time ratio (this checkout / baseline) <= 1.05. Prints medians and ratios;
the lab is removed at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import string
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from scale_topology import scale_yaml  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
VPCLAB = str(Path(sys.executable).parent / "vpclab")
RATIO_GOAL = 1.05


def baseline_src(rev: str, into: Path) -> Path:
    """The `src/` of revision `rev`, extracted (no worktree, nothing in .git changes)."""
    tar = into / "base.tar"
    with open(tar, "wb") as f:
        subprocess.run(["git", "-C", str(REPO), "archive", rev, "src"], stdout=f, check=True)
    with tarfile.open(tar) as t:
        t.extractall(into, filter="data")
    return into / "src"


def cli(which, args):
    """(argv, env) running vpclab from this checkout (None) or from a baseline src dir."""
    if which is None:
        return [VPCLAB, *args], None
    env = dict(os.environ, PYTHONPATH=str(which))
    return [sys.executable, "-m", "vpclab", *args], env


def run(which, args):
    argv, env = cli(which, args)
    t = time.perf_counter()
    p = subprocess.run(argv, capture_output=True, text=True, env=env)
    return time.perf_counter() - t, p


def matrix_seconds(which, lab):
    _, p = run(which, ["matrix", "-l", lab, "--jsonl"])
    if p.returncode:
        sys.exit(f"matrix failed: {p.stderr}")
    lines = p.stdout.splitlines()
    summary = json.loads(lines[-1])
    return summary["seconds"], len(lines) - 1, summary


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline-rev", default="main")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--vpcs", type=int, default=50)
    args = ap.parse_args()
    lab = "bev" + "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
    tmp = Path(tempfile.mkdtemp())
    base = baseline_src(args.baseline_rev, tmp)
    check = subprocess.run(cli(base, ["--version"])[0], env=cli(base, [])[1], capture_output=True, text=True)
    if check.returncode:
        sys.exit(f"baseline does not run: {check.stderr}")
    path = tmp / "scale.yaml"
    path.write_text(scale_yaml(vpcs=args.vpcs, lab=lab))
    t_up, p = run(None, ["up", str(path)])
    if p.returncode:
        sys.exit(p.stderr)
    try:
        m = {"baseline": [], "evidence": []}
        one = {"baseline": [], "evidence": []}
        lost = {"baseline": [], "evidence": []}
        sizes = []
        for _ in range(args.reps):
            for name, which in (("baseline", base), ("evidence", None)):
                secs, pairs, summary = matrix_seconds(which, lab)
                m[name].append(secs)
                t, p = run(which, ["probe", "vpc-00/cvm-1", "vpc-01/cvm-1", "-l", lab, "--json"])
                one[name].append(t)
                if which is None:
                    sizes.append(len(json.loads(p.stdout).get("evidence", [])))
                t, _ = run(which, ["probe", "vpc-00/cvm-1", "vpc-10/cvm-1", "-l", lab, "--json"])
                lost[name].append(t)
        med = {k: statistics.median(v) for k, v in m.items()}
        ratio = med["evidence"] / med["baseline"]
        print(f"scale lab {lab}: {args.vpcs * 4} instances, {pairs} pairs, built in {t_up:.1f} s; "
              f"baseline = {args.baseline_rev}; load {os.getloadavg()[0]:.2f}")
        print(f"matrix (in-command seconds), median of {args.reps}: baseline {med['baseline']:.2f} s, "
              f"this checkout {med['evidence']:.2f} s ({1e6 * med['evidence'] / pairs:.1f} us/pair); "
              f"ratio {ratio:.3f} (goal <= {RATIO_GOAL}) {'MET' if ratio <= RATIO_GOAL else 'MISSED'}")
        print(f"  runs: baseline {m['baseline']}, this checkout {m['evidence']}")
        for what, d in (("answered", one), ("unanswered", lost)):
            b, e = statistics.median(d["baseline"]), statistics.median(d["evidence"])
            print(f"single probe {what}, process included: baseline {b:.3f} s, with evidence {e:.3f} s "
                  f"(ratio {e / b:.2f})")
        print(f"evidence of the answered probe: {statistics.median(sizes):.0f} packets")
        print(f"summary of the last matrix: {summary['summary']}, mismatches {summary['mismatches']}")
    finally:
        subprocess.run([VPCLAB, "down", lab], capture_output=True)


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("evidence_bench: run as root")
    main()
