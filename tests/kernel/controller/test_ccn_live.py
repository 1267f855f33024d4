"""The CCN's live operations on real namespaces (issue 23): three VPCs, one CCN. An attach,
accept, route disable/enable and detach each change real packets (probe), are logged in
`events`, and change the kernel by exactly the planner's difference, in the routers whose
routes change only (never an instance's namespace); a refusal names the cloud's code and
changes nothing."""
from __future__ import annotations

import json

import pytest

from labkit import lab_namespaces, meter_pids, needs_root, run, run_json

pytestmark = [pytest.mark.kernel, needs_root]

TOPO = """\
lab: placeholder
accounts: [alice, bob]
regions: {ap-guangzhou: {}, ap-shanghai: {}}
vpcs:
  vpc-a: {account: alice, region: ap-guangzhou, cidr: 10.0.0.0/16, subnets: {app: {cidr: 10.0.1.0/24}},
          instances: {cvm-1: {subnet: app, ip: 10.0.1.10}}}
  vpc-b: {account: alice, region: ap-guangzhou, cidr: 10.1.0.0/16, subnets: {app: {cidr: 10.1.1.0/24}},
          instances: {cvm-1: {subnet: app, ip: 10.1.1.10}}}
  vpc-c: {account: bob, region: ap-guangzhou, cidr: 10.2.0.0/16, subnets: {app: {cidr: 10.2.1.0/24}},
          instances: {cvm-1: {subnet: app, ip: 10.2.1.10}}}
  vpc-d: {account: alice, region: ap-shanghai, cidr: 10.3.0.0/16, subnets: {app: {cidr: 10.3.1.0/24}},
          instances: {cvm-1: {subnet: app, ip: 10.3.1.10}}}
ccns:
  ccn-core:
    account: alice
    attachments:
      - {vpc: vpc-a}
      - {vpc: vpc-b}
"""

ROUTE_C = "10.2.1.0/24@vpc-c"


def _kernel(lab):
    from vpclab.kernel import inspect

    return {o for o in inspect.read_lab(lab) if o.key[0] != "service"}


def _planned(lab):
    from vpclab.controller import build, status

    return {o for o in build.desired(status.load_model(lab)).objects if o.key[0] != "service"}


def _ns(o) -> str:
    return o.name if o.key[0] == "netns" else o.ns


def _probe(lab, src, dst):
    p = run("probe", src, dst, "-l", lab, "--json")
    assert p.returncode in (0, 1), p.stderr
    return json.loads(p.stdout)


