"""`vpclab import tencentcloud DIR...`: the JSON of the describe calls -> a topology.

The fixtures (tests/fixtures/tencentcloud/estate/) were written by hand from the SDK's model
classes (tencentcloud-sdk-python-vpc/-cvm): a small estate of one account (`main/`: four VPCs,
peerings ACTIVE, REJECTED, DELETED and one PENDING to a partner, four security groups with their
policies, a TRIPLE network ACL, three EIPs, a NAT gateway with SNAT and DNAT rules, six CVMs
whose DescribeInstances is split over two pages) and its partner's (`partner/ap-shanghai/`).
Some files are as tccli prints them (every field, absent ones null), others the raw API's
`{"Response": ...}`; the security groups' policies are named by their group's id.
"""
from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli import one_json, run

from vpclab import explain as analyze
from vpclab.topology import load as loader

pytest.importorskip("tencentcloud.vpc.v20170312.models")

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "tencentcloud" / "estate"
MAIN, PARTNER = FIX / "main", FIX / "partner"


def imported(capsys, *dirs, extra=()):
    """(topology text, stderr) of `vpclab import tencentcloud DIRS --region ap-guangzhou`."""
    code, out, err = run(capsys, "import", "tencentcloud", *map(str, dirs), "--region", "ap-guangzhou", *extra)
    assert code == 0, err
    return out, err


def body(text: str) -> str:
    """The topology without its first line (which names the folders it came from)."""
    return text.split("\n", 1)[1]


def test_estate_imports_to_a_topology_that_validates(capsys, tmp_path):
    out = tmp_path / "net.yaml"
    code, _, err = run(capsys, "import", "tencentcloud", str(MAIN), str(PARTNER), "--region", "ap-guangzhou",
                       "-o", str(out))
    assert code == 0, err
    code, text, err = run(capsys, "validate", str(out))
    assert code == 0 and ": ok: lab main, 5 VPCs, 7 instances, 3 peerings" in text, text + err
    lab = loader.load(str(out))
    assert lab.accounts == ["uin-100012345678", "uin-100087654321"]
    assert {v.name: (v.account, v.region, str(v.cidr)) for v in lab.vpcs.values()} == {
        "hub": ("uin-100012345678", "ap-guangzhou", "10.0.0.0/16"),
        "app-prod": ("uin-100012345678", "ap-guangzhou", "10.1.0.0/16"),
        "db-prod": ("uin-100012345678", "ap-guangzhou", "10.2.0.0/16"),
        "vpc-dev4h6j8": ("uin-100012345678", "ap-guangzhou", "10.3.0.0/16"),  # a Chinese name: the id
        "partner-core": ("uin-100087654321", "ap-shanghai", "172.16.0.0/16")}  # its folder's region
    p = lab.peerings
    assert {n: x.state for n, x in p.items()} == {"hub-app": "ACTIVE", "app-db": "ACTIVE", "app-partner": "PENDING"}
    assert p["app-partner"].bandwidth_kbps == 100_000  # cross-region: the peering's Bandwidth
    assert lab.internet is not None and str(lab.internet.cidr) == "43.139.200.0/26"
    app = lab.vpcs["app-prod"]
    assert app.subnets["app"].route_table == "app-private" and app.subnets["web"].route_table == "default"
    assert str(app.instances["web-web1c2d3"].eip) == "43.139.200.10"  # the EIP bound to it
    assert str(lab.vpcs["hub"].instances["bastion"].eip) == "43.139.200.31"  # an ordinary public IP
    assert str(lab.vpcs["hub"].nat_gateways["hub-nat"].eip) == "43.139.200.20"
    assert lab.vpcs["db-prod"].network_acls["db-acl"].subnets == ["db"]


