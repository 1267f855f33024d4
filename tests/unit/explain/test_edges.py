"""Edges users hit: address ranges no kernel builds, expectations outside the lab,
absurd durations, refusals that name ids which never existed, self-probes."""
from __future__ import annotations

import pytest

from vpclab import explain as analyze
from vpclab.topology import load as loader
from vpclab.errors import Refused, TopologyInvalid
from vpclab.model import lifecycle
from vpclab.model.units import parse_bandwidth, parse_duration

BASE = """\
lab: edge
vpcs:
  vpc-a:
    region: r1
    cidr: {a}
    subnets: {{app: {{cidr: {sa}}}}}
    instances: {{cvm-1: {{subnet: app}}, cvm-2: {{subnet: app}}}}
  vpc-b:
    region: r1
    cidr: 10.1.0.0/16
    subnets: {{app: {{cidr: 10.1.1.0/24}}}}
    instances: {{cvm-1: {{subnet: app}}}}
{expect}"""


def topo(a="10.0.0.0/16", sa="10.0.1.0/24", expect=""):
    return BASE.format(a=a, sa=sa, expect=expect)


@pytest.mark.parametrize("cidr,sub", [("224.1.0.0/16", "224.1.1.0/24"), ("240.0.0.0/16", "240.0.1.0/24"),
                                      ("0.0.0.0/16", "0.0.1.0/24")])
def test_vpc_ranges_no_kernel_can_build_are_refused(cidr, sub):
    with pytest.raises(TopologyInvalid) as e:
        loader.loads(topo(cidr, sub), "t.yaml")
    p = e.value.problems[0]
    assert p.code == "InvalidParameterValue.VpcCidrReserved" and p.line == 3 and "inside reserved" in p.message


def test_a_cidr_containing_a_reserved_range_is_said_to_overlap_it():
    with pytest.raises(TopologyInvalid) as e:
        loader.loads(topo("0.0.0.0/1", "10.0.1.0/24"), "t.yaml")
    assert "0.0.0.0/1 overlaps reserved" in e.value.problems[0].message


def test_an_expectation_to_an_address_outside_the_lab_is_refused_at_validation():
    text = topo(expect="expect:\n  - {from: vpc-a/cvm-1, to: 8.8.8.8, result: unreachable}\n")
    with pytest.raises(TopologyInvalid) as e:
        loader.loads(text, "t.yaml")
    p = e.value.problems[0]
    assert p.line == 14 and p.code == "InvalidParameterValue" and "not inside any VPC" in p.message


def test_an_expectation_to_a_lab_address_is_fine():
    lab = loader.loads(topo(expect="expect:\n  - {from: vpc-a/cvm-1, to: 10.1.1.2}\n"), "t.yaml")
    assert lab.expectations[0].dst == "10.1.1.2"


@pytest.mark.parametrize("text", ["9" * 320 + "s", "101y", "36501d", "１d"])
def test_absurd_or_foreign_durations_are_refused(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_durations_up_to_a_century_work():
    assert parse_duration("8d") == 8 * 86400
    assert parse_duration("36500d") == 36500 * 86400


def test_fullwidth_digits_are_not_a_bandwidth():
    with pytest.raises(ValueError):
        parse_bandwidth("１００Mbps")


def test_a_refused_create_names_the_vpcs_not_an_id_that_never_existed():
    lab = loader.loads(topo(), "t.yaml")
    lifecycle.create(lab, "vpc-a", "vpc-b", name="pcx-ab")
    with pytest.raises(Refused) as e:
        lifecycle.create(lab, "vpc-b", "vpc-a")
    assert e.value.code == "UnsupportedOperation.VpcPeerAlreadyExist"
    assert "vpc-b -> vpc-a" in e.value.message and "pcx-" not in e.value.message.split(":")[0]
    assert list(lab.peerings) == ["pcx-ab"]


def test_overlapping_isolated_vpcs_never_reach_each_other():
    lab = loader.loads(topo().replace("10.1.0.0/16", "10.0.0.0/16").replace("10.1.1.0/24", "10.0.1.0/24"), "t.yaml")
    v = analyze.explain(lab, "vpc-a/cvm-2", "vpc-b/cvm-1")  # vpc-b/cvm-1 is 10.0.1.2, so is vpc-a/cvm-1
    assert v.result == "unreachable" and v.reason.code == "NO_ROUTE"
    assert "vpc-a/cvm-1" in v.reason.detail and "overlap" in v.reason.detail
    # a bare address means whoever holds it where the routes lead: here vpc-a's instance
    assert analyze.explain(lab, "vpc-a/cvm-2", "10.0.1.2").dst == "vpc-a/cvm-1"


def test_peering_numbers_of_terminal_peerings_are_reused():
    """The number picks the link /30 and rule priority; it must stay in range however
    many peerings come and go."""
    lab = loader.loads(topo(), "t.yaml")
    for i in range(50):
        p = lifecycle.create(lab, "vpc-a", "vpc-b", name=f"pcx-{i}")
        assert p.index == 0
        lifecycle.apply_event(lab, f"pcx-{i}", "delete")


def test_hashed_interface_names_that_collide_are_refused(monkeypatch):
    from vpclab.plan import names, planner

    lab = loader.loads(topo(), "t.yaml")
    monkeypatch.setattr(names, "instance_port", lambda L, inst: f"{L}-i-same")  # force a collision
    with pytest.raises(Refused) as e:
        planner.plan(lab)
    assert e.value.code == "InvalidParameterValue.NameCollision" and "edge-i-same" in e.value.message
