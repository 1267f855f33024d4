"""`include:` (TOPOLOGY.md, version 3): a topology made of a generated file and a hand-kept one.

`include: [net.yaml, ...]` names files relative to the including file. They are read
first, in order, and merged; the including file is merged over them:
- mappings merge key by key, recursively; lists are concatenated (included first);
- a scalar of the including file replaces the included one (`null` sets nothing);
- two included files that set the same scalar to different values (or one key to a mapping in
  one and a list or a scalar in the other) are refused, `InvalidParameterValue.Duplicate` citing
  both places, unless the including file sets it itself: then it decides;
- a cycle, a missing file, a path that is not a regular file, a file included twice and nesting
  deeper than `MAX_NESTING` are refused, `InvalidParameter.Include` with the chain of files.

Every value keeps the place it came from: the lines of an included file are `Line`s, integers
that know their file, so the loader (and the model's rules, through the model's `line`s) report
each problem at `FILE:LINE` of the file the value was written in. A file without `include:` is
returned as it was parsed: it costs nothing.
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple

from ..errors import Problem, TopologyInvalid, shown
from ..model.codes import DUPLICATE, INCLUDE, TYPE
from .yamltree import LDict, LList, kind_of, parse_yaml, read_regular_file

KEY = "include"
MAX_NESTING = 8  # files in a chain below the first one


class Line(int):
    """A line number of an included file: an int that knows its file."""

    def __new__(cls, number: int, file: str):
        self = super().__new__(cls, number)
        self.file = file
        return self

    def __reduce__(self):
        return Line, (int(self), self.file)

    def __repr__(self) -> str:
        return f"{self.file}:{int(self)}"


def file_of(line, default: str) -> str:
    """The file a line number belongs to: its own (an included file's) or `default`."""
    return getattr(line, "file", None) or default


def where(line, default: str) -> str:
    """`FILE:LINE` of a line number."""
    return f"{file_of(line, default)}:{int(line or 1)}"


class _Conflict:
    def __init__(self, path: Tuple, first: Tuple, second: Tuple):
        self.path, self.first, self.second = path, first, second  # (value, line) each


class _Expander:
    def __init__(self, root: str):
        self.root = root
        self.files: List[str] = [root]  # every file read, in the order first met (problems sort by it)
        self.included_by: Dict[str, str] = {}  # real path -> FILE:LINE of the include that read it
        self.problems: List[Problem] = []

    def problem(self, code: str, message: str, file: str, line) -> None:
        self.problems.append(Problem(code, message, file_of(line, file), int(line) if line else None))

    def expand(self, doc, file: str, chain: List[Tuple[str, str]]):
        """`doc` (parsed from `file`) with its includes merged in; `chain`: (real path, path) of the
        files that include it, `file` last."""
        if not isinstance(doc, LDict) or KEY not in doc:
            return doc
        names = self._names(doc, file)
        own = LDict()
        own.line = doc.line
        for k, v in doc.items():
            if k != KEY:
                own[k], own.lines[k] = v, doc.lines[k]
        base, conflicts = None, []
        for name, line in names:
            sub = self._read(name, line, file, chain)
            if sub is not None:
                base = _merge(base, sub, (), conflicts)
        return self._resolve(base, own, conflicts) if base is not None else own

    def _names(self, doc: LDict, file: str) -> List[Tuple[str, int]]:
        value, line = doc[KEY], doc.lines[KEY]
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(TYPE, f"include must be a list of file names, not {kind_of(value)}", file, line)
            return []
        out = []
        for item, iline in zip(value, value.lines):
            if not isinstance(item, str) or not item.strip():
                self.problem(TYPE, f"include: {shown(item, as_repr=True)} is not a file name", file, iline)
            else:
                out.append((item, iline))
        return out

    def _read(self, name: str, line, including: str, chain: List[Tuple[str, str]]):
        """The tree of the included file `name` (its own includes merged), or None after a problem."""
        base = os.path.dirname(including) if not including.startswith("<") else ""
        path = os.path.normpath(os.path.join(base, name))
        real = os.path.realpath(path)
        shown_chain = " -> ".join([shown for _, shown in chain] + [path])
        at = where(line, including)
        if real in (r for r, _ in chain):
            self.problem(INCLUDE, f"include cycle: {shown_chain}", including, line)
            return None
        if len(chain) > MAX_NESTING:
            self.problem(INCLUDE, f"includes nest deeper than {MAX_NESTING} files: {shown_chain}", including, line)
            return None
        if real in self.included_by:
            self.problem(INCLUDE, f"{path} is included twice (first at {self.included_by[real]}): {shown_chain}",
                         including, line)
            return None
        self.included_by[real] = at
        try:
            text = read_regular_file(path, "an included topology is a YAML file")
            doc = parse_yaml(text, path)
        except TopologyInvalid as e:
            for p in e.problems:
                if p.line is None or p.file != path:  # the file itself: missing, not regular, unreadable
                    self.problem(INCLUDE, f"cannot include {name}: {p.message} ({shown_chain})", including, line)
                else:  # what is wrong inside it, at its own line
                    self.problems.append(p)
            return None
        if path not in self.files:
            self.files.append(path)
        if doc is None:
            return None  # an empty file adds nothing
        if not isinstance(doc, LDict):
            self.problem(TYPE, f"an included topology is a mapping, not {kind_of(doc)}", path, Line(doc.line or 1, path))
            return None
        _mark(doc, path)
        return self.expand(doc, path, chain + [(real, path)])

    def _resolve(self, base: LDict, own: LDict, conflicts: List[_Conflict]) -> LDict:
        """`own` over `base`; the conflicts among the included files that `own` does not decide."""
        decided: List[Tuple] = []
        out = _overlay(base, own, (), decided)
        for c in conflicts:
            if any(c.path[:len(d)] == d for d in decided):
                continue
            (va, la), (vb, lb) = c.first, c.second
            self.problem(DUPLICATE, f"{'.'.join(str(k) for k in c.path)} is {_value(va)} at {where(la, self.root)} "
                         f"and {_value(vb)} at {where(lb, self.root)}: two included files disagree (set it in the "
                         "including file to decide)", self.root, lb)
        return out


def _value(v) -> str:
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    return f"'{shown(v)}'"


def _mark(node, file: str) -> None:
    """Every line number of a tree read from `file` becomes a Line of `file` (iteratively)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, LDict):
            n.line = Line(n.line or 1, file)
            n.lines = {k: Line(v, file) for k, v in n.lines.items()}
            stack.extend(v for v in n.values() if isinstance(v, (LDict, LList)))
        elif isinstance(n, LList):
            n.line = Line(n.line or 1, file)
            n.lines = [Line(v, file) for v in n.lines]
            stack.extend(v for v in n if isinstance(v, (LDict, LList)))


def _kind(v) -> str:
    return "mapping" if isinstance(v, dict) else "list" if isinstance(v, list) else "scalar"


def _concat(a: LList, b: LList) -> LList:
    out = LList()
    out.line = a.line
    out.extend(a)
    out.extend(b)
    out.lines = list(a.lines) + list(b.lines)
    return out


def _merge(a: Optional[LDict], b: LDict, path: Tuple, conflicts: List[_Conflict]) -> LDict:
    """Two included files' mappings (siblings): a disagreement is a conflict."""
    if a is None:
        return b
    out = LDict()
    out.line = a.line
    for k, v in a.items():
        out[k], out.lines[k] = v, a.lines[k]
    for k, vb in b.items():
        va = out.get(k)
        if k not in out or va is None:
            out[k], out.lines[k] = vb, b.lines[k]
        elif vb is None:
            continue
        elif isinstance(va, dict) and isinstance(vb, dict):
            out[k] = _merge(va, vb, path + (k,), conflicts)
        elif isinstance(va, list) and isinstance(vb, list):
            out[k] = _concat(va, vb)
        elif _kind(va) != _kind(vb) or va != vb or type(va) is not type(vb):
            conflicts.append(_Conflict(path + (k,), (va, out.lines[k]), (vb, b.lines[k])))
    return out


def _overlay(base: LDict, own: LDict, path: Tuple, decided: List[Tuple]) -> LDict:
    """The including file's mapping over the merged included ones: its scalars win."""
    out = LDict()
    out.line = own.line if own.line else base.line
    for k, v in base.items():
        out[k], out.lines[k] = v, base.lines[k]
    for k, vo in own.items():
        vb = out.get(k)
        if k not in out or vb is None:
            out[k], out.lines[k] = vo, own.lines[k]
        elif vo is None:
            continue  # null sets nothing: the included value stays
        elif isinstance(vb, dict) and isinstance(vo, dict):
            out[k] = _overlay(vb, vo, path + (k,), decided)
        elif isinstance(vb, list) and isinstance(vo, list):
            out[k] = _concat(vb, vo)
        else:
            out[k], out.lines[k] = vo, own.lines[k]
            decided.append(path + (k,))
    return out


def in_order(problems: List[Problem], files: List[str]) -> List[Problem]:
    """Problems sorted by file (the including file first, then each file in the order it was met)
    and line."""
    rank = {f: i for i, f in enumerate(files)}
    return sorted(problems, key=lambda p: (rank.get(p.file, 0), p.line or 0))


def expand(doc, file: str):
    """(the tree with every `include:` merged in, the files read in order: `file` first).

    Raises TopologyInvalid with every problem of the includes (the files' contents are the
    loader's to judge, after the merge)."""
    if not isinstance(doc, LDict) or KEY not in doc:
        return doc, [file]
    x = _Expander(file)
    root_real = os.path.realpath(file) if not file.startswith("<") else file
    out = x.expand(doc, file, [(root_real, file)])
    if x.problems:
        raise TopologyInvalid(in_order(x.problems, x.files))
    return out, x.files
