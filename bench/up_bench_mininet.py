"""Baseline 2 of up_bench.py: build and tear down the scale lab's namespaces and links with
Mininet 2.3 (Debian's `mininet` package). Run by up_bench.py, on /usr/bin/python3:

    /usr/bin/python3 bench/up_bench_mininet.py SPEC.json

SPEC (written by up_bench.py from vpclab's plan): hosts (one per lab namespace),
links (one per veth, with both interface names), and per host one shell
command line: sysctls by `echo > /proc/sys/...` (shell builtins) and the same
`ip -batch` / `tc -batch` files as baseline 1 for addresses, rules, routes and
qdiscs, then the per-interface sysctls (proxy ARP) the same way.

How Mininet is used (no OVS kernel module here):
- Mininet(controller=None, build=False), hosts only: every node is a `Host`
  (a bash shell started by mnexec in a new, unnamed network namespace); no
  switch at all: subnets are routed by the VPC host, as vpclab does (proxy ARP,
  host routes), so nothing goes to the root namespace.
- addLink(fast=True, the default) runs `ip link add X type veth peer name Y
  netns PID` in the first host's shell: both ends are born in their namespaces.
- Mininet.init() (fixLimits: raises sysctls of the root namespace) is skipped.
- Timed build: Mininet() + addHost + addLink + build() + start() + one cmd() per
  host. Timed teardown: stop() (deletes each link, kills each shell), then
  until the kernel has destroyed every host namespace (a sentinel veth per host,
  see nswatch.py). The interpreter start and `import mininet` are not timed.
- Clean-up without `mn -c`: stop() in a finally; if that fails, the shells we
  started are killed by their process group id (mnexec makes each shell a
  session leader); the namespaces die with them.

Prints one JSON document on stdout.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nswatch  # noqa: E402

from mininet.log import setLogLevel  # noqa: E402
from mininet.net import Mininet  # noqa: E402
from mininet.node import Host  # noqa: E402

COUNT = ("echo $(ip -o link show type veth | wc -l) $(ip -o link show type bridge | wc -l)"
         " $(ip -o -4 addr show | grep -vc ' 127[.]') $(ip rule show | grep -c 'proto 77')"
         " $(ip route show table all proto 77 | wc -l) $(tc qdisc show | grep -c tbf)"
         " $(cat /proc/sys/net/ipv4/ip_forward)")


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    setLogLevel("error")
    Mininet.inited = True  # skip fixLimits(): it would change the root namespace's sysctls
    out = {"hosts": len(spec["hosts"]), "links": len(spec["links"])}
    net = None
    shells = []
    noise = []
    try:
        t0 = time.perf_counter()
        net = Mininet(topo=None, controller=None, build=False, host=Host)
        nodes = {}
        for name in spec["hosts"]:
            nodes[name] = net.addHost(name, ip=None)
            shells.append(nodes[name].shell)
        t1 = time.perf_counter()
        for h1, h2, if1, if2 in spec["links"]:
            net.addLink(nodes[h1], nodes[h2], intfName1=if1, intfName2=if2)
        t2 = time.perf_counter()
        net.build()
        net.start()
        t3 = time.perf_counter()
        for name, line in spec["cmds"].items():
            res = nodes[name].cmd(line + "; echo rc=$?").strip()
            if not res.endswith("rc=0"):
                raise RuntimeError(f"{name}: {line!r} -> {res[-400:]}")
            if res != "rc=0":
                noise.append(f"{name}: {res[:300]}")
        t4 = time.perf_counter()
        out["up"] = t4 - t0
        out["up_parts"] = {"hosts": t1 - t0, "links": t2 - t1, "build_start": t3 - t2, "cmds": t4 - t3}
        if spec.get("verify"):
            tot = [0] * 7
            for name in spec["hosts"]:
                res = nodes[name].cmd(COUNT)
                try:
                    vals = [int(v) for v in res.split()[-7:]]
                except ValueError:
                    noise.append(f"{name} count: {res[:300]}")
                    continue
                tot = [a + b for a, b in zip(tot, vals)]
            out["counts"] = dict(zip(("veth_ends", "bridge", "address", "rule", "route", "qdisc", "forwarding"), tot))
        # untimed: one sentinel per host namespace
        watcher = nswatch.Watcher()
        try:
            for name in spec["hosts"]:
                watcher.add_path(f"/proc/{nodes[name].pid}/ns/net")
            t5 = time.perf_counter()
            net.stop()
            t6 = time.perf_counter()
            for shell in shells:  # reap (stop() already waits for them when waitExited is on)
                shell.wait()
            ok = watcher.wait(120)
            t7 = time.perf_counter()
        finally:
            watcher.close()
        net = None
        out["stop"] = t6 - t5
        out["down"] = t7 - t5
        out["down_complete"] = ok
    finally:
        if net is not None:
            try:
                net.stop()
            except Exception as e:  # noqa: BLE001
                print(f"mininet stop failed: {e}", file=sys.stderr)
            for shell in shells:  # the shells we started, by process group id
                try:
                    if shell.poll() is None:
                        os.killpg(shell.pid, signal.SIGKILL)
                        shell.wait()
                except (ProcessLookupError, PermissionError):
                    pass
    out["noise"] = noise[:5]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
