"""The CCN's live operations in the one table (controller/operate.py OPERATIONS): each is a row
with its parameters, its model edit (model/ccn_ops.py), its event target and actor, and a plan
scope; planning the scope before and after gives exactly the actions that planning the whole
lab before and after gives, and those touch only the routers whose routes change. No root:
plans are pure."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from vpclab.controller import operate
from vpclab.model import ccn_ops
from vpclab.plan import diff, names
from vpclab.plan.planner import plan
from vpclab.topology import load as loader

TOPO = """\
lab: ccnops
accounts: [alice, bob]
vpcs:
  vpc-a: {account: alice, region: ap-guangzhou, cidr: 10.0.0.0/16, subnets: {app: {cidr: 10.0.1.0/24}},
          instances: {cvm-1: {subnet: app, ip: 10.0.1.10}}}
  vpc-b: {account: alice, region: ap-guangzhou, cidr: 10.1.0.0/16,
          subnets: {app: {cidr: 10.1.1.0/24}, wide: {cidr: 10.1.2.0/24}},
          instances: {cvm-1: {subnet: app, ip: 10.1.1.10}}}
  vpc-c: {account: alice, region: ap-shanghai, cidr: 10.2.0.0/16, subnets: {app: {cidr: 10.2.1.0/24}},
          instances: {cvm-1: {subnet: app, ip: 10.2.1.10}}}
  vpc-d: {account: bob, region: ap-shanghai, cidr: 10.1.0.0/20, subnets: {app: {cidr: 10.1.2.0/24}},
          instances: {cvm-1: {subnet: app, ip: 10.1.2.10}}}
  vpc-e: {account: alice, region: ap-guangzhou, cidr: 10.4.0.0/16, subnets: {app: {cidr: 10.4.1.0/24}},
          instances: {cvm-1: {subnet: app, ip: 10.4.1.10}}}
peerings:
  pcx-ae: {vpc: vpc-a, peer_vpc: vpc-e}
ccns:
  ccn-core:
    account: alice
    attachments:
      - {vpc: vpc-a}
      - {vpc: vpc-b}
      - {vpc: vpc-d, accepted: false}
