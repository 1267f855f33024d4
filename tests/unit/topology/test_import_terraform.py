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

from vpclab import explain as analyze
from vpclab.topology import load as loader
from vpclab.errors import ImportInvalid, Refused
from vpclab.topology.importers import terraform

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "terraform"


def convert(name: str):
    path = FIX / name
    return terraform.convert(terraform.read(str(path)), str(path))


def notes(r) -> dict:
    return {n.address: n.what for n in r.notes}


def test_full_plan_every_resource_modules_and_indexes():
    r = convert("full-plan.json")
    lab = loader.loads(r.text, "imported.yaml")
    assert set(lab.vpcs) == {"app", "db", "sgp", "partner"}  # partner: module.partner...this
    assert (lab.vpcs["sgp"].region, lab.vpcs["app"].region) == ("ap-singapore", "ap-guangzhou")
    assert lab.vpcs["partner"].account == "uin-100000000002" and lab.vpcs["app"].account == "uin-100000000001"
    assert lab.vpcs["app"].subnets["app-private"].route_table == "app-private"
    assert lab.vpcs["app"].subnets["app"].route_table == "default"  # via default_route_table_id
    assert {i.ref: str(i.ip) for i in lab.instances() if i.vpc != "app" or i.name != "batch"} == {
        "app/web-0": "10.0.1.10", "app/web-1": "10.0.1.11",  # count
        "db/db-primary": "10.1.1.20", "db/db-replica": "10.1.1.21",  # for_each
        "sgp/tokyo": "10.3.1.10", "partner/partner": "10.2.1.10"}
    p = lab.peerings
    assert (p["app-partner"].state, p["app-db"].state, p["app-sgp"].state) == ("ACTIVE", "ACTIVE", "ACTIVE")
    assert p["app-sgp"].bandwidth_kbps == 100_000 and p["app-db"].bandwidth_kbps is None
    # the partner module's route: next_hub = var.peering_id, the module call's argument
    assert [(str(x.destination), x.next_hop) for x in lab.vpcs["partner"].route_tables["default"].routes] == [
        ("10.0.0.0/16", "app-partner")]
    verdict = lambda s, d: analyze.explain(lab, s, d).result
    assert verdict("app/web-0", "db/db-primary") == "reachable"
    assert verdict("app/web-1", "partner/partner") == "reachable"
    assert verdict("app/batch", "sgp/tokyo") == "reachable"  # the private table routes to Singapore
    assert verdict("app/web-0", "sgp/tokyo") == "unreachable"  # the default table does not


def test_full_plan_lists_everything_it_did_not_carry():
    n = notes(convert("full-plan.json"))
    assert "not imported" in n["tencentcloud_security_group.web"]
    assert "not imported" in n["tencentcloud_eip_association.web"]
    assert "not modelled" in n["tencentcloud_cos_bucket.logs"]
    assert "tencentcloud_nat_gateway.main.id: no such resource" in n["tencentcloud_route_table_entry.app_internet"]
    assert "data source" in n["data.tencentcloud_availability_zones.all"]
    assert "regional peering" in n["tencentcloud_vpc_peer_connect_manager.app_db"]


def test_every_object_names_its_terraform_address():
    text = convert("full-plan.json").text
    assert "web-1: {subnet: app, ip: 10.0.1.11}  # tencentcloud_instance.web[1]" in text
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


# ---- malformed JSON: a refusal naming the file and the resource, never a traceback ----------------

VPC_OK = {"address": "tencentcloud_vpc.a", "mode": "managed", "type": "tencentcloud_vpc", "name": "a",
          "values": {"cidr_block": "10.0.0.0/16"}}


@pytest.fixture
def short_tmp():
    """A directory with a short path: messages quote at most 80 characters of a file name,
    and pytest's own tmp_path under xdist is longer than that."""
    import shutil
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="tf", dir="/tmp"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _plan(tmp_path, doc) -> str:
    p = tmp_path / "plan.json"
    p.write_text(json.dumps(doc))
    return str(p)


