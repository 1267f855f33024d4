"""Import benchmark (issue 21): `vpclab import terraform` of a generated 1,000-resource plan, end
to end as a process, against a baseline measured in the same run: what any import has to do at
least, read the plan's JSON and load (validate) the topology it yields.

    .venv/bin/python bench/import_bench.py [--reps N] [--spokes N]

The plan is a chain of spokes as a plan of an existing network has it (ids known): per spoke a
VPC, a subnet, a route table, two instances (for_each keys), a security group and its rule set,
an EIP with its association on the first instance, the peering to the next spoke and a route on
each side: 12 resources (the last spoke 9); 83 spokes and 7 data sources make 1,000. Goal: at most 2 s
end to end. No root needed.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vpclab.topology import load as loader
from vpclab.topology.importers import terraform

VPCLAB = str(Path(sys.executable).parent / "vpclab")
LIMIT_S = 2.0
PROVIDER = "registry.terraform.io/tencentcloudstack/tencentcloud"


def plan(spokes: int) -> dict:
    res = []

    def add(type_, name, index, values, mode="managed"):
        addr = ("data." if mode == "data" else "") + f"{type_}.{name}" + (f"[{json.dumps(index)}]" if index is not None
                                                                          else "")
        r = {"address": addr, "mode": mode, "type": type_, "name": name, "provider_name": PROVIDER,
             "values": values}
        if index is not None:
            r["index"] = index
        res.append(r)

    add("tencentcloud_user_info", "me", None, {"owner_uin": "100000000001"}, mode="data")
    for i in range(6):
        add("tencentcloud_availability_zones_by_product", f"z{i}", None, {"product": "cvm"}, mode="data")
    for i in range(spokes):
        k, net = f"s{i:03d}", f"10.{i // 2}.{(i % 2) * 128}"
        add("tencentcloud_vpc", "spoke", k, {"id": f"vpc-{k}", "cidr_block": f"{net}.0/17",
                                             "default_route_table_id": f"rtb-d{k}"})
        add("tencentcloud_route_table", "spoke", k, {"id": f"rtb-{k}", "vpc_id": f"vpc-{k}"})
        add("tencentcloud_subnet", "spoke", k, {"id": f"subnet-{k}", "vpc_id": f"vpc-{k}", "route_table_id": f"rtb-{k}",
                                                "cidr_block": f"{net}.0/24"})
        add("tencentcloud_security_group", "spoke", k, {"id": f"sg-{k}", "name": k})
        add("tencentcloud_security_group_rule_set", "spoke", k, {
            "id": f"sg-{k}", "security_group_id": f"sg-{k}",
            "ingress": [{"action": "ACCEPT", "cidr_block": "10.0.0.0/8", "protocol": "TCP", "port": "443"},
                        {"action": "ACCEPT", "source_security_id": f"sg-{k}", "protocol": "ALL", "port": "ALL"},
                        {"action": "DROP", "cidr_block": "0.0.0.0/0", "protocol": "ALL", "port": "ALL"}],
            "egress": [{"action": "ACCEPT", "cidr_block": "0.0.0.0/0", "protocol": "ALL", "port": "ALL"}]})
        for j in range(2):
            add("tencentcloud_instance", "app", f"{k}-{j}", {"id": f"ins-{k}{j}", "subnet_id": f"subnet-{k}",
                                                             "private_ip": f"{net}.{10 + j}",
                                                             "orderly_security_groups": [f"sg-{k}"]})
        add("tencentcloud_eip", "app", k, {"id": f"eip-{k}"})
        add("tencentcloud_eip_association", "app", k, {"id": f"eip-{k}::ins-{k}0", "eip_id": f"eip-{k}",
                                                       "instance_id": f"ins-{k}0"})
        if i + 1 < spokes:
            nk = f"s{i + 1:03d}"
            nnet = f"10.{(i + 1) // 2}.{((i + 1) % 2) * 128}"
            add("tencentcloud_vpc_peer_connect_manager", "chain", k, {
                "id": f"pcx-{k}", "source_vpc_id": f"vpc-{k}", "destination_vpc_id": f"vpc-{nk}",
                "destination_uin": "100000000001", "destination_region": "ap-guangzhou"})
            add("tencentcloud_route_table_entry", "fwd", k, {"route_table_id": f"rtb-{k}",
                                                             "next_type": "PEERCONNECTION", "next_hub": f"pcx-{k}",
                                                             "destination_cidr_block": f"{nnet}.0/17"})
            add("tencentcloud_route_table_entry", "back", k, {"route_table_id": f"rtb-{nk}",
                                                              "next_type": "PEERCONNECTION", "next_hub": f"pcx-{k}",
                                                              "destination_cidr_block": f"{net}.0/17"})
    return {"format_version": "1.2", "terraform_version": "1.9.8",
            "planned_values": {"root_module": {"resources": res}},
            "configuration": {"provider_config": {"tencentcloud": {
                "name": "tencentcloud", "expressions": {"region": {"constant_value": "ap-guangzhou"}}}},
                "root_module": {"resources": []}}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--spokes", type=int, default=83)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    doc = plan(args.spokes)
    n = len(doc["planned_values"]["root_module"]["resources"])
    src, out = tmp / "plan.json", tmp / "net.yaml"
    src.write_text(json.dumps(doc, indent=1))
    rows = []
    for _ in range(args.reps):
        out.unlink(missing_ok=True)
        t = time.perf_counter()
        p = subprocess.run([VPCLAB, "import", "terraform", str(src), "-o", str(out), "--lab", "bimp"],
                           capture_output=True, text=True)
        t_cli = time.perf_counter() - t
        if p.returncode != 0:
            sys.exit(p.stderr[-2000:])
        t = time.perf_counter()
        r = terraform.convert(terraform.read(str(src)), str(src), lab="bimp")
        t_core = time.perf_counter() - t
        t = time.perf_counter()
        json.loads(src.read_text())
        lab = loader.load(out)
        t_base = time.perf_counter() - t
        rows.append({"cli_s": t_cli, "core_s": t_core, "baseline_s": t_base, "ratio": t_core / t_base,
                     "load1": os.getloadavg()[0]})
    same = r.text == out.read_text()
    med = lambda k: statistics.median(x[k] for x in rows)
    rng = lambda k: f"{min(x[k] for x in rows):.3f}-{max(x[k] for x in rows):.3f}"
    print(f"plan: {n} resources ({args.spokes} spokes); topology: {len(lab.vpcs)} VPCs, "
          f"{sum(1 for _ in lab.instances())} instances, {len(lab.peerings)} peerings, {len(r.notes)} notes")
    print(f"the process's file and the in-process import: {'the same bytes' if same else 'DIFFERENT'}")
    print(f"{'what':<52} {'median s':>9}  (min-max)")
    print(f"{'vpclab import terraform PLAN -o FILE (process)':<52} {med('cli_s'):9.3f}  ({rng('cli_s')})")
    print(f"{'  the import in-process (read, convert, validate)':<52} {med('core_s'):9.3f}  ({rng('core_s')})")
    print(f"{'baseline: json.loads(plan) + load the topology':<52} {med('baseline_s'):9.3f}  ({rng('baseline_s')})")
    print(f"ratio import / baseline: {med('ratio'):.2f}; load average {med('load1'):.2f} on {os.cpu_count()} cores")
    print(f"goal: at most {LIMIT_S:.1f} s end to end: {'met' if med('cli_s') <= LIMIT_S else 'NOT met'}")
    d = Path(__file__).parent / "out"
    d.mkdir(exist_ok=True)
    (d / "import_bench.json").write_text(json.dumps({"resources": n, "rows": rows, "same": same}, indent=2))
    if not same:
        sys.exit("the CLI's file differs from the in-process import")


if __name__ == "__main__":
    main()
