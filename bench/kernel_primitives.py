"""Time vpclab's kernel apply against `ip -batch` per namespace (and pyroute2's IPRoute).

Topology: a router namespace plus N host
namespaces; each host has one veth to the router, a /30 on each end, lo and
both ends up, and one route 10.77.0.0/16 via the router end.

  apply    vpclab.kernel.engine.apply() of the plan objects (one netlink batch
           per namespace, no forks), including its link-watch sync
  ipbatch  one root `ip -batch` (netns add + veths),
           then one `ip -n NS -batch` per namespace (N+2 processes)
  pyroute2 IPRoute (sync API) opened inside each namespace without forks,
           one request at a time (namespaces are
           made by vpclab.kernel.netns.create)

Run as root:  .venv/bin/python bench/kernel_primitives.py [N ...] [--reps R]
Every namespace it makes is named vpclab-bk<random>-... and removed.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import string
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from vpclab.kernel import netns  # noqa: E402
from vpclab.kernel import teardown as kteardown  # noqa: E402
from vpclab.kernel.engine import apply  # noqa: E402
from vpclab.kernel.inspect import read_lab  # noqa: E402
from vpclab.plan.objects import Action, Address, Netns, Route, Veth  # noqa: E402


def tag() -> str:
    return "bk" + "".join(random.choices(string.ascii_lowercase + string.digits, k=5))


def addrs(i: int):
    base = 4 * i
    return f"10.77.{base // 256}.{base % 256 + 1}", f"10.77.{base // 256}.{base % 256 + 2}"


def plan(lab: str, n: int):
    r = f"vpclab-{lab}-r"
    objs = [Netns(r, True)]
    for i in range(n):
        h = f"vpclab-{lab}-h{i}"
        ra, ha = addrs(i)
        objs += [Netns(h), Veth(r, f"{lab}-r{i}", h, f"{lab}-e0"),
                 Address(r, f"{lab}-r{i}", f"{ra}/30"), Address(h, f"{lab}-e0", f"{ha}/30"),
                 Route(h, 254, "10.77.0.0/16", via=ra, dev=f"{lab}-e0")]
    return [Action("create", o) for o in objs]


READS = []  # read_lab seconds after each apply


def run_apply(lab: str, n: int) -> float:
    actions = plan(lab, n)
    t = time.perf_counter()
    apply(actions)
    took = time.perf_counter() - t
    t = time.perf_counter()
    read_lab(lab)
    READS.append((n, time.perf_counter() - t))
    return took


def run_ipbatch(lab: str, n: int) -> float:
    r = f"vpclab-{lab}-r"
    files = []
    root = [f"netns add {r}"]
    for i in range(n):
        root.append(f"netns add vpclab-{lab}-h{i}")
    for i in range(n):
        root.append(f"link add {lab}-r{i} netns {r} type veth peer name {lab}-e0 netns vpclab-{lab}-h{i}")
    rlines = ["link set lo up"]
    for i in range(n):
        ra, _ = addrs(i)
        rlines += [f"addr add {ra}/30 dev {lab}-r{i}", f"link set {lab}-r{i} up"]
    per = [(None, root), (r, rlines)]
    for i in range(n):
        ra, ha = addrs(i)
        per.append((f"vpclab-{lab}-h{i}", ["link set lo up", f"addr add {ha}/30 dev {lab}-e0",
                                            f"link set {lab}-e0 up",
                                            f"route add 10.77.0.0/16 via {ra} dev {lab}-e0 onlink"]))
    for ns, lines in per:
        f = tempfile.NamedTemporaryFile("w", suffix=".ip", delete=False)
        f.write("\n".join(lines) + "\n")
        f.close()
        files.append((ns, f.name))
    t = time.perf_counter()
    for ns, path in files:
        cmd = ["ip", "-batch", path] if ns is None else ["ip", "-n", ns, "-batch", path]
        subprocess.run(cmd, check=True)
    took = time.perf_counter() - t
    for _, path in files:
        os.unlink(path)
    return took


def run_pyroute2(lab: str, n: int) -> float:
    from pyroute2 import IPRoute

    from vpclab.kernel.netns import create

    t = time.perf_counter()
    r = f"vpclab-{lab}-r"
    socks = {}
    socks[r] = create(r, lambda: IPRoute(groups=0))
    for i in range(n):
        h = f"vpclab-{lab}-h{i}"
        socks[h] = create(h, lambda: IPRoute(groups=0))
    ipr = socks[r]
    ipr.link("set", index=1, state="up")
    for i in range(n):
        h = f"vpclab-{lab}-h{i}"
        fd = netns.open_fd(h)
        ipr.link("add", ifname=f"{lab}-r{i}", kind="veth", peer={"ifname": f"{lab}-e0", "net_ns_fd": fd})
        os.close(fd)
        ra, ha = addrs(i)
        idx = ipr.link_lookup(ifname=f"{lab}-r{i}")[0]
        ipr.addr("add", index=idx, address=ra, prefixlen=30)
        ipr.link("set", index=idx, state="up")
        hs = socks[h]
        hs.link("set", index=1, state="up")
        hidx = hs.link_lookup(ifname=f"{lab}-e0")[0]
        hs.addr("add", index=hidx, address=ha, prefixlen=30)
        hs.link("set", index=hidx, state="up")
        hs.route("add", dst="10.77.0.0/16", gateway=ra, oif=hidx, flags=4)
    took = time.perf_counter() - t
    for s in socks.values():
        s.close()
    return took


def teardown(lab: str) -> float:
    t = time.perf_counter()
    kteardown.remove_lab_namespaces(f"vpclab-{lab}-")
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("sizes", nargs="*", type=int, default=[10, 50, 200])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--no-pyroute2", action="store_true")
    args = p.parse_args()
    methods = [("apply", run_apply), ("ipbatch", run_ipbatch)]
    if not args.no_pyroute2:
        methods.append(("pyroute2", run_pyroute2))
    print(f"{'N':>4} {'method':>9} {'ms/ns median (min-max)':>26} {'teardown ms':>12} {'ratio to ipbatch':>17}")
    print("(teardown: remove_lab_namespaces, which waits until the kernel has destroyed them)")
    for n in args.sizes:
        build = {m: [] for m, _ in methods}
        down = {m: [] for m, _ in methods}
        ratio = {m: [] for m, _ in methods}
        for _ in range(args.reps):
            rep = {}
            for name, fn in random.sample(methods, len(methods)):
                lab = tag()
                try:
                    rep[name] = fn(lab, n)
                finally:
                    down[name].append(teardown(lab))
                build[name].append(rep[name] / (n + 1) * 1000)
            for name in rep:
                ratio[name].append(rep[name] / rep["ipbatch"])
        reads = [t / (n + 1) * 1000 for m, t in READS if m == n]
        print(f"{n:>4} {'read_lab':>9} {statistics.median(reads):>10.2f} ({min(reads):.2f}-{max(reads):.2f})")
        for name, _ in methods:
            b = build[name]
            print(f"{n:>4} {name:>9} {statistics.median(b):>10.2f} ({min(b):.2f}-{max(b):.2f})"
                  f"{statistics.median(down[name]) * 1000:>20.0f} {statistics.median(ratio[name]):>17.2f}")


if __name__ == "__main__":
    main()
