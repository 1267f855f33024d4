"""`vpclab sg rule list` and `vpclab acl rule list` on a running lab (issue 22, CLI.md v3): the
index each rule shows is the one `--index` takes, and each rule's counter is the kernel's,
moved by real packets (probes) and by nothing else here.

One small lab: web-1 carries sg-web; db-1 sits in subnet db, bound to acl-db."""
from __future__ import annotations

import pytest

from labkit import needs_root, run, run_json

pytestmark = [pytest.mark.kernel, needs_root]

TOPO = """\
lab: rules
regions:
  ap-guangzhou: {}
vpcs:
  vpc-a:
    region: ap-guangzhou
    cidr: 10.0.0.0/16
    subnets:
      web: {cidr: 10.0.1.0/24}
      db: {cidr: 10.0.2.0/24}
    security_groups:
      sg-web:
        ingress:
          - {proto: tcp, port: 80, source: 0.0.0.0/0, action: accept}
          - {proto: icmp, source: 10.0.2.0/24, action: accept}
        egress:
          - {proto: all, destination: 0.0.0.0/0, action: accept}
    network_acls:
      acl-db:
        subnets: [db]
        inbound:
          - {proto: icmp, source: 10.0.1.0/24, action: accept}
        outbound:
          - {proto: icmp, destination: 10.0.1.0/24, action: accept}
    instances:
      web-1: {subnet: web, ip: 10.0.1.10, security_groups: [sg-web]}
      db-1: {subnet: db, ip: 10.0.2.10}
"""


@pytest.fixture(scope="module")
def _nft():
    from vpclab.kernel import nft

    ok, why = nft.available()
    if not ok:
        pytest.skip(why)


def _rules(doc, key):
    (item,) = doc[key]
    return {(r["direction"], r["index"]): r for r in item["rules"]}


def test_rule_list_shows_the_index_and_the_kernels_counters(mklab, _nft):
    lab, _ = mklab(TOPO)
    sg = _rules(run_json("sg", "rule", "list", "vpc-a/sg-web", "-l", lab), "groups")
    assert [(k, r["text"]) for k, r in sg.items()] == [
        (("ingress", 0), "tcp/80 from 0.0.0.0/0 accept"), (("ingress", 1), "icmp from 10.0.2.0/24 accept"),
        (("ingress", None), "no rule matched: drop"), (("egress", 0), "all to 0.0.0.0/0 accept"),
        (("egress", None), "no rule matched: drop")]
    assert {k: r["counter"]["packets"] for k, r in sg.items()} == {k: 0 for k in sg}  # nothing sent yet

    run("probe", "vpc-a/db-1", "vpc-a/web-1", "-l", lab, "--expect", "reachable", check=0)
    sg = _rules(run_json("sg", "rule", "list", "vpc-a/sg-web", "-l", lab), "groups")
    assert sg[("ingress", 1)]["counter"]["packets"] >= 1  # the echo request, let in by rule 1
    assert sg[("ingress", 1)]["counter"]["bytes"] >= 28 * sg[("ingress", 1)]["counter"]["packets"]
    assert sg[("ingress", 1)]["counter"]["at"]["vpc-a/web-1"]["packets"] == sg[("ingress", 1)]["counter"]["packets"]
    assert sg[("ingress", 0)]["counter"]["packets"] == 0 and sg[("ingress", None)]["counter"]["packets"] == 0
    acl = _rules(run_json("acl", "rule", "list", "-l", lab), "acls")
    assert acl[("outbound", 0)]["counter"]["packets"] >= 1  # the request leaving subnet db
    assert acl[("inbound", 0)]["counter"]["packets"] >= 1  # its reply entering it (stateless)
    assert acl[("outbound", 0)]["counter"]["at"]["db"]["packets"] == acl[("outbound", 0)]["counter"]["packets"]

    # the index shown is the one --index takes: a drop inserted at 0 pushes the others down
    run("sg", "rule", "add", "vpc-a/sg-web", "--direction", "ingress", "--index", "0", "--proto", "icmp",
        "--source", "10.0.2.10/32", "--action", "drop", "-l", lab, check=0)
    run("probe", "vpc-a/db-1", "vpc-a/web-1", "-l", lab, "--expect", "unreachable", check=0)
    sg = _rules(run_json("sg", "rule", "list", "vpc-a/sg-web", "-l", lab), "groups")
    assert sg[("ingress", 0)]["text"] == "icmp from 10.0.2.10/32 drop" and sg[("ingress", 0)]["counter"]["packets"] >= 1
    assert sg[("ingress", 2)]["text"] == "icmp from 10.0.2.0/24 accept"
    text = run("sg", "rule", "list", "-l", lab, check=0).stdout
    assert "security group vpc-a/sg-web (carried by vpc-a/web-1)" in text
    assert "icmp from 10.0.2.10/32 drop" in text and "packets" in text and "bytes" in text
    run("sg", "rule", "del", "vpc-a/sg-web", "--direction", "ingress", "--index", "0", "-l", lab, check=0)
    sg = _rules(run_json("sg", "rule", "list", "vpc-a/sg-web", "-l", lab), "groups")
    assert sg[("ingress", 1)]["text"] == "icmp from 10.0.2.0/24 accept"

    p = run("acl", "rule", "list", "vpc-a/acl-dbb", "-l", lab, check=2)
    assert "ResourceNotFound" in p.stderr and "acl-db" in p.stderr and "Traceback" not in p.stderr
