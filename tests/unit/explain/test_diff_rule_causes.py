"""`vpclab diff` names the security group or network ACL and the exact rule (index and text)
behind a verdict a filter change moved (issue 21, item 9), as it names the route behind a
route change; before, it said only "because app: changed"."""
from __future__ import annotations

import json

import pytest

from vpclab.explain import diff as diffreach
from vpclab.topology.load import loads

OLD = """\
lab: sgd
vpcs:
  app:
    region: ap-guangzhou
    cidr: 10.0.0.0/16
    subnets: {web: {cidr: 10.0.1.0/24}, data: {cidr: 10.0.2.0/24}}
    security_groups:
      sg-base:
        ingress:
          - {proto: tcp, port: 22, source: 10.0.0.0/8, action: accept}
      sg-db:
        ingress:
          - {proto: icmp, source: 0.0.0.0/0, action: accept}
          - {proto: tcp, port: 3306, source: 10.0.1.0/24, action: accept}
    network_acls:
      acl-data:
        subnets: [data]
        inbound:
          - {proto: all, source: 0.0.0.0/0, action: accept}
        outbound:
          - {proto: tcp, port: 1024-65535, destination: 10.0.1.0/24, action: accept}
          - {proto: icmp, destination: 0.0.0.0/0, action: accept}
    instances:
      app-1: {subnet: web}
      db-1: {subnet: data, kind: cdb, security_groups: [sg-base, sg-db]}
"""
SG_RULE = "          - {proto: tcp, port: 3306, source: 10.0.1.0/24, action: accept}\n"
ACL_RULE = "          - {proto: tcp, port: 1024-65535, destination: 10.0.1.0/24, action: accept}\n"


def change(old_text, new_text, key):
    d = diffreach.diff(loads(old_text, "old.yaml"), loads(new_text, "new.yaml"))
    rows = [c for c in d["changes"] if (c["src"], c["dst"], c["proto"], c["port"]) == key]
    assert len(rows) == 1, d["changes"]
    return rows[0]


def test_a_changed_group_rule_is_named_with_its_index_and_text_in_both_versions():
    new = OLD.replace(SG_RULE, SG_RULE.replace("10.0.1.0/24", "10.0.9.0/24"))
    c = change(OLD, new, ("app/app-1", "app/db-1", "tcp", 3306))
    assert c["change"] == "lost"
    (cause,) = [x for x in c["causes"] if x["kind"] == "security_group"]
    assert (cause["where"], cause["direction"], cause["leg"]) == ("app/db-1", "ingress", "request")
    # rule 1 of sg-db (the second group of db-1) accepted it; in NEW no rule matches
    assert cause["old"] == {"owner": "sg-db", "rule": 1, "text": "tcp/3306 from 10.0.1.0/24 accept", "action": "accept"}
    assert cause["new"] == {"owner": None, "rule": None, "text": None, "action": "drop"}
    assert "sg-db" in cause["detail"] and "rule 1 `tcp/3306 from 10.0.1.0/24 accept`" in cause["detail"]
    assert "`tcp/3306 from 10.0.9.0/24 accept`" in cause["detail"]  # what it became
    # the vague "app: changed" is gone: the rule says it
    assert not [x for x in c["causes"] if x["kind"] == "vpc"], c["causes"]


def test_an_added_drop_rule_is_named():
    new = OLD.replace("      sg-db:\n        ingress:\n",
                      "      sg-db:\n        ingress:\n          - {proto: all, source: 10.0.1.5/32, action: drop}\n")
    new = new.replace("app-1: {subnet: web}", "app-1: {subnet: web, ip: 10.0.1.5}")
    old = OLD.replace("app-1: {subnet: web}", "app-1: {subnet: web, ip: 10.0.1.5}")
    c = change(old, new, ("app/app-1", "app/db-1", "icmp", None))
    (cause,) = [x for x in c["causes"] if x["kind"] == "security_group"]
    assert cause["old"]["rule"] == 0 and cause["old"]["text"] == "icmp from 0.0.0.0/0 accept"
    assert cause["new"] == {"owner": "sg-db", "rule": 0, "text": "all from 10.0.1.5/32 drop", "action": "drop"}
    assert "(added) drops it" in cause["detail"]


def test_a_removed_acl_rule_on_the_reply_is_named():
    new = OLD.replace(ACL_RULE, "")
    c = change(OLD, new, ("app/app-1", "app/db-1", "tcp", 3306))
    assert c["new"]["result"] == "no-return"
    (cause,) = [x for x in c["causes"] if x["kind"] == "network_acl"]
    assert (cause["acl"], cause["where"], cause["direction"], cause["leg"]) == ("acl-data", "app/data", "outbound",
                                                                                "reply")
    assert cause["old"] == {"owner": "acl-data", "rule": 0, "text": "tcp/1024-65535 to 10.0.1.0/24 accept",
                            "action": "accept"}
    assert cause["new"]["action"] == "drop" and cause["new"]["rule"] is None
    assert "removed since" in cause["detail"]


