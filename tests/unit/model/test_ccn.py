"""CCN rules (CLOUD-RULES.md version 3): route validity by attach order, overrides, delivery
into route tables, quotas, the attachment lifecycle and its live edits, the state codec.

The expected values are worked out from the rules by hand, never read back from the code.
"""
from __future__ import annotations

import copy
import ipaddress

import pytest

from vpclab.errors import NotFound, Refused
from vpclab.model import ccn, ccn_ops, codec, lifecycle
from vpclab.model.types import ACTIVE, DELETED, EXPIRED, PENDING, REJECTED
from vpclab.topology.load import loads

DAY = 86400
NET = ipaddress.IPv4Network

BASE = """
lab: ccnt
accounts: [alice, bob]
vpcs:
  hub: {account: alice, region: gz, cidr: 10.0.0.0/16, subnets: {a: {cidr: 10.0.0.0/20}}}
  s1: {account: alice, region: sh, cidr: 10.1.0.0/16, subnets: {a: {cidr: 10.1.1.0/24}, b: {cidr: 10.1.2.0/24}}}
  s2: {account: alice, region: sh, cidr: 10.0.1.0/24, subnets: {a: {cidr: 10.0.1.0/24}}}
  s3: {account: alice, region: gz, cidr: 10.1.1.0/24, subnets: {a: {cidr: 10.1.1.0/24}}}
  p: {account: bob, region: sh, cidr: 10.3.0.0/16, subnets: {a: {cidr: 10.3.1.0/24}}}
"""


def lab_of(ccns: str, extra: str = ""):
    return loads(BASE + extra + "ccns:\n" + ccns)


def state(lab):
    return codec.lab_to_dict(lab)


def by_key(lab, name="ccn-core"):
    return {r.key: r for r in ccn.routes(lab, lab.ccns[name])}


# ---- route validity -------------------------------------------------------------------------


def test_first_attached_wins_identical_and_inclusive_routes():
    lab = lab_of("  ccn-core:\n    attachments: [{vpc: hub}, {vpc: s1}, {vpc: s2}, {vpc: s3}]\n")
    rs = by_key(lab)
    # hub 10.0.0.0/20 first; s2's 10.0.1.0/24 is inside it: disabled. s1's 10.1.1.0/24 before
    # s3's identical one: s3's disabled.
    assert rs["10.0.0.0/20@hub"].enabled and rs["10.1.1.0/24@s1"].enabled and rs["10.1.2.0/24@s1"].enabled
    assert not rs["10.0.1.0/24@s2"].enabled and "inside 10.0.0.0/20@hub" in rs["10.0.1.0/24@s2"].why
    assert not rs["10.1.1.0/24@s3"].enabled and "identical to 10.1.1.0/24@s1" in rs["10.1.1.0/24@s3"].why
    # reversed order: the other one wins
    lab = lab_of("  ccn-core:\n    attachments: [{vpc: s2}, {vpc: hub}]\n")
    rs = by_key(lab)
    assert rs["10.0.1.0/24@s2"].enabled and not rs["10.0.0.0/20@hub"].enabled
    assert "containing 10.0.1.0/24@s2" in rs["10.0.0.0/20@hub"].why


def test_publish_vpc_cidr_is_one_route():
    lab = lab_of("  ccn-core:\n    attachments: [{vpc: s1, publish: vpc-cidr}, {vpc: p, accepted: true}]\n")
    assert sorted(by_key(lab)) == ["10.1.0.0/16@s1", "10.3.1.0/24@p"]


def test_pending_and_rejected_attachments_publish_nothing():
    lab = lab_of("  ccn-core:\n    account: alice\n    attachments: [{vpc: hub}, {vpc: p}]\n")
    assert lab.ccns["ccn-core"].attachment("p").state == PENDING
    assert list(by_key(lab)) == ["10.0.0.0/20@hub"]
    assert ccn.delivered(lab, lab.vpcs["hub"], "default") == []


