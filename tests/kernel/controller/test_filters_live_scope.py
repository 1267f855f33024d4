"""A live filter command plans and applies only its own VPC's nftables tables (issue 10's
"≤ 50 ms" path, filters_live -> controller.operate with a scope), on real namespaces.

Two VPCs carry the same group and ACL; a rule added to vpc-a's group must send one nft
transaction to each of the group's member namespaces and change no other namespace's table
(vpc-b's tables, vpc-a's router, the unfiltered instance). An apply interrupted after the
state write leaves a lab the next live command repairs with a full read-back.
"""
from __future__ import annotations

import pytest

from labkit import ROOT, lab_namespaces, needs_root

pytestmark = [pytest.mark.kernel, needs_root]

from vpclab.plan import names as N  # noqa: E402


def _vpc(n: int) -> str:
    return f"""\
  vpc-{"ab"[n]}:
    region: ap-guangzhou
    cidr: 10.{n}.0.0/16
    subnets: {{app: {{cidr: 10.{n}.1.0/24}}}}
    security_groups:
      sg-app:
        ingress:
          - {{proto: tcp, port: 22, source: 10.0.0.0/8, action: accept}}
          - {{proto: tcp, port: 3306, source: sg-app, action: accept}}
        egress:
          - {{proto: all, destination: 0.0.0.0/0, action: accept}}
    network_acls:
      acl-app:
        subnets: [app]
        inbound:
          - {{proto: all, source: 0.0.0.0/0, action: accept}}
        outbound:
          - {{proto: all, destination: 0.0.0.0/0, action: accept}}
    instances:
      cvm-1: {{subnet: app, ip: 10.{n}.1.10, security_groups: [sg-app]}}
      cvm-2: {{subnet: app, ip: 10.{n}.1.11, security_groups: [sg-app]}}
      cvm-3: {{subnet: app, ip: 10.{n}.1.12}}
"""


TOPO = "lab: placeholder\nvpcs:\n" + _vpc(0) + _vpc(1)


@pytest.fixture(scope="module", autouse=True)
def _nft():
    from vpclab.kernel import nft

    ok, why = nft.available() if ROOT else (True, "")
    if not ok:
        pytest.skip(why)


def _tables(lab):
    from vpclab.kernel import nft

    return {ns: nft.table(ns) for ns in lab_namespaces(lab)}


def _rules(table):
    return [o["rule"] for o in table or () if "rule" in o]


def test_a_live_sg_rule_add_changes_only_its_vpcs_tables_one_transaction_each(mklab, monkeypatch):
    from vpclab.controller import build, operate as filters_live
    from vpclab.kernel import nft

    lab, _ = mklab(TOPO)

    def whole_lab(model):
        raise AssertionError("a live group change planned the whole lab")

    monkeypatch.setattr(build, "desired", whole_lab)
    members = {N.instance_ns(lab, "vpc-a", "cvm-1"), N.instance_ns(lab, "vpc-a", "cvm-2")}
    before = _tables(lab)
    assert all(before[m] is not None for m in members)
    nft.TRANSACTIONS.clear()
    filters_live.run(lab, "sg rule add", "vpc-a/sg-app", "ingress", None, "udp", 53, "10.0.0.0/8", "accept")
    assert dict(nft.TRANSACTIONS) == {m: 1 for m in members}
    after = _tables(lab)
    changed = {ns for ns in before if before[ns] != after[ns]}
    assert changed == members
    for m in members:  # the new rule is there, commented with its RuleRef
        assert len(_rules(after[m])) == len(_rules(before[m])) + 1
        assert "vpclab sg vpc-a/sg-app ingress 2" in nft.counters(m)
    from vpclab.state.store import Store

    tx = Store(lab).read()
    try:
        last = tx.events()[-1]
        assert (last["action"], last["target"], last["result"]) == ("sg rule add", "vpc-a/sg-app", "ok")
        assert tx.text("applied") == tx.text("model")  # the kernel holds the model: the next op is scoped too
    finally:
        tx.close()


def test_an_acl_rule_del_sends_one_transaction_to_its_vpcs_router_only(mklab):
    from vpclab.controller import operate as filters_live
    from vpclab.kernel import nft

    lab, _ = mklab(TOPO)
    before = _tables(lab)
    nft.TRANSACTIONS.clear()
    filters_live.run(lab, "acl rule del", "vpc-b/acl-app", "inbound", 0)
    router = N.vpc_ns(lab, "vpc-b")
    assert dict(nft.TRANSACTIONS) == {router: 1}
    after = _tables(lab)
    assert {ns for ns in before if before[ns] != after[ns]} == {router}


def test_an_apply_interrupted_after_the_state_write_is_repaired_by_the_next_live_op(mklab, monkeypatch):
    from vpclab.controller import build, operate as filters_live, status
    from vpclab.kernel import engine, nft

    lab, _ = mklab(TOPO)
    member = N.instance_ns(lab, "vpc-a", "cvm-1")
    n_before = len(_rules(nft.table(member)))
    real = engine.apply

    def dies(*a, **k):
        raise KeyboardInterrupt  # killed between the state write and the kernel change

    monkeypatch.setattr(engine, "apply", dies)
    with pytest.raises(KeyboardInterrupt):
        filters_live.run(lab, "sg rule add", "vpc-a/sg-app", "ingress", None, "udp", 53, "10.0.0.0/8", "accept")
    monkeypatch.setattr(engine, "apply", real)
    assert len(_rules(nft.table(member))) == n_before  # the kernel never got it
    # the next command sees state != applied, reads the kernel back and applies both rules
    filters_live.run(lab, "sg rule add", "vpc-a/sg-app", "ingress", None, "udp", 54, "10.0.0.0/8", "accept")
    assert len(_rules(nft.table(member))) == n_before + 2
    model = status.load_model(lab)
    from vpclab.plan import diff

    acts = diff.diff(build.desired(model).objects, build.actual(lab, None))
    assert [a for a in acts if a.obj.key[0] == "nft"] == []
