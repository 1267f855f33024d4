"""Encoding the scale lab's requests: kernel/pack.py (by hand) against pyroute2's classes (no root).

    .venv/bin/python bench/encode_bench.py [--reps N]

For every route, address, rule, veth (create, both ends' set and get) and tbf
of the scale lab's plan, the request is encoded both ways; tests/unit/kernel/test_pack.py
holds the two to be the same bytes. Per kind: microseconds per message, median
of N passes (nothing cached: the handlers' lru caches are bypassed). Then the
import each way costs in a fresh interpreter (`up` imports pyroute2's classes
only if it encodes with them): the median of N fresh interpreters.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "unit"))
from scale_topology import scale_yaml  # noqa: E402

from vpclab.topology import load as loader  # noqa: E402
from vpclab.kernel import rtnl, tc  # noqa: E402
from vpclab.kernel.handlers import address, link, route, rule  # noqa: E402
from vpclab.plan.planner import plan  # noqa: E402

import test_pack as py  # noqa: E402  (pyroute2's encoding of the same requests)


def jobs(p):
    """(kind, [(hand-packed encoder, pyroute2 encoder)]) for every request of the plan."""
    objs = p.objects
    out = {
        "route": [(lambda o=o: route._request.__wrapped__("create", o.table, o.dst, o.type, o.via,
                                                          7 if o.dev else None),
                   lambda o=o: py.py_route("create", o, 7 if o.dev else None)) for o in objs if o.key[0] == "route"],
        "address": [(lambda o=o: address.request("create", 9, o.cidr), lambda o=o: py.py_address("create", 9, o.cidr))
                    for o in objs if o.key[0] == "address"],
        "rule": [(lambda o=o: rule.create_request(o), lambda o=o: py.py_rule(o)) for o in objs if o.key[0] == "rule"],
        "veth create": [(lambda o=o: link.new_request(o.ifname, o.peer_ifname, 11, index=3, peer_index=4),
                         lambda o=o: py.py_veth(o.ifname, o.peer_ifname, 11, index=3, peer_index=4))
                        for o in objs if o.key[0] == "veth"],
        "link set (x2 per veth)": [(lambda o=o: link.set_request.__wrapped__(o.ifname, link.alias_of(o.ns)),
                                    lambda o=o: rtnl.request(py.ifinfmsg, rtnl.RTM_SETLINK, 0,
                                                             [("IFLA_IFNAME", o.ifname),
                                                              ("IFLA_IFALIAS", link.alias_of(o.ns))], **py.UP))
                                   for o in objs if o.key[0] == "veth" for _ in (0, 1)],
        "link get (x2 per veth)": [(lambda o=o: link.get_request.__wrapped__(o.ifname),
                                    lambda o=o: rtnl.request(py.ifinfmsg, rtnl.RTM_GETLINK, 0, [("IFLA_IFNAME", o.ifname)]))
                                   for o in objs if o.key[0] == "veth" for _ in (0, 1)],
        "tbf": [(lambda o=o: tc.tbf_request(5, o.rate_kbit, o.burst_bytes, o.limit_bytes, tc.TBF_HANDLE, tc.TC_H_ROOT),
                 lambda o=o: tc.qdisc("replace", 5, "tbf", tc.tbf(o.rate_kbit, o.burst_bytes, o.limit_bytes),
                                      tc.TBF_HANDLE, tc.TC_H_ROOT)) for o in objs if o.key[0] == "qdisc"],
    }
    return out


def per_message(fns, reps):
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        for f in fns:
            f()
        times.append((time.perf_counter() - t) / len(fns))
    return statistics.median(times)


def fresh_import(code: str, reps: int) -> float:
    script = f"import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
    got = [float(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout)
           for _ in range(reps)]
    return statistics.median(got)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    work = HERE / "out"
    work.mkdir(exist_ok=True)
    f = work / "encode-scale.yaml"
    f.write_text(scale_yaml(lab="encb"))
    p = plan(loader.load(f), netem=False)
    rows = []
    total_hand = total_py = 0.0
    for kind, pairs in jobs(p).items():
        for hand, slow in pairs:
            assert hand() == slow(), kind  # the same bytes (as tests/unit/kernel/test_pack.py checks)
        h = per_message([a for a, _ in pairs], args.reps)
        s = per_message([b for _, b in pairs], args.reps)
        total_hand += h * len(pairs)
        total_py += s * len(pairs)
        rows.append((kind, len(pairs), h, s))
    imp_hand = fresh_import("import vpclab.kernel.engine", args.reps)
    imp_py = fresh_import("import vpclab.kernel.engine; import vpclab.kernel.rtnl as r; r.decoders()", args.reps)
    print(f"scale lab requests, {args.reps} passes, median; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    print(f"{'kind':<24}{'messages':>9}{'by hand us':>12}{'pyroute2 us':>13}{'ratio':>8}")
    for kind, n, h, s in rows:
        print(f"{kind:<24}{n:>9}{h * 1e6:>12.1f}{s * 1e6:>13.1f}{s / h:>8.0f}")
    print(f"{'all (uncached)':<24}{sum(r[1] for r in rows):>9}{total_hand * 1e3:>10.1f} ms{total_py * 1e3:>11.1f} ms"
          f"{total_py / total_hand:>8.0f}")
    print(f"import in a fresh interpreter: kernel engine {imp_hand * 1e3:.0f} ms; "
          f"with pyroute2's message classes {imp_py * 1e3:.0f} ms (+{(imp_py - imp_hand) * 1e3:.0f} ms)")


if __name__ == "__main__":
    main()