def test_ids_resolve_to_unique_sanitized_names(capsys):
    text, _ = imported(capsys, MAIN)
    lab = loader.loads(text, "net.yaml")
    app, db = lab.vpcs["app-prod"], lab.vpcs["db-prod"]
    # two CVMs named "web": each gets its id's tail, whichever file listed it first
    assert set(app.instances) == {"app-1", "web-web1c2d3", "web-web4e5f6"}
    assert set(db.instances) == {"db_primary"}  # "DB_Primary"
    # route next hops are the peerings' and the NAT gateway's names, never their ids
    hops = {r.next_hop for v in lab.vpcs.values() for t in v.route_tables.values() for r in t.routes}
    assert hops == {"hub-app", "app-db", "hub-nat"}
    # a rule naming a group of the same VPC keeps the group's name; one in another VPC is its members
    assert app.instances["app-1"].security_groups == ["app"]
    sources = [r.peer for r in app.security_groups["app"].ingress]
    assert "web" in sources and "10.0.1.10/32" in sources  # sg-web1a2b3 here, sg-mgt0h1i2 = the bastion
    assert db.security_groups["db"].ingress[0].peer == "10.1.2.10/32"  # sg-app4c5d6: app-1, in another VPC


def test_same_snapshot_twice_is_byte_identical_whatever_the_file_names(capsys, tmp_path):
    first, _ = imported(capsys, MAIN, PARTNER)
    second, _ = imported(capsys, MAIN, PARTNER)
    assert first == second
    # the same files under other names, in another order of listing: the same topology
    copy = tmp_path / "main"
    copy.mkdir()
    files = sorted(MAIN.rglob("*.json"))
    random.Random(7).shuffle(files)
    for n, f in enumerate(files):
        name = f.name if f.parent.name == "policies" else f"{n:02d}-call.json"  # policies: named by group
        shutil.copy(f, copy / name)
    third, _ = imported(capsys, copy, PARTNER)
    assert body(third) == body(first)


def test_wrapped_and_unwrapped_files_read_the_same(capsys, tmp_path):
    plain, _ = imported(capsys, MAIN)
    copy = tmp_path / "main"
    shutil.copytree(MAIN, copy)
    for f in copy.rglob("*.json"):
        doc = json.loads(f.read_text())
        doc = doc["Response"] if set(doc) == {"Response"} else {"Response": doc}  # flip each file
        f.write_text(json.dumps(doc))
    flipped, _ = imported(capsys, copy)
    assert body(flipped) == body(plain)


def test_missing_pages_are_noted_and_both_pages_merge(capsys, tmp_path):
    text, err = imported(capsys, MAIN)
    assert "DescribeInstances" not in err  # both pages there: 6 of 6
    assert sum(len(v.instances) for v in loader.loads(text, "x").vpcs.values()) == 6
    copy = tmp_path / "main"
    shutil.copytree(MAIN, copy)
    (copy / "instances-page2.json").unlink()
    text, err = imported(capsys, copy)
    line = next(x for x in err.splitlines() if "DescribeInstances" in x)
    assert "4 of 6 items" in line and "pages are missing" in line
    assert "web-web1c2d3" not in text and "app-1" in text


def test_every_object_not_imported_is_on_stderr_with_its_id(capsys):
    _, err = imported(capsys, MAIN)
    expected = {
        "pcx-ap1m2n3o": "not in the snapshot",  # the partner's folder not given
        "pcx-dh7i8j9k": "REJECTED within one account",
        "pcx-old9z8y7": "DELETED",
        "rti-hubm41203": "VPN",
        "rti-appp41402": "disabled",
        "rti-devm41601": "peering is not imported",
        "sg-unu3j4k5": "no imported instance uses",
        "sg-app4c5d6 ingress[3]": "address template (ipm-a1b2c3d4)",
        "eip-f9d0e1f2": "UNBIND",
        "nat-hub1q2w3": "DNAT TCP 43.139.200.20:2222",
        "snat-5e6f7g8h": "USERDEFINED",
        "ins-bst1a2b3": "ordinary public IP",
    }
    lines = err.splitlines()
    for obj, why in expected.items():
        assert any(obj in line and why in line for line in lines), (obj, err)