def test_overrides_enable_an_inclusive_route_and_disable_any():
    lab = lab_of("  ccn-core:\n    attachments: [{vpc: hub}, {vpc: s1}, {vpc: s2}]\n"
                 "    enabled_routes: [10.0.1.0/24@s2]\n    disabled_routes: [10.1.2.0/24@s1]\n")
    rs = by_key(lab)
    assert rs["10.0.1.0/24@s2"].enabled and rs["10.0.0.0/20@hub"].enabled
    assert not rs["10.1.2.0/24@s1"].enabled and rs["10.1.2.0/24@s1"].why == "disabled by the CCN's owner"
    # the longest prefix decides: 10.0.1.5 goes to s2, 10.0.2.5 to hub
    assert ccn.effective(rs.values(), ipaddress.IPv4Address("10.0.1.5")).vpc == "s2"
    assert ccn.effective(rs.values(), ipaddress.IPv4Address("10.0.2.5")).vpc == "hub"
    assert ccn.effective(rs.values(), ipaddress.IPv4Address("10.1.2.5")) is None


def test_enabling_an_identical_route_is_refused_in_a_file_and_live():
    with pytest.raises(Refused) as e:
        lab_of("  ccn-core:\n    attachments: [{vpc: s1}, {vpc: s3}]\n    enabled_routes: [10.1.1.0/24@s3]\n")
    assert "UnsupportedOperation.CcnRouteCidrOverlap" in str(e.value.lines())
    lab = lab_of("  ccn-core:\n    attachments: [{vpc: s1}, {vpc: s3}]\n")
    before = state(lab)
    with pytest.raises(Refused) as e:
        ccn_ops.enable_route(lab, "ccn-core", "10.1.1.0/24@s3")
    assert e.value.code == "UnsupportedOperation.CcnRouteCidrOverlap" and state(lab) == before
    # disable the first, then enabling the second works; enabling the first again is refused
    ccn_ops.disable_route(lab, "ccn-core", "10.1.1.0/24@s1")
    assert ccn_ops.enable_route(lab, "ccn-core", "10.1.1.0/24@s3").enabled
    with pytest.raises(Refused) as e:
        ccn_ops.enable_route(lab, "ccn-core", "10.1.1.0/24@s1")
    assert e.value.code == "UnsupportedOperation.CcnRouteCidrOverlap"


def test_route_edits_refuse_unknown_and_malformed_routes_and_other_accounts():
    lab = lab_of("  ccn-core:\n    attachments: [{vpc: hub}]\n")
    for key, code in (("10.9.0.0/24@hub", "ResourceNotFound"), ("10.0.0.1/16@hub", "InvalidParameterValue.Malformed"),
                      ("hub", "InvalidParameterValue.Malformed")):
        with pytest.raises(Refused) as e:
            ccn_ops.disable_route(lab, "ccn-core", key)
        assert e.value.code == code, key
    with pytest.raises(Refused) as e:
        ccn_ops.disable_route(lab, "ccn-core", "10.0.0.0/20@hub", account="bob")
    assert e.value.code == "UnauthorizedOperation"
    with pytest.raises(Refused) as e:
        lab_of("  ccn-core:\n    attachments: [{vpc: hub}]\n    disabled_routes: [10.0.9.0/24@hub]\n")
    assert e.value.code == "ResourceNotFound"


# ---- delivery into route tables -------------------------------------------------------------


def test_delivery_into_every_table_with_overlaps_disabled_there():
    extra = """peerings:
  pcx-1: {vpc: s1, peer_vpc: p}
"""
    lab = loads(BASE.replace("s1: {account: alice, region: sh, cidr: 10.1.0.0/16, subnets:",
                             "s1: {account: alice, region: sh, cidr: 10.1.0.0/16, route_tables: {default: {routes: "
                             "[{destination: 10.3.0.0/16, next_hop: pcx-1}]}, other: {}}, subnets:")
                .replace("bob, region: sh, cidr: 10.3.0.0/16", "alice, region: sh, cidr: 10.3.0.0/16")
                .replace("hub: {account: alice, region: gz, cidr: 10.0.0.0/16, subnets: {a: {cidr: 10.0.0.0/20}}}",
                         "hub: {account: alice, region: gz, cidr: 10.0.0.0/16, subnets: {a: {cidr: 10.0.0.0/20}, "
                         "b: {cidr: 10.0.16.0/20}}}")
                + extra + "ccns:\n  ccn-core:\n    attachments: [{vpc: s1}, {vpc: p}, {vpc: hub}]\n")
    s1 = lab.vpcs["s1"]
    got = {(str(d.destination), d.enabled) for d in ccn.delivered(lab, s1, "default")}
    # p's 10.3.1.0/24 is inside the peering route 10.3.0.0/16 already in s1/default: disabled there
    assert got == {("10.3.1.0/24", False), ("10.0.0.0/20", True), ("10.0.16.0/20", True)}
    got = {(str(d.destination), d.enabled) for d in ccn.delivered(lab, s1, "other")}
    assert got == {("10.3.1.0/24", True), ("10.0.0.0/20", True), ("10.0.16.0/20", True)}
    # a VPC's own routes never come back to it
    assert all(d.route.vpc != "hub" for d in ccn.delivered(lab, lab.vpcs["hub"], "default"))