def test_the_cli_prints_the_rule(tmp_path, capsys):
    from vpclab.cli.main import main

    (tmp_path / "old.yaml").write_text(OLD)
    (tmp_path / "new.yaml").write_text(OLD.replace(SG_RULE, ""))
    with pytest.raises(SystemExit):
        main(["diff", str(tmp_path / "old.yaml"), str(tmp_path / "new.yaml")])
    out = capsys.readouterr().out
    assert "because security group sg-base,sg-db of app/db-1, ingress: rule 1 `tcp/3306 from 10.0.1.0/24 accept` " \
           "of sg-db (removed since) accepted it; now no rule matches it (dropped)" in out, out
    with pytest.raises(SystemExit):
        main(["diff", str(tmp_path / "old.yaml"), str(tmp_path / "new.yaml"), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["changes"][0]["causes"][0]["group"] == "sg-base,sg-db"


PEERED = OLD.replace("lab: sgd\n", "lab: sgd\npeerings:\n  pcx: {vpc: app, peer_vpc: ops}\n").replace(
    "      db-1: {subnet: data, kind: cdb, security_groups: [sg-base, sg-db]}\n",
    """      db-1: {subnet: data, kind: cdb, security_groups: [sg-base, sg-db]}
    route_tables:
      default: {routes: [{destination: 10.9.0.0/16, next_hop: pcx}]}
  ops:
    region: ap-guangzhou
    cidr: 10.9.0.0/16
    subnets: {ops: {cidr: 10.9.1.0/24}}
    route_tables:
      default: {routes: [{destination: 10.0.0.0/16, next_hop: pcx}]}
    security_groups:
      sg-ops:
        ingress: [{proto: all, source: 10.0.0.0/8, action: accept}]
        egress: [{proto: all, destination: 0.0.0.0/0, action: accept}]
    instances:
      ops-1: {subnet: ops, security_groups: [sg-ops]}
      ops-2: {subnet: ops}
""")
EDITS = {
    "ingress only": (SG_RULE, SG_RULE.replace("10.0.1.0/24", "10.9.0.0/16")),
    "ops egress": ("        egress: [{proto: all, destination: 0.0.0.0/0, action: accept}]",
                   "        egress: [{proto: all, destination: 10.0.2.0/24, action: drop}, "
                   "{proto: all, destination: 0.0.0.0/0, action: accept}]"),
    "ops ingress": ("        ingress: [{proto: all, source: 10.0.0.0/8, action: accept}]",
                    "        ingress: [{proto: icmp, source: 10.0.2.0/24, action: accept}]"),
    "acl inbound": ("          - {proto: all, source: 0.0.0.0/0, action: accept}\n",
                    "          - {proto: tcp, port: 3306, source: 0.0.0.0/0, action: accept}\n"),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_pruning_by_the_way_a_rule_judges_agrees_with_the_full_matrices(edit):
    """`diff` asks only what a changed ingress rule can judge (what arrives) or an egress rule
    (what is sent); its answer must be the unpruned reference's."""
    a, b = EDITS[edit]
    assert PEERED.count(a) == 1
    old, new = loads(PEERED, "old.yaml"), loads(PEERED.replace(a, b), "new.yaml")
    d = diffreach.diff(old, new)
    got = {(c["src"], c["dst"], c["proto"], c["port"]): (c["old"]["result"], c["new"]["result"]) for c in d["changes"]}
    assert got == diffreach.full(old, new) and got
    for c in d["changes"]:  # each names the filter and the rule that decides now or decided before
        assert any(x["kind"] in ("security_group", "network_acl") and (x["old"] or x["new"]) for x in c["causes"]), c


def test_what_a_filter_change_touches():
    """A group's ingress rules judge what arrives at its members, its egress rules what they send
    (stateful); an ACL judges both ways for its subnets' instances; a member joining: both."""
    from vpclab.explain import filterdiff

    def touched(edit, vpc):
        a, b = edit
        return filterdiff.touched(loads(PEERED, "o.yaml"), loads(PEERED.replace(a, b), "n.yaml"), vpc)

    assert touched(EDITS["ingress only"], "app") == {"app/db-1": {"in"}}
    assert touched(EDITS["ops egress"], "ops") == {"ops/ops-1": {"out"}}
    assert touched(EDITS["acl inbound"], "app") == {"app/db-1": {"in", "out"}}
    assert touched(("ops-2: {subnet: ops}", "ops-2: {subnet: ops, security_groups: [sg-ops]}"), "ops") == {
        "ops/ops-2": {"in", "out"}}