def _root(resources=None, **mod):
    return {"values": {"root_module": {**({"resources": resources} if resources is not None else {}), **mod}}}


@pytest.mark.parametrize("doc, says", [
    ({"values": {"root_module": {"resources": "x"}}}, "values.root_module.resources: a string, not a list"),
    (_root([5]), "values.root_module.resources[0]: a resource is a number, not a JSON object"),
    (_root([VPC_OK, {"type": "tencentcloud_vpc", "name": "b"}]), "values.root_module.resources[1]: no address"),
    (_root([{"address": "tencentcloud_vpc.b", "name": "b"}]), "resources[0] (tencentcloud_vpc.b): no type"),
    (_root([{"address": "tencentcloud_vpc.b", "type": "tencentcloud_vpc"}]), "resources[0] (tencentcloud_vpc.b): no name"),
    (_root([{"address": 7, "type": "tencentcloud_vpc", "name": "b"}]), "resources[0]: address is a number, not a string"),
    (_root([{**VPC_OK, "values": "x"}]), "resources[0] (tencentcloud_vpc.a): values is a string, not a JSON object"),
    (_root([VPC_OK], child_modules=[5]), "values.root_module.child_modules[0]: a module is a number, not a JSON object"),
    (_root([VPC_OK], child_modules={"a": 1}), "values.root_module.child_modules: a JSON object, not a list"),
    (_root([VPC_OK], child_modules=[{"address": "module.m", "resources": [{}]}]),
     "values.root_module.child_modules[0].resources[0]: no address"),
    ({"values": "x"}, "values: a string, not a JSON object"),
    ({"values": {"root_module": []}}, "values.root_module: a list, not a JSON object"),
    ({"planned_values": {"root_module": {"resources": [VPC_OK], "address": 3}}}, "planned_values.root_module: address is a number, not a string"),
])
def test_malformed_plans_are_refused_naming_file_and_resource(capsys, short_tmp, doc, says):
    path = _plan(short_tmp, doc)
    code, out, err = run(capsys, "import", "terraform", path)
    assert code == 2 and out == "", err
    assert says in err and path in err and err.startswith("InvalidParameter"), err


@pytest.mark.parametrize("config", [
    {"root_module": {"resources": [{"type": "tencentcloud_subnet", "name": "s", "expressions": "x"}]}},
    {"root_module": {"resources": [{"type": "tencentcloud_subnet", "name": "s",
                                    "expressions": {"vpc_id": {"references": [5, None, "tencentcloud_vpc.a[x]"]}}}]}},
    {"root_module": {"resources": [{"type": "tencentcloud_subnet", "name": "s",
                                    "expressions": {"vpc_id": "tencentcloud_vpc.a"}}]}},
    {"root_module": {"resources": "x", "module_calls": [1]}},
    {"root_module": [], "provider_config": [1]},
    {"root_module": {"resources": [5]}, "provider_config": {"tencentcloud": {"expressions": {"region": 5}}}},
    "x",
])
def test_a_malformed_configuration_leaves_links_unresolved(capsys, tmp_path, config):
    sub = {"address": "tencentcloud_subnet.s", "mode": "managed", "type": "tencentcloud_subnet", "name": "s",
           "values": {"cidr_block": "10.0.1.0/24"}}
    path = _plan(tmp_path, {"planned_values": {"root_module": {"resources": [VPC_OK, sub]}}, "configuration": config})
    code, out, err = run(capsys, "import", "terraform", path)
    assert code == 0 and "tencentcloud_subnet.s: unresolved" in err, err
    assert loader.loads(out).vpcs["a"].subnets == {}


def test_values_that_would_break_the_rendered_yaml_stay_values(capsys, tmp_path):
    doc = {"terraform_version": "1.5\nlab: evil", **_root([{**VPC_OK, "values": {"cidr_block": "10.0.0.0/16\nx: 1"}}])}
    code, out, err = run(capsys, "import", "terraform", _plan(tmp_path, doc))
    assert code == 2 and "InvalidParameterValue" in err and "evil" not in out, err
    doc = {"terraform_version": "1.5\nlab: evil", **_root([VPC_OK])}
    code, out, err = run(capsys, "import", "terraform", _plan(tmp_path, doc))
    assert code == 0 and loader.loads(out).name == "plan" and "evil" not in out, out


