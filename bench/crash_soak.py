"""Crash soak: SIGKILL `vpclab up`, live operations and `vpclab down` at random points,
then check that the lab is repaired (or removed) and count the rounds that were.

    sudo .venv/bin/python bench/crash_soak.py --runs 50 [--seed N] [--vpcs N]

Each round builds a fresh lab (random name) from a small generated topology that has
every kind of kernel object: two accounts, two regions, a regional, a capped
cross-region and a PENDING cross-account peering, a cdb listener. The lab is then:

1. `up` killed at a random point of its progress: once a random number of its
   namespaces exist, or a few ms into the links, addresses, routes and services that
   follow them. Half of the rounds then run `cleanup LAB`, which must remove
   everything (or keep a lab whose `up` had finished); then `up` again.
2. a live operation (route add/del, peering accept/delete/modify) killed at a random
   point: before its state write, or a few ms after it (during its kernel apply).
   Then `up` again.
3. `down` killed at a random point (a random number of its namespaces removed, or a
   few ms in). Half of the rounds then run `cleanup LAB`, the other half `up` again
   (which must start from the file) and `down`.

After every `up` again, the kernel read-back must equal the plan of the lab's model
and every pair of `vpclab matrix --json` must agree with `explain` on that model;
after `cleanup`/`down`, no namespace, state or process of the lab may remain.
It prints each kill that failed, then per kind how many kills landed while the
command was still running and how many were repaired, and the median time of a
repairing `up` against a fresh `up` of the same topology (baseline, same run; the
median of 3). Exit 1 if any round failed.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from labkit import VPCLAB, assert_gone, lab_name, lab_namespaces, run  # noqa: E402


def topology(lab: str, vpcs: int = 4) -> str:
    """`vpcs` VPCs (at least 4) in two accounts and two regions; vpc-0 has a cdb."""
    lines = [f"lab: {lab}", "accounts: [alice, bob]", "regions:", "  r-one: {}", "  r-two: {}", "vpcs:"]
    region = lambda i: "r-two" if i == 2 else "r-one"
    account = lambda i: "bob" if i == 3 else "alice"
    peerings = {"pcx-ab": (0, 1, ""), "pcx-ac": (0, 2, ", bandwidth: 50Mbps"),
                "pcx-ad": (0, 3, ", accepted: false"), "pcx-bc": (1, 2, ", bandwidth: 20Mbps")}
    for i in range(4, vpcs):  # more VPCs: each peers vpc-1, in the same region and account
        peerings[f"pcx-b{i}"] = (1, i, "")
    routes = {i: [] for i in range(vpcs)}
    for pid, (x, y, _) in peerings.items():
        routes[x].append((f"10.{y}.0.0/16", pid))
        if (x, y) != (0, 2):  # vpc-2 has no route back to vpc-0: no-return pairs
            routes[y].append((f"10.{x}.0.0/16", pid))
    for i in range(vpcs):
        rs = ", ".join(f"{{destination: {d}, next_hop: {p}}}" for d, p in routes[i])
        lines += [f"  vpc-{i}:", f"    account: {account(i)}", f"    region: {region(i)}",
                  f"    cidr: 10.{i}.0.0/16",
                  f"    subnets: {{app: {{cidr: 10.{i}.1.0/24}}, db: {{cidr: 10.{i}.2.0/24}}}}",
                  f"    route_tables: {{default: {{routes: [{rs}]}}}}",
                  "    instances:", f"      cvm-1: {{subnet: app, ip: 10.{i}.1.10}}"]
        if i == 0:
            lines.append("      db-1: {subnet: db, ip: 10.0.2.20, kind: cdb}")
    lines.append("peerings:")
    lines += [f"  {pid}: {{vpc: vpc-{x}, peer_vpc: vpc-{y}{extra}}}" for pid, (x, y, extra) in peerings.items()]
    return "\n".join(lines) + "\n"


OPERATIONS = [
    ["route", "add", "vpc-2", "--destination", "10.0.0.0/16", "--next-hop", "pcx-ac"],
    ["route", "del", "vpc-2", "--destination", "10.1.0.0/16"],
    ["peering", "accept", "pcx-ad", "--as", "bob"],
    ["peering", "delete", "pcx-ab"],
    ["peering", "delete", "pcx-bc"],
    ["peering", "modify", "pcx-ac", "--bandwidth", "10Mbps"],
]


# ---- checks ---------------------------------------------------------------------------


def kernel_diff(model) -> List[str]:
    """What `up` would still have to do for `model`: [] when the kernel holds its plan."""
    from vpclab.controller import build
    from vpclab.plan import diff
    from vpclab.state.store import Store

    have = build.actual(model.name, Store(model.name).dir)
    return [a.describe() for a in diff.diff(build.desired(model).objects, have)]


def probe_disagreements(lab: str) -> List[str]:
    """Pairs where `vpclab matrix --json` (real packets) and `explain` (the model) differ."""
    from vpclab.explain import routes as analyze
    from vpclab.controller import status

    p = run("matrix", "-l", lab, "--json")
    if p.returncode != 0:
        return [f"matrix exited {p.returncode}: {p.stderr.strip()[-300:]}"]
    model = status.load_model(lab)
    out = []
    for r in json.loads(p.stdout)["pairs"]:
        want = analyze.explain(model, r["src"], r["dst"], r["proto"], r["port"]).result
        if r["result"] != want:
            out.append(f"{r['src']} -> {r['dst']} {r['proto']}: packets {r['result']}, explain {want}")
    return out


REPAIR_SECONDS: List[float] = []  # how long each `up` again took


def repaired(lab: str, path: Path) -> List[str]:
    """Run `up` again; what is wrong after it ([] if the lab is whole and agrees with explain)."""
    from vpclab.controller import status

    t0 = time.monotonic()
    p = run("up", path)
    REPAIR_SECONDS.append(time.monotonic() - t0)
    if p.returncode != 0:
        return [f"up again exited {p.returncode}: {p.stderr.strip()[-300:]}"]
    problems = kernel_diff(status.load_model(lab))
    if problems:
        return [f"still to do: {d}" for d in problems[:5]]
    return probe_disagreements(lab)


def removed(lab: str, cmd: List[str], whole_ok: bool) -> List[str]:
    """Run `cmd` (`cleanup LAB` or `down LAB`); the lab must be gone, or, if `whole_ok`
    and cleanup kept it because it was ready, whole (then it is taken down here)."""
    p = run(*cmd)
    if p.returncode != 0:
        return [f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.strip()[-300:]}"]
    if whole_ok and Path(f"/run/vpclab/{lab}/state.db").exists():
        st = run("status", "-l", lab, "--json")
        if st.returncode == 0 and json.loads(st.stdout)["status"] == "ready":
            from vpclab.controller import status

            problems = kernel_diff(status.load_model(lab))
            run("down", lab)
            if problems:
                return [f"cleanup kept a ready lab that is not whole: {problems[:3]}"]
    _wait_no_pids(lab)
    try:
        assert_gone(lab)
    except AssertionError as e:
        return [f"after {' '.join(cmd)}: {e}"]
    return []


def _wait_no_pids(lab: str, timeout: float = 5.0) -> None:
    from labkit import lab_pids

    deadline = time.monotonic() + timeout
    while lab_pids(lab) and time.monotonic() < deadline:
        time.sleep(0.05)


# ---- killing at a point -------------------------------------------------------------------


@dataclass
class Kill:
    kind: str            # up | op | down
    lab: str
    point: str           # where it was meant to land
    running: bool = False  # the command was still running when killed
    problems: List[str] = field(default_factory=list)
    then: str = ""       # what checked it: up again, cleanup, down

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        what = "mid-way" if self.running else "after it ended"
        return f"{self.kind} killed {what} at {self.point} ({self.lab}), then {self.then}: {'; '.join(self.problems)}"


def _kill_when(argv: List[str], ready, extra_ms: float, timeout: float = 30.0) -> bool:
    """Start vpclab ARGV, wait until `ready()` (polled every 2 ms), then `extra_ms`; SIGKILL.
    True if it was still running when killed."""
    p = subprocess.Popen([VPCLAB, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while p.poll() is None and not ready() and time.monotonic() < deadline:
        time.sleep(0.002)
    if extra_ms:
        time.sleep(extra_ms / 1000)
    running = p.poll() is None
    p.send_signal(signal.SIGKILL)
    p.wait()
    return running


def _state_mtime(lab: str) -> Optional[int]:
    try:
        return os.stat(f"/run/vpclab/{lab}/state.db").st_mtime_ns
    except FileNotFoundError:
        return None


def kill_up(rng: random.Random, lab: str, path: Path, total_ns: int) -> Kill:
    target = rng.randrange(0, total_ns + 15)
    extra = (target - total_ns) * 4.0 if target > total_ns else 0.0
    k = Kill("up", lab, f"{min(target, total_ns)}/{total_ns} namespaces + {extra:.0f} ms")
    k.running = _kill_when(["up", str(path)], lambda: len(lab_namespaces(lab)) >= min(target, total_ns), extra)
    return k


def kill_op(rng: random.Random, lab: str) -> Kill:
    argv = rng.choice(OPERATIONS) + ["-l", lab]
    before = _state_mtime(lab)
    if rng.random() < 0.3:  # before or around its state write
        extra = rng.uniform(0, 250)
        ready, point = (lambda: True), f"{extra:.0f} ms after start"
    else:  # during its kernel apply
        extra = rng.uniform(0, 25)
        ready, point = (lambda: _state_mtime(lab) != before), f"state written + {extra:.0f} ms"
    k = Kill("op", lab, f"`{' '.join(argv[:3])}` {point}")
    k.running = _kill_when(argv, ready, extra)
    return k


def kill_down(rng: random.Random, lab: str, total_ns: int) -> Kill:
    target = rng.randrange(0, total_ns + 1)
    extra = rng.uniform(0, 30) if target == 0 else 0.0
    k = Kill("down", lab, f"{target}/{total_ns} namespaces gone + {extra:.0f} ms")
    k.running = _kill_when(["down", lab], lambda: len(lab_namespaces(lab)) <= total_ns - target, extra)
    return k


def one_round(rng: random.Random, work: Path, vpcs: int = 4) -> List[Kill]:
    lab = lab_name()
    path = work / f"{lab}.yaml"
    path.write_text(topology(lab, vpcs))
    total_ns = vpcs * 2 + 1
    kills: List[Kill] = []
    try:
        k = kill_up(rng, lab, path, total_ns)
        kills.append(k)
        if rng.random() < 0.5:
            k.then = "cleanup"
            k.problems = removed(lab, ["cleanup", lab], whole_ok=True)
            if k.problems:
                return kills
        k.then = (k.then + ", up again").lstrip(", ")
        k.problems += repaired(lab, path)
        if k.problems:
            return kills
        k = kill_op(rng, lab)
        kills.append(k)
        k.then = "up again"
        k.problems = repaired(lab, path)
        if k.problems:
            return kills
        k = kill_down(rng, lab, total_ns)
        kills.append(k)
        if rng.random() < 0.5:
            k.then = "cleanup"
            k.problems = removed(lab, ["cleanup", lab], whole_ok=True)
        else:
            k.then = "up again, down"
            k.problems = repaired(lab, path) or removed(lab, ["down", lab], whole_ok=False)
        return kills
    finally:
        run("down", lab)


def soak(runs: int, seed: int, work: Path, vpcs: int = 4, report=None) -> List[Kill]:
    rng = random.Random(seed)
    out: List[Kill] = []
    for i in range(runs):
        kills = one_round(rng, work, vpcs)
        out += kills
        if report:
            report(i, kills)
    return out


def fresh_up_seconds(work: Path, vpcs: int, reps: int = 3) -> float:
    """Baseline: the median time of `up` of the same topology on an empty kernel."""
    times = []
    for _ in range(reps):
        lab = lab_name()
        path = work / f"{lab}.yaml"
        path.write_text(topology(lab, vpcs))
        try:
            t0 = time.monotonic()
            run("up", path, check=0)
            times.append(time.monotonic() - t0)
        finally:
            run("down", lab)
    return statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=50, help="rounds (each kills up, a live operation and down)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--vpcs", type=int, default=4, help="VPCs in the lab (at least 4)")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("crash_soak builds real namespaces: run it as root", file=sys.stderr)
        return 3
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    vpcs = max(4, args.vpcs)
    t0 = time.monotonic()

    def report(i, kills):
        for k in kills:
            if not k.ok:
                print(f"round {i + 1}: FAILED: {k.describe()}", flush=True)

    with tempfile.TemporaryDirectory() as d:
        fresh = fresh_up_seconds(Path(d), vpcs)
        kills = soak(args.runs, seed, Path(d), vpcs, report)
    elapsed = time.monotonic() - t0
    print(f"\ncrash soak: {args.runs} rounds, seed {seed}, {elapsed:.0f} s")
    print(f"{'killed':8} {'kills':>6} {'mid-way':>8} {'repaired':>9} {'failed':>7}")
    for kind in ("up", "op", "down"):
        ks = [k for k in kills if k.kind == kind]
        print(f"{kind:8} {len(ks):6} {sum(k.running for k in ks):8} {sum(k.ok for k in ks):9} "
              f"{sum(not k.ok for k in ks):7}")
    ok = sum(k.ok for k in kills)
    print(f"repaired: {ok} of {len(kills)} kills ({ok / len(kills):.0%})" if kills else "no kills")
    if REPAIR_SECONDS:
        repair = statistics.median(REPAIR_SECONDS)
        print(f"`up` again after a kill: median {repair:.3f} s ({min(REPAIR_SECONDS):.3f}-{max(REPAIR_SECONDS):.3f}, "
              f"{len(REPAIR_SECONDS)} runs); fresh `up`: {fresh:.3f} s; ratio {repair / fresh:.2f}")
    return 0 if ok == len(kills) else 1


if __name__ == "__main__":
    sys.exit(main())
