"""`matrix --by-class` (controller/classes.py): the classes of the matrix's questions, pure.

The oracle is explain itself, pair by pair: every question of a class must get the verdict
(result, reason code, where) of its class's representative, and the classes must hold every
question the plain matrix asks, once."""
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from test_properties import load_ok, topologies
from vpclab import explain
from vpclab.controller import classes
from vpclab.controller.targets import host_targets, matrix_targets
from vpclab.topology import load

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "bench"))
import scale_topology  # noqa: E402


def _matrix_questions(model):
    insts = model.instances()
    hosts = list(model.internet.hosts.values()) if model.internet is not None else []
    out = {(t.src.ref, t.dst_ref, t.proto, t.port) for s in insts for t in matrix_targets(s, insts, hosts)}
    return out | {(t.src.ref, t.dst_ref, t.proto, t.port) for h in hosts for t in host_targets(h, insts)}


def check(model):
    ks = classes.classes(model)
    seen = []
    with explain.frozen(model):
        for k in ks:
            r = k.rep
            v0 = explain.explain(model, r.src.ref, r.dst_ref, r.proto, r.port)
            for q in k.questions():
                seen.append((q.src.ref, q.dst_ref, q.proto, q.port))
                v = explain.explain(model, q.src.ref, q.dst_ref, q.proto, q.port)
                assert (v.result, v.reason.code, v.reason.where) == (v0.result, v0.reason.code, v0.reason.where), \
                    f"class {k.key}: {q.src.ref} -> {q.dst_ref} is {v.result} {v.reason.code}, its representative " \
                    f"{r.src.ref} -> {r.dst_ref} {v0.result} {v0.reason.code}"
            assert k.members == sum(1 for _ in k.questions()) > 0
    assert len(seen) == len(set(seen)), "a question in two classes"
    assert set(seen) == _matrix_questions(model)
    return ks


@pytest.mark.parametrize("path", sorted((REPO / "topologies").glob("*.yaml")), ids=lambda p: p.name)
def test_every_class_of_the_shipped_topologies_is_one_verdict(path):
    check(load.load(str(path)))


def test_the_scale_lab_has_far_fewer_classes_than_pairs(tmp_path):
    p = tmp_path / "scale.yaml"
    p.write_text(scale_topology.scale_yaml(vpcs=12))
    ks = check(load.load(str(p)))
    pairs = sum(k.members for k in ks)
    assert len(ks) * 4 < pairs  # the unrouted rest of each source group is one class


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topologies())
def test_random_topologies_classes_agree_with_explain(dt):
    check(load_ok(dt[1]))


TWO = """
lab: cls
regions: {ap-guangzhou: {}}
vpcs:
  a:
    region: ap-guangzhou
    cidr: 10.0.0.0/16
    subnets: {app: {cidr: 10.0.1.0/24}}
    security_groups:
      sg-db:
        ingress:
        - {proto: all, source: 10.1.1.11/32, action: drop}
        - {proto: all, source: 0.0.0.0/0, action: accept}
    instances:
      db-1: {subnet: app, ip: 10.0.1.10, security_groups: [sg-db]}
    route_tables:
      default:
        routes: [{destination: 10.1.0.0/16, next_hop: pcx-ab}]
  b:
    region: ap-guangzhou
    cidr: 10.1.0.0/16
    subnets: {app: {cidr: 10.1.1.0/24}}
    instances:
      cvm-1: {subnet: app, ip: 10.1.1.10}
      cvm-2: {subnet: app, ip: 10.1.1.11}
      cvm-3: {subnet: app, ip: 10.1.1.12}
    route_tables:
      default:
        routes: [{destination: 10.0.0.0/16, next_hop: pcx-ab}]
peerings:
  pcx-ab: {vpc: a, peer_vpc: b}
"""


def test_an_address_a_rule_names_is_a_class_of_its_own():
    model = load.loads(TWO, "two.yaml")
    ks = check(model)
    to_db = [k for k in ks if k.rep.dst_ref == "a/db-1" and k.rep.src.ref.startswith("b/")]
    srcs = sorted(sorted(s.ref for s in k.srcs) for k in to_db)
    assert srcs == [["b/cvm-1", "b/cvm-3"], ["b/cvm-2"]]


def test_the_sample_is_about_the_rate_and_never_the_representative():
    import random

    model = load.loads(TWO, "two.yaml")
    k = max(classes.classes(model), key=lambda k: k.members)
    got = classes._sample(k, 1.0, random.Random(1))
    asked = {(t.src.ref, t.dst_ref) for t in got}
    assert (k.rep.src.ref, k.rep.dst_ref) not in asked
    assert len(asked) == len(got) == k.members - 1


def _run_with(monkeypatch, sampled_result: str, sampled_code=None):
    """ClassRun.run on TWO with every pair sampled, the probes faked: representatives
    reachable, sampled pairs `sampled_result`."""
    from vpclab.controller import events, probing

    model = load.loads(TWO, "two.yaml")
    n = len(classes.classes(model))

    def run_many(m, targets, *a, **k):
        return [{"src": t.src.ref, "dst": t.dst_ref, "proto": t.proto, "port": t.port,
                 "result": "reachable" if i < n else sampled_result,
                 "reason": None if i < n else {"code": sampled_code, "detail": "the packets cannot tell"}}
                for i, t in enumerate(targets)]

    monkeypatch.setattr(probing, "run_many", run_many)
    monkeypatch.setattr(events, "log", lambda *a, **k: None)
    run = classes.ClassRun.__new__(classes.ClassRun)
    run.lab, run.model, run.sample, run.progress, run.actor, run.seed = "two", model, 1.0, None, None, 1
    run.classes, run.summary = [], {}
    run.pairs = run.probed = run.mismatches = run.class_mismatches = 0
    return run.run()


def test_an_inconclusive_sample_is_no_class_mismatch(monkeypatch):
    """Issue 24: at 1,000 instances the full neighbour table left sampled pairs inconclusive,
    and each was counted a class mismatch, with the warning that the classing has a bug. The
    packets told nothing there: that neither agrees nor disagrees with the representative."""
    run = _run_with(monkeypatch, "inconclusive")
    sampled = [r for k in run.classes for r in k.sampled]
    assert sampled and run.class_mismatches == 0
    assert not any("class_mismatch" in r for r in sampled)
    assert run.summary["inconclusive"] == len(sampled)  # still counted for what they are


def test_a_sample_with_another_verdict_is_a_class_mismatch(monkeypatch):
    run = _run_with(monkeypatch, "unreachable", "NO_ROUTE")
    sampled = [r for k in run.classes for r in k.sampled]
    assert sampled and run.class_mismatches == len(sampled)
    assert all("the classing has a bug" in r["class_mismatch"] for r in sampled)