def test_json_output_lists_the_notes(capsys):
    code, out, _ = run(capsys, "import", "tencentcloud", str(MAIN), "--region", "ap-guangzhou", "--json")
    doc = one_json(out)
    assert code == 0 and doc["lab"] == "main" and doc["vpcs"] == 4 and doc["instances"] == 6
    assert {"id": "eip-f9d0e1f2", "what": next(n["what"] for n in doc["notes"] if n["id"] == "eip-f9d0e1f2")} \
        in doc["notes"]
    assert doc["topology"].startswith("# Imported by `vpclab import tencentcloud`")


def test_region_from_the_peerings_when_not_given(capsys):
    code, out, err = run(capsys, "import", "tencentcloud", str(MAIN))
    assert code == 0, err
    assert "ap-guangzhou: {}" in out and "--region" not in err  # every peering's SourceRegion


def test_verdicts_of_the_imported_estate(capsys):
    text, _ = imported(capsys, MAIN, PARTNER)
    lab = loader.loads(text, "net.yaml")

    def verdict(src, dst, proto="icmp", port=None):
        v = analyze.explain(lab, src, dst, proto, port)
        return v.result, (v.reason.code if v.reason else None)

    assert verdict("app-prod/app-1", "db-prod/db_primary", "tcp", 3306)[0] == "reachable"
    assert verdict("app-prod/web-web1c2d3", "db-prod/db_primary", "tcp", 3306) == \
        ("unreachable", "SECURITY_GROUP_DENY")  # sg-db admits sg-app's members only
    assert verdict("hub/bastion", "app-prod/web-web4e5f6", "tcp", 22)[0] == "reachable"
    assert verdict("hub/bastion", "app-prod/app-1", "tcp", 22) == ("no-return", "NO_ROUTE")  # route disabled
    assert verdict("app-prod/app-1", "partner-core/partner-api") == ("unreachable", "PEERING_NOT_ACTIVE")
    assert verdict("vpc-dev4h6j8/dev-box", "hub/bastion") == ("unreachable", "NO_ROUTE")  # rejected


@pytest.mark.parametrize("content, says", [
    ("{not json", "not JSON"),
    ('{"ZoneSet": [], "RequestId": "x"}', "JSON of no describe call"),
    ('{"TotalCount": ' + "9" * 5000 + ', "VpcSet": []}', "not JSON vpclab reads"),
    ('{"Response": {"Error": {"Code": "AuthFailure.SignatureExpire", "Message": "expired"}, "RequestId": "x"}}',
     "AuthFailure.SignatureExpire"),
    ('{"VpcSet": [17]}', "not the shape of a DescribeVpcs response"),
    ("[1, 2]", "not an object"),
])
def test_a_bad_file_is_refused_naming_it(capsys, tmp_path, content, says):
    d = tmp_path / "snap"
    shutil.copytree(MAIN, d)
    (d / "zz-bad.json").write_text(content)
    code, out, err = run(capsys, "import", "tencentcloud", str(d), "--region", "ap-guangzhou")
    assert code == 2 and out == ""
    assert "zz-bad.json" in err and says in err, err
    code, out, _ = run(capsys, "import", "tencentcloud", str(d), "--region", "ap-guangzhou", "--json")
    assert code == 2 and "zz-bad.json" in one_json(out)["error"]["message"]


def test_without_the_sdk_it_says_what_to_install(capsys, monkeypatch):
    from vpclab.topology.importers.tencentcloud import snapshot

    monkeypatch.setattr(snapshot, "vpc_models", None)
    code, _, err = run(capsys, "import", "tencentcloud", str(MAIN))
    assert code == 3 and "pip install 'vpclab[tencentcloud]'" in err


def test_the_sdk_is_imported_only_by_this_command(tmp_path):
    """`vpclab --help` and `validate`/`diff`'s module never load the SDK's models (~60 ms with
    `python -X importtime`); `import tencentcloud` does."""
    def loaded(argv) -> list:
        probe = ("import sys\nfrom vpclab.cli.main import main\nimport vpclab.controller.files\n"
                 f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
                 "print(sorted(m for m in sys.modules if m.startswith('tencentcloud.') and m.endswith('models')))")
        r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout.strip().splitlines()[-1].replace("'", '"'))

    assert loaded(["--help"]) == []
    assert loaded(["import", "--help"]) == []
    assert loaded(["import", "tencentcloud", str(MAIN), "-o", str(tmp_path / "net.yaml")]) == [
        "tencentcloud.cvm.v20170312.models", "tencentcloud.vpc.v20170312.models"]