"""

ROUTE_B = "10.1.1.0/24@vpc-b"


@pytest.fixture
def lab(tmp_path: Path):
    f = tmp_path / "ccnops.yaml"
    f.write_text(TOPO)
    return loader.load(str(f))


def _keyed(actions):
    return sorted((a.op, a.obj.key, repr(a.obj)) for a in actions)


def _namespaces(actions):
    return {a.obj.key[1] for a in actions}


CHANGES = [
    ("ccn attach", ("ccn-core", "vpc-c")),
    ("ccn detach", ("ccn-core", "vpc-b")),
    ("ccn accept", ("ccn-core", "vpc-d")),
    ("ccn reject", ("ccn-core", "vpc-d")),
    ("ccn route disable", ("ccn-core", ROUTE_B)),
    ("ccn create", ("ccn-edge",)),
]


@pytest.mark.parametrize("name, args", CHANGES, ids=[c[0] for c in CHANGES])
def test_the_ccn_scope_before_and_after_gives_the_whole_labs_actions(lab, name, args):
    op = operate.OPERATIONS[name]
    values = op.bind(args, {})
    after = copy.deepcopy(lab)
    op.edit(after, *values.values())
    whole = diff.diff(plan(after).objects, plan(lab).objects)
    part = op.scope(values)
    assert _keyed(diff.diff(part(after), part(lab))) == _keyed(whole)


def test_a_route_disable_touches_only_the_routers_whose_routes_change(lab):
    """vpc-b's subnet route leaves the CCN: vpc-a's tables lose it, and so does the CCN's
    router; vpc-b's own router, vpc-e (peered with vpc-a, not on the CCN) and every instance
    keep theirs."""
    after = copy.deepcopy(lab)
    ccn_ops.disable_route(after, "ccn-core", ROUTE_B)
    whole = diff.diff(plan(after).objects, plan(lab).objects)
    ccn_router = names.ccn_ns(lab.name, lab.ccns["ccn-core"].index, "ap-guangzhou")
    assert _namespaces(whole) == {names.vpc_ns(lab.name, "vpc-a"), ccn_router}
    assert {(a.op, a.obj.key[0], getattr(a.obj, "dst", None)) for a in whole} >= {("delete", "route", "10.1.1.0/24")}


def test_an_attach_reaches_the_new_member_and_the_routers_of_the_others(lab):
    after = copy.deepcopy(lab)
    ccn_ops.attach(after, "ccn-core", "vpc-c")
    touched = _namespaces(diff.diff(plan(after).objects, plan(lab).objects))
    assert names.vpc_ns(lab.name, "vpc-c") in touched
    assert {names.vpc_ns(lab.name, "vpc-a"), names.vpc_ns(lab.name, "vpc-b")} <= touched
    assert names.vpc_ns(lab.name, "vpc-e") not in touched
    assert not any(ns == names.instance_ns(lab.name, v, "cvm-1") for ns in touched for v in lab.vpcs)


def test_every_ccn_operation_is_a_row_with_a_scope_and_an_actor():
    ccn_rows = {n: op for n, op in operate.OPERATIONS.items() if n.startswith("ccn ")}
    assert set(ccn_rows) == {"ccn create", "ccn delete", "ccn attach", "ccn detach", "ccn accept", "ccn reject",
                             "ccn route enable", "ccn route disable", "ccn bandwidth"}
    for op in ccn_rows.values():
        assert op.scope is not None and op.actor == "account"


def test_the_default_actor_is_the_ccns_owner_or_the_vpcs(lab):
    a = ccn_ops.attach(lab, "ccn-core", "vpc-c")
    assert operate.OPERATIONS["ccn attach"].default_actor(lab, a) == "alice"
    d = lab.ccns["ccn-core"].attachment("vpc-d")
    assert operate.OPERATIONS["ccn attach"].default_actor(lab, d) == "bob"  # the VPC's side asks
    assert operate.OPERATIONS["ccn accept"].default_actor(lab, d) == "alice"  # the CCN's owner decides
    r = ccn_ops.disable_route(lab, "ccn-core", ROUTE_B)
    assert operate.OPERATIONS["ccn route disable"].default_actor(lab, r) == "alice"
    assert operate._detail(r).startswith("disabled")


def test_arguments_of_the_wrong_type_are_refused_before_anything_runs():
    from vpclab.errors import Refused

    with pytest.raises(Refused) as e:
        operate.run("nolab", "ccn attach", "ccn-core", ["vpc-a"])
    assert e.value.code == "InvalidParameterValue"
    with pytest.raises(Refused) as e:
        operate.run("nolab", "ccn bandwidth", "ccn-core", "ap-guangzhou", "ap-shanghai", "200Mbps")
    assert e.value.code == "InvalidParameterValue"


def test_a_refusal_is_logged_as_the_account_entitled_to_the_step(lab):
    """Without --as, a refused CCN operation is logged with the account it acted as: the CCN's
    owner, or the VPC's for attach and detach (the cloud's code says why it was refused)."""
    ops = operate.OPERATIONS
    assert ops["ccn delete"].refused_actor(lab, {"ccn": "ccn-core", "account": None}) == "alice"
    assert ops["ccn route enable"].refused_actor(lab, {"ccn": "ccn-core", "route": "x", "account": None}) == "alice"
    assert ops["ccn attach"].refused_actor(lab, {"ccn": "ccn-core", "vpc": "vpc-d", "account": None}) == "bob"
    assert ops["ccn create"].refused_actor(lab, {"name": "ccn-6", "account": None}) == "alice"
    assert ops["ccn delete"].refused_actor(lab, {"ccn": "ccn-nope", "account": None}) is None
