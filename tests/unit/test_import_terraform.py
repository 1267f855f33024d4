"""`vpclab import terraform`: hand-written plan/state JSON (tests/fixtures/terraform/) -> topology.

The fixtures follow the documented `terraform show -json` format: `planned_values`
(root and child modules, count and for_each indexes) and `configuration` (references,
module calls with outputs and variables, provider configurations); `state.json` has
known ids and no configuration.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_cli import run

from vpclab import analyze, loader
from vpclab.errors import ImportInvalid, Refused
from vpclab.importers import terraform

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "terraform"


def convert(name: str):
    path = FIX / name
    return terraform.convert(terraform.read(str(path)), str(path))


def notes(r) -> dict:
    return {n.address: n.what for n in r.notes}


def test_full_plan_every_resource_modules_and_indexes():
    r = convert("full-plan.json")
    lab = loader.loads(r.text, "imported.yaml")
    assert set(lab.vpcs) == {"app", "db", "sgp", "partner-this"}  # partner-this: module.partner
    assert (lab.vpcs["sgp"].region, lab.vpcs["app"].region) == ("ap-singapore", "ap-guangzhou")
    assert lab.vpcs["partner-this"].account == "uin-100000000002" and lab.vpcs["app"].account == "default"
    assert lab.vpcs["app"].subnets["app-private"].route_table == "app-private"
    assert lab.vpcs["app"].subnets["app"].route_table == "default"  # via default_route_table_id
    assert {i.ref: str(i.ip) for i in lab.instances() if i.vpc != "app" or i.name != "batch"} == {
        "app/web-0": "10.0.1.10", "app/web-1": "10.0.1.11",  # count
        "db/db-primary": "10.1.1.20", "db/db-replica": "10.1.1.21",  # for_each
        "sgp/tokyo": "10.3.1.10", "partner-this/partner-this": "10.2.1.10"}
    p = lab.peerings
    assert (p["app-partner"].state, p["app-db"].state, p["app-sgp"].state) == ("ACTIVE", "ACTIVE", "ACTIVE")
    assert p["app-sgp"].bandwidth_kbps == 100_000 and p["app-db"].bandwidth_kbps is None
    # the partner module's route: next_hub = var.peering_id, the module call's argument
    assert [(str(x.destination), x.next_hop) for x in lab.vpcs["partner-this"].route_tables["default"].routes] == [
        ("10.0.0.0/16", "app-partner")]
    verdict = lambda s, d: analyze.explain(lab, s, d).result
    assert verdict("app/web-0", "db/db-primary") == "reachable"
    assert verdict("app/web-1", "partner-this/partner-this") == "reachable"
    assert verdict("app/batch", "sgp/tokyo") == "reachable"  # the private table routes to Singapore
    assert verdict("app/web-0", "sgp/tokyo") == "unreachable"  # the default table does not


def test_full_plan_lists_everything_it_did_not_carry():
    n = notes(convert("full-plan.json"))
    assert "not imported" in n["tencentcloud_security_group.web"]
    assert "not imported" in n["tencentcloud_eip_association.web"]
    assert "not modelled" in n["tencentcloud_cos_bucket.logs"]
    assert "next_type NAT" in n["tencentcloud_route_table_entry.app_internet"]
    assert "allocate_public_ip" in n["tencentcloud_instance.web[0]"]
    assert "tencentcloud_instance.web[1]" not in n
    assert "data source" in n["data.tencentcloud_availability_zones.all"]
    assert "regional peering" in n["tencentcloud_vpc_peer_connect_manager.app_db"]


def test_every_object_names_its_terraform_address():
    text = convert("full-plan.json").text
    assert "web-0: {subnet: app, ip: 10.0.1.10}  # tencentcloud_instance.web[0]" in text
    assert 'db-primary: {subnet: db, ip: 10.1.1.20}  # tencentcloud_instance.db["primary"]' in text
    assert "# module.partner.tencentcloud_route_table_entry.back" in text


def test_unknown_references_are_listed_and_what_hangs_on_them_too():
    r = convert("unknown-ref.json")
    n = notes(r)
    assert "tencentcloud_vpc.gone.id: no such resource" in n["tencentcloud_subnet.orphan"]
    assert "a data value" in n["tencentcloud_subnet.lookup"]
    assert "tencentcloud_subnet.orphan, which was not imported" in n["tencentcloud_instance.stray"]
    lab = loader.loads(r.text, "imported.yaml")
    assert [i.ref for i in lab.instances()] == ["main/app"] and set(lab.vpcs["main"].subnets) == {"app"}


def test_a_broken_cloud_rule_names_the_terraform_address():
    with pytest.raises(ImportInvalid) as e:
        convert("broken.json")
    lines = e.value.lines()
    src = str(FIX / "broken.json")
    assert f"{src}: tencentcloud_subnet.outside: InvalidParameterValue.SubnetRange: subnet a/outside 10.5.1.0/24 " \
           "is not inside the VPC CIDR 10.0.0.0/16" in lines
    assert any(l.startswith(f"{src}: tencentcloud_vpc_peer_connect_manager.ab: "
                            "UnsupportedOperation.VpcPeerCidrConflict") for l in lines)


def test_a_state_is_linked_by_ids():
    lab = loader.loads(convert("state.json").text, "imported.yaml")
    assert lab.vpcs["b"].subnets["b"].route_table == "b-private"
    assert [(str(x.destination), x.next_hop) for x in lab.vpcs["a"].route_tables["default"].routes] == [
        ("10.1.0.0/16", "ab")]
    assert analyze.explain(lab, "a/a", "b/b").result == "no-return"  # b routes nothing back


def test_cli_writes_a_file_that_validates_and_lists_notes_on_stderr(capsys, tmp_path):
    out = tmp_path / "lab.yaml"
    code, stdout, err = run(capsys, "import", "terraform", str(FIX / "full-plan.json"), "-o", str(out), "--lab", "demo")
    assert code == 0 and "lab demo, 4 VPCs, 7 instances, 3 peerings" in stdout
    assert "warning: tencentcloud_cos_bucket.logs:" in err
    code, stdout, _ = run(capsys, "validate", str(out))
    assert code == 0 and "ok: lab demo" in stdout


def test_cli_refusals(capsys, tmp_path):
    out = tmp_path / "lab.yaml"
    code, _, err = run(capsys, "import", "terraform", str(FIX / "broken.json"), "-o", str(out))
    assert code == 2 and "tencentcloud_subnet.outside: InvalidParameterValue.SubnetRange" in err
    assert not out.exists()
    bad = tmp_path / "plan.json"
    bad.write_text("{not json")
    code, _, err = run(capsys, "import", "terraform", str(bad))
    assert code == 2 and "InvalidParameter.JsonSyntax" in err
    bad.write_text(json.dumps({"format_version": "1.2"}))
    code, _, err = run(capsys, "import", "terraform", str(bad))
    assert code == 2 and "not the JSON of a Terraform plan or state" in err


def test_cli_json(capsys):
    code, out, _ = run(capsys, "import", "terraform", str(FIX / "unknown-ref.json"), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["vpcs"] == 1 and loader.loads(doc["topology"]).name == doc["lab"]
    assert {n["address"] for n in doc["notes"]} == {"tencentcloud_subnet.orphan", "tencentcloud_subnet.lookup",
                                                    "tencentcloud_instance.stray"}
