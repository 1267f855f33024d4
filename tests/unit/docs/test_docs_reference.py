"""docs/topology.md and docs/ci.md say what the code does: every key documented, every
example valid, the CI workflow and the documented command the same."""
from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import yaml

from vpclab import explain as analyze
from vpclab.topology import load as loader

ROOT = Path(__file__).resolve().parents[3]
TOPOLOGY_MD = (ROOT / "docs" / "topology.md").read_text()
CI_MD = (ROOT / "docs" / "ci.md").read_text()


def blocks(text: str, lang: str):
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def test_every_key_the_loader_accepts_is_documented():
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", TOPOLOGY_MD, re.M))
    for section, (allowed, _) in loader.SCHEMA.items():
        assert allowed <= documented, f"{section}: {sorted(allowed - documented)} not in docs/topology.md"


def test_topology_examples_validate_and_their_expectations_hold(tmp_path):
    examples = blocks(TOPOLOGY_MD, "yaml")
    assert len(examples) >= 3
    # an example introduced as `NAME.yaml` is that file: a later example may include it
    for name, text in re.findall(r"^`([\w.-]+\.yaml)`[^\n]*:\n\n```yaml\n(.*?)```", TOPOLOGY_MD, re.S | re.M):
        (tmp_path / name).write_text(text)
    assert any("include:" in text for text in examples)
    for text in examples:
        lab = loader.loads(text, str(tmp_path / "example.yaml"))
        for e in lab.expectations:
            assert analyze.explain(lab, e.src, e.dst, e.proto, e.port).result == e.result, (e.src, e.dst)
    minimal = loader.loads(examples[0], "docs/topology.md")
    assert minimal.instance("vpc-a/cvm-1").ip == ipaddress.IPv4Address("10.0.1.2")  # "the first free address"
    assert minimal.vpcs["vpc-a"].account == "default"


def test_ci_doc_and_workflow_run_the_same_pytest_command():
    """docs/ci.md's commands are the workflow's: the same install (`vpclab[ci]`, the same apt
    packages) and the same `pytest --vpclab` (the workflow adds `-p no:cacheprovider` only)."""
    flow = yaml.safe_load((ROOT / "docs" / "examples" / "reachability.yml").read_text())
    job = next(iter(flow["jobs"].values()))
    assert job["runs-on"].startswith("ubuntu")
    runs = [s.get("run", "") for s in job["steps"]]
    wf = " ".join(next(r for r in runs if "pytest --vpclab" in r).split())
    for key, value in flow["env"].items():
        wf = re.sub(rf'"\${key}([^"]*)"', lambda m, v=str(value): v + m.group(1), wf)
    doc = [l.strip() for b in blocks(CI_MD, "sh") for l in b.splitlines() if "pytest --vpclab" in l]
    team = [d for d in doc if f"--vpclab {flow['env']['TEAM']}" in d]
    assert len(team) == 1, doc
    assert wf.split() == team[0].split()[:-1] + ["-p", "no:cacheprovider"] + team[0].split()[-1:], (wf, team)
    install = next(r for r in runs if "apt-get install" in r)
    doc_apt = next(l for b in blocks(CI_MD, "sh") for l in b.splitlines() if "apt-get install" in l)
    assert set(doc_apt.split()[doc_apt.split().index("--no-install-recommends") + 1:]) <= set(install.split())
    assert "'vpclab[ci]'" in install and "'vpclab[ci]'" in " ".join(blocks(CI_MD, "sh"))
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and "reachability.xml" in upload["with"]["path"]


def test_closed_port_verdicts_in_topology_md_are_explains():
    """Issue 19 item 7: docs/topology.md said UDP to a closed port is `unreachable`; the tool
    (and commands.md, TOPOLOGY.md) say `reachable` with NO_LISTENER. Every "TCP/UDP to a port
    nothing listens on is `X`" sentence must give explain's verdict for that protocol."""
    text = " ".join(TOPOLOGY_MD.split())
    said = dict(re.findall(r"\b(TCP|UDP) to (?:a port nothing listens on|it) is `([a-z-]+)`", text))
    assert set(said) == {"TCP", "UDP"}, said
    lab = loader.loads(yaml.safe_dump({"lab": "closed", "vpcs": {"vpc-a": {
        "region": "ap-guangzhou", "cidr": "10.0.0.0/16", "subnets": {"app": {"cidr": "10.0.1.0/24"}},
        "instances": {"cvm-1": {"subnet": "app", "ip": "10.0.1.10"}, "cvm-2": {"subnet": "app", "ip": "10.0.1.11"}}}},
        "regions": {"ap-guangzhou": {}}}), "closed.yaml")
    for proto, verdict in said.items():
        v = analyze.explain(lab, "vpc-a/cvm-1", "vpc-a/cvm-2", proto.lower(), 9)
        assert v.result == verdict, (proto, v.result, verdict)
        assert v.note is not None and v.note.code == "NO_LISTENER", proto
