"""docs/ci.md, followed from the repository: `pytest --vpclab topologies/*.yaml -n auto
--junitxml=...` gives one JUnit case per expectation of the shipped topologies, all passing,
and leaves no lab behind (the plugin builds them under unique names)."""
from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET

from labkit import REPO, TOPOLOGIES, assert_gone, needs_root
from vpclab.topology import load as loader

pytestmark = needs_root


def test_the_documented_command_gives_one_junit_case_per_expectation(tmp_path):
    blocks = re.findall(r"```sh\n(.*?)```", (REPO / "docs" / "ci.md").read_text(), re.S)
    cmd = next(l for b in blocks for l in b.splitlines() if "pytest --vpclab topologies/" in l)
    report = tmp_path / "reachability.xml"
    cmd = cmd.replace("sudo ", "").replace(".venv/bin/python", sys.executable).replace(
        "--junitxml=reachability.xml", f"--junitxml={report} -p no:cacheprovider")
    p = subprocess.run(["bash", "-c", cmd], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    want = sum(len(loader.load(f).expectations) for f in sorted(TOPOLOGIES.glob("*.yaml")))
    cases = list(ET.parse(report).getroot().iter("testcase"))
    assert len(cases) == want and not any(c.find("failure") is not None for c in cases)
    for name in re.findall(r"lab ([a-z0-9]+) built and removed", p.stdout):
        assert_gone(name)
