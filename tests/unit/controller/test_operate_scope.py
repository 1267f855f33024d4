"""The scope of a live filter command (filters_live._vpc): planning one VPC's nftables tables
before and after a group or ACL change gives exactly the actions that planning the whole lab
before and after gives. No root: plans are pure."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from vpclab.controller import operate as filters_live
from vpclab.topology import load as loader
from vpclab.model import filter_ops
from vpclab.plan import diff
from vpclab.plan.planner import plan

TOPO = """\
lab: scope
vpcs:
  vpc-a:
    region: ap-guangzhou
    cidr: 10.0.0.0/16
    subnets: {app: {cidr: 10.0.1.0/24}, db: {cidr: 10.0.2.0/24}}
    security_groups:
      sg-app:
        ingress:
          - {proto: tcp, port: 3306, source: sg-app, action: accept}
        egress:
          - {proto: all, destination: 0.0.0.0/0, action: accept}
      sg-db:
        ingress:
          - {proto: tcp, port: 22, source: 10.0.0.0/8, action: accept}
    network_acls:
      acl-app:
        subnets: [app]
        inbound:
          - {proto: all, source: 0.0.0.0/0, action: accept}
    instances:
      cvm-1: {subnet: app, ip: 10.0.1.10, security_groups: [sg-app]}
      cvm-2: {subnet: db, ip: 10.0.2.10}
  vpc-b:
    region: ap-guangzhou
    cidr: 10.1.0.0/16
    subnets: {app: {cidr: 10.1.1.0/24}}
    security_groups:
      sg-app:
        ingress:
          - {proto: tcp, port: 3306, source: sg-app, action: accept}
    instances:
      cvm-1: {subnet: app, ip: 10.1.1.10, security_groups: [sg-app]}
"""

OPS = [
    ("vpc-a/sg-app", lambda m: filter_ops.sg_rule(m, "vpc-a/sg-app", "ingress", True, 0, "udp", 53, "10.0.0.0/8", "accept")),
    ("vpc-a/sg-app", lambda m: filter_ops.sg_rule(m, "vpc-a/sg-app", "egress", False, 0)),
    ("vpc-a/cvm-2", lambda m: filter_ops.sg_attach(m, "vpc-a/cvm-2", "sg-app")),  # now a member: cvm-1's table too
    ("vpc-a/cvm-1", lambda m: filter_ops.sg_detach(m, "vpc-a/cvm-1", "sg-app")),  # its last group: table gone
    ("vpc-a/acl-app", lambda m: filter_ops.acl_rule(m, "vpc-a/acl-app", "outbound", True, None, "tcp", 22, "10.1.0.0/16", "drop")),
    ("vpc-a/acl-app", lambda m: filter_ops.acl_bind(m, "vpc-a/acl-app", "db")),
    ("vpc-a/acl-app", lambda m: filter_ops.acl_unbind(m, "vpc-a/acl-app", "app")),  # the router's table gone
]


def _keyed(actions):
    return sorted((a.op, a.obj.key, repr(a.obj)) for a in actions)


@pytest.mark.parametrize("ref, change", OPS)
def test_one_vpcs_tables_before_and_after_give_the_whole_labs_actions(tmp_path: Path, ref, change):
    f = tmp_path / "scope.yaml"
    f.write_text(TOPO)
    before = loader.load(str(f))
    after = copy.deepcopy(before)
    change(after)
    whole = diff.diff(plan(after).objects, plan(before).objects)
    part = filters_live._vpc(ref)
    scoped = diff.diff(part(after), part(before))
    assert whole, "the change must change something"
    assert _keyed(scoped) == _keyed(whole)


def test_a_vpc_the_lab_lacks_has_no_scope_and_the_whole_lab_is_planned(tmp_path: Path):
    f = tmp_path / "scope.yaml"
    f.write_text(TOPO)
    lab = loader.load(str(f))
    assert filters_live._vpc("vpc-z/sg-app")(lab) is None
    assert filters_live._vpc("no-slash")(lab) is None
