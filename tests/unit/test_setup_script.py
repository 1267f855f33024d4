"""scripts/setup, run with every outside command faked (apt-get, ldconfig, python3, id): what
it would install. `--ci` (docs/ci.md) asks apt for iproute2, iperf3 and libnftables1 and pip for
vpclab[ci], never for Chromium, tcpdump, Graphviz or the test/ui/bench extras (Playwright,
matplotlib); without it, the full set."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SHIMS = {
    "apt-get": 'echo "apt-get $*" >> "$SETUP_LOG"',
    "ldconfig": "exit 0",  # no libnftables.so.1 known
    "id": "echo 0",
    # `python3 -c 'import venv, ensurepip'` fails (so apt installs python3-venv); `-m venv DIR` makes DIR
    "python3": '''if [ "$1" = -m ] && [ "$2" = venv ]; then
  mkdir -p "$3/bin"
  printf '#!/bin/sh\\necho "venv-python $*" >> "$SETUP_LOG"\\n' > "$3/bin/python"
  printf '#!/bin/sh\\necho "vpclab, version 0.1.0"\\n' > "$3/bin/vpclab"
  chmod +x "$3/bin/python" "$3/bin/vpclab"
  exit 0
fi
exit 1''',
}
TOOLS = ["bash", "dirname", "grep", "awk", "readlink", "ln", "mkdir", "chmod", "printf", "cat"]


def run_setup(tmp_path: Path, *args: str):
    repo, shims = tmp_path / "repo", tmp_path / "shims"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "setup", repo / "scripts" / "setup")
    shims.mkdir()
    for name, body in SHIMS.items():
        (shims / name).write_text("#!/bin/sh\n" + body + "\n")
        (shims / name).chmod(0o755)
    for tool in TOOLS:  # the real ones; iperf3, ip, dot, chromium and tcpdump are not on PATH
        os.symlink(shutil.which(tool), shims / tool)
    log = tmp_path / "log"
    log.touch()
    env = {"PATH": str(shims), "SETUP_LOG": str(log), "VPCLAB_LINK": str(tmp_path / "link")}
    p = subprocess.run([shutil.which("bash"), str(repo / "scripts" / "setup"), *args], env=env,
                       capture_output=True, text=True, timeout=60)
    return p, log.read_text().splitlines()


def installs(lines):
    apt = " ".join(l for l in lines if l.startswith("apt-get") and " install " in l).split()
    pip = [l for l in lines if l.startswith("venv-python") and " pip install " in l and "--upgrade pip" not in l]
    return set(apt), pip


def test_ci_installs_the_reachability_tools_only(tmp_path):
    p, lines = run_setup(tmp_path, "--ci")
    assert p.returncode == 0, p.stdout + p.stderr
    apt, pip = installs(lines)
    assert {"iproute2", "iperf3", "libnftables1", "python3-venv"} <= apt
    assert not {"chromium", "tcpdump", "graphviz"} & apt, apt
    assert len(pip) == 1 and pip[0].endswith("-e .[ci]"), pip
    assert (tmp_path / "link").resolve() == (tmp_path / "repo" / ".venv" / "bin" / "vpclab").resolve()


def test_without_ci_everything(tmp_path):
    p, lines = run_setup(tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    apt, pip = installs(lines)
    assert {"iproute2", "iperf3", "libnftables1", "chromium", "tcpdump", "graphviz"} <= apt
    assert len(pip) == 1 and "-e .[test,ui,bench" in pip[0], pip


@pytest.mark.parametrize("arg", ["--cii", "ci"])
def test_an_unknown_option_is_refused(tmp_path, arg):
    p, lines = run_setup(tmp_path, arg)
    assert p.returncode == 2 and "unknown option" in p.stderr and not lines
