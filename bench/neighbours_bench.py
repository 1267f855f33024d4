"""Neighbours benchmark (issue 9): lab B's `vpclab up` while lab A goes down, against B's
`up` with A standing idle, in the same run.

    sudo .venv/bin/python bench/neighbours_bench.py [--reps N] [--vpcs-b N]

Lab A is the scale lab (bench/scale_topology.py: 50 VPCs, 250 namespaces); lab B
the same topology with fewer VPCs (10 by default). Each repetition, in random
order:
  idle       A is up and idle; time `vpclab up B` (CLI, end to end); `down B`.
  contended  A is up; start `vpclab down A` and at once `vpclab up B`; time B's up;
             wait for both; `down B`; A is built again for the next repetition.
  no-yield   the same with VPCLAB_TEARDOWN_YIELD=0 for A's down: A hands all its
             namespaces to the kernel at once instead of between builds (builds.py).
Goal: B's contended up <= 1.2x its idle up (median of the per-repetition ratios).
Before routed subnets the kernel held RTNL for ~18 ms per bridge destroyed (1.8 s for
A's 100 subnets), and every other lab's netlink work waited behind it. Without
yielding it still holds RTNL for ~0.1-0.2 s to destroy A's 850 devices at once.

Lab names: nba, nbb (namespaces vpclab-nba-*, vpclab-nbb-*); removed at the end.
Other users of this machine add noise: run it a couple of times and compare medians.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from scale_topology import scale_yaml  # noqa: E402

import bytecode  # noqa: E402

VPCLAB = str(Path(sys.executable).parent / "vpclab")
A, B = "nba", "nbb"
GOAL = 1.2


def run(*argv) -> None:
    r = subprocess.run([VPCLAB, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"vpclab {' '.join(argv)} -> rc {r.returncode}: {r.stderr.strip()[-600:]}")


def timed_up(path: Path) -> float:
    t = time.perf_counter()
    run("up", str(path))
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--vpcs-b", type=int, default=10, help="VPCs of lab B (default 10)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: it creates network namespaces")
    print(bytecode.ensure(), flush=True)
    work = Path(tempfile.mkdtemp(prefix="neighbours-"))
    fa, fb = work / "a.yaml", work / "b.yaml"
    fa.write_text(scale_yaml(lab=A))
    fb.write_text(scale_yaml(lab=B, vpcs=args.vpcs_b))
    times = {"idle": [], "contended": [], "no-yield": []}
    a_down = {"contended": [], "no-yield": []}
    try:
        for lab in (A, B):
            subprocess.run([VPCLAB, "down", lab], capture_output=True)
        run("up", str(fa))
        timed_up(fb)  # warm-up (page cache, interpreter)
        run("down", B)
        for rep in range(args.reps):
            got = {}
            for kind in random.sample(list(times), len(times)):
                if kind == "idle":
                    got["idle"] = timed_up(fb)
                else:
                    env = dict(os.environ, **({"VPCLAB_TEARDOWN_YIELD": "0"} if kind == "no-yield" else {}))
                    t0 = time.perf_counter()
                    down = subprocess.Popen([VPCLAB, "down", A], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                            env=env)
                    ended = []
                    waiter = threading.Thread(target=lambda: ended.append((down.wait(), time.perf_counter())))
                    waiter.start()
                    got[kind] = timed_up(fb)
                    waiter.join()
                    if ended[0][0] != 0:
                        raise RuntimeError(f"vpclab down {A} failed: {down.stderr.read().decode()[-400:]}")
                    got["a_down " + kind] = ended[0][1] - t0
                run("down", B)
                if kind != "idle":
                    run("up", str(fa))
                time.sleep(0.3)
            for k in times:
                times[k].append(got[k])
            for k in a_down:
                a_down[k].append(got["a_down " + k])
            print(f"rep {rep}: B up idle {got['idle']:.3f} s; while A goes down {got['contended']:.3f} s "
                  f"(ratio {got['contended'] / got['idle']:.2f}), A not yielding {got['no-yield']:.3f} s "
                  f"(ratio {got['no-yield'] / got['idle']:.2f}); A's down ended after "
                  f"{got['a_down contended']:.3f} / {got['a_down no-yield']:.3f} s", flush=True)
    finally:
        for lab in (A, B):
            subprocess.run([VPCLAB, "down", lab], capture_output=True)
    med = statistics.median

    def span(xs):
        return f"{med(xs):.3f} s ({min(xs):.3f}-{max(xs):.3f})"

    print(f"\nlab A: 50 VPCs (250 namespaces); lab B: {args.vpcs_b} VPCs; {args.reps} repetitions; "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    print(f"  B up, A idle                          {span(times['idle'])}")
    print(f"  B up, A going down                    {span(times['contended'])}")
    print(f"  B up, A going down without yielding   {span(times['no-yield'])}")
    print(f"  A down (started with B)               {span(a_down['contended'])}; "
          f"without yielding {span(a_down['no-yield'])}")
    for kind, goal in (("contended", GOAL), ("no-yield", None)):
        ratios = [b / i for b, i in zip(times[kind], times["idle"])]
        r = med(ratios)
        tail = f"   goal <= {goal}   met: {'yes' if r <= goal else 'NO'}" if goal else "   (A not yielding)"
        print(f"  ratio {kind + ' / idle':<22}{r:.2f} ({min(ratios):.2f}-{max(ratios):.2f}){tail}")

if __name__ == "__main__":
    main()
