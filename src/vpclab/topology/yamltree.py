"""YAML text -> plain dicts and lists that remember their line numbers, safely.

Safe means: only plain YAML types (SafeLoader), a duplicate key is an error, and
the document is measured before a single object is built: aliases may share a
value but not blow it up (a few hundred bytes of nested aliases can stand for
billions of nodes), and nesting has a depth limit (deeper trees exhaust Python's
stack). Every problem is a `TopologyInvalid` carrying FILE:LINE: CODE. The one reader of
a user's file is here too (`read_regular_file`: a regular file only, never a FIFO).
"""
from __future__ import annotations

import gc
import os
import re
import stat
from typing import Any, Dict, List

import yaml

from ..errors import Problem, TopologyInvalid, shown

from ..model.codes import DUP_KEY, NOT_FOUND, SYNTAX, TOO_LARGE, TYPE, VALUE

# Aliases may add at most this many nodes beyond those written in the file; a
# topology that reuses a block by alias a few times stays far below it.
MAX_ALIAS_NODES = 10_000
MAX_DEPTH = 64  # a topology nests about 8 deep


class LDict(dict):
    """A mapping that remembers the line of itself and of each key."""

    line = 0

    def __init__(self):
        super().__init__()
        self.lines: Dict[Any, int] = {}


class LList(list):
    line = 0

    def __init__(self):
        super().__init__()
        self.lines: List[int] = []


class _DuplicateKey(Exception):
    def __init__(self, key, line, first):
        self.key, self.line, self.first = key, line, first


class _TooLarge(Exception):
    def __init__(self, message, line, code=TOO_LARGE):
        self.message, self.line, self.code = message, line, code


_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):
    def get_single_node(self):
        node = super().get_single_node()
        if node is not None:
            measure(node)
        return node


def measure(root) -> int:
    """The number of values the document stands for once its aliases are expanded.

    Raises _TooLarge when the aliases add more than MAX_ALIAS_NODES values, when
    the document nests deeper than MAX_DEPTH, or when an alias refers to a value that
    contains it. One pass visits each node once (iteratively: a deep tree cannot
    exhaust the stack here); only a document that shares a node (uses an alias)
    gets the second pass, which computes expanded sizes and heights.
    """
    seen = {id(root)}
    stack = [(root, 1)]
    shared = False
    while stack:
        node, depth = stack.pop()
        if type(node.value) is str:  # a scalar
            continue
        if depth > MAX_DEPTH:
            raise _TooLarge(f"the YAML nests deeper than {MAX_DEPTH} levels", node.start_mark.line + 1)
        for c in _children(node):
            if id(c) in seen:
                shared = True
            else:
                seen.add(id(c))
                stack.append((c, depth + 1))
    return _expanded(root, len(seen)) if shared else len(seen)


def _expanded(root, distinct: int) -> int:
    """Expanded size and height of a document whose nodes are shared, by a post-order walk."""
    size: Dict[int, int] = {}
    height: Dict[int, int] = {}
    open_ = set()  # the nodes on the current path: a child among them is a cycle
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        children = _children(node)
        if done:
            open_.discard(id(node))
            size[id(node)] = 1 + sum(size[id(c)] for c in children)
            height[id(node)] = 1 + max((height[id(c)] for c in children), default=0)
            if height[id(node)] > MAX_DEPTH + 1:
                raise _TooLarge(f"the YAML nests deeper than {MAX_DEPTH} levels (through its aliases)",
                                node.start_mark.line + 1)
            continue
        if id(node) in size:
            continue
        if any(id(c) in open_ or c is node for c in children):
            raise _TooLarge("an alias refers to a value that contains it (a recursive structure)",
                            node.start_mark.line + 1, SYNTAX)
        open_.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)
    total = size[id(root)]
    if total - distinct > MAX_ALIAS_NODES:
        raise _TooLarge(f"aliases expand the document to {total:,} values, {total - distinct:,} more than written "
                        f"(at most {MAX_ALIAS_NODES:,} more are allowed): write the values out", 1)
    return total


def _children(node) -> list:
    if isinstance(node, yaml.MappingNode):
        return [x for pair in node.value for x in pair]
    if isinstance(node, yaml.SequenceNode):
        return node.value
    return []


def _mapping(loader, node):
    m = LDict()
    m.line = node.start_mark.line + 1
    loader.flatten_mapping(node)
    for k_node, v_node in node.value:
        key = loader.construct_object(k_node, deep=True)
        try:
            hash(key)
        except TypeError:
            key = shown(key)
        line = k_node.start_mark.line + 1
        if key in m:
            raise _DuplicateKey(key, line, m.lines[key])
        m[key] = loader.construct_object(v_node, deep=True)
        m.lines[key] = line
    return m


def _sequence(loader, node):
    seq = LList()
    seq.line = node.start_mark.line + 1
    for item in node.value:
        seq.append(loader.construct_object(item, deep=True))
        seq.lines.append(item.start_mark.line + 1)
    return seq


