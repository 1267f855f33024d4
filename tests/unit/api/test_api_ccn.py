"""`api.Lab`'s CCN methods (issue 23): each runs its row of the one live-operations table with
the arguments in the table's order and returns its command's `--json` document; `routes()`
tells a CCN's delivered route from a table's own. No root: `operate.run` is replaced by one
that applies the model edit to a loaded model."""
from __future__ import annotations

from pathlib import Path

import pytest

from vpclab.api import lab as api
from vpclab.controller import operate, status
from vpclab.errors import Refused
from vpclab.topology import load as loader

TOPO = Path(__file__).resolve().parents[3] / "topologies" / "08-ccn.yaml"


@pytest.fixture
def model(monkeypatch):
    m = loader.load(str(TOPO))
    calls = []

    def run(lab, name, *args, **kw):
        op = operate.OPERATIONS[name]
        values = op.bind(args, kw)
        calls.append((lab, name, values))
        return op.edit(m, *values.values())

    monkeypatch.setattr(operate, "run", run)
    monkeypatch.setattr(status, "load_model", lambda lab: m)
    m.calls = calls
    return m


def test_each_ccn_method_runs_its_row_and_returns_the_json_document(model):
    lab = api.Lab("ccn")
    assert lab.ccn_accept("ccn-core", "partner", "alice") == {"ccn": "ccn-core", "vpc": "partner",
                                                              "state": "ACTIVE", "publish": "subnets"}
    assert model.calls[-1] == ("ccn", "ccn accept", {"ccn": "ccn-core", "vpc": "partner", "account": "alice"})
    doc = lab.ccn_route_enable("ccn-core", "10.2.2.0/24@spoke-b")
    assert (doc["route"], doc["state"], doc["why"]) == ("10.2.2.0/24@spoke-b", "enabled", None)
    assert doc["id"].startswith("ccnr-")
    doc = lab.ccn_route_disable("ccn-core", "10.1.1.0/24@spoke-a")
    assert doc["state"] == "disabled" and "owner" in doc["why"]
    assert lab.ccn_bandwidth("ccn-core", "ap-guangzhou", "ap-shanghai", "200Mbps")["bandwidth_mbps"] == 200
    assert model.calls[-1][2]["bandwidth_kbps"] == 200_000
    assert lab.ccn_bandwidth("ccn-core", "ap-shanghai", "ap-guangzhou", None)["bandwidth_mbps"] == 1000
    assert lab.ccn_detach("ccn-core", "spoke-c")["state"] == "DELETED"
    assert lab.ccn_create("ccn-edge")["id"] == "ccn-edge"
    assert lab.ccn_attach("ccn-edge", "spoke-c", publish="vpc-cidr") == {
        "ccn": "ccn-edge", "vpc": "spoke-c", "state": "ACTIVE", "publish": "vpc-cidr"}
    assert [c["id"] for c in lab.ccns()] == ["ccn-core", "ccn-edge"]
    assert [r["route"] for r in lab.ccn_routes("ccn-edge")] == ["10.0.2.0/24@spoke-c"]


def test_a_refusal_raises_with_the_clouds_code(model):
    lab = api.Lab("ccn")
    with pytest.raises(Refused) as e:
        lab.ccn_route_enable("ccn-core", "10.0.2.0/24@spoke-c")  # identical to hub's, enabled
    assert e.value.code == "UnsupportedOperation.CcnRouteCidrOverlap"
    with pytest.raises(Refused) as e:
        lab.ccn_accept("ccn-core", "partner", "bob")
    assert e.value.code == "UnauthorizedOperation"
    with pytest.raises(Refused) as e:
        lab.ccn_delete("ccn-core")
    assert e.value.code == "UnsupportedOperation.ExistCcnInstancesNotSupportDeleteCcn"


def test_routes_tell_a_delivered_route_from_the_tables_own(model):
    rows = api.Lab("ccn").routes("spoke-c")
    off = [r for r in rows if r.state == "disabled"]
    assert [(r.destination, r.next_hop, r.type) for r in off] == [("10.0.2.0/24", "ccn-core", "CCN")]
    assert off[0].why and "own CIDR" in off[0].why
    hub = api.Lab("ccn").routes("hub")
    assert {r.type for r in hub if r.next_hop == "pcx-hub-peered"} == {"USER"}
