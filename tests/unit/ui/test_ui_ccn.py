"""The web view's CCN (issue 23), without a browser and without root: the state document carries
the CCN (status `ccns`, `ccn_routes`, the layout's CCN box joined to each attached VPC), every hop
a path or a capture names it by is a point of the picture, and the CCN actions call the same rows
of the one live-operations table as the CLI, refused with the cloud's code before any change."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

pytest.importorskip("aiohttp")

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from vpclab.state.rundir import RunDir  # noqa: E402
from vpclab.ui import guard, server  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests"))
from uikit import free_port, seed  # noqa: E402

TOKEN = "t0ken-for-ccn"
CCN_TOPO = ROOT / "topologies" / "08-ccn.yaml"


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    monkeypatch.setattr("vpclab.state.rundir.current", RunDir(tmp_path))
    return tmp_path


def _client(lab: str, fn):
    async def main():
        port = free_port()
        srv = TestServer(server.make_app(lab, TOKEN, port), host="127.0.0.1", port=port)
        async with TestClient(srv) as client:
            return await fn(client, port, {"Host": f"127.0.0.1:{port}", guard.HEADER: TOKEN})
    return asyncio.run(main())


def _overlap(a, b) -> bool:
    return a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]


def test_the_state_document_draws_the_ccn_joined_to_its_vpcs(run_dir):
    lab = seed(run_dir, CCN_TOPO, name="uiccn")
    doc = server.state_doc(lab)
    st, lay = doc["status"], doc["layout"]
    assert [c["id"] for c in st["ccns"]] == ["ccn-core"]
    (box,) = lay["ccns"]
    assert {a["vpc"]: a["state"] for a in box["attachments"]} == {
        "hub": "ACTIVE", "spoke-a": "ACTIVE", "spoke-b": "ACTIVE", "spoke-c": "ACTIVE", "partner": "PENDING"}
    assert "✗ 10.2.2.0/24@spoke-b disabled" in box["lines"]
    assert "ap-guangzhou ↔ ap-shanghai 100 Mbps" in box["lines"]
    # below every region, overlapping no VPC; the picture is tall enough to hold it
    assert all(not _overlap(box, v) for v in lay["vpcs"]) and all(box["y"] > r["y"] + r["h"] for r in lay["regions"])
    assert box["y"] + box["h"] <= lay["height"] and box["x"] + box["w"] <= lay["width"]
    # each line ends on the VPC's box and on the CCN's
    for a in box["attachments"]:
        assert box["y"] - 0.01 <= a["to"][1] <= box["y"] + box["h"] + 0.01
    # a path's CCN hop and the CCN routers' capture points are points of the picture
    for hop in ("ccn-core", "ccn-core (ap-guangzhou -> ap-shanghai)", "ccn-core (ap-shanghai -> ap-shanghai)",
                "ccn-core ap-guangzhou", "ccn-core ap-shanghai"):
        assert hop in lay["nodes"], hop
    # the routes panel's rows: the CCN's deliveries, disabled ones with why
    spoke_c = [r for r in st["routes"]
               if r["vpc"] == "spoke-c" and r["type"] == "CCN" and r["state"] == "disabled"]
    assert [r["destination"] for r in spoke_c] == ["10.0.2.0/24"] and spoke_c[0]["why"]


def test_ccn_actions_run_the_tables_rows_and_refuse_what_they_cannot_take(run_dir, monkeypatch):
    from vpclab.controller import operate
    from vpclab.model.ccn import Attachment

    lab = seed(run_dir, CCN_TOPO, name="uiccn2")
    calls = []

    def fake(lab_name, op, values, progress=None):
        calls.append((op.name, dict(values)))
        return Attachment(values["vpc"], "ACTIVE")

    monkeypatch.setattr(operate, "execute", fake)

    async def go(c, port, hdr):
        r = await c.post("/api/ccn/ccn-core/accept", json={"vpc": "partner", "as": "alice"}, headers=hdr)
        assert r.status == 200 and await r.json() == {"ccn": "ccn-core", "vpc": "partner", "state": "ACTIVE"}
        r = await c.post("/api/ccn/ccn-core/launch", json={"vpc": "partner"}, headers=hdr)
        assert (r.status, (await r.json())["error"]["code"]) == (400, "InvalidParameter")
        r = await c.post("/api/ccn/ccn-core/route-enable", json={}, headers=hdr)
        assert (r.status, (await r.json())["error"]["code"]) == (400, "MissingParameter")
        r = await c.post("/api/ccn/ccn-core/detach", json={"vpc": ["hub"]}, headers=hdr)
        assert (r.status, (await r.json())["error"]["code"]) == (400, "InvalidParameterValue")
        r = await c.post("/api/ccn/ccn-core/attach", json={"vpc": "peered"})  # no token: refused
        assert r.status in (401, 403)
    _client(lab, go)
    assert calls == [("ccn accept", {"ccn": "ccn-core", "vpc": "partner", "account": "alice"})]


def test_create_delete_and_bandwidth_run_the_tables_rows(run_dir, monkeypatch):
    """The web view has every CCN operation the CLI has (issue 23: create, delete and bandwidth
    too), each the same row of the one table, refused with the cloud's code."""
    from vpclab.controller import operate
    from vpclab.model.ccn import Ccn

    lab = seed(run_dir, CCN_TOPO, name="uiccn3")
    calls = []

    def fake(lab_name, op, values, progress=None):
        calls.append((op.name, dict(values)))
        c = Ccn(values.get("name") or values.get("ccn") or "ccn-new", values.get("account") or "alice")
        return c

    monkeypatch.setattr(operate, "execute", fake)

    async def go(c, port, hdr):
        r = await c.post("/api/ccn", json={"name": "ccn-two", "as": "alice"}, headers=hdr)
        assert r.status == 200 and await r.json() == {"ccn": "ccn-two", "account": "alice"}
        r = await c.post("/api/ccn/ccn-two/delete", json={"as": "alice"}, headers=hdr)
        assert r.status == 200 and (await r.json())["state"] == "deleted"
        r = await c.post("/api/ccn/ccn-core/bandwidth", json={"region": "ap-guangzhou", "dst_region": "ap-shanghai",
                                                             "rate": "200Mbps"}, headers=hdr)
        assert r.status == 200 and (await r.json())["regions"] == ["ap-guangzhou", "ap-shanghai"]
        r = await c.post("/api/ccn/ccn-core/bandwidth", json={"region": "ap-guangzhou", "dst_region": "ap-shanghai",
                                                             "rate": "fast"}, headers=hdr)
        assert (r.status, (await r.json())["error"]["code"]) == (400, "InvalidParameterValue")
        r = await c.post("/api/ccn/ccn-core/bandwidth", json={"region": "ap-guangzhou"}, headers=hdr)
        assert (r.status, (await r.json())["error"]["code"]) == (400, "MissingParameter")
    _client(lab, go)
    assert [n for n, _ in calls] == ["ccn create", "ccn delete", "ccn bandwidth"]
    assert calls[2][1]["bandwidth_kbps"] == 200_000
