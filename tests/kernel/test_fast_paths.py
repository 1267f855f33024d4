"""The CLI's fast paths, on real labs: a fresh `up` builds everything (veths, addresses,
rules, routes, a tbf cap) from hand-packed requests without importing pyroute2, the
result reads back as exactly the plan (a second `up` changes nothing) and forwards
packets; `down` imports neither the loader nor pyroute2. (bench/README.md: what
these imports cost at start-up.)
"""
from __future__ import annotations

import json
import re
import subprocess
import sys

from labkit import REPO, assert_gone, lab_name, needs_root, renamed, run

pytestmark = needs_root

RUN = """
import json, sys
from vpclab.cli import main
try:
    main({argv!r})
except SystemExit as e:
    code = e.code
print(json.dumps({{"code": code, "mods": sorted(m for m in sys.modules if m.split(".")[0] in
                   ("pyroute2", "yaml", "rich", "scapy") or m in ("vpclab.loader", "vpclab.analyze"))}}))
"""


def cli_modules(*argv):
    """Run the CLI in a fresh interpreter; (exit code, heavy modules it imported, stdout)."""
    p = subprocess.run([sys.executable, "-c", RUN.format(argv=[str(a) for a in argv])], capture_output=True,
                       text=True, timeout=120, cwd=REPO)
    got = json.loads(p.stdout.strip().splitlines()[-1])
    return got["code"], got["mods"], p


def test_fresh_up_packs_by_hand_and_down_imports_no_loader(tmp_path):
    text = (REPO / "topologies" / "04-cross-region.yaml").read_text()
    text = re.sub(r"(?m)^latency:\n(  .*\n)+", "", text)  # no delay: netem's probe would need pyroute2
    lab = lab_name()
    path = renamed(text, lab, tmp_path)
    try:
        code, mods, p = cli_modules("up", path)
        assert code in (0, None), p.stderr
        assert not [m for m in mods if m.startswith("pyroute2")], mods
        assert "yaml" in mods  # the check sees what `up` does import
        again = run("up", path, "--json", check=0)  # reads the kernel back with pyroute2: nothing to change
        assert json.loads(again.stdout)["actions"] == []
        tested = run("test", path, "--json")
        assert tested.returncode == 0, tested.stdout + tested.stderr
        code, mods, p = cli_modules("down", lab)
        assert code in (0, None), p.stderr
        assert mods == [], mods
    finally:
        run("down", lab)
    assert_gone(lab)
