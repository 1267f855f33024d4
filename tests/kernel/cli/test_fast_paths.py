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
from vpclab.cli.main import main
try:
    main({argv!r})
except SystemExit as e:
    code = e.code
print(json.dumps({{"code": code, "mods": sorted(m for m in sys.modules if m.split(".")[0] in
                   ("pyroute2", "yaml", "rich", "scapy") or m in ("vpclab.topology.load", "vpclab.explain.routes"))}}))
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


# ---- a teardown yields the kernel to builds (vpclab.state.builds, kernel/teardown.py) ----------------------


def _build_tiny(lab):
    from kernlab import TinyLab

    from vpclab.kernel.engine import apply
    from vpclab.plan.objects import Action

    tiny = TinyLab(lab)
    apply([Action("create", o) for o in tiny.objects])
    return tiny


def test_a_teardown_unnames_at_once_and_destroys_between_builds(lab):
    import threading
    import time

    from vpclab.kernel import netns, sentinel, teardown

    tiny = _build_tiny(lab)
    prefix = f"vpclab-{lab}-"
    watcher = sentinel.Watcher()
    try:
        watcher.add_path(netns.path_of(tiny.IA))  # gone only when the kernel destroys IA
        done, asked = threading.Event(), []

        def busy():  # a build runs until `done`
            asked.append(time.monotonic())
            return not done.is_set()

        t = threading.Thread(target=teardown.remove_lab_namespaces, args=(prefix,), kwargs=dict(busy=busy))
        t.start()
        deadline = time.monotonic() + 10
        while netns.list_names(prefix) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert netns.list_names(prefix) == []  # the names go at once...
        assert not watcher.wait(0.5) and t.is_alive()  # ...the namespaces wait for the build
        done.set()
        t.join(10)
        assert not t.is_alive() and watcher.wait(10)  # then the kernel gets them, and down waits for it
        assert len(asked) > 10
    finally:
        watcher.close()


def test_down_gives_way_to_a_build_no_longer_than_its_budget(lab, monkeypatch, tmp_path):
    """teardown.down while a build holds the marker: it waits, then removes the lab all the
    same once VPCLAB_TEARDOWN_YIELD seconds are spent; it never waits for its own lab's."""
    import time

    from vpclab.state import builds
    from vpclab.controller import teardown
    from vpclab.kernel import netns

    other = "o" + lab[1:]  # another lab's build (a marker only)
    prefix = f"vpclab-{lab}-"
    try:
        _build_tiny(lab)
        monkeypatch.setenv("VPCLAB_TEARDOWN_YIELD", "0.5")
        with builds.building(other):
            t0 = time.monotonic()
            teardown.down(lab)
            took = time.monotonic() - t0
        assert 0.5 <= took < 10 and netns.list_names(prefix) == []
        _build_tiny(lab)
        with builds.building(lab):
            t0 = time.monotonic()
            teardown.down(lab)
            assert time.monotonic() - t0 < 5 and netns.list_names(prefix) == []
        monkeypatch.setenv("VPCLAB_TEARDOWN_YIELD", "0")
        _build_tiny(lab)
        with builds.building(other):
            t0 = time.monotonic()
            teardown.down(lab)
            assert time.monotonic() - t0 < 5 and netns.list_names(prefix) == []
    finally:
        builds.forget(other)
