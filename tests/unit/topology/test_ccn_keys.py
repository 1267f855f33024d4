"""The `ccns:` key (TOPOLOGY.md version 3): what it builds, and each problem at its line with its code."""
from __future__ import annotations

import pytest

from vpclab.errors import TopologyInvalid
from vpclab.model.types import ACTIVE, PENDING, REJECTED
from vpclab.topology.load import loads
from vpclab.topology.schema import schema

HEAD = """lab: ccnk
accounts: [alice, bob]
vpcs:
  hub: {account: alice, region: gz, cidr: 10.0.0.0/16, subnets: {a: {cidr: 10.0.1.0/24}}}
  s1: {account: alice, region: sh, cidr: 10.1.0.0/16, subnets: {a: {cidr: 10.1.1.0/24}}}
  p: {account: bob, region: sh, cidr: 10.3.0.0/16, subnets: {a: {cidr: 10.3.1.0/24}}}
  q: {account: bob, region: sh, cidr: 10.4.0.0/16}
ccns:
"""  # the CCN starts at line 9


def problems(body: str):
    with pytest.raises(TopologyInvalid) as e:
        loads(HEAD + body, "t.yaml")
    return [(p.line, p.code) for p in e.value.problems]


def test_a_ccn_builds_its_attachments_in_order_with_their_states():
    lab = loads(HEAD + """  ccn-core:
    account: alice
    bandwidth_limits: [{regions: [sh, gz], bandwidth: 200Mbps}]
    attachments:
      - {vpc: s1}
      - {vpc: hub, publish: vpc-cidr}
      - {vpc: p, accepted: true}
      - {vpc: q, rejected: yes}
""")
    c = lab.ccns["ccn-core"]
    assert [(a.vpc, a.state, a.publish) for a in c.attachments] == [
        ("s1", ACTIVE, "subnets"), ("hub", ACTIVE, "vpc-cidr"), ("p", ACTIVE, "subnets"), ("q", REJECTED, "subnets")]
    assert c.limits == {"gz/sh": 200_000} and c.limit_type == "inter-region"
    assert loads(HEAD + "  c: {attachments: [{vpc: p}]}\n").ccns["c"].attachment("p").state == PENDING
    assert loads(HEAD + "  c: {account: bob}\n").ccns["c"].account == "bob"
    assert loads(HEAD + "  c:\n").ccns["c"].account == "alice"  # the first account


@pytest.mark.parametrize("body, want", [
    ("  c: {attachments: [{vpc: p, accepted: true, rejected: true}]}\n", (9, "InvalidParameterValue.Combination")),
    ("  c: {attachments: [{vpc: hub, rejected: true}]}\n", (9, "UnsupportedOperation.NotPendingCcnInstance")),
    ("  c: {attachments: [{vpc: nope}]}\n", (9, "ResourceNotFound")),
    ("  c: {attachments: [{vpc: hub}, {vpc: hub}]}\n", (9, "InvalidParameterValue.Duplicate")),
    ("  c: {attachments: [{vpc: hub, publish: all}]}\n", (9, "InvalidParameterValue")),
    ("  c: {attachments: [{vpc: hub, colour: red}]}\n", (9, "UnknownParameter")),
    ("  c: {attachments: [{publish: subnets}]}\n", (9, "MissingParameter")),
    ("  c: {attachments: [{vpc: hub, accepted: maybe}]}\n", (9, "InvalidParameter")),
    ("  c: {account: carol}\n", (9, "ResourceNotFound")),
    ("  c: {attachments: {vpc: hub}}\n", (9, "InvalidParameter")),
    ("  c:\n    bandwidth_limits:\n      - {regions: [gz, sh], bandwidth: 1Gbps}\n"
     "      - {region: gz, bandwidth: 1Gbps}\n",
     (12, "InvalidParameterValue.Combination")),
    ("  c:\n    bandwidth_limits:\n      - {regions: [gz, sh], bandwidth: 1Gbps}\n"
     "      - {regions: [sh, gz], bandwidth: 2Gbps}\n",
     (12, "InvalidParameterValue.Duplicate")),
    ("  c:\n    bandwidth_limits: [{bandwidth: 1Gbps}]\n", (10, "MissingParameter")),
    ("  c:\n    bandwidth_limits: [{regions: [gz, sh], bandwidth: 20Gbps}]\n",
     (10, "InvalidParameterValue.BandwidthOutOfRange")),
    ("  c:\n    bandwidth_limits: [{regions: [gz, gz], bandwidth: 1Gbps}]\n",
     (10, "InvalidParameterValue.Combination")),
    ("  c:\n    bandwidth_limits: [{regions: [gz, mars], bandwidth: 1Gbps}]\n", (10, "ResourceNotFound")),
    ("  c:\n    attachments: [{vpc: hub}]\n    disabled_routes:\n      - 10.0.1.0/24@hub\n"
     "      - 10.0.9.0/24@hub\n",
     (13, "ResourceNotFound")),
    ("  c:\n    attachments: [{vpc: hub}]\n    disabled_routes: [10.0.1.0/24@hub]\n"
     "    enabled_routes: [10.0.1.0/24@hub]\n",
     (12, "InvalidParameterValue.Combination")),
    ("  c:\n    attachments: [{vpc: hub}]\n    disabled_routes: [10.0.1.0/24@hub, 10.0.1.0/24@hub]\n",
     (11, "InvalidParameterValue.Duplicate")),
    ("  c:\n    disabled_routes: [10.0.1.0/24]\n", (10, "InvalidParameterValue.Malformed")),
    ("  pcx-1: {}\npeerings:\n  pcx-1: {vpc: p, peer_vpc: q}\n", (9, "InvalidParameterValue.Duplicate")),
    ("  bad name: {}\n", (9, "InvalidParameterValue")),
])
def test_each_problem_at_its_line_with_its_code(body, want):
    assert want in problems(body)


def test_schema_describes_ccns():
    s = schema()
    assert "ccns" in s["$defs"]["top"]["properties"]
    assert s["$defs"]["ccn_attachment"]["required"] == ["vpc"]
    assert set(s["$defs"]["ccn"]["properties"]) == {"account", "attachments", "bandwidth_limits", "disabled_routes",
                                                    "enabled_routes"}
