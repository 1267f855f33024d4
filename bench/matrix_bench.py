"""Matrix benchmark (issue 4): the full `vpclab matrix` on the scale topology
(200 instances: 39,800 ordered pairs, every unanswered pair diagnosed by capture),
and a single `vpclab probe` end to end, against a plain scapy `sr()` loop over the
same pairs in the same run.

    .venv/bin/python bench/matrix_bench.py [--sources N]

The scapy baseline probes every pair of N source instances (default 5: 995 pairs)
and is extrapolated to verdicts per second; it only says answered or not, with no
diagnosis. Run as root; the lab is built under its own name and removed.
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
LAB = "bmatrix"

SCAPY_CHILD = r"""
import json, sys, time
from vpclab.kernel import netns
netns.enter(sys.argv[1])
t0 = time.perf_counter()
from scapy.all import IP, ICMP, conf, sr
conf.verb = 0
t1 = time.perf_counter()
ans, unans = sr([IP(dst=d)/ICMP() for d in json.loads(sys.argv[2])], timeout=0.5, verbose=0)
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "sr": t2 - t1, "answered": len(ans), "sent": len(ans) + len(unans)}))
"""


def timed(argv):
    t = time.perf_counter()
    p = subprocess.run(argv, capture_output=True, text=True)
    return time.perf_counter() - t, p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sources", type=int, default=5)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    path = Path(tempfile.mkdtemp()) / "scale.yaml"
    path.write_text(scale_yaml(lab=LAB))
    subprocess.run([VPCLAB, "down", LAB], capture_output=True)
    t_up, p = timed([VPCLAB, "up", str(path)])
    if p.returncode:
        sys.exit(p.stderr)
    try:
        status = json.loads(subprocess.run([VPCLAB, "status", "-l", LAB, "--json"], capture_output=True,
                                           text=True).stdout)
        insts = [(v["name"], i) for v in status["vpcs"] for i in v["instances"]]
        runs = []
        for _ in range(args.reps):
            t, p = timed([VPCLAB, "matrix", "-l", LAB, "--json"])
            doc = json.loads(p.stdout)
            runs.append((t, doc))
        t_matrix = statistics.median(r[0] for r in runs)
        doc = runs[-1][1]
        pairs = len(doc["pairs"])
        # a single probe, end to end (process start included): answered and unanswered
        one_ok = statistics.median(timed([VPCLAB, "probe", "vpc-00/cvm-1", "vpc-01/cvm-1", "-l", LAB])[0]
                                   for _ in range(5))
        one_lost = statistics.median(timed([VPCLAB, "probe", "vpc-00/cvm-1", "vpc-10/cvm-1", "-l", LAB])[0]
                                     for _ in range(3))
        # baseline: plain scapy sr() from N sources to every other instance
        ips = [i["ip"] for _, i in insts]
        base = []
        for vpc, inst in insts[: args.sources]:
            dsts = [ip for ip in ips if ip != inst["ip"]]
            p = subprocess.run([sys.executable, "-c", SCAPY_CHILD, inst["namespace"], json.dumps(dsts)],
                               capture_output=True, text=True)
            base.append(json.loads(p.stdout))
        sr_time = sum(b["sr"] for b in base)
        sr_sent = sum(b["sent"] for b in base)
        scapy_rate = sr_sent / sr_time
        ours = pairs / t_matrix
        s = doc["summary"]
        print(f"scale lab: {len(insts)} instances, built in {t_up:.2f} s")
        print(f"vpclab matrix: {pairs} probes ({s['reachable']} reachable, {s['no-return']} no-return, "
              f"{s['unreachable']} unreachable; {doc['mismatches']} mismatches with explain)")
        print(f"  end to end (process start, fast path, capture diagnosis of every unanswered pair, explain "
              f"cross-check): median {t_matrix:.2f} s over {args.reps} runs (goal <= 10 s); in-command "
              f"{doc['seconds']:.2f} s")
        print(f"  {ours:,.0f} verdicts/s")
        print(f"scapy sr() baseline: {sr_sent} probes from {args.sources} sources in {sr_time:.2f} s of sr() "
              f"(+{statistics.median(b['import'] for b in base):.2f} s scapy import per process): "
              f"{scapy_rate:,.0f} probes/s, no diagnosis")
        print(f"  ratio vpclab/scapy: {ours / scapy_rate:.1f}x faster; scapy would need "
              f"{pairs / scapy_rate:.0f} s for the full matrix")
        print(f"single vpclab probe, end to end: answered {one_ok:.2f} s, unanswered {one_lost:.2f} s "
              f"(goal <= 1.5 s)")
    finally:
        subprocess.run([VPCLAB, "down", LAB], capture_output=True)


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("matrix_bench: run as root")
    main()