def _int(loader, node):
    """An integer as YAML 1.2 writes it: decimal (`010` is ten), `0o17`, `0x1f`."""
    text = loader.construct_scalar(node)  # `!!int [1]` is refused here (ConstructorError)
    try:
        if text[:2] == "0o":
            return int(text[2:], 8)
        if text[:2] == "0x":
            return int(text[2:], 16)
        return int(text, 10)
    except ValueError:  # `!!int abc`, or more digits than Python converts (sys.get_int_max_str_digits)
        why = "is too long" if text.strip().lstrip("+-").isdigit() else "is not an integer"
        raise yaml.constructor.ConstructorError(None, None, f"the number {shown(text)} {why}", node.start_mark)


# Plain scalars are resolved as YAML 1.2's core schema does, the reading of editors and of the JSON
# Schema's tools (yaml-language-server), not as YAML 1.1 (PyYAML's default): only true/false are
# booleans (`yes`, `no`, `on`, `off` are words: `lab: no` is a name, `accepted: yes` is refused as
# not a boolean), `010` is ten, `1_000` and `1:30` are strings, `1e3` is a number, and a date is a
# string. So `vpclab validate` and the schema in an editor read one file the same way.
_Loader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in (
        ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
        ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
        ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
        ("tag:yaml.org,2002:float", r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                                    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", list("-+.0123456789")),
        ("tag:yaml.org,2002:merge", r"^(?:<<)$", ["<"])):
    _Loader.add_implicit_resolver(_tag, re.compile(_pattern), _first)
_Loader.add_constructor("tag:yaml.org,2002:int", _int)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


def parse_yaml(text: str, file: str):
    """YAML text -> LDict/LList tree; raises TopologyInvalid for syntax problems.

    The garbage collector pauses meanwhile: the tree is acyclic (a recursive alias is
    refused), and the collections a big document triggers cost more than the parse.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return yaml.load(text, Loader=_Loader)
    except _DuplicateKey as e:
        raise TopologyInvalid([Problem(DUP_KEY, f"key '{shown(e.key)}' appears twice (first on line {e.first})",
                                       file, e.line)])
    except _TooLarge as e:
        raise TopologyInvalid([Problem(e.code, e.message, file, e.line)])
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 1
        what = " ".join(x for x in (e.context, e.problem) if x) or "invalid YAML"
        raise TopologyInvalid([Problem(SYNTAX, f"YAML syntax: {shown(what, 200)}", file, line)])
    except yaml.YAMLError as e:
        raise TopologyInvalid([Problem(SYNTAX, f"YAML: {shown(str(e), 200)}", file, 1)])
    finally:
        if was_enabled:
            gc.enable()


def read_regular_file(path, what: str = "a topology is a YAML file") -> str:
    """The text of a regular file, or TopologyInvalid citing the file without a line.

    A FIFO, a device or a directory is refused before it is opened (reading a FIFO
    would wait for a writer forever); `what` ends the refusal ("a topology is a YAML file").
    """
    file = str(path)
    if not file:  # an unset shell variable, most likely
        raise TopologyInvalid([Problem(VALUE, f"the path is empty: {what}")])
    try:
        if not stat.S_ISREG(os.stat(file).st_mode):
            raise TopologyInvalid([Problem(TYPE, f"not a regular file ({_file_kind(file)}): {what}", file, None)])
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # swapped for something else meanwhile
                raise TopologyInvalid([Problem(TYPE, f"not a regular file: {what}", file, None)])
            return f.read().decode("utf-8")
    except FileNotFoundError:
        raise TopologyInvalid([Problem(NOT_FOUND, "no such file", file, None)])
    except (OSError, ValueError) as e:  # ValueError: not UTF-8, or a NUL in the path
        why = f"{e.strerror}" if isinstance(e, OSError) and e.strerror else shown(str(e), 120)
        raise TopologyInvalid([Problem(TYPE, f"cannot read the file: {why}", file, None)])


def _file_kind(file: str) -> str:
    mode = os.stat(file).st_mode
    for test, what in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return what
    return "not a file"


def yaml_1_1_hint(value):
    """A hint for a boolean key given a word that YAML 1.1 read as a boolean (`yes`, `off`, ...)."""
    if str(value).lower() in ("yes", "no", "on", "off", "y", "n"):
        return "write true or false (yes/no/on/off are taken too, as YAML 1.1 read them; y/n are not)"
    return None


def kind_of(v) -> str:
    """What a value is, in a problem's words ("a mapping", "a list", "nothing", ...)."""
    if v is None:
        return "nothing"
    return {dict: "a mapping", LDict: "a mapping", list: "a list", LList: "a list", bool: "a boolean",
            int: "a number", float: "a number", str: "a string"}.get(type(v), type(v).__name__)
