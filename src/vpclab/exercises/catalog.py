"""Where the exercises live, and their check files read into `Exercise` and `Item`.

The exercises are data in the repository's `lab/` directory (one `lab/NN-slug/`
per exercise, with `guide.md`, `start.yaml` and `check.yaml`), which the wheel also
carries as package data (`vpclab/lab/`, see setup.py): `VPCLAB_LABS=/path/to/lab` names
it, otherwise the installed copy is used, else the checkout's, found by walking up from
this package (an editable install; exercises/shipped.py). A check file is
validated like a topology: every problem as `FILE:LINE: CODE: message`, and the
names its items use must exist in its start topology.
"""
from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from ..controller import static
from . import closure, hints
from ..errors import EnvironmentProblem, NotFound, Problem, TopologyInvalid, shown
from ..model.filters import INTERNET_PREFIX
from ..model.types import PROTOS, RESULTS, STATES
from ..model.units import NumberError, parse_whole
from .shipped import shipped_dir

LABS_ENV = "VPCLAB_LABS"
INVALID = "ExerciseInvalid"
DIR_NAME = re.compile(r"^(\d\d)-[a-z0-9-]+$")

# kind -> (allowed keys, required keys)
KINDS: Dict[str, tuple] = {
    "probe": ({"from", "to", "proto", "port", "result", "seen_source", "via"}, {"from", "to", "result"}),
    "peering": ({"id", "between", "state", "bandwidth"}, {"state"}),
    "route": ({"vpc", "table", "destination", "next_hop", "present", "state"}, {"vpc", "destination"}),
    "refused": ({"op", "vpc", "peer_vpc", "id", "bandwidth", "name", "as", "destination", "next_hop", "table",
                 "ccn", "route", "code"}, {"op", "code"}),
    "throughput": ({"from", "to", "at_most_mbps", "at_least_mbps", "seconds"}, {"from", "to"}),
    "isolated": ({"between"}, {"between"}),  # the one definition: exercises/closure.py
}
ITEM_KEYS = {"id", "title", "hint"}
TOP_KEYS = {"title", "task", "start", "items", "solution", "wrong_fix"}
# The live operations a `refused` item may name (CLI.md), and the keys each takes.
OPS = {
    "peering create": {"vpc", "peer_vpc", "bandwidth", "name", "as"},
    "peering accept": {"id", "as"},
    "peering reject": {"id", "as"},
    "peering delete": {"id", "as"},
    "peering modify": {"id", "bandwidth", "as"},
    "route add": {"vpc", "destination", "next_hop", "table"},
    "ccn attach": {"ccn", "vpc", "as"},
    "ccn accept": {"ccn", "vpc", "as"},
    "ccn route enable": {"ccn", "route", "as"},
}


@dataclass
class Item:
    """One thing that must hold when the exercise is solved."""

    id: str
    title: str
    kind: str
    spec: dict
    hints: List[str]  # the texts, in order
    line: int = 0
    whens: List[dict] = field(default_factory=list)  # per hint: the facts it holds for ({}: any state)

    def __post_init__(self):
        if not self.whens:
            self.whens = [{} for _ in self.hints]


@dataclass
class Exercise:
    number: str  # "03"
    slug: str  # "03-return-route"
    dir: Path
    title: str
    task: str
    start: Path
    items: List[Item]
    solution: List[str] = field(default_factory=list)  # vpclab commands, without `vpclab` and `-l`
    wrong_fix: List[str] = field(default_factory=list)
    wrong_fails: List[str] = field(default_factory=list)  # item ids the wrong fix leaves failing

    @property
    def default_lab(self) -> str:
        return f"ex{self.number}"

    @property
    def guide(self) -> Path:
        return self.dir / "guide.md"

    def item(self, item_id: str) -> Item:
        return next(i for i in self.items if i.id == item_id)


def labs_dir() -> Path:
    """`$VPCLAB_LABS`, else the installed package's `lab/`, else the checkout's."""
    env = os.environ.get(LABS_ENV)
    if env:
        p = Path(env)
        if not p.is_dir():
            raise EnvironmentProblem(f"{LABS_ENV}={env} is not a directory", code="ExercisesNotFound",
                                     hint="point it at the `lab/` directory of a vpclab checkout")
        return p
    found = shipped_dir("lab")
    if found:
        return found
    raise EnvironmentProblem("the exercises (`lab/NN-*/check.yaml`) were not found", code="ExercisesNotFound",
                             hint=f"reinstall vpclab (its wheel carries them) or set {LABS_ENV}=/path/to/vpclab/lab")


