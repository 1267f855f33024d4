"""`vpclab diff` names a CCN route or attachment as the cause of a verdict change (issue 23). A
CCN change reaches explain only through the routes the CCN delivers, which no table lists: the
diff must find the pairs it reaches, and say which route or attachment changed. Pure: two
models, no lab."""
from __future__ import annotations

from pathlib import Path

import pytest

from vpclab.explain import diff
from vpclab.topology import load as loader

TOPO = Path(__file__).resolve().parents[3] / "topologies" / "08-ccn.yaml"


def _load(tmp_path: Path, text: str, name: str):
    p = tmp_path / name
    p.write_text(text)
    return loader.load(str(p))


@pytest.fixture
def base():
    return TOPO.read_text()


def _changes(doc: dict) -> dict:
    return {(c["src"], c["dst"], c["proto"]): c for c in doc["changes"]}


def test_enabling_a_disabled_ccn_route_names_the_route(tmp_path, base):
    old = loader.load(str(TOPO))
    new = _load(tmp_path, base.replace("disabled_routes: [10.2.2.0/24@spoke-b]", "disabled_routes: []"), "new.yaml")
    ch = _changes(diff.diff(old, new))
    c = ch[("hub/cvm-1", "spoke-b/cvm-2", "icmp")]
    assert (c["old"]["result"], c["new"]["result"]) == ("unreachable", "reachable")
    ccn = [x for x in c["causes"] if x["kind"] == "ccn_route"]
    assert [(x["where"], x["route"]) for x in ccn] == [("ccn-core", "10.2.2.0/24@spoke-b")]
    assert "is enabled (was disabled)" in ccn[0]["detail"]
    # and the route hub's table gained from the CCN, with next hop the CCN
    assert any(x["kind"] == "route" and x["new"] == "10.2.2.0/24 via ccn-core" for x in c["causes"])
    # nothing about spoke-b's other subnet, nor the peered VPC, changed
    assert not any("peered/" in k[0] + k[1] for k in ch)
    assert ("hub/cvm-1", "spoke-b/cvm-1", "icmp") not in ch


def test_accepting_an_attachment_names_the_attachment(tmp_path, base):
    old = loader.load(str(TOPO))
    new = _load(tmp_path, base.replace("      - {vpc: partner}", "      - {vpc: partner, accepted: true}"), "acc.yaml")
    ch = _changes(diff.diff(old, new))
    c = ch[("hub/cvm-1", "partner/cvm-1", "icmp")]
    assert (c["old"]["result"], c["new"]["result"]) == ("unreachable", "reachable")
    att = [x for x in c["causes"] if x["kind"] == "ccn_attachment"]
    assert [(x["where"], x["vpc"], x["old"], x["new"]) for x in att] == [("ccn-core", "partner", "PENDING", "ACTIVE")]


def test_detaching_a_vpc_names_its_attachment_and_loses_its_pairs(tmp_path, base):
    old = loader.load(str(TOPO))
    new = _load(tmp_path, base.replace("      - {vpc: spoke-a}             # 10.1.1.0/24\n", ""), "det.yaml")
    doc = diff.diff(old, new)
    c = _changes(doc)[("hub/cvm-1", "spoke-a/cvm-1", "icmp")]
    assert (c["old"]["result"], c["new"]["result"]) == ("reachable", "unreachable")
    att = [x for x in c["causes"] if x["kind"] == "ccn_attachment"]
    assert att and att[0]["detail"] == "ccn-core: spoke-a is no longer attached (was ACTIVE)"