def test_a_rejected_peering_across_accounts(capsys, tmp_path):
    """REJECTED across accounts: `rejected: true` (TOPOLOGY.md v3) where the loader has the key,
    else a note; either way no traffic crosses it."""
    from vpclab.topology.keys import SCHEMA

    for d in (MAIN, PARTNER):
        shutil.copytree(d, tmp_path / d.name)
    for f in (tmp_path / "main" / "peerings.json", tmp_path / "partner" / "ap-shanghai" / "peerings.json"):
        f.write_text(f.read_text().replace('"PENDING"', '"REJECTED"'))
    text, err = imported(capsys, tmp_path / "main", tmp_path / "partner")
    lab = loader.loads(text, "net.yaml")
    if "rejected" in SCHEMA["peering"][0]:
        assert lab.peerings["app-partner"].state == "REJECTED" and "rejected: true" in text
    else:
        assert "app-partner" not in lab.peerings
        assert any("pcx-ap1m2n3o" in x and "REJECTED" in x for x in err.splitlines())
    v = analyze.explain(lab, "app-prod/app-1", "partner-core/partner-api")
    assert v.result == "unreachable"


@pytest.mark.parametrize("content", [
    '{"VpcSet": [{"VpcId": 5, "CidrBlock": "10.0.0.0/16"}]}',
    '{"SubnetSet": []}',
    '{"VpcSet": []}',
    '{"VpcSet": [{"VpcId": "vpc-1", "CidrBlock": "0.0.0.0/0"}]}',
])
def test_a_snapshot_without_an_importable_vpc_is_refused_clearly(capsys, tmp_path, content):
    (tmp_path / "a.json").write_text(content)
    code, out, err = run(capsys, "import", "tencentcloud", str(tmp_path), "--region", "ap-guangzhou")
    assert code == 2 and out == ""
    assert "no VPC to import" in err or "vpc-1: InvalidParameterValue.VpcCidrReserved" in err, err


@pytest.mark.parametrize("content", [
    '{"TotalCount": "x", "VpcSet": [{"VpcId": "vpc-z", "CidrBlock": "10.9.0.0/16", "VpcName": 7}]}',
    '{"InstanceSet": [{"InstanceId": "ins-1", "VirtualPrivateCloud": {"VpcId": "vpc-z", "SubnetId": ["x"]}}]}',
    '{"RouteTableSet": [{"RouteTableId": "rtb-1", "VpcId": "vpc-z", "RouteSet": [{"DestinationCidrBlock": 5}]}]}',
    '{"SecurityGroupPolicySet": {"Ingress": [{"Protocol": "TCP", "Port": "1-2-3", "Action": "ACCEPT"}]}}',
    '{"AddressSet": [{"AddressId": "eip-1", "AddressIp": "1.2.3.4", "AddressStatus": "BIND", "InstanceId": 3}]}',
])
def test_fields_of_the_wrong_type_are_noted_not_crashed_on(capsys, tmp_path, content):
    """The SDK checks no types: a field of the wrong type reads as absent, and the object is noted."""
    (tmp_path / "vpcs.json").write_text('{"VpcSet": [{"VpcId": "vpc-z", "CidrBlock": "10.9.0.0/16"}]}')
    (tmp_path / "b.json").write_text(content)
    code, out, err = run(capsys, "import", "tencentcloud", str(tmp_path), "--region", "ap-guangzhou")
    assert code == 0 and "cidr: 10.9.0.0/16" in out, err  # the VPC imported; the odd object noted or skipped


PLATFORM = FIX.parent / "platform"
PLAN = FIX.parents[1] / "terraform" / "platform-plan.json"


