"""A topology's text under another lab name: its `lab:` value replaced where it stands.

Used wherever a lab is built from a copy of a topology under a name of its own (the
Python API, exercises, tests). Block style (`lab: x` on its own line) and flow style
(`{lab: x, vpcs: ...}`) both keep every other character, so every line number of the
copy is the original's; a document whose `lab:` cannot be rewritten in place (no `lab`
key, an alias) is written out again as plain YAML, and a text that is not a YAML
mapping is returned as it is (the loader reports what is wrong with it).
"""
from __future__ import annotations

import re
from pathlib import Path

import yaml


def renamed_text(text: str, name: str) -> str:
    """`text` (a topology) whose top-level `lab:` is `name`."""
    value = name if _plain(name) else f"'{name}'"
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        root = None
    if isinstance(root, yaml.MappingNode):
        for key, node in root.value:
            if isinstance(key, yaml.ScalarNode) and key.value == "lab" and isinstance(node, yaml.ScalarNode):
                new = text[:node.start_mark.index] + value + text[node.end_mark.index:]
                if _lab_of(new) == name:
                    return new
                break
    new, n = re.subn(r"(?m)^lab:[ \t]*[^\s#]+", f"lab: {value}", text, count=1)
    if n:  # not YAML (yet): the block-style line, for the loader to report the rest
        return new
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return text  # not a topology: the loader says why
    if not isinstance(doc, dict):
        return text
    doc["lab"] = name
    return yaml.safe_dump(doc, sort_keys=False)


def write_renamed(src: Path, name: str, dest: Path) -> Path:
    """Write topology `src` under lab name `name` to the file `dest` (returned)."""
    dest.write_text(renamed_text(Path(src).read_text(encoding="utf-8"), name), encoding="utf-8")
    return dest


def _plain(name: str) -> bool:
    """`name` reads back as itself unquoted (not `no`, `null`, `1e3`, ...)."""
    try:
        return yaml.safe_load(name) == name
    except yaml.YAMLError:
        return False


def _lab_of(text: str):
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return doc.get("lab") if isinstance(doc, dict) else None
