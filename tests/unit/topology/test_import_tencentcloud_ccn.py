"""`vpclab import tencentcloud` of CCNs: DescribeCcns, DescribeCcnAttachedInstances,
DescribeCcnRoutes and DescribeCcnRegionBandwidthLimits (the SDK's models parse them).

tests/fixtures/tencentcloud/ccn/ (hand-written from the SDK's model classes `CCN`,
`CcnAttachedInstance`, `CcnRoute`, `CcnRegionBandwidthLimit`) is the estate of
tests/fixtures/terraform/ccn-plan.json as the API shows it after apply: alice's folder (uin
100000000001; ap-guangzhou/ and ap-shanghai/) with the CCN `core` (ccn-core0001, attached in
AttachedTime order hub, spoke1, partner, pending, late, and a VPN gateway), its routes (late's
10.1.1.0/24 came in disabled: identical to spoke1's) and its gz<->sh limit of 200 Mbps (listed
both ways); bob's folder (uin 100000000002) with partner (ACTIVE) and pending (PENDING).
"""
from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import pytest
from test_cli import run

from vpclab import explain as analyze
from vpclab.topology import load as loader
from vpclab.topology.importers import terraform

pytest.importorskip("tencentcloud.vpc.v20170312.models")

FIX = Path(__file__).resolve().parents[2] / "fixtures"
ALICE, BOB = FIX / "tencentcloud" / "ccn" / "alice", FIX / "tencentcloud" / "ccn" / "bob"
ROUTES = "ap-guangzhou/ccn-core0001.routes.json"


def imported(capsys, *dirs):
    code, out, err = run(capsys, "import", "tencentcloud", *map(str, dirs))
    assert code == 0, err
    return out, err


def test_ccn_attachments_limits_and_user_ccn_route(capsys):
    text, err = imported(capsys, ALICE, BOB)
    lab = loader.loads(text, "net.yaml")
    assert lab.accounts == ["uin-100000000001", "uin-100000000002"]  # from InstanceUin and CcnUin
    c = lab.ccns["core"]
    assert c.account == "uin-100000000001"
    assert [(a.vpc, a.state) for a in c.attachments] == [
        ("hub", "ACTIVE"), ("spoke1", "ACTIVE"), ("partner", "ACTIVE"), ("pending", "PENDING"), ("late", "ACTIVE")]
    assert (c.limit_type, c.limits) == ("inter-region", {"ap-guangzhou/ap-shanghai": 200_000})
    assert (c.disabled, c.enabled) == ([], [])  # every route's state is the model's default
    # the USER_CCN route is written; the route the CCN delivered (GatewayType CCN) is the model's again
    assert [(str(r.destination), r.next_hop) for r in lab.vpcs["hub"].route_tables["default"].routes] == [
        ("10.9.0.0/16", "core")]
    assert "ccns:\n  core:  # ccn-core0001\n" in text
    assert "vpngw-a1b2c3d4: instance type VPNGW: vpclab attaches VPCs only (not imported)" in err
    assert "ccnr-r0000009: route to 192.168.0.0/16 via VPNGW" in err
    assert "--region" not in err  # every file is in a region's folder
    assert "CCN" not in err.replace("ccn-core0001", "")  # no "not in the topology format" note any more


def test_snapshot_and_terraform_give_the_same_verdicts(capsys):
    text, _ = imported(capsys, ALICE, BOB)
    snap = loader.loads(text, "net.yaml")
    tf = loader.loads(terraform.convert(json.loads((FIX / "terraform" / "ccn-plan.json").read_text()),
                                        "ccn-plan.json").text, "tf.yaml")
    refs = sorted(i.ref for i in snap.instances())
    assert refs == sorted(i.ref for i in tf.instances()) and len(refs) == 5
    assert {n: [(a.vpc, a.state) for a in c.attachments] for n, c in snap.ccns.items()} == \
        {n: [(a.vpc, a.state) for a in c.attachments] for n, c in tf.ccns.items()}
    seen = set()
    for a, b in itertools.permutations(refs, 2):
        x, y = analyze.explain(snap, a, b), analyze.explain(tf, a, b)
        assert (x.result, x.reason.code if x.reason else None, x.forward.path if x.forward else None) == \
            (y.result, y.reason.code if y.reason else None, y.forward.path if y.forward else None), (a, b)
        seen.add((x.result, x.reason.code if x.reason else None))
    # the estate shows each case: through the CCN, a disabled route, a pending attachment
    assert {("reachable", None), ("unreachable", "CCN_ROUTE_DISABLED"),
            ("unreachable", "CCN_ATTACHMENT_NOT_ACTIVE")} <= seen


def test_route_states_become_overrides(capsys, tmp_path):
    shutil.copytree(ALICE, tmp_path / "alice")
    f = tmp_path / "alice" / ROUTES
    doc = json.loads(f.read_text())
    for r in doc["RouteSet"]:  # the owner disabled spoke1's 10.1.1.0/24 and enabled late's
        if r["DestinationCidrBlock"] == "10.1.1.0/24":
            r["Enabled"] = r["InstanceName"] == "late"
    f.write_text(json.dumps(doc))
    text, _ = imported(capsys, tmp_path / "alice", BOB)
    lab = loader.loads(text, "net.yaml")
    assert (lab.ccns["core"].disabled, lab.ccns["core"].enabled) == (["10.1.1.0/24@spoke1"], ["10.1.1.0/24@late"])
    assert analyze.explain(lab, "hub/hub-app-1", "late/late-x-1").result == "reachable"
    v = analyze.explain(lab, "hub/hub-app-1", "spoke1/spoke1-app-1")
    assert v.reason.code == "CCN_ROUTE_DISABLED" and "disabled by the CCN's owner" in v.reason.detail