def test_same_verdicts_as_the_terraform_import_of_the_same_network(capsys):
    """The platform team's network twice: as its Terraform plan (tests/fixtures/terraform/
    platform-plan.json: count and for_each modules, two accounts, accepted and rejected peerings,
    groups, an ACL, EIPs, NAT) and as the two accounts' tccli dumps once applied
    (tests/fixtures/tencentcloud/platform/). The names differ (addresses vs the cloud's names),
    so instances are matched by private IP; every pair's verdict and reason agree."""
    if not PLAN.exists():
        pytest.skip("tests/fixtures/terraform/platform-plan.json is not in this checkout")
    from vpclab.topology.importers import terraform

    tf = loader.loads(terraform.convert(terraform.read(str(PLAN)), str(PLAN)).text, "tf.yaml")
    text, _ = imported(capsys, PLATFORM / "platform", PLATFORM / "partner")
    tc = loader.loads(text, "tc.yaml")
    a, b = ({str(i.ip): i.ref for i in lab.instances()} for lab in (tf, tc))
    assert sorted(a) == sorted(b) and len(a) == 7
    assert {p.state for p in tc.peerings.values()} >= {"ACTIVE"} and len(tc.peerings) == 4
    seen = set()
    for s in sorted(a):
        for d in sorted(a):
            for proto, port in (("icmp", None), ("tcp", 22), ("tcp", 443), ("tcp", 3306)):
                if s == d:
                    continue
                x, y = analyze.explain(tf, a[s], a[d], proto, port), analyze.explain(tc, b[s], b[d], proto, port)
                got = [(v.result, v.reason.code if v.reason else None) for v in (x, y)]
                assert got[0] == got[1], (a[s], a[d], proto, port, got)
                seen.add(got[0][0])
    assert {"reachable", "unreachable"} <= seen  # the comparison is not vacuous


def test_a_group_over_100_rules_a_direction_keeps_the_first_100_noted(capsys, tmp_path):
    """The loader refuses a 101st rule: the import keeps the first 100 (evaluation order) and says so."""
    (tmp_path / "vpcs.json").write_text('{"VpcSet": [{"VpcId": "vpc-z", "CidrBlock": "10.9.0.0/16"}]}')
    (tmp_path / "subnets.json").write_text('{"SubnetSet": [{"SubnetId": "subnet-z", "VpcId": "vpc-z", '
                                           '"CidrBlock": "10.9.1.0/24"}]}')
    (tmp_path / "instances.json").write_text(json.dumps({"InstanceSet": [{
        "InstanceId": "ins-z", "PrivateIpAddresses": ["10.9.1.10"], "SecurityGroupIds": ["sg-zzzzzzzz"],
        "VirtualPrivateCloud": {"VpcId": "vpc-z", "SubnetId": "subnet-z"}}]}))
    rules = [{"Protocol": "TCP", "Port": str(1000 + n), "CidrBlock": "0.0.0.0/0", "Action": "ACCEPT"} for n in range(101)]
    (tmp_path / "sg-zzzzzzzz.json").write_text(json.dumps({"SecurityGroupPolicySet": {"Ingress": rules, "Egress": []}}))
    text, err = imported(capsys, tmp_path)
    group = loader.loads(text, "x").vpcs["vpc-z"].security_groups["sg-zzzzzzzz"]
    assert len(group.ingress) == 100 and group.ingress[-1].ports == (1099, 1099)
    assert any("sg-zzzzzzzz" in x and "101 rules" in x for x in err.splitlines())


def test_an_unreadable_nat_address_is_noted_not_a_traceback(capsys, tmp_path):
    """A NAT gateway whose public address cannot be read (found by the review: a traceback, exit 1)
    is left out with its routes, and said so on stderr."""
    import shutil

    main = tmp_path / "main"
    shutil.copytree(MAIN, main)
    nat = main / "nat-gateways.json"
    nat.write_text(nat.read_text().replace('"PublicIpAddress": "43.139.200.20"', '"PublicIpAddress": "43.139.200.x"'))
    out, err = imported(capsys, main, PARTNER)
    assert "43.139.200.x" in err and "NAT gateway is not imported" in err and "Traceback" not in err
    loader.loads(out, "imported.yaml")
    assert "nat_gateways" not in out or "43.139.200" not in out.split("nat_gateways", 1)[1].split("\n", 3)[1]