def test_a_delivered_route_inside_the_own_cidr_is_disabled():
    # s2 (10.0.1.0/24) enabled over hub's 10.0.0.0/20: delivered into hub, it lies inside hub's
    # own CIDR 10.0.0.0/16, where the local route wins
    lab = lab_of("  ccn-core:\n    attachments: [{vpc: hub}, {vpc: s2}]\n    enabled_routes: [10.0.1.0/24@s2]\n")
    (d,) = ccn.delivered(lab, lab.vpcs["hub"], "default")
    assert d.destination == NET("10.0.1.0/24") and not d.enabled and "local route" in d.why


def test_user_route_equal_to_a_delivered_one_is_refused_live_only():
    lab = lab_of("  ccn-core:\n    attachments: [{vpc: hub}, {vpc: s1}]\n")
    with pytest.raises(Refused) as e:
        lifecycle.add_route(lab, "s1", "10.0.0.0/20", "ccn-core")
    assert e.value.code == "UnsupportedOperation.EcmpWithCcnRoute"
    # an inclusive USER_CCN route is allowed
    lifecycle.add_route(lab, "s1", "10.0.0.0/16", "ccn-core")
    # in a file the table's route was there first: allowed, and the CCN's is disabled there
    lab = loads(BASE.replace("cidr: 10.1.0.0/16, subnets:", "cidr: 10.1.0.0/16, route_tables: {default: {routes: "
                             "[{destination: 10.0.0.0/20, next_hop: ccn-core}]}}, subnets:")
                + "ccns:\n  ccn-core:\n    attachments: [{vpc: hub}, {vpc: s1}]\n")
    (d,) = ccn.delivered(lab, lab.vpcs["s1"], "default")
    assert not d.enabled and "via ccn-core" in d.why


def test_user_ccn_route_needs_the_vpc_on_that_ccn():
    with pytest.raises(Refused) as e:
        loads(BASE.replace("cidr: 10.1.0.0/16, subnets:", "cidr: 10.1.0.0/16, route_tables: {default: {routes: "
                           "[{destination: 10.0.0.0/20, next_hop: ccn-core}]}}, subnets:")
              + "ccns:\n  ccn-core:\n    attachments: [{vpc: hub}]\n")
    assert e.value.code == "InvalidParameterValue.RouteNextHopInvalid"


# ---- quotas and the attachment lifecycle ---------------------------------------------------


def test_quota_five_ccns_per_account():
    lab = lab_of("".join(f"  c{i}: {{account: alice}}\n" for i in range(5)))
    with pytest.raises(Refused) as e:
        ccn_ops.create(lab, "c5", "alice")
    assert e.value.code == "LimitExceeded"
    assert ccn_ops.create(lab, "c5", "bob").account == "bob"  # another account's quota
    with pytest.raises(Refused) as e:
        lab_of("".join(f"  c{i}: {{account: alice}}\n" for i in range(6)))
    assert e.value.code == "LimitExceeded"


def test_quota_twenty_five_attachments_per_ccn():
    vpcs = "".join(f"  v{i}: {{account: alice, region: gz, cidr: 10.{i}.0.0/16}}\n" for i in range(27))
    text = "lab: q\naccounts: [alice]\nvpcs:\n" + vpcs + "ccns:\n  c:\n    attachments: [" + ", ".join(
        f"{{vpc: v{i}}}" for i in range(25)) + "]\n"
    lab = loads(text)
    with pytest.raises(Refused) as e:
        ccn_ops.attach(lab, "c", "v25")
    assert e.value.code == "LimitExceeded"
    with pytest.raises(Refused) as e:
        loads(text.replace("{vpc: v24}]", "{vpc: v24}, {vpc: v25}]"))
    assert e.value.code == "LimitExceeded"


