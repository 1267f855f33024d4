"""`vpclab schema`: the JSON Schema of the topology format, checked with the `jsonschema` package.

The schema is generated from the loader's table of keys; these tests check that
every key the loader accepts is described, that the shipped topologies (and
random valid ones) validate, that files the loader refuses for their shape are
refused by the schema too, and that docs/topology.schema.json is current.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from test_properties import PROPS, topology_dicts

from vpclab.topology import load as loader, schema

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = sorted((ROOT / "topologies").glob("*.yaml")) + [ROOT / "tests" / "kernel" / "overlap.yaml"]


@pytest.fixture(scope="module")
def validator():
    s = schema.schema()
    jsonschema.Draft202012Validator.check_schema(s)
    return jsonschema.Draft202012Validator(s)


def test_every_key_the_loader_accepts_is_described_and_nothing_else():
    for section, (allowed, required) in loader.SCHEMA.items():
        assert set(schema.KEYS[section]) == set(allowed), section
        assert all(schema.KEYS[section][k] for k in allowed), section
    assert set(schema.KEYS) == set(loader.SCHEMA)
    s = schema.schema()
    top = s["$defs"]["top"]
    assert set(top["properties"]) == loader.SCHEMA["top"][0] and set(top["required"]) == loader.SCHEMA["top"][1]
    for section, (allowed, required) in loader.SCHEMA.items():
        if section != "top":
            assert set(s["$defs"][section]["properties"]) == allowed
            assert set(s["$defs"][section].get("required", [])) == required


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_topologies_validate(validator, path):
    loader.load(path)  # the loader accepts it ...
    errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
    assert errors == []  # ... and so does the schema


@PROPS
@given(topology_dicts())
def test_random_valid_topologies_validate(validator, d):
    assert [e.message for e in validator.iter_errors(d)] == []


@pytest.mark.parametrize("case", ["unknown-key", "missing-key", "wrong-type", "bad-names", "not-a-mapping",
                                  "routes-not-a-list", "empty-values"])
def test_shape_errors_the_loader_refuses_are_refused_by_the_schema(validator, case):
    doc = yaml.safe_load((ROOT / "tests" / "golden" / f"{case}.yaml").read_text())
    assert list(validator.iter_errors(doc)), f"{case}.yaml passes the schema"


def test_a_file_that_includes_others_may_leave_required_keys_to_them(validator):
    """docs/ci.md's team file: `include:` and expectations only; the included file has the VPCs."""
    team = {"include": ["net.yaml"], "expect": [{"from": "app/web-1", "to": "db/db-1", "proto": "tcp",
                                                   "port": 3306}],
            "vpcs": {"app": {"instances": {"web-2": {"subnet": "web"}}}}}
    assert [e.message for e in validator.iter_errors(team)] == []
    team["vpcs"]["app"]["colour"] = "red"  # the shape still holds: no unknown key
    assert [e.message for e in validator.iter_errors(team)]
    assert [e.message for e in validator.iter_errors({"expect": []})]  # no include: the lab's keys are required


def test_shipped_schema_file_is_current():
    shipped = json.loads((ROOT / "docs" / "topology.schema.json").read_text())
    assert shipped == schema.schema(), "regenerate it: vpclab schema > docs/topology.schema.json"


def test_cli_prints_the_schema(capsys):
    from vpclab.cli.main import main

    with pytest.raises(SystemExit) as e:
        main(["schema"])
    assert e.value.code == 0
    assert json.loads(capsys.readouterr().out) == schema.schema()
