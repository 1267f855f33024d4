"""Usage meter benchmark: what the meter costs on the scale lab (target: < 1% of a core).

Builds the scale topology (50 VPCs, 200 instances, 100 peerings, 15 of them cross-region)
under a fresh lab name with `billing: {window: 10s}`, then measures, in one run:

1. the live meter process: its CPU time (utime + stime from /proc/PID/stat) over 60 s
   of 10 s windows (polling state.db twice a second included), as % of one core;
2. one sample round in-process (time.process_time, median of 15): the meter's own
   `Meter.sample` (a capped link: its qdiscs through pyroute2's message classes; a regional one:
   /proc/thread-self/net/dev of its namespace, once a round;
   the SQLite write), against the baseline, a plain /proc read loop: per peering, setns
   into its VPC namespaces and read /proc/thread-self/net/dev (the cheapest read of a
   link's counters there is), no storage;
3. from (2), the % of a core a round every 10 s and every 5 minutes (the default) costs.

    sudo .venv/bin/python bench/usage_bench.py [--seconds 60]

Needs root; the lab is always removed.
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
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from scale_topology import scale_yaml  # noqa: E402

VPCLAB = str(Path(sys.executable).parent / "vpclab")
TICK = os.sysconf("SC_CLK_TCK")
WINDOW = 10.0
ROUNDS = 15


def ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rpartition(b")")[2].split()
    return int(fields[11]) + int(fields[12])


def proc_loop_round(targets) -> None:
    """The baseline: a link's counters from /proc/thread-self/net/dev inside each end's namespace."""
    from vpclab.kernel import nsenter

    with nsenter.Hopper() as h:
        for _name, ns, peer_ns, ifname, cap in targets:
            for where in ((ns, peer_ns) if cap is not None else (ns,)):
                h.enter(where)
                with open("/proc/thread-self/net/dev", "rb") as f:
                    for line in f:
                        if line.lstrip().startswith(ifname.encode() + b":"):
                            rx, tx = line.split(b":", 1)[1].split()[0:9:8]
                            break


def cpu_median(fn, reps=ROUNDS) -> float:
    out = []
    for _ in range(reps):
        t = time.process_time()
        fn()
        out.append(time.process_time() - t)
    return statistics.median(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0, help="how long the live meter is watched")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (it builds the scale lab)")
    lab = "ub" + "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
    topo = Path(tempfile.mkdtemp()) / f"{lab}.yaml"
    topo.write_text(scale_yaml(lab=lab) + f"billing:\n  window: {WINDOW:g}s\n")
    try:
        t = time.monotonic()
        subprocess.run([VPCLAB, "up", str(topo)], check=True, capture_output=True)
        print(f"scale lab {lab} up in {time.monotonic() - t:.1f} s (100 peerings)")
        run_dir = Path(f"/run/vpclab/{lab}")
        pid = int((run_dir / "meter.pid").read_text())

        from vpclab.usage import samples
        from vpclab.usage.meter import Meter

        deadline = time.monotonic() + 60
        while not samples.read(run_dir)[1]:  # the meter has started and taken its first round
            if time.monotonic() > deadline:
                sys.exit("the meter took no sample in 60 s")
            time.sleep(0.2)
        n0 = len(samples.read(run_dir)[1])
        c0, w0 = ticks(pid), time.monotonic()
        time.sleep(args.seconds)
        c1, w1 = ticks(pid), time.monotonic()
        n1 = len(samples.read(run_dir)[1])
        live = (c1 - c0) / TICK / (w1 - w0) * 100

        m = Meter(lab, Path(tempfile.mkdtemp()))  # the lab's real model and namespaces, a scratch usage.db
        assert m.reload()
        samples.create(m.run_dir)
        writer = samples.Writer(m.run_dir)
        m.sample(writer)  # sockets and ifindexes opened once, as in the live meter
        capped = sum(1 for t in m.targets if t[4] is not None)
        meter_s = cpu_median(lambda: m.sample(writer))
        base_s = cpu_median(lambda: proc_loop_round(m.targets))
        writer.close()
        m.links.close()

        print(f"live meter (pid {pid}), {WINDOW:g} s windows, watched {w1 - w0:.0f} s: "
              f"{live:.3f}% of a core ({n1 - n0} rows written; target < 1%)")
        print(f"{'one round, ' + str(len(m.targets)) + ' peerings (' + str(capped) + ' capped)':<44} {'CPU ms':>8} "
              f"{'% core @10s':>12} {'% core @5m':>11}")
        for what, s in (("meter (netlink + pyroute2 + SQLite)", meter_s), ("baseline: plain /proc read loop", base_s)):
            print(f"{what:<44} {s * 1e3:>8.2f} {s / 10 * 100:>11.3f}% {s / 300 * 100:>10.4f}%")
        print(f"ratio meter / baseline: {meter_s / base_s:.2f}x")
        out = Path(__file__).parent / "out"
        out.mkdir(exist_ok=True)
        (out / "usage_bench.json").write_text(json.dumps({
            "peerings": len(m.targets), "capped": capped, "window_s": WINDOW, "watched_s": w1 - w0,
            "live_core_percent": live, "rows": n1 - n0, "round_cpu_ms": {"meter": meter_s * 1e3,
                                                                         "proc_loop": base_s * 1e3},
            "ratio": meter_s / base_s, "load": os.getloadavg()}, indent=1) + "\n")
    finally:
        subprocess.run([VPCLAB, "down", lab], capture_output=True)


if __name__ == "__main__":
    main()