def test_one_ccn_per_vpc():
    lab = lab_of("  c1: {attachments: [{vpc: hub}]}\n  c2: {}\n")
    with pytest.raises(Refused) as e:
        ccn_ops.attach(lab, "c2", "hub")
    assert e.value.code == "UnsupportedOperation.CcnAttached"
    with pytest.raises(Refused) as e:
        ccn_ops.attach(lab, "c1", "hub")
    assert e.value.code == "UnsupportedOperation.CcnAttached"
    with pytest.raises(Refused) as e:
        lab_of("  c1: {attachments: [{vpc: hub}]}\n  c2: {attachments: [{vpc: hub}]}\n")
    assert e.value.code == "UnsupportedOperation.CcnAttached"


def test_cross_account_attach_accept_reject_expire_and_reapply():
    lab = lab_of("  ccn-core: {account: alice}\n")
    a = ccn_ops.attach(lab, "ccn-core", "hub")
    assert a.state == ACTIVE  # same account
    a = ccn_ops.attach(lab, "ccn-core", "p")  # bob's VPC asks (bob is p's account)
    assert a.state == PENDING
    for who in ("bob", "nobody"):
        with pytest.raises(Refused) as e:
            ccn_ops.accept(lab, "ccn-core", "p", account=who)
        assert e.value.code == "UnauthorizedOperation"
    with pytest.raises(Refused) as e:
        ccn_ops.accept(lab, "ccn-core", "hub")
    assert e.value.code == "UnsupportedOperation.NotPendingCcnInstance"
    with pytest.raises(Refused) as e:
        ccn_ops.accept(lab, "ccn-core", "s1")
    assert e.value.code == "UnsupportedOperation.CcnNotAttached"
    assert ccn_ops.reject(lab, "ccn-core", "p").state == REJECTED
    with pytest.raises(Refused) as e:
        ccn_ops.reject(lab, "ccn-core", "p")
    assert e.value.code == "UnsupportedOperation.NotPendingCcnInstance"
    assert ccn_ops.attach(lab, "ccn-core", "p").state == PENDING  # re-applied
    lifecycle.advance_clock(lab, 7 * DAY - 1)
    assert lab.ccns["ccn-core"].attachment("p").state == PENDING
    lifecycle.advance_clock(lab, 1)
    assert lab.ccns["ccn-core"].attachment("p").state == EXPIRED
    a = ccn_ops.attach(lab, "ccn-core", "p")
    assert a.state == PENDING and a.attached_at == 7 * DAY
    assert ccn_ops.accept(lab, "ccn-core", "p").state == ACTIVE
    assert [x.vpc for x in lab.ccns["ccn-core"].attachments] == ["hub", "p"]


def test_accept_puts_the_attachment_last_in_attach_order():
    # p's request is older than s3's attach; p publishes 10.3.1.0/24, no conflict; what matters is
    # the order: accepted after s1 attached, so s1 keeps an identical route... use s3 vs s1
    lab = lab_of("  ccn-core: {account: bob}\n")
    ccn_ops.attach(lab, "ccn-core", "s1")  # alice's VPC on bob's CCN: PENDING
    ccn_ops.attach(lab, "ccn-core", "p")  # bob's: ACTIVE
    ccn_ops.accept(lab, "ccn-core", "s1")
    assert [a.vpc for a in lab.ccns["ccn-core"].attachments] == ["p", "s1"]


