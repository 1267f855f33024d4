"""`up` of more namespaces than a third of the open-file limit (issue 24, a 20,000-instance
estate): the apply keeps at most that many netlink sockets and namespace descriptors open,
closing the oldest (after sending what is pending), so it no longer fails with EMFILE.

Before: a socket and a namespace descriptor stayed open for every namespace until the end,
and `up` of 10,000 namespaces failed on this machine's hard limit of 20,000 files
("Too many open files (errno 24): /var/run/netns/vpclab-sc2000-vpc-1999.cvm-3"). Here the
same happens with 150 namespaces under a limit of 160 files. Real namespaces, own lab name.
"""
from __future__ import annotations

import json
import resource
import subprocess

import yaml

from labkit import VPCLAB, assert_gone, lab_name, lab_namespaces, needs_root, renamed, run

pytestmark = needs_root

VPCS = 50  # 150 namespaces: a router and two instances each
HARD = 160  # under 2 files a namespace (300), well over what `up` needs besides (~40)


def _topology() -> str:
    doc = {"lab": "placeholder", "regions": {"ap-guangzhou": {}}, "vpcs": {}}
    for i in range(VPCS):
        doc["vpcs"][f"vpc-{i:02d}"] = {
            "region": "ap-guangzhou", "cidr": f"10.{i}.0.0/16",
            "subnets": {"app": {"cidr": f"10.{i}.1.0/24"}},
            "instances": {"cvm-1": {"subnet": "app"}, "cvm-2": {"subnet": "app"}}}
    return yaml.safe_dump(doc, sort_keys=False)


def _low_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (HARD, HARD))


def test_up_of_more_namespaces_than_the_file_limit_allows_at_once(tmp_path):
    lab = lab_name()
    path = renamed(_topology(), lab, tmp_path)
    try:
        p = subprocess.run([VPCLAB, "up", str(path)], capture_output=True, text=True, timeout=300,
                           preexec_fn=_low_limit)
        assert p.returncode == 0, (p.stdout, p.stderr)
        assert len(lab_namespaces(lab)) == 3 * VPCS
        # the first VPC's sockets were closed and reopened, the last one's never: both work
        for vpc in ("vpc-00", f"vpc-{VPCS - 1:02d}"):
            run("probe", f"{vpc}/cvm-1", f"{vpc}/cvm-2", "-l", lab, "--expect", "reachable", check=0)
        # and the kernel holds the whole model: a second `up` plans nothing
        again = run("up", path, "--dry-run", check=0)
        assert again.stdout == "" and again.stderr.strip() == "# 0 actions", (again.stdout, again.stderr)
        # the matrix's capture sockets (one a watched namespace) and namespace descriptors stay
        # under the same limit: 50 unrouted classes watch 100 namespaces at once
        p = subprocess.run([VPCLAB, "matrix", "-l", lab, "--by-class", "--sample", "0", "--seed", "1",
                            "--json"], capture_output=True, text=True, timeout=300, preexec_fn=_low_limit)
        assert p.returncode == 0, (p.stdout[-2000:], p.stderr[-2000:])
        doc = json.loads(p.stdout)
        assert doc["pairs"] == (2 * VPCS) * (2 * VPCS - 1)  # every ordered pair of the 100 instances
        assert doc["mismatches"] == 0 and doc["class_mismatches"] == 0
        codes = {(c["result"], (c["representative"].get("reason") or {}).get("code")) for c in doc["classes"]}
        assert codes == {("reachable", None), ("unreachable", "NO_ROUTE")}, codes
    finally:
        run("down", lab)
        assert_gone(lab)
