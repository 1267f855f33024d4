"""Commands that touch the kernel or read a lab's state exit 3 with a clear message when
not root; validate, explain -f, graph -f, up --dry-run and --help work without it.
(tests/kernel/state/test_state_live.py checks the same as a real unprivileged user.)

The suite runs as root, so this fakes the one thing that cannot run here: the
effective uid seen by vpclab (os.geteuid) is replaced by an unprivileged one."""
from __future__ import annotations

import json

import pytest

from vpclab.cli import main as cli


@pytest.mark.parametrize("argv", [
    ["up", "topologies/01-two-vpcs.yaml"],
    ["down", "two"],
    ["cleanup"],
    ["probe", "vpc-a/cvm-1", "vpc-b/cvm-1", "-l", "two"],
    ["matrix", "-l", "two"],
    ["peering", "accept", "pcx-ab", "-l", "two"],
    # Reading a lab's state needs root too: /run/vpclab is root's only.
    ["status"],
    ["status", "-l", "two"],
    ["ls"],
    ["events", "-l", "two"],
    ["route", "list", "-l", "two"],
    ["peering", "list"],
    ["explain", "vpc-a/cvm-1", "vpc-b/cvm-1", "-l", "two"],
    ["test"],
])
def test_not_root_exits_3(argv, monkeypatch, capsys):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(SystemExit) as e:
        cli.main(argv + ["--json"])
    assert e.value.code == 3
    err = json.loads(capsys.readouterr().out)["error"]
    assert err["code"] == "NotRoot" and "root" in err["message"]


def test_validate_and_explain_need_no_root(monkeypatch, capsys):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(SystemExit) as e:
        cli.main(["explain", "vpc-a/cvm-1", "vpc-b/cvm-1", "-f", "topologies/01-two-vpcs.yaml", "--json"])
    assert e.value.code == 0
    assert json.loads(capsys.readouterr().out)["result"] == "reachable"


@pytest.mark.parametrize("argv", [
    ["validate", "topologies/01-two-vpcs.yaml"],
    ["graph", "-f", "topologies/01-two-vpcs.yaml"],
    ["up", "--dry-run", "topologies/01-two-vpcs.yaml"],
    ["--help"],
])
def test_what_a_user_may_do_without_root(argv, monkeypatch, capsys):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 0, capsys.readouterr()
