"""Flaky-test hunt: run the kernel tests N times in a row and report every test that ever failed.

    sudo .venv/bin/python bench/flaky.py [--runs 20] [--budget MIN] [-n WORKERS] [PATH ...]

Each round runs `pytest -n WORKERS PATH...` (default: tests/kernel, as the suite runs them)
with a JUnit XML report, then reads which tests failed or errored. At the end it prints, per
test that ever failed, how many rounds it failed in and its first failure message, then the
rounds' wall times (median, min-max) and the machine's load, and writes the figures as JSON to
bench/out/flaky.json. `--budget` stops starting new rounds after that many minutes, and says how
many rounds ran (a full kernel round takes minutes: 20 rounds is an overnight job).

The baseline in the same run: the first round's time against the median of the rest (a suite
that gets slower round after round leaks something: namespaces, processes, conntrack entries).
Exit 1 if any test failed in any round.
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
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def failures(xml_path: Path) -> dict:
    """test id -> first line of its failure, from a JUnit XML report."""
    out = {}
    if not xml_path.exists():
        return {"<no report>": "pytest wrote no JUnit report (it crashed or was killed)"}
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        for tag in ("failure", "error"):
            el = case.find(tag)
            if el is not None:
                name = f"{case.get('classname', '')}::{case.get('name', '')}"
                out[name] = (el.get("message") or el.text or tag).strip().splitlines()[0][:200]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--budget", type=float, default=None, help="minutes: start no round after this")
    ap.add_argument("-n", "--workers", default="auto")
    ap.add_argument("paths", nargs="*", default=["tests/kernel"])
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/flaky.py: the kernel tests need root", file=sys.stderr)
        return 3
    failed_in = defaultdict(list)
    first_msg = {}
    times, loads = [], []
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as d:
        for i in range(args.runs):
            if args.budget is not None and time.monotonic() - start > args.budget * 60:
                print(f"budget of {args.budget} min spent: {i} of {args.runs} rounds ran")
                break
            xml = Path(d) / f"round{i}.xml"
            t0 = time.monotonic()
            subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", args.workers,
                            f"--junitxml={xml}", *args.paths], cwd=REPO,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            took = time.monotonic() - t0
            times.append(took)
            loads.append(os.getloadavg()[0])
            bad = failures(xml)
            for name, msg in bad.items():
                failed_in[name].append(i + 1)
                first_msg.setdefault(name, msg)
            print(f"round {i + 1}: {took:.0f} s, load {loads[-1]:.2f}, "
                  f"{len(bad)} failed{': ' + ', '.join(sorted(bad)) if bad else ''}", flush=True)
    rounds = len(times)
    print()
    if failed_in:
        print(f"tests that failed in at least one of {rounds} rounds:")
        for name, which in sorted(failed_in.items(), key=lambda kv: -len(kv[1])):
            print(f"  {name}: {len(which)}/{rounds} (rounds {', '.join(map(str, which))}): {first_msg[name]}")
    else:
        print(f"no test failed in {rounds} rounds")
    if times:
        rest = times[1:] or times
        print(f"round time: median {statistics.median(times):.0f} s ({min(times):.0f}-{max(times):.0f}); "
              f"first {times[0]:.0f} s vs the rest's median {statistics.median(rest):.0f} s "
              f"(ratio {times[0] / statistics.median(rest):.2f}); "
              f"{os.cpu_count()} CPUs, load {statistics.median(loads):.2f} (median at the rounds' ends)")
    out = REPO / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "flaky.json").write_text(json.dumps({"rounds": rounds, "times": times, "loads": loads,
                                                "failed": {k: {"rounds": v, "message": first_msg[k]}
                                                           for k, v in failed_in.items()}}, indent=2))
    return 1 if failed_in else 0


if __name__ == "__main__":
    sys.exit(main())
