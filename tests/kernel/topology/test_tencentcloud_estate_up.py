"""The imported Tencent Cloud estate (tests/fixtures/tencentcloud/estate/main/) built for real:
the verdicts that the cloud's own objects imply hold with real packets, and every one agrees
with `explain` on the same model."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from labkit import lab_name, lab_namespaces, needs_root, run

pytestmark = needs_root
pytest.importorskip("tencentcloud.vpc.v20170312.models")

MAIN = Path(__file__).resolve().parents[2] / "fixtures" / "tencentcloud" / "estate" / "main"


def test_imported_estate_up_and_probed(tmp_path):
    lab = lab_name()
    net = tmp_path / "net.yaml"
    run("import", "tencentcloud", MAIN, "--region", "ap-guangzhou", "--lab", lab, "-o", net, check=0)
    try:
        run("up", net, check=0, timeout=300)
        cases = [  # (src, dst, proto, port, result, reason code)
            ("app-prod/app-1", "db-prod/db_primary", "tcp", 3306, "reachable", None),  # sg-db admits sg-app
            ("app-prod/web-web1c2d3", "db-prod/db_primary", "tcp", 3306, "unreachable", "SECURITY_GROUP_DENY"),
            ("hub/bastion", "app-prod/app-1", "icmp", None, "no-return", "NO_ROUTE"),  # its route is disabled
            ("vpc-dev4h6j8/dev-box", "hub/bastion", "icmp", None, "unreachable", "NO_ROUTE"),  # rejected peering
        ]
        for src, dst, proto, port, result, code in cases:
            args = ["-l", lab, "--proto", proto] + (["--port", str(port)] if port else [])
            got = run("probe", src, dst, *args, "--json", check=None)
            doc = json.loads(got.stdout)
            assert (doc["result"], (doc.get("reason") or {}).get("code")) == (result, code), (src, dst, got.stdout)
            model = json.loads(run("explain", src, dst, *args, "--json", check=None).stdout)
            assert model["result"] == doc["result"], (src, dst)
    finally:
        run("down", lab, timeout=120)
    assert lab_namespaces(lab) == []
