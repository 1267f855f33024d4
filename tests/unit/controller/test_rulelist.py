"""`sg rule list` / `acl rule list` without root (issue 22): the rows, their order and index, the
counters summed over where the rule sits (kernel counters made up here; tests/kernel/controller/
test_rule_list_live.py reads real ones), and what is printed."""
from __future__ import annotations

from pathlib import Path

from vpclab.cli.render.rulelist import render
from vpclab.controller import rulelist, static

TOPO = Path(__file__).resolve().parents[3] / "topologies" / "07-security-groups.yaml"


def _model():
    return static.validate(str(TOPO))


def test_a_groups_rules_with_the_counters_of_every_instance_that_carries_it():
    model = _model()
    v = model.vpcs["vpc-a"]
    counted = {("vpc-a", "sg-web", "ingress", 0): {"vpc-a/web-1": (3, 180), "vpc-a/web-2": (1, 60)},
               ("vpc-a", "web-1", "ingress", None): {"vpc-a/web-1": (2, 88)},  # web-1's own default drop
               ("vpc-a", "db-1", "ingress", None): {"vpc-a/db-1": (9, 396)}}  # not sg-web's instance
    doc = rulelist.group_doc(model, v, v.security_groups["sg-web"], counted)
    assert doc["instances"] == ["vpc-a/web-1", "vpc-a/web-2"]
    rows = [(r["direction"], r["index"], r["text"]) for r in doc["rules"]]
    assert rows == [("ingress", 0, "tcp/80 from 0.0.0.0/0 accept"), ("ingress", 1, "icmp from sg-web accept"),
                    ("ingress", None, "no rule matched: drop"), ("egress", 0, "all to 0.0.0.0/0 accept"),
                    ("egress", None, "no rule matched: drop")]
    first, second, default = doc["rules"][:3]
    assert (first["counter"]["packets"], first["counter"]["bytes"]) == (4, 240)
    assert first["counter"]["at"] == {"vpc-a/web-1": {"packets": 3, "bytes": 180},
                                      "vpc-a/web-2": {"packets": 1, "bytes": 60}}
    assert second["counter"]["packets"] == 0  # installed, nothing counted
    assert (default["counter"]["packets"], default["counter"]["bytes"]) == (2, 88)


def test_an_acls_rules_summed_over_its_subnets_and_no_counters_when_unreadable(capsys):
    model = _model()
    v = model.vpcs["vpc-a"]
    acl = v.network_acls["acl-db"]
    doc = rulelist.acl_doc(model, v, acl, {("vpc-a", "acl-db", "outbound", None): {"db": (5, 220)}})
    out_default = [r for r in doc["rules"] if r["direction"] == "outbound" and r["index"] is None][0]
    assert out_default["counter"]["packets"] == 5 and out_default["counter"]["at"] == {"db": {"packets": 5,
                                                                                              "bytes": 220}}
    unread = rulelist.acl_doc(model, v, acl, None)  # counters could not be read: none is made up
    assert all(r["counter"] is None for r in unread["rules"])
    render({"lab": "sgs", "kind": "acl", "counters": False, "counters_missing": "no libnftables",
            "acls": [unread]})
    out, err = capsys.readouterr()
    assert "network ACL vpc-a/acl-db (bound to db)" in out and "tcp/3306 from 10.0.1.0/24 accept" in out
    assert "counters not shown: no libnftables" in err


def test_the_printed_table_has_the_index_rule_and_counter_columns(capsys):
    model = _model()
    v = model.vpcs["vpc-a"]
    g = rulelist.group_doc(model, v, v.security_groups["sg-db"], {("vpc-a", "sg-db", "ingress", 1):
                                                                   {"vpc-a/db-1": (7, 588)}})
    render({"lab": "sgs", "kind": "sg", "counters": True, "counters_missing": None, "groups": [g]})
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if "index" in line)
    assert [c.strip() for c in header.replace("┃", "|").split("|")] == ["direction", "index", "rule", "packets",
                                                                        "bytes"]
    row = next(line for line in lines if "icmp from sg-web accept" in line)
    assert [c.strip() for c in row.replace("│", "|").split("|")] == ["ingress", "1", "icmp from sg-web accept",
                                                                     "7", "588"]