def test_detach_removes_routes_and_overrides_and_delete_needs_no_attachments():
    lab = lab_of("  ccn-core:\n    attachments: [{vpc: hub}, {vpc: s2}]\n    enabled_routes: [10.0.1.0/24@s2]\n")
    with pytest.raises(Refused) as e:
        ccn_ops.delete(lab, "ccn-core")
    assert e.value.code == "UnsupportedOperation.ExistCcnInstancesNotSupportDeleteCcn"
    with pytest.raises(Refused) as e:
        ccn_ops.detach(lab, "ccn-core", "s2", account="bob")
    assert e.value.code == "UnauthorizedOperation"
    assert ccn_ops.detach(lab, "ccn-core", "s2").state == DELETED
    assert lab.ccns["ccn-core"].enabled == [] and list(by_key(lab)) == ["10.0.0.0/20@hub"]
    with pytest.raises(Refused) as e:
        ccn_ops.detach(lab, "ccn-core", "s2")
    assert e.value.code == "UnsupportedOperation.CcnNotAttached"
    ccn_ops.detach(lab, "ccn-core", "hub")
    ccn_ops.delete(lab, "ccn-core")
    assert lab.ccns == {}
    with pytest.raises(NotFound) as e:
        ccn_ops.delete(lab, "ccn-core")
    assert e.value.code == "ResourceNotFound"


def test_create_refuses_names_of_other_next_hops():
    lab = loads(BASE + "peerings:\n  pcx-1: {vpc: s1, peer_vpc: s2}\n")
    for name, code in (("pcx-1", "InvalidParameterValue.Duplicate"), ("bad name", "InvalidParameterValue")):
        with pytest.raises(Refused) as e:
            ccn_ops.create(lab, name)
        assert e.value.code == code
    assert ccn_ops.create(lab).name.startswith("ccn-")


# ---- bandwidth --------------------------------------------------------------------------------


def test_bandwidth_default_one_gbps_between_regions_uncapped_inside_one():
    lab = lab_of("  ccn-core: {attachments: [{vpc: hub}, {vpc: s1}]}\n")
    c = lab.ccns["ccn-core"]
    assert c.bandwidth_kbps("gz", "sh") == 1_000_000 and c.bandwidth_kbps("sh", "sh") is None
    ccn_ops.set_bandwidth(lab, "ccn-core", "sh", "gz", 200_000)
    assert c.bandwidth_kbps("gz", "sh") == 200_000 == c.bandwidth_kbps("sh", "gz")
    ccn_ops.set_bandwidth(lab, "ccn-core", "sh", "gz", None)
    assert c.bandwidth_kbps("gz", "sh") == 1_000_000
    for args, code in ((("gz", "gz", 1000), "InvalidParameterValue.Combination"),
                       (("gz", "mars", 1000), "ResourceNotFound"),
                       (("gz", "sh", 500), "InvalidParameterValue.BandwidthOutOfRange")):
        with pytest.raises(Refused) as e:
            ccn_ops.set_bandwidth(lab, "ccn-core", *args)
        assert e.value.code == code, args


def test_outer_region_limits_cap_each_region_outbound():
    lab = lab_of("  ccn-core:\n    bandwidth_limits: [{region: gz, bandwidth: 300Mbps}]\n")
    c = lab.ccns["ccn-core"]
    assert c.limit_type == ccn.OUTER
    assert c.bandwidth_kbps("gz", "sh") == 300_000 and c.bandwidth_kbps("sh", "gz") == 1_000_000
    with pytest.raises(Refused) as e:
        ccn_ops.set_bandwidth(lab, "ccn-core", "gz", "sh", 1000)
    assert e.value.code == "InvalidParameterValue.Combination"


# ---- the state codec --------------------------------------------------------------------------


def test_codec_round_trips_ccns_and_refuses_a_broken_one():
    lab = lab_of("  ccn-core:\n    account: alice\n    bandwidth_limits: [{regions: [gz, sh], bandwidth: 50Mbps}]\n"
                 "    attachments: [{vpc: hub}, {vpc: s2}, {vpc: p}]\n    enabled_routes: [10.0.1.0/24@s2]\n")
    d = codec.lab_to_dict(lab)
    back = codec.lab_from_dict(copy.deepcopy(d))
    assert back.ccns == lab.ccns and codec.lab_to_dict(back) == d
    assert "ccns" not in codec.lab_to_dict(loads(BASE))  # a lab without CCNs keeps its earlier form
    bad = copy.deepcopy(d)
    bad["ccns"][0]["attachments"][0]["vpc"] = "nope"
    with pytest.raises(codec.BadModel):
        codec.lab_from_dict(bad)
    bad = copy.deepcopy(d)
    bad["ccns"][0]["enabled"] = ["10.9.9.0/24@hub"]
    with pytest.raises(codec.BadModel, match="ResourceNotFound"):
        codec.lab_from_dict(bad)
