"""Issue 24 item 5: the user-space part of `vpclab up` of the scale lab (root).

`vpclab up FILE` of bench/scale_topology.py (50 VPCs: 250 namespaces, ~3,000 kernel
objects) as a process, end to end, and its CPU time from `getrusage(RUSAGE_CHILDREN)`:
`user` is everything vpclab does itself (interpreter start-up, imports, loading, planning,
encoding the requests, the nft threads' libnftables), `sys` the kernel's own work. Goal:
user at most 0.15 s. Baseline in the same run: the same command from the `src/` of
`--baseline-rev` (default: the last commit before issue 24's pass), extracted with
`git archive` and run by the same interpreter with bytecode, the two alternating in each
repetition (`down` between, not timed). The machine is shared: the load is printed, and
every figure is a median (min-max) over the repetitions.

    sudo .venv/bin/python bench/up_cpu_bench.py [--reps N] [--vpcs N] [--filters]

`--filters` adds bench/filters_bench.py's group and ACL to every VPC (item 1's lab).
Linux splits a process's CPU into user and sys by sampling at each timer tick (HZ=250
here: 4 ms), so one run's split is +-10 ms; the sum is exact.
"""
from __future__ import annotations

import argparse
import compileall
import json
import os
import random
import resource
import statistics
import string
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bytecode  # noqa: E402
import filters_bench  # noqa: E402
import scale_topology  # noqa: E402

import yaml  # noqa: E402

REPO = HERE.parent
VPCLAB = str(Path(sys.executable).parent / "vpclab")
BASELINE = "34d6d17"  # main before issue 24's performance pass
GOAL_USER = 0.15


def baseline_src(rev: str, into: Path) -> Path:
    """The `src/` of revision `rev`, extracted and compiled (nothing in .git changes)."""
    tar = into / "base.tar"
    with open(tar, "wb") as f:
        subprocess.run(["git", "-C", str(REPO), "archive", rev, "src"], stdout=f, check=True)
    with tarfile.open(tar) as t:
        t.extractall(into, filter="data")
    compileall.compile_dir(str(into / "src"), quiet=2)
    return into / "src"


def argv_env(src, args):
    """Both trees run alike: `python -m vpclab`, the tree first on the path."""
    return [sys.executable, "-m", "vpclab", *args], dict(os.environ, PYTHONPATH=str(src or REPO / "src"))


def measured(src, args):
    """(wall, user, sys) of one vpclab process."""
    argv, env = argv_env(src, args)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = os.times().elapsed
    p = subprocess.run(argv, env=env, capture_output=True, text=True)
    wall = os.times().elapsed - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode:
        sys.exit(f"{' '.join(argv)} failed: {p.stderr}")
    return wall, r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime


def topology(lab: str, vpcs: int, filters: bool) -> str:
    if filters:
        return filters_bench.topology(lab, vpcs, True)
    return yaml.safe_dump(scale_topology.scale(lab=lab, vpcs=vpcs), sort_keys=False)


def med(xs) -> str:
    return f"{statistics.median(xs):.3f} ({min(xs):.3f}-{max(xs):.3f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--vpcs", type=int, default=50)
    ap.add_argument("--filters", action="store_true", help="a group on every instance, an ACL on every subnet")
    ap.add_argument("--baseline-rev", default=BASELINE)
    ap.add_argument("--baseline-src", type=Path, help="a `src/` directory as the baseline instead of a revision "
                    "(e.g. this checkout with one commit reversed)")
    args = ap.parse_args()
    print(bytecode.ensure())
    tmp = Path(tempfile.mkdtemp(prefix="upcpu-"))
    if args.baseline_src:
        base = args.baseline_src.resolve()
        compileall.compile_dir(str(base), quiet=2)
        args.baseline_rev = str(base)
    else:
        base = baseline_src(args.baseline_rev, tmp)
    loads = [os.getloadavg()[0]]
    R = {"baseline": [], "now": []}
    helps = {"baseline": [], "now": []}
    for rep in range(args.reps):
        order = (("baseline", base), ("now", None)) if rep % 2 == 0 else (("now", None), ("baseline", base))
        for name, src in order:
            lab = "uc" + "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
            path = tmp / f"{lab}.yaml"
            path.write_text(topology(lab, args.vpcs, args.filters))
            try:
                R[name].append(measured(src, ["up", str(path)]))
            finally:
                subprocess.run([VPCLAB, "down", lab], capture_output=True)
            helps[name].append(measured(src, ["--help"]))
        loads.append(os.getloadavg()[0])
    print(f"`vpclab up` of the scale lab ({args.vpcs} VPCs{', filtered' if args.filters else ''}), "
          f"{args.reps} repetitions alternating; load {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} CPUs; "
          f"baseline = {args.baseline_rev}; seconds, median (min-max)")
    print(f"  {'':24s} {'wall':22s} {'user':22s} {'sys':22s} `vpclab --help` user")
    for name in ("baseline", "now"):
        w, u, s = zip(*R[name])
        print(f"  {name:24s} {med(w):22s} {med(u):22s} {med(s):22s} {statistics.median(h[1] for h in helps[name]):.3f}")
    ub = [r[1] for r in R["baseline"]]
    un = [r[1] for r in R["now"]]
    ratios = [n / b for n, b in zip(un, ub)]
    user = statistics.median(un)
    print(f"  user now / baseline, per repetition: {statistics.median(ratios):.2f} "
          f"({min(ratios):.2f}-{max(ratios):.2f})")
    print(f"  goal: user-space part of `up` at most {GOAL_USER} s: {user:.3f} s, "
          f"{'met' if user <= GOAL_USER else 'MISSED'} (baseline {statistics.median(ub):.3f} s)")
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / "up_cpu_bench.json").write_text(json.dumps({
        "vpcs": args.vpcs, "filters": args.filters, "baseline_rev": args.baseline_rev, "loads": loads,
        "runs": {k: [dict(zip(("wall", "user", "sys"), r)) for r in v] for k, v in R.items()},
        "help": {k: [dict(zip(("wall", "user", "sys"), r)) for r in v] for k, v in helps.items()}}, indent=1))
    return 0


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("up_cpu_bench: run as root")
    sys.exit(main())
