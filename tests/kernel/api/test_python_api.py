"""The Python API (`from vpclab import Lab`) on real labs, and the examples of docs/python-api.md.

The documentation's ```python blocks run in order, in one fresh interpreter, from
the repository root; every lab they build (unique names) must be gone afterwards.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from labkit import REPO, TOPOLOGIES, assert_gone, lab_namespaces, needs_root

pytestmark = needs_root

BLOCK = re.compile(r"```python\n(.*?)```", re.S)

PRELUDE = r"""
import json, sys
from vpclab.api import lab as api
built = []
_up = api.Lab.up.__func__
def up(cls, *a, **kw):
    lab = _up(cls, *a, **kw)
    built.append(lab.name)
    return lab
api.Lab.up = classmethod(up)
"""
EPILOGUE = r"""
print("BUILT " + json.dumps({"built": built, "live": sorted(api._LIVE)}))
"""


def test_docs_examples_run_and_leave_nothing():
    blocks = BLOCK.findall((REPO / "docs" / "python-api.md").read_text())
    assert len(blocks) >= 4
    code = PRELUDE + "\n".join(f"exec(compile({b!r}, 'docs/python-api.md block {i}', 'exec'), {{}})"
                               for i, b in enumerate(blocks, 1)) + EPILOGUE
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    doc = json.loads(p.stdout.rsplit("BUILT ", 1)[1])
    assert len(doc["built"]) == len(blocks) and doc["live"] == []
    for name in doc["built"]:
        assert_gone(name)
    assert "no-return" in p.stdout and "InvalidParameterValue.CidrNotInPeerVpc" in p.stdout


def test_with_block_tears_down_on_an_exception_and_names_are_unique():
    from vpclab import Lab

    names = []
    with pytest.raises(ZeroDivisionError):
        with Lab.up(TOPOLOGIES / "01-two-vpcs.yaml", unique=True) as a, \
                Lab.up(TOPOLOGIES / "01-two-vpcs.yaml", unique=True) as b:
            names += [a.name, b.name]
            assert a.name != b.name and lab_namespaces(a.name) and lab_namespaces(b.name)
            1 / 0
    for n in names:
        assert_gone(n)


def test_a_half_built_lab_is_removed_when_up_is_interrupted(monkeypatch):
    from vpclab import Lab
    from vpclab.api import lab as api
    from vpclab.controller import build

    seen = []
    real = build.reconcile

    def interrupted(model, store, *a, **kw):
        seen.append(model.name)
        real(model, store, *a, **kw)
        raise KeyboardInterrupt  # Ctrl-C once the kernel objects exist

    monkeypatch.setattr(build, "reconcile", interrupted)
    with pytest.raises(KeyboardInterrupt):
        Lab.up(TOPOLOGIES / "01-two-vpcs.yaml", unique=True)
    assert seen and seen[0] not in api._LIVE
    assert_gone(seen[0])


def test_typed_results_match_the_cli_json(tmp_path):
    from vpclab import Lab
    from labkit import run_json

    with Lab.up(TOPOLOGIES / "02-one-way-route.yaml", unique=True) as lab:
        v = lab.probe("vpc-b/cvm-1", "vpc-a/cvm-1")
        doc = run_json("probe", "vpc-b/cvm-1", "vpc-a/cvm-1", "-l", lab.name)
        assert (v.result, v.forward.path, v.ret.path, v.reason.code) == (
            doc["result"], doc["forward"]["path"], doc["return"]["path"], doc["reason"]["code"])
        assert v.result == "unreachable"
        report = lab.test()
        assert (report.passed, report.failed) == (2, 0)
        assert [c.id for c in report.cases] == ["vpc-a/cvm-1->vpc-b/cvm-1/icmp", "vpc-b/cvm-1->vpc-a/cvm-1/icmp"]


def test_up_never_takes_over_a_lab_it_did_not_build(tmp_path, monkeypatch):
    """A lab built by someone else (the CLI here) under the same name is refused, never
    adopted: it would be removed when the `with` block, the test or the interpreter ends."""
    from vpclab import Lab
    from vpclab.api import lab as api
    from vpclab.controller import host
    from vpclab.errors import Refused
    from labkit import lab_name, renamed, run, run_json

    name = lab_name()
    path = renamed(TOPOLOGIES / "01-two-vpcs.yaml", name, tmp_path)
    run("up", path, check=0)
    try:
        before = lab_namespaces(name)
        other = TOPOLOGIES / "02-one-way-route.yaml"
        for args, kw in [((path,), {}), ((other,), {"name": name})]:
            with pytest.raises(Refused) as e:
                Lab.up(*args, **kw)
            assert e.value.code == "UnsupportedOperation.LabRunning" and f"Lab.attach('{name}')" in e.value.hint
        # A lab built between the check and the build: the controller refuses it under the lab's lock.
        monkeypatch.setattr(host, "running_labs", lambda: [])
        with pytest.raises(Refused) as e:
            Lab.up(path)
        assert e.value.code == "UnsupportedOperation.LabRunning"
        assert name not in api._LIVE
        api._down_all()  # what interpreter exit does: this lab is not among them
        assert lab_namespaces(name) == before
        doc = run_json("status", "-l", name)
        assert doc["lab"] == name and doc["source"] == str(path)
        assert [e["action"] for e in run_json("events", "-l", name)["events"]].count("up") == 2  # started, ok
    finally:
        run("down", name)
    assert_gone(name)