def test_ccn_operations_change_packets_and_only_the_routers_whose_routes_change(mklab):
    from vpclab.plan import names

    lab, _ = mklab(TOPO)
    router = {v: names.vpc_ns(lab, v) for v in ("vpc-a", "vpc-b", "vpc-c")}
    ccn_router = names.ccn_ns(lab, 0, "ap-guangzhou")
    instances = {names.instance_ns(lab, v, "cvm-1") for v in router}

    def step(*args, check=0):
        k0, p0 = _kernel(lab), _planned(lab)
        out = run(*args, "-l", lab, "--json", check=check)
        k1, p1 = _kernel(lab), _planned(lab)
        assert (k1 - k0, k0 - k1) == (p1 - p0, p0 - p1), f"{' '.join(args)}: the kernel changed beyond the plan"
        changed = {_ns(o) for o in k0 ^ k1}
        assert not changed & instances, f"{' '.join(args)} touched an instance: {changed & instances}"
        return json.loads(out.stdout), changed

    assert _probe(lab, "vpc-a/cvm-1", "vpc-b/cvm-1")["result"] == "reachable"
    assert _probe(lab, "vpc-a/cvm-1", "vpc-c/cvm-1")["result"] == "unreachable"

    # bob's VPC asks: PENDING, nothing in the kernel yet
    doc, changed = step("ccn", "attach", "ccn-core", "vpc-c")
    assert (doc["state"], changed) == ("PENDING", set())
    got = _probe(lab, "vpc-a/cvm-1", "vpc-c/cvm-1")
    assert got["result"] == "unreachable" and got["reason"]["code"] == "CCN_ATTACHMENT_NOT_ACTIVE", got

    # bob may not accept his own request: the cloud's code, exit 2, nothing changes
    doc, changed = step("ccn", "accept", "ccn-core", "vpc-c", "--as", "bob", check=2)
    assert doc["error"]["code"] == "UnauthorizedOperation" and changed == set()

    # alice accepts: every member's router learns vpc-c, vpc-c's learns them; packets flow
    doc, changed = step("ccn", "accept", "ccn-core", "vpc-c", "--as", "alice")
    assert doc["state"] == "ACTIVE"
    assert changed == {router["vpc-a"], router["vpc-b"], router["vpc-c"], ccn_router}, changed
    assert _probe(lab, "vpc-a/cvm-1", "vpc-c/cvm-1")["result"] == "reachable"
    assert _probe(lab, "vpc-c/cvm-1", "vpc-b/cvm-1")["result"] == "reachable"

    # disabling vpc-c's route: it leaves vpc-a's and vpc-b's tables and the CCN's; vpc-c's own
    # router keeps its routes (it never had its own subnet as a CCN route)
    doc, changed = step("ccn", "route", "disable", "ccn-core", ROUTE_C)
    assert doc["state"] == "disabled"
    assert changed == {router["vpc-a"], router["vpc-b"], ccn_router}, changed
    got = _probe(lab, "vpc-a/cvm-1", "vpc-c/cvm-1")
    assert got["result"] == "unreachable" and got["reason"]["code"] == "CCN_ROUTE_DISABLED", got
    rows = {r["route"]: r for r in run_json("ccn", "route", "list", "ccn-core", "-l", lab)["routes"]}
    assert rows[ROUTE_C]["state"] == "disabled" and rows["10.0.1.0/24@vpc-a"]["state"] == "enabled"

    doc, changed = step("ccn", "route", "enable", "ccn-core", ROUTE_C)
    assert doc["state"] == "enabled" and changed == {router["vpc-a"], router["vpc-b"], ccn_router}, changed
    assert _probe(lab, "vpc-a/cvm-1", "vpc-c/cvm-1")["result"] == "reachable"
    delivered = [r for r in run_json("route", "list", "vpc-a", "-l", lab)["routes"] if r["type"] == "CCN"]
    assert {(r["destination"], r["next_hop"], r["state"]) for r in delivered} == {
        ("10.1.1.0/24", "ccn-core", "active"), ("10.2.1.0/24", "ccn-core", "active")}

    # a CCN with attachments cannot be deleted
    doc, changed = step("ccn", "delete", "ccn-core", check=2)
    assert doc["error"]["code"] == "UnsupportedOperation.ExistCcnInstancesNotSupportDeleteCcn" and not changed

    # detach: vpc-c's link and routes go, the others' routes to it too
    doc, changed = step("ccn", "detach", "ccn-core", "vpc-c")
    assert doc["state"] == "DELETED"
    assert changed == {router["vpc-a"], router["vpc-b"], router["vpc-c"], ccn_router}, changed
    assert _probe(lab, "vpc-a/cvm-1", "vpc-c/cvm-1")["result"] == "unreachable"
    assert _probe(lab, "vpc-a/cvm-1", "vpc-b/cvm-1")["result"] == "reachable"
    assert set(lab_namespaces(lab)) >= {ccn_router}

    # a VPC of another region: the CCN now spans two regions, so the lab has CCN traffic to bill
    assert meter_pids(lab) == []
    doc, changed = step("ccn", "attach", "ccn-core", "vpc-d")
    assert doc["state"] == "ACTIVE" and names.vpc_ns(lab, "vpc-d") in changed
    assert not changed & {router["vpc-c"]}
    assert _probe(lab, "vpc-d/cvm-1", "vpc-b/cvm-1")["result"] == "reachable"
    assert meter_pids(lab), "a scoped attach that makes the CCN cross-region starts the usage meter"

    # the region pair's cap: re-shaped in place at both CCN routers' ends, nothing else
    far = names.ccn_ns(lab, 0, "ap-shanghai")
    k0 = _kernel(lab)
    doc, changed = step("ccn", "bandwidth", "ccn-core", "ap-guangzhou", "ap-shanghai", "50Mbps")
    assert doc["bandwidth_mbps"] == 50 and changed == {ccn_router, far}, changed
    caps = {(o.ns, o.rate_kbit) for o in _kernel(lab) - k0 if o.key[0] == "qdisc"}
    assert caps == {(ccn_router, 50_000), (far, 50_000)}, caps
    doc, changed = step("ccn", "bandwidth", "ccn-core", "ap-guangzhou", "ap-guangzhou", "50Mbps", check=2)
    assert doc["error"]["code"] == "InvalidParameterValue.Combination" and not changed
    listing = run("ccn", "list", "-l", lab, check=0).stdout
    assert "ccn-core" in listing and "ap-guangzhou <-> ap-shanghai 50 Mbps" in listing, listing

    events = [(e["action"], e["target"], e["result"], e.get("actor"))
              for e in run_json("events", "-l", lab)["events"] if e["action"].startswith("ccn")]
    assert events == [
        ("ccn attach", "ccn-core vpc-c", "ok", "bob"),
        ("ccn accept", "ccn-core vpc-c", "refused: UnauthorizedOperation", "bob"),
        ("ccn accept", "ccn-core vpc-c", "ok", "alice"),
        ("ccn route disable", f"ccn-core {ROUTE_C}", "ok", "alice"),
        ("ccn route enable", f"ccn-core {ROUTE_C}", "ok", "alice"),
        ("ccn delete", "ccn-core", "refused: UnsupportedOperation.ExistCcnInstancesNotSupportDeleteCcn", "alice"),
        ("ccn detach", "ccn-core vpc-c", "ok", "bob"),
        ("ccn attach", "ccn-core vpc-d", "ok", "alice"),
        ("ccn bandwidth", "ccn-core ap-guangzhou/ap-shanghai", "ok", "alice"),
        ("ccn bandwidth", "ccn-core ap-guangzhou/ap-guangzhou", "refused: InvalidParameterValue.Combination", "alice"),
    ], events
