"""`vpclab validate` and the JSON Schema (docs/topology.schema.json) judge the same edge inputs
alike (docs/topology.md says they always agree on the shape).

Both read one tree: vpclab's YAML reader, which resolves plain scalars as YAML 1.2's core schema
does, as editors and the schema's tools (yaml-language-server) do. Before: the loader read YAML
1.1 (PyYAML's default), so `accepted: yes` was a boolean for `validate` and the string "yes" for
the schema in an editor.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from vpclab.errors import TopologyInvalid
from vpclab.topology import load as loader
from vpclab.topology.yamltree import parse_yaml

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[3]

BASE = """\
lab: edges
accounts: [alice, bob]
internet:
  hosts:
    web: {ip: 203.0.113.200, ports: [443]}
vpcs:
  vpc-a:
    account: alice
    region: ap-guangzhou
    cidr: 10.0.0.0/16
    subnets: {app: {cidr: 10.0.1.0/24}}
    instances:
      cvm-1: {subnet: app}
  vpc-b:
    account: bob
    region: ap-guangzhou
    cidr: 10.1.0.0/16
    subnets: {app: {cidr: 10.1.1.0/24}}
    instances:
      db-1: {subnet: app, kind: cdb}
peerings:
  pcx-ab: {vpc: vpc-a, peer_vpc: vpc-b, accepted: true}
expect:
  - {from: vpc-a/cvm-1, to: vpc-b/db-1, proto: tcp, port: 3306}
"""

# (id, text replaced in BASE, its replacement)
EDGES = [
    ("accepted-true", "accepted: true", "accepted: true"),
    ("accepted-True", "accepted: true", "accepted: True"),
    ("accepted-false", "accepted: true", "accepted: false"),
    ("accepted-yes", "accepted: true", "accepted: yes"),  # the reported case
    ("accepted-no", "accepted: true", "accepted: no"),
    ("accepted-on", "accepted: true", "accepted: on"),
    ("accepted-quoted-true", "accepted: true", 'accepted: "true"'),
    ("accepted-1", "accepted: true", "accepted: 1"),
    ("accepted-null", "accepted: true", "accepted: ~"),
    ("lab-no", "lab: edges", "lab: no"),
    ("lab-on", "lab: edges", "lab: on"),
    ("lab-true", "lab: edges", "lab: true"),
    ("account-yes", "accounts: [alice, bob]", "accounts: [alice, bob, yes]"),
    ("region-date", "region: ap-guangzhou\n    cidr: 10.1", "region: 2024-01-01\n    cidr: 10.1"),
    ("port-octal-looking", "port: 3306", "port: 03306"),
    ("port-0o", "port: 3306", "port: 0o6732"),
    ("port-hex", "port: 3306", "port: 0xcea"),
    ("port-underscore", "port: 3306", "port: 3_306"),
    ("port-sexagesimal", "port: 3306", "port: 55:6"),
    ("port-float", "port: 3306", "port: 3306.0"),
    ("port-fraction", "port: 3306", "port: 3306.5"),
    ("port-exponent", "port: 3306", "port: 3.306e3"),
    ("port-quoted", "port: 3306", 'port: "3306"'),
    ("port-bool", "port: 3306", "port: true"),
    ("host-ports-one", "ports: [443]", "ports: 443"),
    ("host-ports-float", "ports: [443]", "ports: [443.0]"),
    ("host-ports-yes", "ports: [443]", "ports: [yes]"),
    ("kind-on", "kind: cdb", "kind: on"),
    ("result-no", "port: 3306}", "port: 3306, result: no}"),
]


@pytest.fixture(scope="module")
def validator():
    return jsonschema.Draft202012Validator(json.loads((ROOT / "docs" / "topology.schema.json").read_text()))


def test_the_base_passes_both(validator):
    loader.loads(BASE, "base.yaml")
    assert list(validator.iter_errors(parse_yaml(BASE, "base.yaml"))) == []


@pytest.mark.parametrize("case", EDGES, ids=[c[0] for c in EDGES])
def test_validate_and_the_schema_agree(validator, case):
    name, old, new = case
    assert BASE.count(old) == 1, name
    text = BASE.replace(old, new)
    try:
        loader.loads(text, f"{name}.yaml")
        problems = []
    except TopologyInvalid as e:
        problems = e.lines()
    schema_errors = [e.message for e in validator.iter_errors(parse_yaml(text, f"{name}.yaml"))]
    assert (problems == []) == (schema_errors == []), (problems, schema_errors)


@pytest.mark.parametrize("case", ["accepted-quoted-true", "port-underscore",
                                  "port-fraction", "host-ports-yes", "kind-on"])
def test_the_edges_both_refuse(validator, case):
    name, old, new = next(c for c in EDGES if c[0] == case)
    with pytest.raises(TopologyInvalid):
        loader.loads(BASE.replace(old, new), "x.yaml")


@pytest.mark.parametrize("word, state", [("yes", "ACTIVE"), ("on", "ACTIVE"), ("YES", "ACTIVE"),
                                         ("no", "PENDING"), ("Off", "PENDING")])
def test_yaml_1_1_boolean_words_keep_their_meaning_for_a_boolean_key(validator, word, state):
    """`accepted: yes` meant true when PyYAML read YAML 1.1: an earlier topology keeps its meaning
    (the reader now reads YAML 1.2, where it is a word); the schema accepts the words too."""
    text = BASE.replace("accepted: true", f"accepted: {word}")
    assert loader.loads(text, "x.yaml").peerings["pcx-ab"].state == state
    assert list(validator.iter_errors(parse_yaml(text, "x.yaml"))) == []


def test_a_word_that_is_no_boolean_is_refused_with_the_reason():
    text = BASE.replace("accepted: true", "accepted: maybe")
    with pytest.raises(TopologyInvalid) as e:
        loader.loads(text, "x.yaml")
    (p,) = e.value.problems
    assert p.code == "InvalidParameter" and "true or false" in p.message


@pytest.mark.parametrize("written, read", [
    ("yes", "yes"), ("No", "No"), ("on", "on"), ("OFF", "OFF"), ("y", "y"),
    ("true", True), ("True", True), ("FALSE", False),
    ("010", 10), ("0o17", 15), ("0x1f", 31), ("-5", -5), ("1_000", "1_000"), ("1:30", "1:30"),
    ("1e3", 1000.0), ("1.5", 1.5), ("2024-01-01", "2024-01-01"), ("~", None), ("null", None), ("", None),
])
def test_plain_scalars_are_read_as_yaml_1_2s_core_schema(written, read):
    got = parse_yaml(f"v: {written}\n", "x.yaml")["v"]
    assert got == read and type(got) is type(read)


def test_the_shipped_topologies_and_exercises_read_the_same_either_way():
    """No shipped file changes meaning with YAML 1.2 (it writes no YAML-1.1-only scalar)."""
    import yaml

    files = sorted((ROOT / "topologies").glob("*.yaml")) + sorted((ROOT / "lab").glob("*/*.yaml"))
    assert len(files) > 10
    for f in files:
        text = f.read_text()
        assert parse_yaml(text, str(f)) == yaml.safe_load(text), f
