"""vpclab as a team installs it: the wheel, in a fresh venv, away from any checkout.

Marked `wheel` (`-m 'not wheel'` leaves it out): it builds the sdist and the wheel from a copy
of the source tree (`python -m build --no-isolation`, a few seconds, no network), checks both
with `twine check`, creates a fresh venv and installs the wheel there with `--no-deps`. The
dependencies (click, pyroute2, ...) come from this suite's venv through a `.pth` line naming
its site-packages: a path line does not run that directory's own `.pth` files, so the
editable install of the checkout stays out, and the fresh venv runs the wheel's code
(asserted: `vpclab.__file__` is inside the fresh venv). Then, from a directory outside the
checkout, `vpclab lab list` and `vpclab lab start 03` must work: the exercises and the
topologies are package data of the wheel (setup.py). Before, the wheel carried neither and
`lab list` answered ExercisesNotFound.
"""
from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from labkit import REPO, TOPOLOGIES, assert_gone, lab_name, needs_root
from vpclab.exercises import catalog

pytestmark = pytest.mark.wheel

SKIP_DIRS = {".git", ".venv", "build", "dist", "__pycache__", ".pytest_cache", ".hypothesis"}


def source_files():
    """The files of the source tree: git's list (tracked and new, not ignored), else a walk."""
    p = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                       capture_output=True)
    if p.returncode == 0 and p.stdout:
        return [f for f in p.stdout.decode().split("\0") if f and (REPO / f).is_file()]
    return [str(f.relative_to(REPO)) for f in REPO.rglob("*")
            if f.is_file() and not SKIP_DIRS & set(f.relative_to(REPO).parts) and ".egg-info" not in str(f)]


def sh(*argv, cwd=None, env=None, timeout=300):
    p = subprocess.run([str(a) for a in argv], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)
    assert p.returncode == 0, f"{' '.join(map(str, argv))} exited {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(fresh venv's bin dir, its environment, a working directory outside the checkout)."""
    base = tmp_path_factory.mktemp("wheel")
    tree, dist, venv, work = base / "tree", base / "dist", base / "venv", base / "work"
    for rel in source_files():  # a copy: building writes build/ and *.egg-info into the tree
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, tree / rel)
    # sdist, then the wheel built from the unpacked sdist (what `python -m build` does):
    # so the sdist is shown to be complete enough to build the wheel
    sh(sys.executable, "-m", "build", "--no-isolation", "-o", dist, tree)
    sdists, wheels = sorted(dist.glob("vpclab-*.tar.gz")), sorted(dist.glob("vpclab-*.whl"))
    assert len(sdists) == 1 and len(wheels) == 1, sorted(os.listdir(dist))
    check = sh(sys.executable, "-m", "twine", "check", "--strict", sdists[0], wheels[0])
    assert check.stdout.count("PASSED") == 2, check.stdout
    sh(sys.executable, "-m", "venv", "--without-pip", venv)
    sh(sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--no-deps",
       "--no-index", "--disable-pip-version-check", "-q", wheels[0])
    purelib = sh(venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    (Path(purelib) / "_suite_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("VPCLAB_LABS", "PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return venv / "bin", env, work, Path(purelib), (sdists[0], wheels[0])


def test_the_sdist_carries_the_tree(installed):
    import tarfile

    *_, (sdist, _wheel) = installed
    with tarfile.open(sdist) as t:
        tops = {n.split("/")[1] for n in t.getnames() if n.count("/") >= 1}
    assert {"src", "tests", "docs", "lab", "topologies", "scripts"} <= tops, tops


def test_the_fresh_venv_runs_the_wheel(installed):
    bindir, env, work, purelib, _ = installed
    p = sh(bindir / "python", "-c",
           "import vpclab; from vpclab.exercises.shipped import topologies_dir; "
           "print(vpclab.__file__); print(topologies_dir())", cwd=work, env=env)
    module, topo = p.stdout.split()
    assert Path(module).resolve().is_relative_to(purelib.resolve()), module
    assert Path(topo).resolve() == (purelib / "vpclab" / "topologies").resolve()
    assert sorted(f.name for f in Path(topo).glob("*.yaml")) == sorted(f.name for f in TOPOLOGIES.glob("*.yaml"))


def test_lab_list_from_the_wheel(installed):
    bindir, env, work, purelib, _ = installed
    p = subprocess.run([str(bindir / "vpclab"), "lab", "list", "--json"], capture_output=True, text=True,
                       cwd=work, env=env, timeout=60)
    assert p.returncode == 0, f"exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    doc = json.loads(p.stdout)
    rows = doc["exercises"] if isinstance(doc, dict) else doc
    want = [e.number for e in catalog.all_exercises(REPO / "lab")]
    assert [r["number"] for r in rows] == want
    human = sh(bindir / "vpclab", "lab", "list", cwd=work, env=env).stdout
    assert "03" in human and "ExercisesNotFound" not in human


@needs_root
def test_lab_start_03_from_the_wheel(installed):
    bindir, env, work, purelib, _ = installed
    lab = lab_name()
    try:
        p = subprocess.run([str(bindir / "vpclab"), "lab", "start", "03", "-l", lab], capture_output=True,
                           text=True, cwd=work, env=env, timeout=180)
        assert p.returncode == 0, f"exit {p.returncode}\n{p.stdout}\n{p.stderr}"
        st = json.loads(sh(bindir / "vpclab", "status", "-l", lab, "--json", cwd=work, env=env).stdout)
        start = catalog.find("03", REPO / "lab").start
        assert st["lab"] == lab
        assert sorted(v["name"] for v in st["vpcs"]) == sorted(static_vpcs(start))
    finally:
        subprocess.run([str(bindir / "vpclab"), "down", lab], capture_output=True, cwd=work, env=env, timeout=120)
    assert_gone(lab)


def static_vpcs(path: Path):
    import yaml

    return list(yaml.safe_load(path.read_text())["vpcs"])
