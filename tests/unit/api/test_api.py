"""The Python API without root: typed results, lab names, refusals before anything is built."""
from __future__ import annotations

from pathlib import Path

import pytest

from vpclab import explain as analyze
from vpclab.api import lab as api
from vpclab.topology import load as loader
from vpclab.topology.relabel import write_renamed
from vpclab.errors import Refused, TopologyInvalid
from vpclab.model.types import LAB_NAME

ROOT = Path(__file__).resolve().parents[3]
T02 = ROOT / "topologies" / "02-one-way-route.yaml"


def test_verdict_mirrors_the_json_document():
    doc = analyze.explain(loader.load(T02), "vpc-a/cvm-1", "vpc-b/cvm-1").to_json()
    v = api.Verdict.from_json(doc)
    assert (v.result, v.forward.path, v.ret.path, v.reason.code, v.reason.where) == (
        "no-return", ["vpc-a/cvm-1", "vpc-a", "pcx-ab", "vpc-b", "vpc-b/cvm-1"], ["vpc-b/cvm-1", "vpc-b"],
        "NO_ROUTE", "vpc-b")
    assert not v.reachable and not v.ret.delivered
    text = v.describe()
    assert "request: vpc-a/cvm-1 -> vpc-a -> pcx-ab -> vpc-b -> vpc-b/cvm-1  (delivered)" in text
    assert "reply:   vpc-b/cvm-1 -> vpc-b  (lost after vpc-b)" in text
    assert "reason:  NO_ROUTE at vpc-b, table default" in text


def test_unique_names_are_lab_names_and_differ():
    names = {api.unique_name() for _ in range(50)}
    assert len(names) == 50 and all(LAB_NAME.match(n) and len(n) == 8 for n in names)
    with pytest.raises(Refused):
        api.unique_name("9x")


def test_renamed_copy_keeps_every_line_but_the_name(tmp_path):
    out = write_renamed(T02, "zz1", tmp_path / T02.name)
    a, b = T02.read_text().splitlines(), out.read_text().splitlines()
    assert len(a) == len(b) and [x for x, y in zip(a, b) if x != y] == ["lab: oneway"]
    assert loader.load(out).name == "zz1"


def test_bad_file_is_refused_naming_the_users_file_before_anything(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("lab: x\nvpcs: {}\n")
    with pytest.raises(TopologyInvalid) as e:
        api.Lab.up(bad, unique=True)
    assert e.value.problems[0].file == str(bad) and e.value.problems[0].line == 2
    with pytest.raises(Refused):
        api.Lab.up(T02, name="Not-A-Name")
    with pytest.raises(Refused):
        api.Lab.up(T02, name="abc", unique=True)
    assert api._LIVE == {}
