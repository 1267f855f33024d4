"""Loader scaling on the lists a user controls: does a file 10 times longer take 10 times longer?

For each kind of list (accounts, subnets, instances without addresses, peerings,
routes, expectations, and the same lists full of mistakes, which take the error
paths with their hints), a topology with N entries and one with N/10 are loaded;
the figure is time(N) / time(N/10): about 10 for a linear check, about 100 for a
quadratic one. The baseline, in the same run, is `yaml.safe_load` of the same text
(the parse floor, linear by construction). A ratio far above the baseline's is a
quadratic check.

    .venv/bin/python bench/loader_lists.py [N]        # N defaults to 40,000
"""
from __future__ import annotations

import statistics
import sys
import time

import yaml

from vpclab.topology import load as loader
from vpclab.errors import TopologyInvalid


def vpcs(n: int, **extra) -> str:
    """n VPCs 10.x.y.0/24-ish: each a /24 out of 10.0.0.0/8 (65,536 of them at most)."""
    out = []
    for i in range(n):
        cidr = f"10.{i // 256}.{i % 256}.0/24"
        body = ", ".join([f"region: r{i % 2}", f"cidr: {cidr}"] + [f"{k}: {v(i)}" for k, v in extra.items()])
        out.append(f"  v{i}: {{{body}}}\n")
    return "".join(out)


def accounts(n):
    return f"lab: x\naccounts: [{', '.join(f'a{i}' for i in range(n))}]\nvpcs:\n  v: {{region: r, cidr: 10.0.0.0/16}}\n"


def accounts_dup(n):
    return f"lab: x\naccounts: [{', '.join(f'a{i % (n // 2)}' for i in range(n))}]\nvpcs:\n  v: {{region: r, cidr: 10.0.0.0/8}}\n"


def subnets(n, prefix=24):
    rows = "".join(f"      s{i}: {{cidr: 10.{i // 256}.{i % 256}.0/{prefix}}}\n" for i in range(n))
    return f"lab: x\nvpcs:\n  v:\n    region: r\n    cidr: 10.0.0.0/8\n    subnets:\n{rows}"


def subnets_overlapping(n):
    rows = "".join(f"      s{i}: {{cidr: 10.{i // 256}.{i % 256}.0/24}}\n" for i in range(n))
    rows += "".join(f"      t{i}: {{cidr: 10.{i}.0.0/16}}\n" for i in range(min(n // 256, 255)))
    return f"lab: x\nvpcs:\n  v:\n    region: r\n    cidr: 10.0.0.0/8\n    subnets:\n{rows}"


def instances(n):
    rows = "".join(f"      i{i}: {{subnet: s}}\n" for i in range(n))
    return f"lab: x\nvpcs:\n  v:\n    region: r\n    cidr: 10.0.0.0/8\n    subnets: {{s: {{cidr: 10.0.0.0/16}}}}\n" \
           f"    instances:\n{rows}"


def peerings(n):
    # A ring: v_i - v_{i+1}, same region (no bandwidth), each VPC in two peerings.
    rows = "".join(f"  p{i}: {{vpc: v{i}, peer_vpc: v{(i + 1) % n}}}\n" for i in range(n))
    return "lab: x\nregions: {r0: {}}\nvpcs:\n" + vpcs(n).replace("r1", "r0") + "peerings:\n" + rows


def peerings_over_quota(n):
    rows = "".join(f"  p{i}: {{vpc: v0, peer_vpc: v{i + 1}}}\n" for i in range(n))
    return "lab: x\nregions: {r0: {}}\nvpcs:\n" + vpcs(n + 1).replace("r1", "r0") + "peerings:\n" + rows


def routes(n, hop="pab"):
    rows = "".join(f"        - {{destination: 10.{i // 256}.{i % 256}.0/24, next_hop: {hop}}}\n" for i in range(n))
    return ("lab: x\nvpcs:\n  a:\n    region: r\n    cidr: 192.168.0.0/16\n    route_tables:\n      default:\n"
            f"        routes:\n{rows}  b: {{region: r, cidr: 10.0.0.0/8}}\npeerings:\n  pab: {{vpc: a, peer_vpc: b}}\n")


def expectations(n, bad=False):
    insts = "".join(f"      i{i}: {{subnet: s}}\n" for i in range(n))
    rows = "".join(f"  - {{from: v/i{i}, to: v/{'x' if bad else 'i'}{(i + 1) % n}}}\n" for i in range(n))
    return ("lab: x\nvpcs:\n  v:\n    region: r\n    cidr: 10.0.0.0/8\n    subnets: {s: {cidr: 10.0.0.0/16}}\n"
            f"    instances:\n{insts}expect:\n{rows}")


def expectations_to_ips(n):
    rows = "".join(f"  - {{from: v0/i, to: 10.{i // 256}.{i % 256}.5}}\n" for i in range(n))
    return ("lab: x\nvpcs:\n" + vpcs(n).replace("cidr: 10.0.0.0/24}", "cidr: 10.0.0.0/24, subnets: {s: {cidr: "
                                                                       "10.0.0.0/24}}, instances: {i: {subnet: s}}}")
            + f"expect:\n{rows}")


CASES = {
    "accounts": accounts, "accounts, half duplicates": accounts_dup, "subnets": subnets,
    "subnets, nested in /16s": subnets_overlapping, "instances without ip": instances, "peerings (ring)": peerings,
    "peerings over quota": peerings_over_quota, "routes": routes, "routes via an unknown peering":
    lambda n: routes(n, hop="nope"), "expectations": expectations, "expectations, unknown instance":
    lambda n: expectations(n, bad=True), "expectations to addresses": expectations_to_ips,
}


def timed(fn, reps=3) -> float:
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def load(text):
    try:
        loader.loads(text, "bench.yaml")
    except TopologyInvalid:
        pass


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40_000
    print(f"{'list':34} {'N/10 (s)':>9} {'N (s)':>9} {'ratio':>6}   {'yaml ratio':>10}")
    worst = 0.0
    for name, make in CASES.items():
        small, big = make(n // 10), make(n)
        ts, tb = timed(lambda: load(small)), timed(lambda: load(big), reps=1)
        ys, yb = timed(lambda: yaml.safe_load(small)), timed(lambda: yaml.safe_load(big), reps=1)
        ratio = tb / ts
        worst = max(worst, ratio / (yb / ys))
        print(f"{name:34} {ts:9.3f} {tb:9.3f} {ratio:6.1f}   {yb / ys:10.1f}")
    print(f"N = {n:,}; linear is about 10. Worst ratio against the YAML baseline's: {worst:.1f}")


if __name__ == "__main__":
    main()
