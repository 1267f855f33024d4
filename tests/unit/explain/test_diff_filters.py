"""`vpclab diff` prunes the pairs it re-explains; with version-2 changes (rules, bindings,
EIPs, NAT gateways, the Internet) its answer must equal the unpruned reference `full`."""
from __future__ import annotations

from pathlib import Path

import pytest

from vpclab.explain import diff as diffreach
from vpclab.topology import load as loader
from vpclab.model import filter_ops as ops

ROOT = Path(__file__).resolve().parents[3]


def load(name):
    return loader.load(ROOT / "topologies" / name)


EDITS = {
    "sg rule": ("07-security-groups.yaml", lambda m: ops.sg_rule(m, "vpc-a/sg-web", "ingress", True, 0, "icmp",
                                                                 None, "0.0.0.0/0", "accept")),
    "sg detach": ("07-security-groups.yaml", lambda m: ops.sg_detach(m, "vpc-a/db-1", "sg-db")),
    "acl unbind": ("07-security-groups.yaml", lambda m: ops.acl_unbind(m, "vpc-a/acl-db", "db")),
    "acl rule": ("07-security-groups.yaml", lambda m: ops.acl_rule(m, "vpc-a/acl-db", "outbound", True, None,
                                                                   "icmp", None, "0.0.0.0/0", "accept")),
    "eip": ("06-internet-vs-peering.yaml", lambda m: ops.eip_disassociate(m, "vpc-c/cvm-c")),
    "eip add": ("06-internet-vs-peering.yaml", lambda m: ops.eip_associate(m, "vpc-b/cvm-b", "203.0.113.40")),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_diff_sees_every_version_2_change(edit):
    name, change = EDITS[edit]
    old, new = load(name), load(name)
    change(new)
    ref = diffreach.full(old, new)
    got = {(c["src"], c["dst"], c["proto"], c["port"]): (c["old"]["result"], c["new"]["result"])
           for c in diffreach.diff(old, new)["changes"]}
    assert got == ref
    if not edit.startswith("eip"):  # diff asks instance-to-instance questions (private addresses): an EIP
        assert ref, "the edit should change some verdict"  # changes none of them, a filter does


def test_diff_sees_a_lost_eip_and_a_removed_group_rule():
    """Reported by review: a v2 change that only moves a public destination or a rule-named port
    was '0 changes'. Each file is edited as text, and the expected change is worked out by hand."""
    from pathlib import Path

    from vpclab.explain import diff as diffreach
    from vpclab.topology.load import loads

    root = Path(__file__).resolve().parents[3] / "topologies"
    six = (root / "06-internet-vs-peering.yaml").read_text()
    old, new = loads(six), loads(six.replace(", eip: 203.0.113.10}", "}"))
    d = diffreach.diff(old, new)
    assert any(c["src"] == "vpc-c/cvm-c" and c["dst"] == "203.0.113.10" and c["change"] == "lost"
               for c in d["changes"]), d["changes"]
    seven = (root / "07-security-groups.yaml").read_text()
    rule = "          - {proto: tcp, port: 80, source: 0.0.0.0/0, action: accept}\n"
    assert rule in seven
    old, new = loads(seven), loads(seven.replace(rule, ""))
    d = diffreach.diff(old, new)
    assert any(c["src"] == "vpc-b/cvm-b" and c["dst"] == "vpc-a/web-1" and c["proto"] == "tcp" and c["port"] == 80
               and c["change"] == "lost" for c in d["changes"]), d["changes"]
    assert set(diffreach.full(old, new)) == {(c["src"], c["dst"], c["proto"], c["port"]) for c in d["changes"]}


def test_an_internet_host_added_or_removed_is_compared_by_its_address():
    """Reported by review: a host only one model has made `diff` end in a KeyError traceback."""
    from vpclab.topology.load import loads

    six = (ROOT / "topologies" / "06-internet-vs-peering.yaml").read_text()
    host = "    web: {ip: 203.0.113.200, ports: [80]}\n"
    assert host in six
    without, with_host = loads(six), loads(six.replace(host, host + "    api: {ip: 203.0.113.201, ports: [443]}\n"))
    gone = diffreach.diff(with_host, without)
    lost = {(c["src"], c["proto"], c["port"]) for c in gone["changes"] if c["dst"] == "internet/api"
            and c["change"] == "lost"}
    assert ("vpc-a/web-a", "icmp", None) in lost and ("vpc-c/cvm-c", "tcp", 443) in lost
    causes = [x["detail"] for c in gone["changes"] if c["dst"] == "internet/api" for x in c["causes"]]
    assert "internet: host api removed" in causes
    # the unpruned reference agrees (it too used to end in a KeyError)
    assert diffreach.full(with_host, without) == {(c["src"], c["dst"], c["proto"], c["port"]): (
        c["old"]["result"], c["new"]["result"]) for c in gone["changes"]}
    back = diffreach.diff(without, with_host)
    assert {(c["src"], c["proto"], c["port"]) for c in back["changes"] if c["dst"] == "internet/api"
            and c["change"] == "gained"} == lost


def test_an_internet_host_added_blames_the_internet_not_the_vpcs_filters():
    """Reported by review (issue 21): adding a host in a team file that includes the imported
    network gave every change also 'because vpc-a: its security groups, network ACLs, NAT
    gateways or EIPs changed', although no group, ACL, NAT gateway or EIP of any VPC did."""
    from vpclab.topology.load import loads

    six = (ROOT / "topologies" / "06-internet-vs-peering.yaml").read_text()
    host = "    web: {ip: 203.0.113.200, ports: [80]}\n"
    assert host in six
    old, new = loads(six), loads(six.replace(host, host + "    api: {ip: 203.0.113.201, ports: [443]}\n"))
    changes = diffreach.diff(old, new)["changes"]
    assert changes
    for c in changes:
        details = [x["detail"] for x in c["causes"]]
        assert "internet: host api added" in details, c
        assert not any("security groups, network ACLs" in x for x in details), c
    # with a real change of a VPC's EIPs in the same edit, that VPC is still named (and only it)
    both = loads(six.replace(host, host + "    api: {ip: 203.0.113.201, ports: [443]}\n")
                 .replace("ip: 10.0.1.10, eip: 203.0.113.10}", "ip: 10.0.1.10}"))
    named = {x["detail"] for c in diffreach.diff(old, both)["changes"] for x in c["causes"]
             if "security groups, network ACLs" in x["detail"]}
    assert named == {"vpc-a: its security groups, network ACLs, NAT gateways or EIPs changed"}


def test_a_file_that_includes_another_has_the_same_filters(tmp_path):
    """Reported by review (issue 21): a rule read through include: remembers FILE:LINE, and the
    VPC's filter signature compared those too, so `diff net.yaml team.yaml` (team.yaml: include
    net.yaml and add an Internet host) blamed every VPC's security groups and re-explained every
    pair of every VPC."""
    from vpclab.explain import filtered
    from vpclab.topology.load import load

    seven = (ROOT / "topologies" / "07-security-groups.yaml").read_text()
    assert "security_groups:" in seven and "network_acls:" in seven and "internet:" not in seven
    (tmp_path / "net.yaml").write_text(seven)
    (tmp_path / "team.yaml").write_text(
        "include: [net.yaml]\ninternet:\n  hosts:\n    api: {ip: 203.0.113.201, ports: [443]}\n")
    (tmp_path / "moved.yaml").write_text("# one line more: every rule one line further down\n" + seven)
    old, team, moved = (load(tmp_path / n) for n in ("net.yaml", "team.yaml", "moved.yaml"))
    assert filtered.filter_changed_vpcs(old, team) == set()
    assert filtered.filter_changed_vpcs(old, moved) == set()
    for c in diffreach.diff(old, team)["changes"]:  # (none here: no instance of lab 07 reaches the Internet)
        assert not any("security groups, network ACLs" in x["detail"] for x in c["causes"]), c
