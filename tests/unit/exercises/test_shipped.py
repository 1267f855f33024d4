"""Where the shipped exercises and topologies are found: the installed package's copy first
(what the wheel carries, setup.py), then the checkout's above the package."""
from __future__ import annotations

from vpclab.exercises.shipped import shipped_dir


def _tree(tmp_path):
    package = tmp_path / "repo" / "src" / "vpclab"
    for d in (tmp_path / "repo" / "lab" / "01-a", package / "lab" / "02-b"):
        d.mkdir(parents=True)
        (d / "check.yaml").write_text("title: t\n")
    (tmp_path / "repo" / "topologies").mkdir()
    (tmp_path / "repo" / "topologies" / "01-x.yaml").write_text("lab: x\n")
    return package


def test_the_installed_copy_comes_first(tmp_path):
    package = _tree(tmp_path)
    assert shipped_dir("lab", package) == package / "lab"


def test_then_the_checkout_above_the_package(tmp_path):
    package = _tree(tmp_path)
    (package / "lab" / "02-b" / "check.yaml").unlink()  # a directory without exercises is no copy
    assert shipped_dir("lab", package) == tmp_path / "repo" / "lab"
    assert shipped_dir("topologies", package) == tmp_path / "repo" / "topologies"


def test_none_when_nowhere(tmp_path):
    package = tmp_path / "site-packages" / "vpclab"
    package.mkdir(parents=True)
    assert shipped_dir("lab", package) is None and shipped_dir("topologies", package) is None
