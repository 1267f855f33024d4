"""Commands that touch the kernel exit 3 with a clear message when not root.

The suite runs as root, so this fakes the one thing that cannot run here: the
effective uid seen by vpclab (os.geteuid) is replaced by an unprivileged one."""
from __future__ import annotations

import json

import pytest

from vpclab import cli


@pytest.mark.parametrize("argv", [
    ["up", "topologies/01-two-vpcs.yaml"],
    ["down", "two"],
    ["cleanup"],
    ["probe", "vpc-a/cvm-1", "vpc-b/cvm-1", "-l", "two"],
    ["matrix", "-l", "two"],
    ["peering", "accept", "pcx-ab", "-l", "two"],
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
