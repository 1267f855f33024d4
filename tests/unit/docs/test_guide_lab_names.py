"""Every command of a guide that acts on a lab names it (issue 22): `-l NAME`, or the lab as
`down`/`cleanup`'s argument; a guide's exercise commands use the placeholder `-l exNN` and
say why. Commands that read a file (`-f FILE`), build one (`up FILE`) or need no lab do not."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
GUIDES = sorted((ROOT / "lab").glob("[0-9][0-9]-*/guide.md")) + [ROOT / "lab" / "README.md"]
NO_LAB = re.compile(r"^(sudo )?vpclab (up|validate|doctor|schema|import|lab list|--help|ui --help)\b|"
                    r"\s-f\s|--help\b|^(sudo )?vpclab (down|cleanup) [a-z][a-z0-9]*\b")
LAB = re.compile(r"\s-l\s+[a-z][a-z0-9]*\b|\s--lab[ =]")


def commands(text: str):
    """The `vpclab ...` commands of ```sh blocks (one a line) and of inline code (`...`, which
    may wrap), each up to a `--` (the command run inside an instance) or a comment."""
    out = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        out += [ln.strip() for ln in block.splitlines() if re.match(r"\s*(sudo )?vpclab ", ln)]
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    for span in re.findall(r"`([^`]+)`", prose):
        span = " ".join(span.split())
        if re.match(r"(sudo )?vpclab [a-z]", span) and not span.endswith("..."):
            out.append(span)
    return [c.split("#")[0].split(" -- ")[0].strip() for c in out]


def missing(text: str):
    return [c for c in commands(text) if not NO_LAB.search(c) and not LAB.search(" " + c)]


def test_the_checker_sees_a_command_without_a_lab():
    assert missing("run `vpclab lab reset 06`, then\n```sh\nvpclab probe a/b c/d -l two\nvpclab route list\n```") == [
        "vpclab route list", "vpclab lab reset 06"]
    assert missing("`vpclab explain a/b c/d -f x.yaml` and `vpclab down two`") == []


@pytest.mark.parametrize("guide", GUIDES, ids=lambda p: p.parent.name if p.name == "guide.md" else p.name)
def test_every_guide_command_names_its_lab(guide):
    assert missing(guide.read_text()) == []


@pytest.mark.parametrize("guide", [g for g in GUIDES if g.name == "guide.md"], ids=lambda p: p.parent.name)
def test_a_guide_that_uses_the_placeholder_says_what_it_is(guide):
    text = guide.read_text()
    n = guide.parent.name[:2]
    if f"-l ex{n}" in text:
        assert f"`-l ex{n}` names your exercise's lab" in text
