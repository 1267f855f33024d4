"""`vpclab import terraform` of CCN resources (CLI.md "Terraform import, version 2"):
`tencentcloud_ccn`, `_ccn_attachment` (`_v2`), `_ccn_bandwidth_limit`, the accept operation
`tencentcloud_ccn_instances_accept_attach`, and a route table entry with next_type USER_CCN.

tests/fixtures/terraform/ccn-plan.json (hand-written, the `terraform show -json` format): alice
(uin 100000000001; the default provider in ap-guangzhou, alias `sh` in ap-shanghai) owns the CCN
`core` and VPCs hub (gz), spoke1 (sh) and late (gz, subnet 10.1.1.0/24 identical to spoke1's);
bob (uin 100000000002, alias `bob`, ap-shanghai) attaches partner (accepted by alice's
accept_attach) and pending (no accept) with ccn_uin = alice's UIN; a VPNGW attachment; a
gz<->sh limit of 200 Mbps; hub's default table sends 10.9.0.0/16 to the CCN (USER_CCN).
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

from vpclab import explain as analyze
from vpclab.topology import load as loader
from vpclab.topology.importers import terraform

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "terraform" / "ccn-plan.json"


def doc() -> dict:
    return json.loads(FIX.read_text())


def imported(d=None):
    r = terraform.convert(d if d is not None else doc(), str(FIX))
    return r, loader.loads(r.text, "imported.yaml"), {n.address: n.what for n in r.notes}


def test_ccn_attachments_states_order_and_limit():
    r, lab, _ = imported()
    c = lab.ccns["core"]
    assert c.account == "uin-100000000001"  # the CCN's provider; ccn_uin of bob's attachments agrees
    assert [(a.vpc, a.state) for a in c.attachments] == [
        ("hub", "ACTIVE"), ("spoke1", "ACTIVE"), ("partner", "ACTIVE"),  # bob's, accepted by alice
        ("pending", "PENDING"), ("late", "ACTIVE")]  # bob's, no accept operation
    assert (c.limit_type, c.limits) == ("inter-region", {"ap-guangzhou/ap-shanghai": 200_000})
    assert lab.vpcs["partner"].account == "uin-100000000002"
    assert [(str(x.destination), x.next_hop) for x in lab.vpcs["hub"].route_tables["default"].routes] == [
        ("10.9.0.0/16", "core")]  # USER_CCN
    assert r.counts["ccns"] == 1
    assert "ccns:\n  core:  # tencentcloud_ccn.core\n" in r.text
    assert "      - {vpc: partner, accepted: true}  # tencentcloud_ccn_attachment.a3_partner\n" in r.text


def test_ccn_verdicts_of_the_imported_plan():
    _, lab, _ = imported()
    v = analyze.explain(lab, "hub/hub-app-1", "spoke1/spoke1-app-1")
    assert v.result == "reachable" and "core (ap-guangzhou -> ap-shanghai)" in v.forward.path
    assert analyze.explain(lab, "hub/hub-app-1", "partner/partner-app-1").result == "reachable"
    v = analyze.explain(lab, "hub/hub-app-1", "late/late-x-1")  # identical to spoke1's: came in disabled
    assert v.result == "unreachable" and v.reason.code == "CCN_ROUTE_DISABLED"
    v = analyze.explain(lab, "pending/pending-app-1", "hub/hub-app-1")
    assert v.result == "unreachable" and v.reason.code == "CCN_ATTACHMENT_NOT_ACTIVE"


def test_ccn_notes_name_what_was_not_carried():
    _, _, n = imported()
    assert n["tencentcloud_ccn_attachment.a9_vpngw"] == "instance_type VPNGW: vpclab attaches VPCs only (not imported)"
    assert "PENDING" in n["tencentcloud_ccn_attachment.a4_pending"]
    assert "address order" in n["tencentcloud_ccn_attachment.a5_late"]  # its order decides the conflict
    assert not any("not modelled" in w for a, w in n.items() if "ccn" in a)


def _resource(d, address):
    return next(r for r in d["planned_values"]["root_module"]["resources"] if r["address"] == address)


def _config(d, address):
    return next(r for r in d["configuration"]["root_module"]["resources"] if r["address"] == address)


def test_attached_time_orders_and_state_says_the_state():
    d = doc()
    times = {"a1_hub": "2026-01-03 10:00:00", "a2_spoke1": "2026-01-02 10:00:00",  # late before spoke1
             "a3_partner": "2026-01-04 10:00:00", "a4_pending": "2026-01-05 10:00:00",
             "a5_late": "2026-01-01 10:00:00", "a9_vpngw": "2026-01-06 10:00:00"}
    for name, t in times.items():
        _resource(d, f"tencentcloud_ccn_attachment.{name}")["values"]["attached_time"] = t
    _resource(d, "tencentcloud_ccn_attachment.a4_pending")["values"]["state"] = "REJECTED"
    _, lab, n = imported(d)
    c = lab.ccns["core"]
    assert [(a.vpc, a.state) for a in c.attachments] == [
        ("late", "ACTIVE"), ("spoke1", "ACTIVE"), ("hub", "ACTIVE"), ("partner", "ACTIVE"), ("pending", "REJECTED")]
    assert "tencentcloud_ccn_attachment.a5_late" not in n  # its order is known now
    # late attached first: its 10.1.1.0/24 is the enabled one, spoke1's came in disabled
    assert analyze.explain(lab, "hub/hub-app-1", "late/late-x-1").result == "reachable"
    assert analyze.explain(lab, "hub/hub-app-1", "spoke1/spoke1-app-1").reason.code == "CCN_ROUTE_DISABLED"


def test_outer_region_limit_and_a_mismatched_one():
    d = doc()
    ccn = _resource(d, "tencentcloud_ccn.core")
    ccn["values"]["bandwidth_limit_type"] = "OUTER_REGION_LIMIT"
    _, lab, n = imported(copy.deepcopy(d))
    assert lab.ccns["core"].limits == {}  # a pair on an outer-region CCN: not carried
    assert "bandwidth_limit_type is OUTER_REGION_LIMIT" in n["tencentcloud_ccn_bandwidth_limit.gz_sh"]
    lim = _resource(d, "tencentcloud_ccn_bandwidth_limit.gz_sh")
    del lim["values"]["dst_region"]
    lim["values"]["bandwidth_limit"] = 50
    _, lab, n = imported(d)
    assert (lab.ccns["core"].limit_type, lab.ccns["core"].limits) == ("outer-region", {"ap-guangzhou": 50_000})


def test_a_cross_account_attachment_gives_the_ccn_its_account_by_ccn_uin():
    d = doc()
    # the CCN moves to bob's provider configuration, which says no UIN: bob's attachments'
    # ccn_uin still names the CCN's account, and alice's VPCs are then the other account
    d["configuration"]["provider_config"]["tencentcloud.bob"]["expressions"].pop("assume_role")
    _config(d, "tencentcloud_ccn.core")["provider_config_key"] = "tencentcloud.bob"
    r, lab, n = imported(d)
    assert lab.ccns["core"].account == "uin-100000000001"
    # bob's VPCs are now in alice's account too (the one UIN): ACTIVE, and the accept has nothing to do
    assert {a.vpc: a.state for a in lab.ccns["core"].attachments}["pending"] == "ACTIVE"
    assert "nothing to be accepted" in n["tencentcloud_ccn_instances_accept_attach.partner"]


def test_cli_imports_the_ccn_plan(capsys, tmp_path):
    from test_cli import run
    out = tmp_path / "net.yaml"
    code, _, err = run(capsys, "import", "terraform", str(FIX), "-o", str(out))
    assert code == 0, err
    assert "tencentcloud_ccn_attachment.a9_vpngw: instance_type VPNGW" in err
    code, text, err = run(capsys, "validate", str(out))
    assert code == 0, text + err


def test_attachment_v2_reads_as_the_attachment():
    d = doc()
    for part in ("planned_values", "configuration"):
        for r in d[part]["root_module"]["resources"]:
            if r["type"] == "tencentcloud_ccn_attachment":
                r["type"] = "tencentcloud_ccn_attachment_v2"
                r["address"] = r["address"].replace("tencentcloud_ccn_attachment.", "tencentcloud_ccn_attachment_v2.")
    _, lab, n = imported(d)
    assert [(a.vpc, a.state) for a in lab.ccns["core"].attachments] == [
        ("hub", "ACTIVE"), ("spoke1", "ACTIVE"), ("partner", "ACTIVE"), ("pending", "PENDING"), ("late", "ACTIVE")]
    assert "instance_type VPNGW" in n["tencentcloud_ccn_attachment_v2.a9_vpngw"]
