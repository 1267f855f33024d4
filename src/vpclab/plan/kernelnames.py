"""What a lab's subnets, instances and peerings are called in the kernel (for `status`).

`ip rule` and `ip route` inside a VPC's router show interface names such as
`two-p-pcx-ab` (or a hashed `hub-pae26e204a4` when the plain name is too long) and
table numbers such as 100: this maps them back to the model. The names come from
plan/names.py and the numbers from plan/planner.py, the code that makes them.
"""
from __future__ import annotations

from typing import Dict

from ..model.types import ACTIVE, Lab, Peering
from . import names
from .numbers import (
    INGRESS_TABLE,
    INGRESS_XR_TABLE,
    PEERING_RULE_PRIO,
    SUBNET_RULE_PRIO,
    link_addresses,
    table_ids,
)


def subnets(lab: Lab, vpc_name: str) -> Dict[str, dict]:
    """{subnet: {"table_id", "rule", "rule_priority", "interfaces"}}: the kernel table its
    route table is, the `ip rule` that selects it (as `ip rule` prints it after
    `PRIORITY:`), and the router-side veth of each instance in it."""
    vpc = lab.vpcs[vpc_name]
    tids = table_ids(vpc)
    out = {}
    for k, s in enumerate(vpc.subnets.values()):
        tid = tids[s.route_table]
        out[s.name] = {"table_id": tid, "rule": f"from {s.cidr} lookup {tid}", "rule_priority": SUBNET_RULE_PRIO + k,
                       "interfaces": [names.instance_port(lab.name, i.name) for i in vpc.instances.values()
                                      if i.subnet == s.name]}
    return out


def peering(lab: Lab, p: Peering) -> dict:
    """{"interface", "in_kernel", "addresses": {vpc: addr}, "ingress_table", "rule", "rule_priority"}.

    The veth has the same name in both VPC routers; it exists only while the peering is
    ACTIVE (a route through it is a blackhole otherwise)."""
    port = names.peering_port(lab.name, p.name)
    table = INGRESS_XR_TABLE if lab.is_cross_region(p) else INGRESS_TABLE
    req, acc = link_addresses(p)
    return {"interface": port, "in_kernel": p.state == ACTIVE,
            "addresses": {p.vpc: f"{req}/30", p.peer_vpc: f"{acc}/30"},
            "ingress_table": table, "rule": f"from all iif {port} lookup {table}",
            "rule_priority": PEERING_RULE_PRIO + p.index}