def test_routes_of_several_ccns_need_the_ccn_id_in_the_file_name(capsys, tmp_path):
    shutil.copytree(ALICE, tmp_path / "alice")
    ccns = tmp_path / "alice" / "ap-guangzhou" / "ccns.json"
    doc = json.loads(ccns.read_text())
    doc["CcnSet"].append(dict(doc["CcnSet"][0], CcnId="ccn-othr0002", CcnName="other"))
    ccns.write_text(json.dumps(doc))
    (tmp_path / "alice" / ROUTES).rename(tmp_path / "alice" / "ap-guangzhou" / "routes.json")
    _, err = imported(capsys, tmp_path / "alice", BOB)
    assert "DescribeCcnRoutes: DescribeCcnRoutes of no CCN" in err and "save it as CCN_ID.json" in err
    assert "ccn-othr0002: no VPC attachment in the snapshot" in err


def test_attachment_without_its_vpc_and_a_ccn_of_another_account(capsys):
    _, err = imported(capsys, ALICE)  # bob's folder missing: partner and pending are not in the snapshot
    assert "ccn-core0001 attachment vpc-ptn00001: the VPC is not in the snapshot" in err
    text, err = imported(capsys, BOB)  # alice's folder missing: bob's VPCs, no CCN
    assert "ccns:" not in text


class FakeCcnApi:
    """alice's ap-guangzhou files as the API (transport faked, as test_import_tencentcloud_live does):
    the CCN calls answer per CcnId, two items a page."""

    KEYS = {"VpcSet": "DescribeVpcs", "SubnetSet": "DescribeSubnets", "RouteTableSet": "DescribeRouteTables",
            "CcnSet": "DescribeCcns", "RouteSet": "DescribeCcnRoutes",
            "CcnRegionBandwidthLimitSet": "DescribeCcnRegionBandwidthLimits"}

    def __init__(self):
        self.items, self.requests = {}, []
        for f in sorted((ALICE / "ap-guangzhou").glob("*.json")):
            doc = json.loads(f.read_text())
            doc = doc.get("Response", doc)
            if "InstanceSet" in doc:
                action = "DescribeCcnAttachedInstances" if "CcnId" in doc["InstanceSet"][0] else "DescribeInstances"
                self.items[action] = ("InstanceSet", doc["InstanceSet"])
                continue
            key = next(k for k in self.KEYS if k in doc)
            self.items[self.KEYS[key]] = (key, doc[key])

    def call(self, client, action, params, options=None, headers=None):
        self.requests.append((action, dict(params)))
        key, items = self.items.get(action, ("Set", []))
        if action.startswith("DescribeCcn") and action != "DescribeCcns" and params.get("CcnId") != "ccn-core0001":
            items = []
        if action == "DescribeCcnRegionBandwidthLimits":
            body = {key: items}
        else:
            off, limit = int(params.get("Offset", 0)), int(params.get("Limit", 20))
            body = {key: items[off:off + min(limit, 2)], "TotalCount": len(items)}
        body["RequestId"] = f"fake-{len(self.requests)}"
        return json.dumps({"Response": body})


def test_live_reads_the_ccn_calls_per_ccn(capsys, monkeypatch):
    pytest.importorskip("tencentcloud.vpc.v20170312.vpc_client")
    from tencentcloud.common.abstract_client import AbstractClient

    fake = FakeCcnApi()
    monkeypatch.setattr(AbstractClient, "call", lambda self, *a, **k: fake.call(self, *a, **k))
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", "AKIDfake")
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "fake")
    code, text, err = run(capsys, "import", "tencentcloud", "--live", "--region", "ap-guangzhou", "--lab", "live")
    assert code == 0, err
    asked = {(a, p.get("CcnId"), p.get("Offset")) for a, p in fake.requests if a.startswith("DescribeCcn")}
    assert asked >= {("DescribeCcns", None, 0), ("DescribeCcnAttachedInstances", "ccn-core0001", 4),  # 6: 3 pages
                     ("DescribeCcnRoutes", "ccn-core0001", 4), ("DescribeCcnRegionBandwidthLimits", "ccn-core0001",
                                                                 None)}
    lab = loader.loads(text, "live.yaml")
    c = lab.ccns["core"]
    # only ap-guangzhou's VPCs were read: hub and late; without spoke1, late's 10.1.1.0/24 would come in
    # enabled, but the API says it is disabled: an override keeps the cloud's state
    assert [a.vpc for a in c.attachments] == ["hub", "late"] and c.disabled == ["10.1.1.0/24@late"]
    assert c.limits == {}  # ap-shanghai has no imported VPC: the limit is noted
    assert analyze.explain(lab, "hub/hub-app-1", "late/late-x-1").reason.code == "CCN_ROUTE_DISABLED"
