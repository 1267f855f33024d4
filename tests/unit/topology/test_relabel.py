"""A topology under another lab name (`vpclab.topology.relabel`): used by the Python API, the
exercises and the tests. The copy keeps every line; block and flow style alike."""
from __future__ import annotations

from pathlib import Path

import yaml

from vpclab.topology import load as loader
from vpclab.topology.relabel import renamed_text, write_renamed

ROOT = Path(__file__).resolve().parents[3]
T02 = ROOT / "topologies" / "02-one-way-route.yaml"
START = ROOT / "lab" / "03-return-route" / "start.yaml"


def changed_lines(a: str, b: str):
    a, b = a.splitlines(), b.splitlines()
    assert len(a) == len(b)
    return [(x, y) for x, y in zip(a, b) if x != y]


def test_block_style_changes_the_lab_line_only():
    text = T02.read_text()
    out = renamed_text(text, "zz1")
    assert changed_lines(text, out) == [("lab: oneway", "lab: zz1")]
    assert loader.loads(out).name == "zz1"


def test_flow_style_is_renamed_in_place():
    text = yaml.safe_dump(yaml.safe_load(START.read_text()), default_flow_style=True, width=60)
    assert text.startswith("{") and "\nlab:" not in text
    out = renamed_text(text, "zz2")
    model = loader.loads(out)
    assert model.name == "zz2" and len(changed_lines(text, out)) == 1
    assert set(model.vpcs) == set(loader.loads(text).vpcs)
    one_line = '{"lab": "ex03", "vpcs": {}}'
    assert renamed_text(one_line, "zz3") == '{"lab": zz3, "vpcs": {}}'


def test_comments_quotes_and_names_yaml_would_misread():
    text = "# lab: not this one\nlab: 'old'   # the name\nvpcs: {}\n"
    assert renamed_text(text, "new") == "# lab: not this one\nlab: new   # the name\nvpcs: {}\n"
    out = renamed_text(text, "no")  # plain `no` is a boolean in YAML
    assert yaml.safe_load(out)["lab"] == "no" and out.count("\n") == text.count("\n")


def test_texts_that_are_not_topologies_are_left_to_the_loader():
    assert renamed_text("lab: x\nvpcs: [\n", "y") == "lab: y\nvpcs: [\n"  # broken YAML: the block line
    assert renamed_text("- 1\n", "y") == "- 1\n"
    assert yaml.safe_load(renamed_text("vpcs: {}\n", "y")) == {"vpcs": {}, "lab": "y"}


def test_write_renamed(tmp_path):
    out = write_renamed(T02, "zz4", tmp_path / "copy.yaml")
    assert out == tmp_path / "copy.yaml" and loader.load(out).name == "zz4"