def test_json_nested_too_deep_is_refused(capsys, short_tmp):
    p = short_tmp / "deep.json"
    p.write_text('{"values": ' + "[" * 100_000 + "]" * 100_000 + "}")
    code, _, err = run(capsys, "import", "terraform", str(p))
    assert code == 2 and str(p) in err, err


# A fuzz of the reader: random JSON trees where the plan, state and configuration live,
# built from the keys the importer reads, so most draws go deep into it.
KEYS = ["root_module", "resources", "child_modules", "address", "type", "name", "mode", "index", "values",
        "provider_name", "expressions", "references", "module_calls", "module", "outputs", "expression",
        "provider_config", "provider_config_key", "constant_value", "region", "cidr_block", "vpc_id", "subnet_id",
        "route_table_id", "next_hub", "next_type", "source_vpc_id", "destination_vpc_id", "destination_uin",
        "peering_connection_id", "bandwidth", "private_ip", "id", "default_route_table_id",
        # filters and accounts (issue 21)
        "security_group_id", "ingress", "egress", "orderly_security_groups", "security_groups", "action", "protocol",
        "port", "source_security_id", "cidr_ip", "source_sgid", "policy", "assigned_eip_set", "eip_id",
        "instance_id", "acl_id", "nat_gateway_id", "resource_type", "public_ip", "allocate_public_ip", "owner_uin",
        "assume_role", "role_arn"]
SCALARS = ["tencentcloud_vpc", "tencentcloud_subnet", "tencentcloud_route_table", "tencentcloud_route_table_entry",
           "tencentcloud_vpc_peer_connect_manager", "tencentcloud_instance", "managed", "data", "10.0.0.0/16",
           "10.0.1.0/24", "PEERCONNECTION", "tencentcloud_vpc.a.id", "var.x", "module.m.out", "module.m",
           "tencentcloud_vpc.a[0].id", 'tencentcloud_vpc.a["k"]', "tencentcloud_vpc.a[x", "a", "", 0, 1, -1, 1.5,
           True, None, "tencentcloud_security_group", "tencentcloud_security_group_rule_set",
           "tencentcloud_security_group_lite_rule", "tencentcloud_vpc_acl", "tencentcloud_vpc_acl_attachment",
           "tencentcloud_eip", "tencentcloud_eip_association", "tencentcloud_nat_gateway", "tencentcloud_nat_gateway_snat",
           "tencentcloud_user_info", "ACCEPT#10.0.0.0/8#80,443#TCP", "DROP#x#ALL#ALL", "NAT", "SUBNET", "ACCEPT",
           "qcs::cam::uin/1:roleName/r", "203.0.113.9"]


def _trees():
    from hypothesis import strategies as st

    leaf = st.one_of(st.sampled_from(SCALARS), st.text(max_size=6), st.integers())
    return st.recursive(leaf, lambda kids: st.one_of(
        st.lists(kids, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=4)), kids, max_size=5)), max_leaves=40)


def test_fuzz_random_json_trees_exit_0_or_2_without_traceback(tmp_path_factory):
    from click.testing import CliRunner
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from test_fuzz_cli import entry

    tmp = tmp_path_factory.mktemp("tf-fuzz")
    trees = _trees()
    top = st.fixed_dictionaries({}, optional={"planned_values": trees, "values": trees, "configuration": trees,
                                              "terraform_version": trees})

    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
    @given(doc=top, as_json=st.booleans())
    def check(doc, as_json):
        p = tmp / "plan.json"
        p.write_text(json.dumps(doc))
        r = CliRunner().invoke(entry, ["vpclab", "import", "terraform", str(p)] + (["--json"] if as_json else []))
        where = f"{json.dumps(doc)[:600]}\nstdout: {r.stdout[:600]}\nstderr: {r.stderr[:600]}"
        assert r.exception is None or isinstance(r.exception, SystemExit), f"{where}\n{r.exception!r}"
        assert "Traceback" not in r.stdout + r.stderr, where
        assert r.exit_code in (0, 2), where

    check()