def all_exercises(root: Optional[Path] = None) -> List[Exercise]:
    root = root or labs_dir()
    return [load(d) for d in sorted(root.iterdir()) if DIR_NAME.match(d.name) and (d / "check.yaml").exists()]


def find(number: str, root: Optional[Path] = None) -> Exercise:
    """An exercise by number (`3`, `03`) or directory name (`03-return-route`)."""
    root = root or labs_dir()
    dirs = sorted(d for d in root.iterdir() if DIR_NAME.match(d.name) and (d / "check.yaml").exists())
    key = str(number).strip()
    try:  # the one bounded parser: '²' or 5,000 digits is no exercise, never a conversion crash
        key = f"{parse_whole(key):02d}"
    except NumberError:
        pass
    for d in dirs:
        if d.name == key or d.name[:2] == key:
            return load(d)
    raise NotFound(f"no exercise '{shown(number)}'", code="ExerciseNotFound",
                   hint="exercises: " + ", ".join(d.name[:2] for d in dirs) + " (see `vpclab lab list`)")


class _Problems:
    def __init__(self, file: str):
        self.file, self.problems = file, []

    def add(self, msg: str, line) -> None:
        self.problems.append(Problem(INVALID, msg, self.file, line or 0))


def load(d: Path) -> Exercise:
    """Read and validate `d/check.yaml` against `d/start.yaml`; TopologyInvalid lists every problem."""
    path = d / "check.yaml"
    file = str(path)
    doc = static.parse_yaml(path.read_text(encoding="utf-8"), file)
    pr = _Problems(file)
    if not isinstance(doc, dict):
        raise TopologyInvalid([Problem(INVALID, "a check file is a mapping with title, task, items", file, 1)])
    for k in set(doc) - TOP_KEYS:
        pr.add(f"unknown key '{k}' (known: {', '.join(sorted(TOP_KEYS))})", doc.lines.get(k))
    for k in ("title", "task", "items"):
        if k not in doc:
            pr.add(f"missing '{k}'", doc.line)
    start = d / str(doc.get("start", "start.yaml"))
    model = static.validate(start)  # a broken start topology reports itself
    items: List[Item] = []
    for n, raw in enumerate(doc.get("items") or []):
        line = doc["items"].lines[n]
        item = _item(pr, raw, line, n, model)
        if item is not None:
            if any(i.id == item.id for i in items):
                pr.add(f"item id '{item.id}' is used twice", line)
            items.append(item)
    wrong = doc.get("wrong_fix") or {}
    wrong_fails = [str(x) for x in (wrong.get("fails") or [])] if isinstance(wrong, dict) else []
    for x in wrong_fails:
        if not any(i.id == x for i in items):
            pr.add(f"wrong_fix fails '{x}', which is not an item id", wrong.lines.get("fails", wrong.line))
    solution = _commands(pr, doc.get("solution"), "solution", doc.lines.get("solution"))
    wrong_cmds = _commands(pr, wrong.get("commands") if isinstance(wrong, dict) else None, "wrong_fix.commands",
                           doc.lines.get("wrong_fix"))
    if pr.problems:
        raise TopologyInvalid(pr.problems)
    return Exercise(d.name[:2], d.name, d, str(doc["title"]), str(doc["task"]).strip(), start, items,
                    solution, wrong_cmds, wrong_fails)


