"""`vpclab import terraform` of a platform team's plan (issue 21, items 1-6).

tests/fixtures/terraform/platform-plan.json is written by hand from the tencentcloud provider's
docs (website/docs/r/*.html.markdown) as `terraform show -json` writes a plan: 61 resources, four
VPCs in two accounts (the partner's provider assumes a role in 100000000002), a `count` module
(`web_server`) and a `for_each` module (`hub_spoke`), security groups with rule sets and a lite
rule, an ACL with its attachment, EIPs with associations, a NAT gateway with its SNAT rule and a
NAT route, two same-account peerings, a cross-account one with its accept operation and one the
partner rejected.
"""
from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import pytest
from test_cli import run

from vpclab import explain as analyze
from vpclab.errors import TopologyInvalid
from vpclab.topology import load as loader
from vpclab.topology.importers import terraform

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "terraform"
PLAN = FIX / "platform-plan.json"
APP, DB, EDGE, PARTNER = "hub-spoke-app", "hub-spoke-db", "edge", "partner"


def doc() -> dict:
    return json.loads(PLAN.read_text())


def convert(d=None, source=str(PLAN)):
    return terraform.convert(copy.deepcopy(d) if d is not None else doc(), source, lab="plat")


def notes(r) -> dict:
    out = {}
    for n in r.notes:
        out.setdefault(n.address, []).append(n.what)
    return {k: " | ".join(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def imported():
    r = convert()
    return r, loader.loads(r.text, "plat.yaml")


def verdict(lab, src, dst, proto="icmp", port=None):
    v = analyze.explain(lab, src, dst, proto, port)
    return v.result, (v.reason.code if v.reason else None), (v.reason.detail if v.reason else "")


# ---- the whole plan ---------------------------------------------------------------------------


def test_the_platform_plan_imports_to_a_topology_that_validates(capsys, tmp_path):
    assert sum(len(m["resources"]) for m in [doc()["planned_values"]["root_module"]]
               + doc()["planned_values"]["root_module"]["child_modules"]) == 61
    out = tmp_path / "net.yaml"
    code, stdout, err = run(capsys, "import", "terraform", str(PLAN), "-o", str(out), "--lab", "plat")
    assert code == 0 and "lab plat, 4 VPCs, 7 instances, 4 peerings" in stdout, err
    code, stdout, err = run(capsys, "validate", str(out))
    assert code == 0 and "ok: lab plat" in stdout, err


# ---- 1. accounts -------------------------------------------------------------------------------


def test_every_vpc_is_in_its_providers_account_and_a_same_account_peering_is_active(imported):
    r, lab = imported
    assert {v.name: v.account for v in lab.vpcs.values()} == {
        APP: "uin-100000000001", DB: "uin-100000000001", EDGE: "uin-100000000001", PARTNER: "uin-100000000002"}
    assert lab.accounts == ["uin-100000000001", "uin-100000000002"]  # no `default` beside them
    assert "accepted" not in r.text.split("app-db:")[1].splitlines()[0]
    assert lab.peerings["app-db"].state == "ACTIVE" and lab.peerings["edge-app"].state == "ACTIVE"
    assert verdict(lab, f"{APP}/web-server-0", f"{DB}/db-primary", "tcp", 3306)[0] == "reachable"


def _two_providers(uin_a=None, uin_b=None):
    vpc = lambda n, cidr: {"address": f"tencentcloud_vpc.{n}", "mode": "managed", "type": "tencentcloud_vpc",
                           "name": n, "values": {"cidr_block": cidr}}
    conf = lambda n, key: {"address": f"tencentcloud_vpc.{n}", "mode": "managed", "type": "tencentcloud_vpc",
                           "name": n, "provider_config_key": key, "expressions": {}}
    providers = {"tencentcloud": {"name": "tencentcloud", "expressions": {"region": {"constant_value": "r1"}}},
                 "tencentcloud.ops": {"name": "tencentcloud", "alias": "ops",
                                      "expressions": {"region": {"constant_value": "r1"}}}}
    for key, uin in (("tencentcloud", uin_a), ("tencentcloud.ops", uin_b)):
        if uin:
            providers[key]["expressions"]["assume_role"] = [
                {"role_arn": {"constant_value": f"qcs::cam::uin/{uin}:roleName/admin"}}]
    return {"planned_values": {"root_module": {"resources": [vpc("a", "10.0.0.0/16"), vpc("b", "10.1.0.0/16")]}},
            "configuration": {"provider_config": providers, "root_module": {
                "resources": [conf("a", "tencentcloud"), conf("b", "tencentcloud.ops")]}}}


def test_an_account_the_plan_cannot_tell_is_noted_and_a_known_one_is_named_by_its_uin():
    r = convert(_two_providers())
    lab = loader.loads(r.text)
    assert (lab.vpcs["a"].account, lab.vpcs["b"].account) == ("default", "ops")
    assert "its account is not in the plan" in notes(r)["provider tencentcloud.ops"]
    r = convert(_two_providers("100000000007", "100000000007"))  # one account, two configurations
    lab = loader.loads(r.text)
    assert lab.accounts == ["uin-100000000007"] and not any("account" in n.what for n in r.notes)


def test_a_state_without_configuration_takes_accounts_from_user_info_and_destination_uins():
    def res(t, name, values, mode="managed"):
        return {"address": ("data." if mode == "data" else "") + f"{t}.{name}", "mode": mode, "type": t,
                "name": name, "values": values}
    state = {"values": {"root_module": {"resources": [
        res("tencentcloud_user_info", "me", {"owner_uin": "100000000001"}, mode="data"),
        *[res("tencentcloud_vpc", n, {"id": f"vpc-{n}", "cidr_block": f"10.{i}.0.0/16",
                                      "default_route_table_id": f"rtb-{n}"}) for i, n in enumerate("abc")],
        res("tencentcloud_vpc_peer_connect_manager", "ab", {"id": "pcx-ab", "source_vpc_id": "vpc-a",
                                                            "destination_vpc_id": "vpc-b",
                                                            "destination_uin": "100000000001"}),
        res("tencentcloud_vpc_peer_connect_manager", "ac", {"id": "pcx-ac", "source_vpc_id": "vpc-a",
                                                            "destination_vpc_id": "vpc-c",
                                                            "destination_uin": "100000000002"}),
        res("tencentcloud_vpc_peer_connect_accept_operation", "ac",
            {"id": "pcx-ac", "peering_connection_id": "pcx-ac"}),
        res("tencentcloud_route_table_entry", "a_c",
            {"route_table_id": "rtb-a", "destination_cidr_block": "10.2.0.0/16", "next_type": "PEERCONNECTION",
             "next_hub": "pcx-ac"}),
    ]}}}
    r = convert(state)
    lab = loader.loads(r.text)
    assert {v.name: v.account for v in lab.vpcs.values()} == {
        "a": "uin-100000000001", "b": "uin-100000000001", "c": "uin-100000000002"}
    assert (lab.peerings["ab"].state, lab.peerings["ac"].state) == ("ACTIVE", "ACTIVE")
    assert "accepted: true" in r.text.split("\n  ac:")[1].splitlines()[0]
    assert [x.next_hop for x in lab.vpcs["a"].route_tables["default"].routes] == ["ac"]


# ---- 2. accept / reject operations carry the peering's id ----------------------------------------


def _applied(d: dict) -> dict:
    """The plan after an apply: ids are known, and the accept operation's id is the peering's (the
    provider's choice); routes and the operation name the peering by that id."""
    d = copy.deepcopy(d)
    pcx = "pcx-1a2b3c4d"
    for r in d["planned_values"]["root_module"]["resources"]:
        if r["address"] == "tencentcloud_vpc_peer_connect_manager.app_partner":
            r["values"]["id"] = pcx
        if r["address"] == "tencentcloud_vpc_peer_connect_accept_operation.app_partner":
            r["values"].update(id=pcx, peering_connection_id=pcx)
        if r["address"] in ("tencentcloud_route_table_entry.app_to_partner",
                            "tencentcloud_route_table_entry.partner_to_app"):
            r["values"]["next_hub"] = pcx
    return d


def test_an_accept_operation_with_the_peerings_id_leaves_it_accepted_with_its_routes():
    r = convert(_applied(doc()))
    lab = loader.loads(r.text)
    assert lab.peerings["app-partner"].state == "ACTIVE"
    routes = {(v.name, str(x.destination)): x.next_hop for v in lab.vpcs.values()
              for t in v.route_tables.values() for x in t.routes}
    assert routes[(APP, "10.40.0.0/16")] == "app-partner" and routes[(PARTNER, "10.10.0.0/16")] == "app-partner"
    assert not [n for n in r.notes if "unresolved" in n.what]
    assert verdict(lab, f"{APP}/web-server-1", f"{PARTNER}/partner-api", "tcp", 443)[0] == "reachable"


# ---- 3. filters ---------------------------------------------------------------------------------


def test_security_groups_acls_eips_and_nat_are_imported(imported):
    r, lab = imported
    app, db, edge = lab.vpcs[APP], lab.vpcs[DB], lab.vpcs[EDGE]
    web = app.security_groups["web"]
    assert [(x.proto, x.port_text(), x.peer, x.action) for x in web.ingress] == [
        ("tcp", "443", "0.0.0.0/0", "accept"), ("tcp", "22", "10.30.1.0/24", "accept"),
        ("all", "all", "web", "accept"), ("icmp", "all", "10.0.0.0/8", "accept"), ("all", "all", "0.0.0.0/0", "drop")]
    # a lite rule's `80,443` is one rule per port
    assert [(x.proto, x.port_text()) for x in edge.security_groups["worker"].egress] == [
        ("tcp", "80"), ("tcp", "443"), ("icmp", "all")]
    assert app.instances["web-server-0"].security_groups == ["web"]
    assert db.network_acls["db"].subnets == [DB] and len(db.network_acls["db"].inbound) == 3
    assert edge.nat_gateways["edge-nat"].eip in lab.internet.cidr
    assert [(str(x.destination), x.next_hop) for x in edge.route_tables["edge-private"].routes] == [
        ("0.0.0.0/0", "edge-nat")]
    eips = [i.eip for v in lab.vpcs.values() for i in v.instances.values() if i.eip is not None]
    assert len(eips) == 3 and len(set(eips)) == 3 and all(ip in lab.internet.cidr for ip in eips)
    assert verdict(lab, f"{APP}/web-server-0", f"{DB}/db-primary", "tcp", 22)[1] == "NETWORK_ACL_DENY"
    assert verdict(lab, f"{EDGE}/bastion", f"{APP}/web-server-0", "tcp", 22)[0] == "reachable"
    assert verdict(lab, f"{EDGE}/bastion", f"{APP}/web-server-0", "tcp", 80)[1] == "SECURITY_GROUP_DENY"


def test_groups_through_a_module_argument_and_a_cvm_attachment_keep_their_order():
    d = doc()
    call = d["configuration"]["root_module"]["module_calls"]["web_server"]
    call["expressions"]["security_group_ids"] = {"references": [
        "tencentcloud_security_group.web.id", "tencentcloud_security_group.web",
        "tencentcloud_security_group.bastion.id", "tencentcloud_security_group.bastion"]}
    d["planned_values"]["root_module"]["resources"].append({
        "address": "tencentcloud_cvm_security_group_attachment.db_ops", "mode": "managed",
        "type": "tencentcloud_cvm_security_group_attachment", "name": "db_ops", "values": {}})
    d["configuration"]["root_module"]["resources"].append({
        "address": "tencentcloud_cvm_security_group_attachment.db_ops", "mode": "managed",
        "type": "tencentcloud_cvm_security_group_attachment", "name": "db_ops", "provider_config_key": "tencentcloud",
        "expressions": {"instance_id": {"references": ['tencentcloud_instance.db["primary"].id']},
                        "security_group_id": {"references": ["tencentcloud_security_group.worker.id"]}}})
    r = convert(d)
    lab = loader.loads(r.text)
    assert lab.vpcs[APP].instances["web-server-1"].security_groups == ["web", "bastion"]
    assert lab.vpcs[DB].instances["db-primary"].security_groups == ["db", "worker"]
    assert lab.vpcs[DB].instances["db-replica"].security_groups == ["db"]
    assert "tencentcloud_cvm_security_group_attachment.db_ops" not in notes(r)


def test_what_cannot_be_mapped_is_a_note_naming_its_address(imported):
    r, _ = imported
    n = notes(r)
    assert "ipv6_cidr_block is not modelled" in n["tencentcloud_security_group_rule_set.web"]
    assert "address_template_id is not modelled" in n["tencentcloud_security_group_rule_set.partner_api"]
    assert "next_type EIP" in n["tencentcloud_route_table_entry.edge_public_eip"]
    assert "not associated" in n["tencentcloud_eip.spare"]
    assert "not modelled by vpclab" in n["tencentcloud_clb_instance.public"]
    assert not any("format yet" in x for x in n.values())
    for addr in ("tencentcloud_security_group.web", "tencentcloud_vpc_acl.db", "tencentcloud_nat_gateway_snat"
                 ".edge_private", "tencentcloud_eip_association.bastion", 'module.web_server[0].tencentcloud_eip.this'):
        assert addr not in n, n.get(addr)  # imported in full


# ---- 4. names from addresses, unique, the same bytes every time ---------------------------------


def test_names_come_from_addresses_with_count_index_and_for_each_key(imported):
    r, lab = imported
    assert set(lab.vpcs) == {APP, DB, EDGE, PARTNER}  # module.hub_spoke["app"]...this -> hub-spoke-app
    assert set(lab.vpcs[APP].instances) == {"web-server-0", "web-server-1"}  # module.web_server[1]...this
    assert set(lab.vpcs[DB].instances) == {"db-primary", "db-replica"}
    # the NAT gateway `edge` beside the VPC `edge`: the gateway's name gets its kind, and a note
    assert "named edge-nat" in notes(r)["tencentcloud_nat_gateway.edge"]


def test_a_growing_count_renames_nothing():
    d = doc()
    mods = d["planned_values"]["root_module"]["child_modules"]
    two = next(m for m in mods if m["address"] == "module.web_server[1]")
    three = json.loads(json.dumps(two).replace("module.web_server[1]", "module.web_server[2]")
                       .replace("10.10.1.11", "10.10.1.12").replace('"web-1"', '"web-2"'))
    mods.append(three)
    before = loader.loads(convert().text).vpcs[APP].instances
    after = loader.loads(convert(d).text).vpcs[APP].instances
    assert set(after) == set(before) | {"web-server-2"}
    assert all(str(after[k].ip) == str(before[k].ip) and after[k].eip == before[k].eip for k in before)


def test_a_name_clash_is_resolved_from_the_addresses_and_noted():
    d = _two_providers()
    res = d["planned_values"]["root_module"]["resources"]
    sub = {"address": "tencentcloud_subnet.s", "mode": "managed", "type": "tencentcloud_subnet", "name": "s",
           "values": {"cidr_block": "10.0.1.0/24", "vpc_id": "vpc-a"}}
    res[0]["values"]["id"] = "vpc-a"
    res.append(sub)
    for addr, name, index, ip in (("tencentcloud_instance.web_1", "web_1", None, "10.0.1.10"),
                                  ("tencentcloud_instance.web[1]", "web", 1, "10.0.1.11")):
        res.append({"address": addr, "mode": "managed", "type": "tencentcloud_instance", "name": name,
                    **({"index": index} if index is not None else {}),
                    "values": {"subnet_id": "subnet-s", "private_ip": ip}})
    sub["values"]["id"] = "subnet-s"
    r = convert(d)
    inst = loader.loads(r.text).vpcs["a"].instances
    assert len(inst) == 2 and all(k.startswith("web-1-") for k in inst), sorted(inst)
    assert sorted(str(i.ip) for i in inst.values()) == ["10.0.1.10", "10.0.1.11"]
    n = notes(r)
    assert "is also the name of tencentcloud_instance.web[1]" in n["tencentcloud_instance.web_1"]
    assert convert(d).text == r.text


def test_two_imports_of_one_plan_are_byte_identical_whatever_the_resource_order():
    first = convert().text
    assert convert().text == first
    d = doc()
    random.Random(21).shuffle(d["planned_values"]["root_module"]["resources"])
    d["planned_values"]["root_module"]["child_modules"].reverse()
    assert convert(d).text == first


# ---- 5. a rejected peering ---------------------------------------------------------------------


def test_a_rejected_peering_is_imported_rejected_and_carries_no_traffic(imported):
    r, lab = imported
    assert "db-partner: {vpc: hub-spoke-db, peer_vpc: partner, rejected: true}" in r.text
    assert lab.peerings["db-partner"].state == "REJECTED"
    result, code, detail = verdict(lab, f"{DB}/db-primary", f"{PARTNER}/partner-api")
    assert (result, code) == ("unreachable", "BLACKHOLE_ROUTE") and "REJECTED" in detail


@pytest.mark.parametrize("peering, says", [
    ("{vpc: x, peer_vpc: y, rejected: true, accepted: true}",
     "UnsupportedOperation.VpcPeerInvalidStateChange: peering p: accepted and rejected at once"),
    ("{vpc: x, peer_vpc: z, rejected: true}", "within one account (a) a peering is ACTIVE at creation"),
    ("{vpc: x, peer_vpc: y, rejected: maybe}", "InvalidParameter: peering p: rejected must be true or false"),
])
def test_the_loader_refuses_a_rejected_peering_that_cannot_be(peering, says):
    text = ("lab: rej\naccounts: [a, b]\nvpcs:\n  x: {account: a, region: r, cidr: 10.0.0.0/16}\n"
            "  y: {account: b, region: r, cidr: 10.1.0.0/16}\n  z: {account: a, region: r, cidr: 10.2.0.0/16}\n"
            f"peerings:\n  p: {peering}\n")
    with pytest.raises(TopologyInvalid) as e:
        loader.loads(text, "rej.yaml")
    assert any(says in line and line.startswith("rej.yaml:8:") for line in e.value.lines()), e.value.lines()


# ---- 6. a number Python cannot convert ---------------------------------------------------------


def test_a_number_of_4301_digits_is_refused_naming_file_and_line(capsys, tmp_path):
    text = PLAN.read_text().replace('"system_disk_size": 50', '"system_disk_size": ' + "7" * 4301, 1)
    p = tmp_path / "plan.json"
    p.write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "7777" in t)
    code, out, err = run(capsys, "import", "terraform", str(p))
    assert code == 2 and out == "" and err.startswith(f"InvalidParameter.JsonSyntax: {p}:{line}: "), err[:300]