def _paths(x, p=()):
    yield p
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _paths(v, p + (k,))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from _paths(v, p + (i,))


def test_fuzz_fixtures_with_random_subtrees_exit_0_or_2_without_traceback(tmp_path_factory):
    """The real fixtures with one to three of their parts replaced by random JSON: deep in the importer."""
    import copy

    from click.testing import CliRunner
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from test_fuzz_cli import entry

    tmp = tmp_path_factory.mktemp("tf-fuzz-fixtures")
    bases = [json.loads((FIX / n).read_text()) for n in ("full-plan.json", "state.json", "unknown-ref.json",
                                                         "platform-plan.json")]
    where = [list(_paths(b))[1:] for b in bases]

    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def check(data):
        i = data.draw(st.integers(0, len(bases) - 1))
        doc = copy.deepcopy(bases[i])
        for _ in range(data.draw(st.integers(1, 3))):
            path = data.draw(st.sampled_from(where[i]))
            cur = doc
            try:
                for k in path[:-1]:
                    cur = cur[k]
                cur[path[-1]] = data.draw(_trees())
            except (KeyError, IndexError, TypeError):  # an earlier replacement removed that part
                pass
        p = tmp / "plan.json"
        p.write_text(json.dumps(doc))
        r = CliRunner().invoke(entry, ["vpclab", "import", "terraform", str(p)])
        shown = f"{json.dumps(doc)[:600]}\nstdout: {r.stdout[:600]}\nstderr: {r.stderr[:600]}"
        assert r.exception is None or isinstance(r.exception, SystemExit), f"{shown}\n{r.exception!r}"
        assert "Traceback" not in r.stdout + r.stderr and r.exit_code in (0, 2), shown

    check()


def _assoc_plan(assoc_table: str = "tencentcloud_route_table.a_private") -> dict:
    """A plan (ids unknown) where subnet a gets its table from a tencentcloud_route_table_association,
    as the provider's docs show it, not from its own route_table_id."""
    def res(t, n, values):
        return {"address": f"{t}.{n}", "mode": "managed", "type": t, "name": n, "values": values}

    def cfg(t, n, **exprs):
        return {"address": f"{t}.{n}", "mode": "managed", "type": t, "name": n, "provider_config_key": "tencentcloud",
                "expressions": {k: {"references": [v + ".id", v]} if not v.endswith("_route_table_id") else
                                {"references": [v, v.rsplit(".", 1)[0]]} for k, v in exprs.items()}}

    resources = [res("tencentcloud_vpc", "a", {"cidr_block": "10.0.0.0/16"}),
                 res("tencentcloud_vpc", "b", {"cidr_block": "10.1.0.0/16"}),
                 res("tencentcloud_subnet", "a", {"cidr_block": "10.0.1.0/24"}),
                 res("tencentcloud_subnet", "b", {"cidr_block": "10.1.1.0/24"}),
                 res("tencentcloud_route_table", "a_private", {"name": "private"}),
                 res("tencentcloud_route_table_association", "a", {}),
                 res("tencentcloud_vpc_peer_connect_manager", "ab", {}),
                 res("tencentcloud_route_table_entry", "a_to_b", {"destination_cidr_block": "10.1.0.0/16",
                                                                  "next_type": "PEERCONNECTION"}),
                 res("tencentcloud_route_table_entry", "b_to_a", {"destination_cidr_block": "10.0.0.0/16",
                                                                  "next_type": "PEERCONNECTION"}),
                 res("tencentcloud_instance", "a1", {"private_ip": "10.0.1.10"}),
                 res("tencentcloud_instance", "b1", {"private_ip": "10.1.1.10"})]
    config = [cfg("tencentcloud_vpc", "a"), cfg("tencentcloud_vpc", "b"),
              cfg("tencentcloud_subnet", "a", vpc_id="tencentcloud_vpc.a"),
              cfg("tencentcloud_subnet", "b", vpc_id="tencentcloud_vpc.b"),
              cfg("tencentcloud_route_table", "a_private", vpc_id="tencentcloud_vpc.a"),
              cfg("tencentcloud_route_table_association", "a", subnet_id="tencentcloud_subnet.a",
                  route_table_id=assoc_table),
              cfg("tencentcloud_vpc_peer_connect_manager", "ab", source_vpc_id="tencentcloud_vpc.a",
                  destination_vpc_id="tencentcloud_vpc.b"),
              cfg("tencentcloud_route_table_entry", "a_to_b", route_table_id="tencentcloud_route_table.a_private",
                  next_hub="tencentcloud_vpc_peer_connect_manager.ab"),
              cfg("tencentcloud_route_table_entry", "b_to_a",
                  route_table_id="tencentcloud_vpc.b.default_route_table_id",
                  next_hub="tencentcloud_vpc_peer_connect_manager.ab"),
              cfg("tencentcloud_instance", "a1", subnet_id="tencentcloud_subnet.a"),
              cfg("tencentcloud_instance", "b1", subnet_id="tencentcloud_subnet.b")]
    return {"format_version": "1.2", "planned_values": {"root_module": {"resources": resources}},
            "configuration": {"provider_config": {"tencentcloud": {"name": "tencentcloud", "expressions": {
                "region": {"constant_value": "ap-guangzhou"}}}}, "root_module": {"resources": config}}}