def _commands(pr: _Problems, raw, what: str, line) -> List[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
        pr.add(f"'{what}' is a list of vpclab commands (strings)", line)
        return []
    return [c[len("vpclab "):] if c.startswith("vpclab ") else c for c in raw]


def _item(pr: _Problems, raw, line: int, n: int, model) -> Optional[Item]:
    if not isinstance(raw, dict):
        pr.add("an item is a mapping: title, hint and one of " + ", ".join(KINDS), line)
        return None
    kinds = [k for k in raw if k in KINDS]
    for k in set(raw) - ITEM_KEYS - set(KINDS):
        pr.add(f"unknown item key '{k}'", raw.lines.get(k))
    if len(kinds) != 1:
        pr.add(f"an item names exactly one of {', '.join(KINDS)} (found {len(kinds)})", line)
        return None
    kind = kinds[0]
    spec = raw[kind]
    if not isinstance(spec, dict):
        pr.add(f"'{kind}' is a mapping", line)
        return None
    allowed, required = KINDS[kind]
    for k in set(spec) - allowed:
        pr.add(f"{kind}: unknown key '{k}' (known: {', '.join(sorted(allowed))})", line)
    for k in required - set(spec):
        pr.add(f"{kind}: missing '{k}'", line)
    for k in ("title", "hint"):
        if k not in raw:
            pr.add(f"an item needs a '{k}'", line)
    parsed = hints.parse(raw["hint"]) if "hint" in raw else ([], [])
    if parsed is None:
        pr.add("a hint is a text or {when: {FACT: VALUE}, text: TEXT}, or a list of them", raw.lines.get("hint", line))
        parsed = ([], [])
    for msg in hints.problems(kind, *parsed):
        pr.add(msg, raw.lines.get("hint", line))
    _check_spec(pr, kind, dict(spec), line, model)
    return Item(str(raw.get("id", f"item{n + 1}")), str(raw.get("title", "")), kind, dict(spec), parsed[0], line,
                parsed[1])


def _check_spec(pr: _Problems, kind: str, spec: dict, line: int, model) -> None:
    """The names an item uses exist in the start topology; values are in range."""
    refs = {i.ref for i in model.instances()}
    for k in ("from", "to"):
        if k in spec and spec[k] not in refs and not (k == "to" and _public_target(model, spec[k])):
            pr.add(f"{kind}: '{spec[k]}' is not an instance of the start topology", line)
    if "seen_source" in spec and not _is_address(spec["seen_source"]):
        pr.add(f"probe: seen_source '{spec['seen_source']}' is not an IPv4 address", line)
    for k in ("vpc", "peer_vpc"):
        if k in spec and spec[k] not in model.vpcs and kind != "refused":
            pr.add(f"{kind}: '{spec[k]}' is not a VPC of the start topology", line)
    if kind == "probe":
        results = spec.get("result")
        results = results if isinstance(results, list) else [results]
        for r in results:
            if r not in RESULTS:
                pr.add(f"probe: result '{r}' is not one of {', '.join(RESULTS)}", line)
        if closure.CLOSED in results and len(set(results)) > 1:
            pr.add(f"probe: result {', '.join(map(str, results))} mixes closed with open: a destination is closed "
                   f"only when `{closure.CLOSED}` (the request never arrives; lab/README.md); say "
                   f"`result: {closure.CLOSED}`", line)
        if "via" in spec and spec["via"] not in model.peerings:
            pr.add(f"probe: via '{spec['via']}' is not a peering of the start topology", line)
    if kind == "isolated":
        pair = spec.get("between")
        if not (isinstance(pair, list) and len(pair) == 2 and all(v in model.vpcs for v in pair) and pair[0] != pair[1]):
            pr.add("isolated: 'between' names two VPCs of the start topology: [VPC, VPC]", line)
        if spec.get("proto", "icmp") not in PROTOS:
            pr.add(f"probe: proto '{spec.get('proto')}' is not one of {', '.join(PROTOS)}", line)
    if kind == "peering":
        if ("id" in spec) == ("between" in spec):
            pr.add("peering: name it by 'id' or by 'between: [VPC, VPC]'", line)
        if spec.get("state") not in STATES + ("none",):
            pr.add(f"peering: state '{spec.get('state')}' is not one of {', '.join(STATES)}, none", line)
    if kind == "refused":
        op = spec.get("op")
        if op not in OPS:
            pr.add(f"refused: op '{op}' is not one of {', '.join(OPS)}", line)
        else:
            for k in set(spec) - OPS[op] - {"op", "code"}:
                pr.add(f"refused: '{op}' takes no '{k}'", line)


def _is_address(text) -> bool:
    try:
        ipaddress.IPv4Address(str(text))
        return True
    except ValueError:
        return False


def _public_target(model, ref) -> bool:
    """A probe may also go to an Internet host (`internet/web`) or a public address."""
    net = model.internet
    if net is None:
        return False
    if str(ref).startswith(INTERNET_PREFIX):
        return net.host(str(ref)) is not None
    return _is_address(ref) and ipaddress.IPv4Address(str(ref)) in net.cidr
