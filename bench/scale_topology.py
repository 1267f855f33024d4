"""The scale topology of the benchmarks (issues 3-5), as YAML text.

50 VPCs in 5 regions (10 per region), each with 2 subnets and 4 instances (more
VPCs with `vpcs=`: 500 make the 2,000-instance lab of matrix_scale_bench.py);
100 peerings: each VPC peers the next two on a ring; routes on both sides;
100 Mbps caps where a peering crosses regions.

    python bench/scale_topology.py > /tmp/scale.yaml
"""
from __future__ import annotations

import sys

import yaml


def ranges(i: int, vpcs: int):
    """VPC i's CIDR and its two subnets: 10.i.0.0/16 up to 256 VPCs, /20s of 10/8 up to 4,096,
    /21s of 10/8 beyond (8,192: the 5,000-VPC estate of scale_curve.py)."""
    if vpcs <= 256:
        return f"10.{i}.0.0/16", f"10.{i}.1.0/24", f"10.{i}.2.0/24"
    if vpcs > 8192:
        raise ValueError(f"{vpcs} VPCs do not fit 10/8 with two /24 subnets each (at most 8,192)")
    plen, size = (20, 16) if vpcs <= 4096 else (21, 8)  # a /20 (16 /24s) or a /21 (8)
    a, b = i // (256 // size), (i % (256 // size)) * size
    return f"10.{a}.{b}.0/{plen}", f"10.{a}.{b + 1}.0/24", f"10.{a}.{b + 2}.0/24"


def scale(lab: str = "scale", vpcs: int = 50, regions: int = 5, cap: str = "100Mbps",
          interleave: bool = False) -> dict:
    """`interleave`: VPC i is in region i mod `regions` (with 2 regions, the ring's
    next-neighbour peerings cross regions and the next-but-one ones do not: half)."""
    per_region = max(1, vpcs // regions)
    if interleave:
        region = lambda i: f"region-{i % regions}"
    else:
        region = lambda i: f"region-{min(i // per_region, regions - 1)}"
    name = lambda i: f"vpc-{i:02d}"
    cidr = lambda i: ranges(i, vpcs)[0]
    peerings, routes = {}, {i: [] for i in range(vpcs)}
    for i in range(vpcs):
        for step in (1, 2):
            j = (i + step) % vpcs
            pid = f"pcx-{i:02d}-{j:02d}"
            p = {"vpc": name(i), "peer_vpc": name(j)}
            if region(i) != region(j):
                p["bandwidth"] = cap
            peerings[pid] = p
            routes[i].append({"destination": cidr(j), "next_hop": pid})
            routes[j].append({"destination": cidr(i), "next_hop": pid})
    doc = {"lab": lab, "regions": {f"region-{r}": {} for r in range(regions)}, "vpcs": {}, "peerings": peerings}
    for i in range(vpcs):
        net, app, db = ranges(i, vpcs)
        doc["vpcs"][name(i)] = {
            "region": region(i),
            "cidr": net,
            "subnets": {"app": {"cidr": app}, "db": {"cidr": db}},
            "route_tables": {"default": {"routes": routes[i]}},
            "instances": {"cvm-1": {"subnet": "app"}, "cvm-2": {"subnet": "app"},
                          "cvm-3": {"subnet": "db"}, "cvm-4": {"subnet": "db"}},
        }
    return doc


def scale_yaml(**kw) -> str:
    return yaml.safe_dump(scale(**kw), sort_keys=False)


if __name__ == "__main__":
    sys.stdout.write(scale_yaml())
