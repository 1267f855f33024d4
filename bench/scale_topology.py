"""The scale topology of the benchmarks (issues 3-5), as YAML text.

50 VPCs in 5 regions (10 per region), each with 2 subnets and 4 instances;
100 peerings: each VPC peers the next two on a ring; routes on both sides;
100 Mbps caps where a peering crosses regions.

    python bench/scale_topology.py > /tmp/scale.yaml
"""
from __future__ import annotations

import sys

import yaml


def scale(lab: str = "scale", vpcs: int = 50, regions: int = 5, cap: str = "100Mbps",
          interleave: bool = False) -> dict:
    """`interleave`: VPC i is in region i mod `regions` (with 2 regions, the ring's
    next-neighbour peerings cross regions and the next-but-one ones do not: half).
    Up to 250 VPCs each has 10.i.0.0/16; more get a /20 each (10.0.0.0/8 holds 4,096)."""
    per_region = max(1, vpcs // regions)
    if interleave:
        region = lambda i: f"region-{i % regions}"
    else:
        region = lambda i: f"region-{min(i // per_region, regions - 1)}"
    name = lambda i: f"vpc-{i:02d}"
    if vpcs <= 250:
        cidr = lambda i, sub=0: f"10.{i}.{sub}.0/{24 if sub else 16}"
    else:
        cidr = lambda i, sub=0: f"10.{i >> 4}.{((i & 15) << 4) + sub}.0/{24 if sub else 20}"
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
        doc["vpcs"][name(i)] = {
            "region": region(i),
            "cidr": cidr(i),
            "subnets": {"app": {"cidr": cidr(i, 1)}, "db": {"cidr": cidr(i, 2)}},
            "route_tables": {"default": {"routes": routes[i]}},
            "instances": {"cvm-1": {"subnet": "app"}, "cvm-2": {"subnet": "app"},
                          "cvm-3": {"subnet": "db"}, "cvm-4": {"subnet": "db"}},
        }
    return doc


def scale_yaml(**kw) -> str:
    return yaml.safe_dump(scale(**kw), sort_keys=False)


if __name__ == "__main__":
    sys.stdout.write(scale_yaml())
