"""`vpclab import tencentcloud --live`, with the SDK's transport faked.

No request leaves the machine: `AbstractClient.call` (the one method every SDK client sends a
request through, and returns the raw `{"Response": ...}` body from) is monkeypatched to answer
from the hand-written fixtures (tests/fixtures/tencentcloud/estate/main/), serving at most 4
items a page as a server with a small page limit would, so the importer's paging is exercised.
Everything above the transport (the clients' methods, the request and response models) is the
real SDK.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_cli import one_json, run

pytest.importorskip("tencentcloud.vpc.v20170312.vpc_client")
from tencentcloud.common.abstract_client import AbstractClient  # noqa: E402
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException  # noqa: E402

MAIN = Path(__file__).resolve().parents[2] / "fixtures" / "tencentcloud" / "estate" / "main"
LIST_KEYS = {"VpcSet": "DescribeVpcs", "SubnetSet": "DescribeSubnets", "RouteTableSet": "DescribeRouteTables",
             "PeerConnectionSet": "DescribeVpcPeeringConnections", "SecurityGroupSet": "DescribeSecurityGroups",
             "NetworkAclSet": "DescribeNetworkAcls", "AddressSet": "DescribeAddresses",
             "NatGatewaySet": "DescribeNatGateways",
             "SourceIpTranslationNatRuleSet": "DescribeNatGatewaySourceIpTranslationNatRules",
             "InstanceSet": "DescribeInstances"}
SERVER_PAGE = 4


class FakeApi:
    """The fixtures as an API: action -> (list key, every item); per group, its policies."""

    def __init__(self):
        self.items, self.policies, self.requests = {}, {}, []
        for f in sorted(MAIN.rglob("*.json")):
            doc = json.loads(f.read_text())
            doc = doc.get("Response", doc)
            if "SecurityGroupPolicySet" in doc:
                self.policies[f.stem] = doc["SecurityGroupPolicySet"]
                continue
            key = next(k for k in LIST_KEYS if k in doc)
            self.items.setdefault(LIST_KEYS[key], (key, []))[1].extend(doc[key])

    def call(self, client, action, params, options=None, headers=None):
        self.requests.append((action, dict(params)))
        if action == "DescribeSecurityGroupPolicies":
            body = {"SecurityGroupPolicySet": self.policies.get(
                params["SecurityGroupId"], {"Version": "1", "Ingress": [], "Egress": []})}
        else:
            key, items = self.items.get(action, (None, []))
            if action == "DescribeNatGatewaySourceIpTranslationNatRules":
                items = [i for i in items if i["NatGatewayId"] == params["NatGatewayId"]]
            off, limit = int(params.get("Offset", 0)), int(params.get("Limit", 20))
            body = {key or "Set": items[off:off + min(limit, SERVER_PAGE)], "TotalCount": len(items)}
        body["RequestId"] = f"fake-{len(self.requests)}"
        return json.dumps({"Response": body})


@pytest.fixture
def api(monkeypatch):
    fake = FakeApi()
    monkeypatch.setattr(AbstractClient, "call", lambda self, *a, **k: fake.call(self, *a, **k))
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", "AKIDfake")
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "fake")
    return fake


def test_live_reads_every_page_and_gives_the_files_topology(capsys, api):
    """The live import (transport faked) equals the import of the saved files, line for line
    below the header, and it paged: DescribeInstances (6 items) in two requests of Limit 100."""
    code, live, err = run(capsys, "import", "tencentcloud", "--live", "--region", "ap-guangzhou", "--lab", "main")
    assert code == 0, err
    code, files, _ = run(capsys, "import", "tencentcloud", str(MAIN), "--region", "ap-guangzhou")
    assert code == 0
    assert live.split("\n", 1)[1] == files.split("\n", 1)[1]
    pages = [p for a, p in api.requests if a == "DescribeInstances"]
    assert [(p["Offset"], p["Limit"]) for p in pages] == [(0, 100), (4, 100)]
    vpcs = [p for a, p in api.requests if a == "DescribeVpcs"]
    assert vpcs == [{"Offset": "0", "Limit": "100"}]  # this call's Offset/Limit are strings in the API
    groups = sorted(p["SecurityGroupId"] for a, p in api.requests if a == "DescribeSecurityGroupPolicies")
    assert groups == ["sg-app4c5d6", "sg-db7e8f9g", "sg-mgt0h1i2", "sg-unu3j4k5", "sg-web1a2b3"]
    assert "DescribeInstances" not in err  # no page missing


def test_live_refusal_carries_the_cloud_code(capsys, monkeypatch, api):
    """The faked transport raises what the SDK raises for an API error."""
    def refuse(self, action, params, options=None, headers=None):
        raise TencentCloudSDKException("AuthFailure.SignatureFailure", "The provided credentials could not be "
                                       "validated", "fake-1")

    monkeypatch.setattr(AbstractClient, "call", refuse)
    code, out, _ = run(capsys, "import", "tencentcloud", "--live", "--region", "ap-guangzhou", "--json")
    err = one_json(out)["error"]
    assert code == 2 and err["code"] == "AuthFailure.SignatureFailure" and "DescribeVpcs" in err["message"]


def test_live_needs_credentials_and_a_region(capsys, monkeypatch):
    monkeypatch.delenv("TENCENTCLOUD_SECRET_ID", raising=False)
    monkeypatch.delenv("TENCENTCLOUD_SECRET_KEY", raising=False)
    code, _, err = run(capsys, "import", "tencentcloud", "--live", "--region", "ap-guangzhou")
    assert code == 2 and "AuthFailure.SecretIdNotFound" in err and "TENCENTCLOUD_SECRET_ID" in err
    code, _, err = run(capsys, "import", "tencentcloud", "--live")
    assert code == 2 and "--region" in err
