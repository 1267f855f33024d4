"""Live-operation benchmark: accept, delete, route add and `modify --bandwidth` on the
scale topology (bench/scale_topology.py: 50 VPCs, 200 instances, 100 peerings, ~2,400
kernel objects), against rebuilding the lab (`down` + `up`) for the same change.

Goals: <= 50 ms median in-process (the `vpclab.controller.operate` functions), <= 0.5 s through
the CLI (a fresh `vpclab` process each time, start-up included).

A PENDING peering to accept on a one-account topology: the generated topology gets a
second account, `other`, owning vpc-45..vpc-49 (their ring peerings are `accepted: true`,
so the lab is the same scale topology). Each rep then runs the cycle
    create vpc-10 -> vpc-49 (cross-account and cross-region: PENDING, 100 Mbps)
    accept --as other | route add vpc-10 10.49.7.0/24 | modify --bandwidth 50Mbps
    route del | delete
once through the CLI and once in-process; the four operations in the middle are the
timed ones (create and route del are reported too). Every rep leaves the lab as it
found it, except for one more DELETED peering in the history.

Baseline, same run: for each operation, the topology file that holds the state after it
(the peering accepted, + the route, + the new cap, without the peering) is applied by
`down` + `up`, in-process and through the CLI.

If a goal is missed, the slowest in-process operation is profiled with cProfile and
the top of the profile printed.

    sudo .venv/bin/python bench/ops_bench.py [--reps 7] [--rebuild-reps 3]
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import statistics
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from scale_topology import scale  # noqa: E402

from vpclab.controller import build, operate, status, teardown  # noqa: E402

VPCLAB = str(Path(sys.executable).parent / "vpclab")
OTHER = [f"vpc-{i:02d}" for i in range(45, 50)]
REQ, ACC = "vpc-10", "vpc-49"  # region-1 -> region-4, not ring neighbours
DST = "10.49.7.0/24"
OPS = ("accept", "route add", "modify", "delete")
GOAL_INPROC, GOAL_CLI = 0.050, 0.5


def topology(lab: str, change: str = "base") -> dict:
    """The scale topology with vpc-45..49 in account `other`, plus the state after `change`."""
    doc = scale(lab=lab)
    doc = {"lab": doc.pop("lab"), "accounts": ["default", "other"], **doc}
    for name in OTHER:
        doc["vpcs"][name]["account"] = "other"
    for p in doc["peerings"].values():
        if (p["vpc"] in OTHER) != (p["peer_vpc"] in OTHER):
            p["accepted"] = True
    if change in ("accept", "route add", "modify"):
        doc["peerings"]["pcx-bench"] = {"vpc": REQ, "peer_vpc": ACC, "accepted": True,
                                        "bandwidth": "50Mbps" if change == "modify" else "100Mbps"}
    if change in ("route add", "modify"):
        doc["vpcs"][REQ]["route_tables"]["default"]["routes"].append({"destination": DST, "next_hop": "pcx-bench"})
    return doc


def write(doc: dict, where: Path, name: str) -> Path:
    path = where / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def cli(*args) -> str:
    p = subprocess.run([VPCLAB, *args], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"vpclab {' '.join(args)} exited {p.returncode}:\n{p.stdout}{p.stderr}")
    return p.stdout


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


# ---- the operation cycle -----------------------------------------------------------------


def cycle_cli(lab: str, times: dict) -> None:
    def op(name, *args):
        dt, out = timed(lambda: cli(*args, "-l", lab))
        times.setdefault(name, []).append(dt)
        return out

    pid = op("create", "peering", "create", "--vpc", REQ, "--peer-vpc", ACC, "--bandwidth", "100Mbps").strip()
    op("accept", "peering", "accept", pid, "--as", "other")
    op("route add", "route", "add", REQ, "--destination", DST, "--next-hop", pid)
    op("modify", "peering", "modify", pid, "--bandwidth", "50Mbps")
    op("route del", "route", "del", REQ, "--destination", DST)
    op("delete", "peering", "delete", pid)


def cycle_inproc(lab: str, times: dict) -> None:
    def op(name, fn):
        dt, out = timed(fn)
        times.setdefault(name, []).append(dt)
        return out

    pid = op("create", lambda: operate.peering_create(lab, REQ, ACC, 100_000)).name
    op("accept", lambda: operate.peering_event(lab, "accept", pid, "other"))
    op("route add", lambda: operate.route_add(lab, REQ, DST, pid))
    op("modify", lambda: operate.peering_modify(lab, pid, 50_000))
    op("route del", lambda: operate.route_del(lab, REQ, DST))
    op("delete", lambda: operate.peering_event(lab, "delete", pid))


def check_matches(lab: str) -> None:
    """The benchmark measures correct work only: the kernel matches the state."""
    from vpclab.plan import diff as plandiff
    from vpclab.state.store import Store

    model = status.load_model(lab)
    left = plandiff.diff(build.desired(model).objects, build.actual(lab, Store(lab).dir))
    if left:
        raise SystemExit(f"kernel does not match the state after the cycle: {len(left)} actions left")


# ---- the rebuild baseline -------------------------------------------------------------------


def rebuild(lab: str, path: Path, via_cli: bool) -> float:
    if via_cli:
        dt, _ = timed(lambda: (cli("down", lab), cli("up", str(path))))
    else:
        dt, _ = timed(lambda: (teardown.down(lab), build.up(str(path))))
    return dt


# ---- report ------------------------------------------------------------------------------


def ms(x: float) -> str:
    return f"{x * 1000:8.1f} ms"


def profile(lab: str, name: str) -> str:
    """cProfile of one in-process `name` (run inside a full cycle; only that call is profiled)."""
    prof = cProfile.Profile()
    pid = operate.peering_create(lab, REQ, ACC, 100_000).name
    calls = {
        "accept": lambda: operate.peering_event(lab, "accept", pid, "other"),
        "route add": lambda: operate.route_add(lab, REQ, DST, pid),
        "modify": lambda: operate.peering_modify(lab, pid, 50_000),
        "delete": lambda: operate.peering_event(lab, "delete", pid),
    }
    for op in OPS:  # walk the cycle up to `name`, profile that step, finish the cycle
        if op == name:
            prof.runcall(calls[op])
        else:
            calls[op]()
        if op == "modify":
            operate.route_del(lab, REQ, DST)
    out = io.StringIO()
    st = pstats.Stats(prof, stream=out)
    st.sort_stats("cumulative").print_stats(22)
    st.sort_stats("tottime").print_stats(12)
    return out.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=7, help="cycles per mode (CLI, in-process)")
    ap.add_argument("--rebuild-reps", type=int, default=3, help="down + up per operation and mode")
    ap.add_argument("--no-profile", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("ops_bench builds a lab: run it as root")

    lab = "b" + "".join(random.choices(string.ascii_lowercase + string.digits, k=7))
    tmp = Path(tempfile.mkdtemp(prefix="ops-bench-"))
    files = {c: write(topology(lab, c), tmp, c.replace(" ", "-")) for c in ("base",) + OPS}
    files["delete"] = files["base"]  # the state after delete is the base topology again
    cli_t, inproc_t, rebuild_t = {}, {}, {}
    try:
        t_up, _ = timed(lambda: cli("up", str(files["base"])))
        model = status.load_model(lab)
        print("load average at start: " + " ".join(f"{x:.2f}" for x in os.getloadavg())
              + f" ({os.cpu_count()} CPUs; other work on the machine inflates every figure)")
        print(f"lab {lab}: {len(model.vpcs)} VPCs, {len(model.instances())} instances, "
              f"{len(model.peerings)} peerings; first `vpclab up` {t_up:.2f} s")
        print(f"cycle: create {REQ} -> {ACC} (PENDING, cross-region), accept --as other, route add {DST}, "
              f"modify 100 -> 50 Mbps, route del, delete; {args.reps} reps per mode\n")

        cycle_inproc(lab, {})  # warm-up: imports, page cache
        for _ in range(args.reps):
            cycle_cli(lab, cli_t)
            cycle_inproc(lab, inproc_t)
        check_matches(lab)

        for op in OPS:
            for via_cli in (False, True):
                rebuild_t.setdefault((op, via_cli), [
                    rebuild(lab, files[op], via_cli) for _ in range(args.rebuild_reps)])
            teardown.down(lab)
            build.up(str(files["base"]))
        check_matches(lab)

        med = statistics.median
        head = f"{'operation':<10} {'in-process':>11} {'CLI':>11}   {'down+up (in-proc)':>17} {'down+up (CLI)':>14}" \
               f"   {'rebuild/op in-proc':>18} {'rebuild/op CLI':>15}"
        print(head)
        print("-" * len(head))
        missed = []
        for op in ("create",) + OPS + ("route del",):
            i, c = med(inproc_t[op]), med(cli_t[op])
            row = f"{op:<10} {ms(i):>11} {ms(c):>11}"
            if op in OPS:
                ri, rc = med(rebuild_t[(op, False)]), med(rebuild_t[(op, True)])
                row += f"   {ms(ri):>17} {ms(rc):>14}   {ri / i:>17.0f}x {rc / c:>14.0f}x"
                if i > GOAL_INPROC:
                    missed.append((i, op, "in-process", GOAL_INPROC))
                if c > GOAL_CLI:
                    missed.append((c, op, "CLI", GOAL_CLI))
            print(row)
        spread = {op: (min(inproc_t[op]), max(inproc_t[op]), min(cli_t[op]), max(cli_t[op])) for op in OPS}
        print("\nranges (min-max): " + "; ".join(
            f"{op}: {a * 1000:.0f}-{b * 1000:.0f} ms in-proc, {c * 1000:.0f}-{d * 1000:.0f} ms CLI"
            for op, (a, b, c, d) in spread.items()))
        start = [timed(lambda: subprocess.run([VPCLAB, "--help"], stdout=subprocess.DEVNULL))[0] for _ in range(5)]
        print(f"`vpclab --help` (process start + click): {ms(med(start)).strip()} median")
        print("load average at end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
        print(f"\ngoals: in-process <= {GOAL_INPROC * 1000:.0f} ms, CLI <= {GOAL_CLI:.1f} s")
        if not missed:
            print("all goals met")
        for t, op, mode, goal in sorted(missed, reverse=True):
            print(f"MISSED: {op} {mode} {t * 1000:.0f} ms > {goal * 1000:.0f} ms")
        if missed and not args.no_profile:
            worst = max((t, op) for t, op, mode, _ in missed if mode == "in-process")[1] if any(
                m == "in-process" for _, _, m, _ in missed) else max(missed)[1]
            print(f"\ncProfile of one in-process `{worst}`:\n")
            print(profile(lab, worst))
            check_matches(lab)
    finally:
        cli("down", lab)
        for p in tmp.iterdir():
            p.unlink()
        tmp.rmdir()


if __name__ == "__main__":
    main()
