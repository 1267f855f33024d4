"""`vpclab status`'s table of kernel names: what `ip rule` and `ip route` call things.

Inside a VPC router (`vpclab exec vpc-a -- ip rule`), a subnet is a `from CIDR lookup
N` rule and a peering an `iif NAME lookup 90` rule over a veth of that NAME; this
table maps each back to the subnet or peering it stands for.
"""
from __future__ import annotations


def kernel_rows(s: dict) -> list:
    rows = []
    for v in s["vpcs"]:
        for sub in v["subnets"]:
            rows.append([f"subnet {v['name']}/{sub['name']}", ", ".join(sub["interfaces"]) or "-",
                         f"{v['name']}: {sub['rule_priority']}: {sub['rule']} (route table {sub['route_table']})"])
    for p in s["peerings"]:
        ends = ", ".join(f"{vpc} {addr}" for vpc, addr in p["addresses"].items())
        if p["in_kernel"]:
            where = f"{p['vpc']} and {p['peer_vpc']}: {p['rule_priority']}: {p['rule']}; link {ends}"
        else:
            where = f"not in the kernel while {p['state']} (routes through it are blackholes)"
        rows.append([f"peering {p['id']}", p["interface"], where])
    return rows


def render(s: dict, table) -> None:
    table("Kernel names (ip rule / ip route in the VPC routers)", ["object", "interfaces", "in ip rule"],
          kernel_rows(s))