def test_a_route_table_association_sets_the_subnets_table(capsys, tmp_path):
    """Reported by review (issue 21): tencentcloud_route_table_association was 'not modelled', so
    the subnet stayed on the default table and a/a1 -> b/b1 came out NO_ROUTE, where the cloud
    routes it through a_private's route to the peering."""
    code, out, err = run(capsys, "import", "terraform", _plan(tmp_path, _assoc_plan()))
    assert code == 0, err
    assert "tencentcloud_route_table_association.a" not in err, err
    lab = loader.loads(out)
    assert lab.vpcs["a"].subnets["a"].route_table == "a-private"
    assert analyze.explain(lab, "a/a1", "b/b1").result == "reachable"
    # an association with a table of another VPC is not carried, and says so
    code, out, err = run(capsys, "import", "terraform", _plan(tmp_path, _assoc_plan(
        "tencentcloud_vpc.b.default_route_table_id")))
    assert code == 0 and "tencentcloud_route_table_association.a: unresolved: its route table is in b" in err, err
    assert loader.loads(out).vpcs["a"].subnets["a"].route_table == "default"


def test_a_states_route_table_association_does_not_hide_its_subnet(capsys, tmp_path):
    """The provider gives a tencentcloud_route_table_association the id of its subnet (`terraform
    import ... subnet_id`): in a state (ids known) it must not take the subnet's place, or every
    instance of the subnet is 'not a tencentcloud_subnet' and left out."""
    def res(t, n, **values):
        return {"address": f"{t}.{n}", "mode": "managed", "type": t, "name": n, "values": values}

    doc = {"values": {"root_module": {"resources": [
        res("tencentcloud_vpc", "a", id="vpc-a", cidr_block="10.0.0.0/16", default_route_table_id="rtb-a0"),
        res("tencentcloud_route_table", "private", id="rtb-a1", vpc_id="vpc-a"),
        res("tencentcloud_subnet", "a", id="subnet-a", vpc_id="vpc-a", cidr_block="10.0.1.0/24",
            route_table_id="rtb-a1"),
        res("tencentcloud_route_table_association", "a", id="subnet-a", subnet_id="subnet-a", route_table_id="rtb-a1"),
        res("tencentcloud_instance", "web", id="ins-1", subnet_id="subnet-a", vpc_id="vpc-a", private_ip="10.0.1.10"),
    ]}}}
    code, out, err = run(capsys, "import", "terraform", _plan(tmp_path, doc))
    assert code == 0, err
    lab = loader.loads(out)
    assert [i.ref for i in lab.instances()] == ["a/web"], err
    assert lab.vpcs["a"].subnets["a"].route_table == "private"
