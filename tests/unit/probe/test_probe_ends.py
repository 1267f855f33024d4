"""A probe needs two ends: from an instance to itself, or to its own address, the instance's
own kernel answers, no packet leaves it, and a live probe said `reachable` while explain said
`unreachable` (a MISMATCH, exit 0). One rule refuses it, the same way, in `probe` (its
target), in `explain` and in a topology's `expect:` (FILE:LINE)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from vpclab.topology import load as loader
from vpclab.controller import targets
from vpclab.errors import Refused, TopologyInvalid
from vpclab.model import rules

from test_cli import run  # the CLI in-process: (exit code, stdout, stderr), no traceback

ROOT = Path(__file__).resolve().parents[3]
TOPOLOGIES = sorted((ROOT / "topologies").glob("*.yaml"))


def self_pairs(model):
    """(src, dst) for every instance to itself and to its own address."""
    for i in model.instances():
        yield i.ref, i.ref
        yield i.ref, str(i.ip)


@pytest.mark.parametrize("path", TOPOLOGIES, ids=lambda p: p.name)
def test_explain_and_probe_refuse_every_self_probe_alike(path, capsys):
    model = loader.load(path)
    for src, dst in self_pairs(model):
        code, out, _ = run(capsys, "explain", src, dst, "-f", str(path), "--json")
        assert code == 2, out
        err = json.loads(out)["error"]
        assert err["code"] == "InvalidParameterValue" and src in err["message"] and dst in err["message"]
        with pytest.raises(Refused) as e:
            targets.target(model, src, dst, "icmp", None)
        assert (e.value.code, e.value.message) == (err["code"], err["message"])


@pytest.mark.parametrize("path", TOPOLOGIES, ids=lambda p: p.name)
def test_every_other_instance_is_still_a_destination(path):
    model = loader.load(path)
    insts = model.instances()
    for s in insts:
        for d in insts:
            if d is not s:
                assert rules.check_probe_ends(model, s.ref, d.ref) == []
                if d.ip != s.ip:
                    assert rules.check_probe_ends(model, s.ref, str(d.ip)) == []
                    targets.target(model, s.ref, str(d.ip), "icmp", None)


def test_an_expectation_to_itself_is_refused_at_its_line(tmp_path):
    text = (ROOT / "topologies" / "01-two-vpcs.yaml").read_text()
    model = loader.loads(text)
    src = model.instances()[0]
    lines = text.rstrip("\n").split("\n")
    if not any(l.startswith("expect:") for l in lines):
        lines.append("expect:")
    lines += [f"  - {{from: {src.ref}, to: {src.ip}}}", f"  - {{from: {src.ref}, to: {src.ref}}}"]
    path = tmp_path / "self.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(TopologyInvalid) as e:
        loader.load(path)
    found = [(p.file, p.line, p.code) for p in e.value.problems]
    assert found == [(str(path), len(lines) - 1, "InvalidParameterValue"), (str(path), len(lines), "InvalidParameterValue")]
