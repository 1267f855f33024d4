"""docs/topology.md and docs/ci.md say what the code does: every key documented, every
example valid, the CI workflow and the documented command the same."""
from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import yaml

from vpclab.explain import routes as analyze
from vpclab.topology import load as loader

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY_MD = (ROOT / "docs" / "topology.md").read_text()
CI_MD = (ROOT / "docs" / "ci.md").read_text()


def blocks(text: str, lang: str):
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def test_every_key_the_loader_accepts_is_documented():
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", TOPOLOGY_MD, re.M))
    for section, (allowed, _) in loader.SCHEMA.items():
        assert allowed <= documented, f"{section}: {sorted(allowed - documented)} not in docs/topology.md"


def test_topology_examples_validate_and_their_expectations_hold():
    examples = blocks(TOPOLOGY_MD, "yaml")
    assert len(examples) >= 3
    for text in examples:
        lab = loader.loads(text, "docs/topology.md")
        for e in lab.expectations:
            assert analyze.explain(lab, e.src, e.dst, e.proto, e.port).result == e.result, (e.src, e.dst)
    minimal = loader.loads(examples[0], "docs/topology.md")
    assert minimal.instance("vpc-a/cvm-1").ip == ipaddress.IPv4Address("10.0.1.2")  # "the first free address"
    assert minimal.vpcs["vpc-a"].account == "default"


def test_ci_doc_and_workflow_run_the_same_pytest_command():
    flow = yaml.safe_load((ROOT / "docs" / "examples" / "reachability.yml").read_text())
    job = next(iter(flow["jobs"].values()))
    assert job["runs-on"].startswith("ubuntu")
    runs = [s.get("run", "") for s in job["steps"]]
    assert any(r.strip() == "sudo ./scripts/setup" for r in runs)
    wf = next(r.strip() for r in runs if "pytest --vpclab" in r)
    assert "--junitxml=" in wf and "-n auto" in wf
    doc = [l.strip() for b in blocks(CI_MD, "sh") for l in b.splitlines() if "pytest --vpclab" in l]
    assert doc and all(wf.startswith(d) for d in doc), (wf, doc)  # the workflow adds -p no:cacheprovider only
    assert any(s.get("uses", "").startswith("actions/upload-artifact") for s in job["steps"])
