"""Fuzzing the loader: random YAML trees, and mutations of the shipped topologies.

Whatever the file holds, `vpclab validate` answers with exit 0 (a valid lab) or exit 2
with `FILE:LINE: CODE: message` lines (or `FILE: CODE: message` for the file as a
whole), each short, never a traceback; and no namespace of the lab named in the file
appears. The number of examples is bounded for CI (a few seconds per test);
VPCLAB_FUZZ_EXAMPLES raises it, e.g. `VPCLAB_FUZZ_EXAMPLES=5000 pytest tests/unit/topology/test_fuzz_loader.py`.
"""
from __future__ import annotations

import copy
import os
import re
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vpclab.topology import load as loader
from vpclab.errors import TopologyInvalid
from vpclab.topology.load import SCHEMA

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = {p.name: p.read_text() for p in sorted((ROOT / "topologies").glob("*.yaml"))}
DOCS = {name: yaml.safe_load(text) for name, text in SHIPPED.items()}
EXAMPLES = int(os.environ.get("VPCLAB_FUZZ_EXAMPLES", "120"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

CODE = r"[A-Z][A-Za-z]+(\.[A-Za-z]+)*"
LINE = re.compile(rf"^(?P<file>[^:]+):((?P<line>[0-9]+):)? (?P<code>{CODE}): (?P<message>.+)$")
MAX_LINE = 400  # a message line, the file name aside: messages quote at most ~80 characters of a value

KEYS = sorted({k for allowed, _ in SCHEMA.values() for k in allowed})
NAMES = ["vpc-a", "vpc-b", "app", "cvm-1", "pcx-ab", "default", "alice", "ap-guangzhou", "two"]
INTERESTING = ["", " ", "x\n", "vpc-a\n", "10.0.0.0/16", "10.1.1.10", "0.0.0.0/0", "10.0.0.0/33", "256.1.1.1",
               "100Mbps", "0Mbps", "9" * 400 + "Mbps", "1e999Mbps", "35ms", "9" * 400 + "ms", "-1", "a" * 300,
               "vpc-a/cvm-1", "a/b/c", "\0", "\u00e9", "*", "&", "{", "[", ":", "cvm", "clb", "tcp", "no-return",
               "ACTIVE"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70), st.floats(),
                    st.text(max_size=12), st.sampled_from(INTERESTING + NAMES + KEYS))
keys = st.one_of(st.sampled_from(KEYS + NAMES), st.text(max_size=8), st.integers(-5, 5), st.booleans())
trees = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                     st.dictionaries(keys, inner, max_size=5)), max_leaves=25)


def check(text: str) -> None:
    """The loader's answer to `text`: a lab, or problems that each read FILE:LINE: CODE: message."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "t.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            lab = loader.load(str(path))
        except TopologyInvalid as e:
            assert e.problems and e.exit_code == 2
            for p, line in zip(e.problems, e.lines()):
                m = LINE.match(line.replace(str(path), "t.yaml", 1))
                assert m, line[:300]
                assert m["file"] == "t.yaml" and m["code"] == p.code
                assert p.line is None or p.line >= 1
                assert len(line) - len(str(path)) < MAX_LINE, line[:300]
        else:
            assert lab.name and lab.vpcs
    lab_name = _lab_name(text)
    if lab_name and os.path.isdir("/run/netns"):
        assert not [n for n in os.listdir("/run/netns") if n.startswith(f"vpclab-{lab_name}-")]


def _lab_name(text: str):
    m = re.search(r"^lab:\s*([a-z][a-z0-9]{0,7})\s*$", text, re.M)
    return m.group(1) if m else None


def dump(doc) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


@FUZZ
@given(trees)
def test_random_yaml_trees(doc):
    check(dump(doc))


@FUZZ
@given(st.fixed_dictionaries({"lab": scalars, "vpcs": trees}, optional={
    "accounts": trees, "regions": trees, "latency": trees, "peerings": trees, "expect": trees}))
def test_random_trees_under_the_top_level_keys(doc):
    check(dump(doc))


def _slots(node, out):
    """Every (container, key) in a parsed document, depth first."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in list(items):
        out.append((node, k))
        _slots(v, out)
    return out


@FUZZ
@given(st.data())
def test_mutated_shipped_topologies(data):
    """A shipped topology with a few of its values replaced, removed, renamed or duplicated."""
    doc = copy.deepcopy(DOCS[data.draw(st.sampled_from(sorted(DOCS)), label="file")])
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        slots = _slots(doc, [])
        if not slots:
            break
        node, key = data.draw(st.sampled_from(slots), label="where")
        op = data.draw(st.sampled_from(["replace", "delete", "rename", "copy-sibling", "clear"]), label="op")
        if op == "replace":
            node[key] = data.draw(trees, label="value")
        elif op == "delete":
            del node[key]
        elif op == "rename" and isinstance(node, dict):
            node[data.draw(keys, label="new key")] = node.pop(key)
        elif op == "copy-sibling" and isinstance(node, dict) and len(node) > 1:
            other = data.draw(st.sampled_from(sorted(node, key=str)), label="sibling")
            node[key] = copy.deepcopy(node[other])
        elif op == "clear":
            node[key] = type(node[key])() if isinstance(node[key], (dict, list)) else None
    check(dump(doc))


@FUZZ
@given(st.data())
def test_mutated_shipped_text(data):
    """Character-level edits of a shipped file: YAML syntax errors, aliases, stray indentation."""
    text = SHIPPED[data.draw(st.sampled_from(sorted(SHIPPED)), label="file")]
    for _ in range(data.draw(st.integers(1, 5), label="edits")):
        i = data.draw(st.integers(0, len(text)), label="at")
        op = data.draw(st.sampled_from(["insert", "delete", "duplicate-line"]), label="op")
        if op == "insert":
            text = text[:i] + data.draw(st.sampled_from(
                [":", "-", " ", "  ", "\n", "[", "]", "{", "}", "&a ", "*a", "\"", "'", "#", "\t", "!!int ",
                 "<<: *a\n", "? ", "|", "9" * 400, "\n" + "  " * 70 + "x: 1\n"]), label="what") + text[i:]
        elif op == "delete":
            j = data.draw(st.integers(i, min(len(text), i + 20)), label="to")
            text = text[:i] + text[j:]
        else:
            lines = text.splitlines(keepends=True)
            if lines:
                n = data.draw(st.integers(0, len(lines) - 1), label="line")
                lines.insert(n, lines[n])
                text = "".join(lines)
    check(text)
