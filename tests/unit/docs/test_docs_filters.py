"""The version-2 documentation says what the code does: every new code and reason is in
docs/rules.md and the README, every new command in docs/commands.md and the README, and
every new command's --help carries examples."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from vpclab import explain as analyze
from vpclab.cli.main import cli
from vpclab.model import filter_ops, filter_rules

ROOT = Path(__file__).resolve().parents[3]
RULES = (ROOT / "docs" / "rules.md").read_text()
COMMANDS = (ROOT / "docs" / "commands.md").read_text()
README = (ROOT / "README.md").read_text()

CODES = [filter_rules.NOT_FOUND, filter_rules.RANGE, filter_rules.DUPLICATE_POLICY, filter_rules.POLICY_LIMIT,
         filter_rules.COMBINATION, filter_rules.DUPLICATE, filter_rules.NOT_IN_RANGE, filter_rules.CONFLICT,
         filter_rules.NEXT_HOP_INVALID, filter_ops.ALREADY_BOUND_EIP]
REASONS = [analyze.SECURITY_GROUP_DENY, analyze.NETWORK_ACL_DENY, analyze.NO_PUBLIC_IP]
COMMANDS_V2 = [("sg", "rule", "add"), ("sg", "rule", "del"), ("sg", "attach"), ("sg", "detach"),
               ("acl", "rule", "add"), ("acl", "rule", "del"), ("acl", "bind"), ("acl", "unbind"),
               ("eip", "associate"), ("eip", "disassociate")]


@pytest.mark.parametrize("code", CODES + REASONS)
def test_every_code_and_reason_is_documented(code):
    assert f"`{code}`" in RULES
    assert f"`{code}`" in README


@pytest.mark.parametrize("words", COMMANDS_V2, ids=" ".join)
def test_every_command_is_documented_and_its_help_has_examples(words):
    group = words[0]
    last = words[-1]
    for text in (COMMANDS, README):
        line = next((l for l in text.splitlines() if f"vpclab {group} " in l and re.search(rf"\b{last}\b", l)), None)
        assert line is not None, (words, "missing")
    r = CliRunner().invoke(cli, [*words, "--help"])
    assert r.exit_code == 0
    assert re.search(r"Examples?:", r.output) and f"vpclab {' '.join(words)}" in r.output
