"""Golden error files: `vpclab validate` prints exactly the lines of `tests/golden/<case>.out`.

Each `tests/golden/<case>.yaml` is an invalid topology; its `.out` was written by
hand from CLOUD-RULES.md and TOPOLOGY.md (the message wording is the code's). The
command runs from the repository root with the relative path, as a student would
type it, and must exit 2. Every shipped `topologies/*.yaml` must validate (exit 0).
"""
from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from vpclab.cli.main import cli, main

ROOT = Path(__file__).resolve().parents[3]
CASES = sorted(p.stem for p in (ROOT / "tests" / "golden").glob("*.yaml"))
SHIPPED = sorted(p.name for p in (ROOT / "topologies").glob("*.yaml"))


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def main_command(ctx):
    """`vpclab.cli.main.main(argv)` (the entry point, which ends in sys.exit) wrapped for CliRunner."""
    main(list(ctx.args))


@pytest.fixture
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def validate(path: str):
    return CliRunner().invoke(cli, ["validate", path])


def test_there_are_enough_cases():
    assert len(CASES) >= 10
    for case in CASES:
        assert (ROOT / "tests" / "golden" / f"{case}.out").is_file(), f"{case}.yaml has no .out"


@pytest.mark.parametrize("case", CASES)
def test_golden(case, at_root):
    path = f"tests/golden/{case}.yaml"
    want = (ROOT / "tests" / "golden" / f"{case}.out").read_text(encoding="utf-8").splitlines()
    r = validate(path)
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert r.stdout.splitlines() == want
    assert r.exit_code == 2


@pytest.mark.parametrize("case", CASES)
def test_golden_json(case, at_root):
    """The same problems with `--json`: one document on stdout listing every problem (exit 2)."""
    path = f"tests/golden/{case}.yaml"
    want = (ROOT / "tests" / "golden" / f"{case}.out").read_text(encoding="utf-8").splitlines()
    r = CliRunner().invoke(main_command, ["validate", path, "--json"])
    assert r.exit_code == 2
    doc = json.loads(r.stdout)
    probs = doc["error"]["problems"]
    assert len(probs) == len(want)
    for p, line in zip(probs, want):
        assert line.startswith(f"{p['file']}:{p['line']}: {p['code']}: {p['message']}")
    assert doc["error"]["code"] == probs[0]["code"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_topologies_validate(name, at_root):
    r = validate(f"topologies/{name}")
    assert r.exit_code == 0, r.stdout
    assert r.stdout.startswith(f"topologies/{name}: ok: lab ")
