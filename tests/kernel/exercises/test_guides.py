"""Every lab guide's commands run as written, in order, on its topology.

A guide (`lab/NN-*/guide.md`) names a topology (`topologies/*.yaml`, or its
exercise's `start.yaml`); its ```sh blocks hold the commands; each `vpclab ...` line
runs and must exit 0, or the code its trailing `# exit N` comment names. The guide's
lab is renamed to a unique one (its topology copied, `-l NAME`/`down NAME` rewritten),
and its exercise (`vpclab lab start|check|hint|reset NN`) runs under another unique
name, so guides run beside other tests; both labs are always torn down.
"""
from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from labkit import REPO, VPCLAB, assert_gone, lab_name, needs_root, renamed, run

pytestmark = needs_root

GUIDES = sorted((REPO / "lab").glob("[0-9][0-9]-*/guide.md"))
BLOCK = re.compile(r"```sh\n(.*?)```", re.S)
TOPOLOGY = re.compile(r"(?:topologies/[\w.-]+|lab/\d\d-[\w-]+/start)\.yaml")
EXERCISE = re.compile(r"^vpclab lab (start|check|hint|reset) \d\d\b")


def commands(guide: Path):
    for block in BLOCK.findall(guide.read_text()):
        for line in block.splitlines():
            line = line.strip()
            if not line.startswith("vpclab "):
                continue
            m = re.search(r"#\s*exit\s+(\d+)\s*$", line)
            code = int(m.group(1)) if m else 0
            yield line.split("#")[0].strip() if m else line, code


def test_every_guide_names_a_topology_that_exists():
    assert len(GUIDES) >= 8
    for g in GUIDES:
        topo = TOPOLOGY.search(g.read_text()).group(0)
        assert (REPO / topo).exists(), f"{g.parent.name} names {topo}"
        assert list(commands(g)), f"{g.parent.name} has no vpclab commands"


@pytest.mark.long  # the ten guides: about a minute together
@pytest.mark.parametrize("guide", GUIDES, ids=[g.parent.name for g in GUIDES])
def test_guide_runs_as_written(guide, tmp_path):
    text = guide.read_text()
    topo = TOPOLOGY.search(text).group(0)
    old = re.search(r"(?m)^lab:\s*(\S+)", (REPO / topo).read_text()).group(1)
    new, exercise = lab_name(), lab_name()
    copy = renamed(REPO / topo, new, tmp_path)
    try:
        for line, code in commands(guide):
            line = line.replace(topo, str(copy))
            if EXERCISE.match(line):  # `-l exNN` (the default name) becomes the exercise's unique name
                line = re.sub(r" -l ex\d\d\b", "", line)
            line = re.sub(rf"(-l |down ){re.escape(old)}\b", rf"\g<1>{new}", line)
            argv = shlex.split(line) + (["-l", exercise] if EXERCISE.match(line) else [])
            p = subprocess.run([VPCLAB, *argv[1:]], capture_output=True, text=True, timeout=120)
            assert p.returncode == code, (f"{guide.parent.name}: `{line}` exited {p.returncode}, the guide says {code}\n"
                                          f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
            assert "Traceback" not in p.stderr, f"{guide.parent.name}: `{line}` crashed:\n{p.stderr}"
    finally:
        run("down", new)
        run("down", exercise)
    assert_gone(new)
    assert_gone(exercise)
