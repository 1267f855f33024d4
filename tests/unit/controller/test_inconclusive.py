"""Issue 19, item 6: a verdict never lacks a reason (no root).

The load case (a machine whose neighbour table was full: packets to a new address dropped
silently, 18 matrix rows `unreachable` with a null reason) is FAKED here: the probe engine
is replaced by one whose captures saw the request reach the VPC router and nothing more,
no reply, no ICMP error, no counter. That is the missing evidence. The pair must be probed
again with more time, and, if the packets still cannot tell, be `inconclusive` with what
they showed, never `unreachable` without a reason. tests/kernel/probe/test_probe_reliability.py
makes the same silence with real packets.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from vpclab.controller import attribution as probe_filters, probing
from vpclab.probe import engine
from vpclab.probe.types import ProbeOutcome
from vpclab.topology import load as loader

TWO_SUBNETS = """\
lab: ld
regions: {ap-guangzhou: {}}
vpcs:
  dev:
    region: ap-guangzhou
    cidr: 10.0.0.0/16
    subnets:
      s1: {cidr: 10.0.1.0/24}
      s2: {cidr: 10.0.2.0/24}
    instances:
      a: {subnet: s1, ip: 10.0.1.10}
      b: {subnet: s2, ip: 10.0.2.10}
  far:                    # no route to it from dev
    region: ap-guangzhou
    cidr: 10.9.0.0/16
    subnets: {app: {cidr: 10.9.1.0/24}}
    instances:
      f: {subnet: app, ip: 10.9.1.10}
"""


class Silent:
    """A fake engine: the fast path gets no answer; each capture sees the request reach the
    router `dev` and go no further, until `answer_on` (a capture number) when it is answered."""

    def __init__(self, answer_on=None):
        self.captures = []  # the timeout of each capture diagnosis
        self.answer_on = answer_on

    def fast_probe(self, specs, timeout=0.5, before_send=None):
        return [ProbeOutcome(s, False, None, detail="no reply") for s in specs]

    def capture_probe(self, specs, captures, timeout=0.5, translated=False):
        self.captures.append(timeout)
        if self.answer_on == len(self.captures):
            return [ProbeOutcome(s, True, 0.2, [p.label for p in pts], [p.label for p in reversed(pts)],
                                 "echo-reply", request_from={p.label: s.src_ip for p in pts})
                    for s, pts in zip(specs, captures)]
        return [ProbeOutcome(s, False, None, ["dev"], [], "no reply", request_from={"dev": s.src_ip})
                for s in specs]


@pytest.fixture
def model():
    return loader.loads(TWO_SUBNETS)


def rows(monkeypatch, model, fake, fulls=(5, 5)):
    monkeypatch.setattr(engine, "fast_probe", fake.fast_probe)
    monkeypatch.setattr(engine, "capture_probe", fake.capture_probe)
    seen = iter(fulls)
    monkeypatch.setattr(probing, "neighbour_table_fulls", lambda: next(seen), raising=False)
    assert not probe_filters.has_filters(model)  # no counter to read: the packets alone
    return probing.run_many(model, [probing.target(model, "dev/a", "dev/b", "icmp", None)])


def test_a_pair_the_packets_cannot_tell_is_probed_again_then_inconclusive(monkeypatch, model):
    fake = Silent()
    [r] = rows(monkeypatch, model, fake)
    assert r["result"] == "inconclusive", r  # before: "unreachable" with a null reason
    assert r["attempts"] == probing.ATTEMPTS == 3
    assert fake.captures == [probing.DIAG_TIMEOUT, probing.RETRY_TIMEOUT, probing.RETRY_TIMEOUT]
    assert r["explain"] == "reachable" and "mismatch" not in r
    reason = r["reason"]
    assert reason["code"] is None and reason["where"] == "dev"
    assert reason["detail"] == ("the packets cannot tell: in 3 attempts the request was last seen at dev, and no "
                                "ICMP error nor filter counter says why it went no further; explain says reachable")


def test_a_full_neighbour_table_meanwhile_is_said(monkeypatch, model):
    [r] = rows(monkeypatch, model, Silent(), fulls=(100, 117))
    assert "the kernel's neighbour table was full 17 time(s) meanwhile" in r["reason"]["detail"]


def test_an_answer_on_a_second_look_is_the_verdict(monkeypatch, model):
    fake = Silent(answer_on=2)
    [r] = rows(monkeypatch, model, fake)
    assert (r["result"], r["attempts"], len(fake.captures)) == ("reachable", 2, 2)
    assert "mismatch" not in r and r["reason"]["code"] is None


def test_unreachable_with_a_reason_is_not_probed_again(monkeypatch, model):
    """The same silence where explain says why (no route out of dev): the verdict has its
    reason, nothing to look at again."""
    fake = Silent()
    monkeypatch.setattr(engine, "fast_probe", fake.fast_probe)
    monkeypatch.setattr(engine, "capture_probe", fake.capture_probe)
    [r] = probing.run_many(model, [probing.target(model, "dev/a", "far/f", "icmp", None)])
    assert (r["result"], r["reason"]["code"], r["reason"]["where"]) == ("unreachable", "NO_ROUTE", "dev")
    assert len(fake.captures) == 1 and "attempts" not in r and "mismatch" not in r


class RefusedAtSource(Silent):
    """A fake engine whose source kernel has no route for the probe (a link deleted by hand):
    every send fails at once, nothing is captured anywhere."""

    DETAIL = "refused at source: network unreachable (ENETUNREACH)"  # what probe/fast says then

    def fast_probe(self, specs, timeout=0.5, before_send=None):
        return [ProbeOutcome(s, False, None, detail=self.DETAIL) for s in specs]

    def capture_probe(self, specs, captures, timeout=0.5, translated=False):
        self.captures.append(timeout)
        return [ProbeOutcome(s, False, None, [], [], self.DETAIL, request_from={}) for s in specs]


def test_a_send_the_sources_own_kernel_refused_is_unreachable_there_with_its_reason(monkeypatch, model):
    """The packets do tell: the request never left the source, whose kernel had no route."""
    [r] = rows(monkeypatch, model, RefusedAtSource())
    assert (r["result"], r["reason"]["code"], r["reason"]["where"]) == ("unreachable", "NO_ROUTE", "dev/a"), r
    assert "refused to send it (refused at source: network unreachable (ENETUNREACH))" in r["reason"]["detail"]
    assert "mismatch" in r  # explain (the model) says reachable: the kernel lacks what the model has


def test_expectations_count_inconclusive_as_failed(tmp_path):
    case = {"from": "dev/a", "to": "dev/b", "proto": "icmp", "port": None, "expected": "reachable",
            "got": "inconclusive", "ok": False, "mismatch": None,
            "reason": {"code": None, "where": "dev", "table": None, "detail": "the packets cannot tell: ..."}}
    out = tmp_path / "j.xml"
    probing.junit({"lab": "ld", "passed": 0, "failed": 1, "cases": [case]}, str(out))
    f = ET.parse(out).getroot().find("testcase/failure")
    assert f.get("message") == "expected reachable, got inconclusive: the packets could not tell"
    assert f.text.startswith("the packets cannot tell")
