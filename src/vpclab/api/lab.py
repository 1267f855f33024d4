"""The public Python API: `from vpclab import Lab`.

A `Lab` is a running lab seen from Python: built by `Lab.up(path)`, torn down
when its `with` block ends (however it ends), with `probe`, `explain`, `matrix`,
`test` and the live operations as methods. Results are dataclasses with the
fields of the `--json` documents of the CLI (`Verdict.ret` is the `return` leg).
Errors are those of `vpclab.errors` (`Refused`, `TopologyInvalid`, ...).

Everything here goes through controller/, the same use cases the CLI runs (the live
operations through its one table, controller/operate.py); this module only names labs,
owns their teardown and types results.
"""
from __future__ import annotations

import atexit
import dataclasses
import random
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from ..errors import Refused, shown
from ..explain import verdict
from ..model.codes import LAB_RUNNING
from ..model.units import bandwidth_kbps
from . import interrupts
from .operations import CcnOperations, FilterOperations

# ---- typed results (the --json shapes) -------------------------------------------------------


class Reason(verdict.Reason):
    """Why a verdict is what it is: `code`, `where`, `table`, `detail` (null codes when reachable)."""

    def __str__(self) -> str:
        if not self.code:
            return "no reason (reachable)"
        return f"{self.code} at {self.where}" + (f", table {self.table}" if self.table else "") + f": {self.detail}"


class Leg(verdict.Leg):
    """One direction of a verdict: `delivered`, `last_hop`, `path`."""

    def __str__(self) -> str:
        if not self.path:
            return "not sent"
        return " -> ".join(self.path) + ("  (delivered)" if self.delivered else f"  (lost after {self.last_hop})")


def story(forward: Leg, ret: Leg, reason: Reason, note: Optional[Reason] = None,
          mismatch: Optional[str] = None) -> List[str]:
    """The lines after a verdict's headline: both paths, the reason, a note, a mismatch."""
    lines = [f"  request: {forward}", f"  reply:   {ret}"]
    if reason.code:
        lines.append(f"  reason:  {reason}")
    if note is not None:
        lines.append(f"  note:    {note}")
    if mismatch:
        lines.append(f"  MISMATCH: {mismatch}")
    return lines


@dataclass
class Observation:
    """One packet of a probe as one capture point saw it (`probe --json` "evidence"; `if` is `ifname`)."""

    at: str  # the capture point: a VPC (its router), an instance, the source
    dir: str  # "request" (travels source -> destination) or "reply"
    t_ms: float  # after the send, by the kernel's timestamps
    src: str
    dst: str
    ifname: Optional[str] = None
    way: Optional[str] = None  # "rx" | "tx"
    what: Optional[str] = None  # "echo-request", "SYN-ACK", "icmp port unreachable", ...
    role: Optional[str] = None  # "source" | "router" | "instance" | "internet"

    @classmethod
    def from_json(cls, doc: dict) -> "Observation":
        return cls(doc["at"], doc["dir"], doc["t_ms"], doc["src"], doc["dst"], doc.get("if"), doc.get("way"),
                   doc.get("what"), doc.get("role"))

    def __str__(self) -> str:
        where = f"{self.at} router" if self.role == "router" else self.at
        return f"{self.t_ms:.3f} ms  {where} {self.way or ''} {self.what or self.dir}  {self.src} > {self.dst}"


@dataclass
class Verdict(verdict.Verdict):
    """One answer to "can SRC reach DST, and does the reply come back?" (probe or explain):
    explain's fields, and for a probe what the packets did."""

    explain: Optional[str] = None  # probe: what explain predicted
    observed: Optional[str] = None  # probe: what the packets did
    mismatch: Optional[str] = None  # probe: packets and explain disagree
    expected: Optional[str] = None
    ok: Optional[bool] = None
    evidence: Optional[List[Observation]] = None  # probe: every packet seen, in time order

    @property
    def reachable(self) -> bool:
        return self.result == "reachable"

    @classmethod
    def from_json(cls, doc: dict) -> "Verdict":
        return cls(doc["src"], doc["dst"], doc["proto"], doc.get("port"), doc["result"], Leg(**doc["forward"]),
                   Leg(**doc["return"]), Reason(**(doc.get("reason") or {})), doc.get("rtt_ms"),
                   Reason(**doc["note"]) if doc.get("note") else None, seen_source=doc.get("seen_source"),
                   explain=doc.get("explain"), observed=doc.get("observed"), mismatch=doc.get("mismatch"),
                   expected=doc.get("expected"), ok=doc.get("ok"),
                   evidence=[Observation.from_json(e) for e in doc["evidence"]] if doc.get("evidence") is not None
                   else None)

    def describe(self) -> str:
        """Several lines for people: the verdict, both paths, the reason (and a probe's packets)."""
        what = self.proto + (f"/{self.port}" if self.port else "")
        packets = [f"  packet:  {e}" for e in self.evidence or []]
        return "\n".join([f"{self.src} -> {self.dst} ({what}): {self.result}"] + packets
                         + story(self.forward, self.ret, self.reason, self.note, self.mismatch))


@dataclass
class Matrix:
    lab: str
    instances: List[str]
    pairs: List[Verdict]
    summary: Dict[str, int]
    mismatches: int
    seconds: float
    public: List[str] = field(default_factory=list)  # EIPs and Internet hosts probed as destinations

    @classmethod
    def from_json(cls, doc: dict) -> "Matrix":
        return cls(doc["lab"], list(doc["instances"]), [Verdict.from_json(p) for p in doc["pairs"]],
                   dict(doc["summary"]), doc["mismatches"], doc["seconds"], list(doc.get("public", [])))

    def get(self, src: str, dst: str, proto: str = "icmp") -> Verdict:
        for v in self.pairs:
            if (v.src, v.dst, v.proto) == (src, dst, proto):
                return v
        raise KeyError((src, dst, proto))


@dataclass
class Case:
    """One `expect:` entry checked with real packets (`test --json` "cases")."""

    src: str
    dst: str
    proto: str
    port: Optional[int]
    expected: str
    got: str
    ok: bool
    reason: Reason
    line: Optional[int] = None
    mismatch: Optional[str] = None
    forward: Leg = field(default_factory=Leg)
    ret: Leg = field(default_factory=Leg)

    @property
    def id(self) -> str:
        return f"{self.src}->{self.dst}/{self.proto}" + (f"/{self.port}" if self.port else "")

    @classmethod
    def from_json(cls, doc: dict) -> "Case":
        return cls(doc["from"], doc["to"], doc["proto"], doc.get("port"), doc["expected"], doc["got"], doc["ok"],
                   Reason(**(doc.get("reason") or {})), doc.get("line"), doc.get("mismatch"),
                   Leg(**doc["forward"]) if doc.get("forward") else Leg(),
                   Leg(**doc["return"]) if doc.get("return") else Leg())


@dataclass
class TestReport:
    lab: str
    passed: int
    failed: int
    cases: List[Case]
    source: Optional[str] = None
    __test__ = False  # not a pytest test class

    @classmethod
    def from_json(cls, doc: dict) -> "TestReport":
        return cls(doc["lab"], doc["passed"], doc["failed"], [Case.from_json(c) for c in doc["cases"]],
                   doc.get("source"))


@dataclass
class Peering:
    id: str
    vpc: str
    peer_vpc: str
    state: str
    bandwidth_mbps: Optional[float] = None
    created_at: float = 0.0
    expires_at: Optional[float] = None
    cross_region: bool = False


@dataclass
class RouteEntry:
    vpc: str
    table: str
    destination: str
    next_hop: str
    state: str  # active | blackhole | deleted; a CCN's: active | disabled
    type: str = "USER"  # USER (the table's own) or CCN (delivered by the CCN `next_hop`)
    why: Optional[str] = None  # a CCN route disabled in the table: why


@dataclass
class Event:
    id: int
    lab_time: float
    actor: Optional[str]
    action: str
    target: Optional[str]
    result: str
    detail: Optional[str] = None
    time: Optional[str] = None  # the wall-clock time, ISO 8601 UTC


@dataclass
class Clock:
    clock: float
    expired: List[str]


def _pick(cls, doc: dict):
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in doc.items() if k in names})


# ---- lab names -----------------------------------------------------------------------------


def unique_name(prefix: str = "p") -> str:
    """A lab name no running lab has: `prefix` + random [a-z0-9], 8 characters in all."""
    from ..controller.status import known_labs
    from ..model.types import LAB_NAME

    if not LAB_NAME.match(prefix + "x") or len(prefix) > 4:
        raise Refused(f"lab name prefix '{shown(prefix)}' must be 1-4 characters, [a-z][a-z0-9]*", code="InvalidParameterValue")
    taken = set(known_labs()) | _ISSUED
    rng = random.SystemRandom()
    while True:
        name = prefix + "".join(rng.choices(string.ascii_lowercase + string.digits, k=8 - len(prefix)))
        if name not in taken:
            _ISSUED.add(name)  # two names asked for before either lab exists still differ
            return name


_ISSUED: set = set()




def _running(name: str) -> Refused:
    """`Lab.up` never takes over a running lab: it would remove it at the end."""
    return Refused(f"lab {name} is already running: Lab.up builds a new lab and would remove this one "
                   "when done, so it leaves it alone", code=LAB_RUNNING,
                   hint=f"`Lab.attach('{name}')` uses the running lab without removing it; or build another "
                        "lab with `Lab.up(path, name=...)` or `Lab.up(path, unique=True)`")


_LIVE: Dict[str, "Lab"] = {}  # labs this process built and has not torn down yet


@atexit.register
def _down_all() -> None:
    """An interpreter that exits with labs still up (an exception outside `with`) removes them."""
    with interrupts.held("removing this process's labs", reraise=False):  # every one of them
        for lab in list(_LIVE.values()):
            try:
                lab.down()
            except Exception:  # noqa: BLE001 - best effort at exit; `vpclab cleanup LAB` remains
                pass


# ---- the lab ------------------------------------------------------------------------------------


class Lab(FilterOperations, CcnOperations):
    """A running lab. Build one with `Lab.up(path)`; use it in a `with` block to always remove it."""

    def __init__(self, name: str, source: Optional[str] = None, owned: bool = False):
        self.name = name
        self.source = source
        self.owned = owned

    def __repr__(self) -> str:
        return f"Lab({self.name!r}, source={self.source!r}, {'up' if self.name in _LIVE else 'not owned or down'})"

    # ---- building and removing --------------------------------------------------------------

    @classmethod
    def up(cls, path: Union[str, Path], name: Optional[str] = None, unique: bool = False) -> "Lab":
        """Build the lab of the topology at `path` (root needed).

        `name` builds it under that lab name instead of the file's `lab:`;
        `unique=True` under a fresh random name no running lab has, so parallel
        workers and test runs never collide. The returned lab is torn down by its
        `with` block, by `down()`, or at interpreter exit. A lab of that name that is
        already running is refused (UnsupportedOperation.LabRunning), never taken
        over: only a lab this call built is ever removed by it (`Lab.attach(name)`
        uses a running lab without removing it). The file is read and checked once; a lab
        built under another name is that model relabelled in memory (every line number
        stays the file's).
        """
        from ..controller import build, host, static
        from ..model.types import LAB_NAME

        path = Path(path)
        model = static.validate(str(path))  # problems name the user's file
        if unique and name:
            raise Refused("give a name or unique=True, not both", code="InvalidParameter")
        if unique:
            name = unique_name()
        if name is not None and not LAB_NAME.match(name):
            raise Refused(f"lab name '{shown(name)}' is not valid (1-8 characters, [a-z][a-z0-9]*)",
                          code="InvalidParameterValue")
        host.require_root("up")
        target = name or model.name
        if target in _LIVE or target in host.running_labs():
            raise _running(target)  # never adopted: this call would tear down a lab it did not build
        model.name = target
        lab = cls(target, str(path), owned=True)
        _LIVE[lab.name] = lab
        try:
            # refuses (under the lab's lock) a lab built meanwhile; `ls` shows the caller's file
            build.up(str(path), fresh=True, model=model)
        except Refused as e:
            if e.code != LAB_RUNNING:
                lab.down()
                raise
            lab._forget()  # someone else's lab: left alone
            raise _running(target) from None
        except BaseException:
            lab.down()  # a half-built lab (error, Ctrl-C) goes too
            raise
        return lab

    @classmethod
    def attach(cls, name: Optional[str] = None) -> "Lab":
        """A lab that is already running (not torn down by this object)."""
        from ..controller import status

        return cls(status.resolve_lab(name))

    def down(self, wait: bool = True) -> None:
        """Remove the lab (fine if it is already gone). Ctrl-C waits until it is removed
        (api/interrupts.py), then interrupts as usual."""
        with interrupts.held(f"removing lab {self.name}"):
            from ..controller import teardown

            try:
                teardown.down(self.name, wait=wait)
            finally:
                _LIVE.pop(self.name, None)  # gone, whoever built it
                self._forget()

    def _forget(self) -> None:
        """No longer a lab this process removes."""
        if _LIVE.get(self.name) is self:
            del _LIVE[self.name]

    def __enter__(self) -> "Lab":
        return self

    def __exit__(self, *exc) -> bool:
        if self.owned:
            self.down()
        return False

    # ---- questions ------------------------------------------------------------------------------

    def probe(self, src: str, dst: str, proto: str = "icmp", port: Optional[int] = None,
              expect: Optional[str] = None, pcap: Optional[str] = None) -> Verdict:
        """One real probe SRC -> DST with captures along the path (`evidence`); `pcap`: also write
        its packets to that file."""
        from ..controller import probing

        return Verdict.from_json(probing.probe(src, dst, proto, port, expect, self.name, pcap))

    def explain(self, src: str, dst: str, proto: str = "icmp", port: Optional[int] = None) -> Verdict:
        """The verdict from the lab's model alone (no packets)."""
        from ..controller import explaining, settle

        return Verdict.from_json(explaining.explain(src, dst, proto, port, lab=self.name, load=settle.load_model).to_json())

    def matrix(self) -> Matrix:
        from ..controller import probing

        return Matrix.from_json(probing.matrix(self.name))

    def test(self) -> TestReport:
        """The topology's `expect:` list, checked with real probes."""
        from ..controller import probing

        return TestReport.from_json(probing.test(None, self.name))

    def status(self) -> Dict[str, Any]:
        from ..controller import status

        return status.status(self.name)

    # ---- live operations ------------------------------------------------------------------------

    def peerings(self) -> List[Peering]:
        from ..controller import status

        return [_pick(Peering, r) for r in status.peering_rows(status.load_model(self.name))]

    def peering(self, pid: str) -> Peering:
        for p in self.peerings():
            if p.id == pid:
                return p
        raise KeyError(pid)

    def peering_create(self, vpc: str, peer_vpc: str, bandwidth: Optional[str] = None, name: Optional[str] = None,
                       account: Optional[str] = None) -> Peering:
        from ..controller import operate

        p = operate.run(self.name, "peering create", vpc, peer_vpc, bandwidth_kbps(bandwidth), name, account)
        return self.peering(p.name)

    def peering_accept(self, pid: str, account: Optional[str] = None) -> Peering:
        return self._event("accept", pid, account)

    def peering_reject(self, pid: str, account: Optional[str] = None) -> Peering:
        return self._event("reject", pid, account)

    def peering_delete(self, pid: str, account: Optional[str] = None) -> Peering:
        return self._event("delete", pid, account)

    def _event(self, event: str, pid: str, account: Optional[str]) -> Peering:
        from ..controller import operate

        operate.run(self.name, f"peering {event}", pid, account)
        return self.peering(pid)

    def peering_modify(self, pid: str, bandwidth: str, account: Optional[str] = None) -> Peering:
        from ..controller import operate

        operate.run(self.name, "peering modify", pid, bandwidth_kbps(bandwidth), account)
        return self.peering(pid)

    def routes(self, vpc: Optional[str] = None) -> List[RouteEntry]:
        from ..controller import status

        return [_pick(RouteEntry, r) for r in status.route_rows(status.load_model(self.name), vpc)]

    def route_add(self, vpc: str, destination: str, next_hop: str, table: str = "default") -> RouteEntry:
        from ..controller import operate

        r = operate.run(self.name, "route add", vpc, destination, next_hop, table)
        return next(e for e in self.routes(vpc) if e.table == table and e.destination == str(r.destination))

    def route_del(self, vpc: str, destination: str, next_hop: Optional[str] = None,
                  table: str = "default") -> RouteEntry:
        from ..controller import operate

        r = operate.run(self.name, "route del", vpc, destination, next_hop, table)
        return RouteEntry(vpc, table, str(r.destination), r.next_hop, "deleted")

    def clock_advance(self, duration: Union[str, float]) -> Clock:
        """Move the lab clock: "8d", "36h", or seconds."""
        from ..controller import operate, status
        from ..model.units import parse_duration

        try:  # a number goes as it is: the controller refuses what is not one (a bool, NaN, a list)
            seconds = parse_duration(duration) if isinstance(duration, str) else duration
        except ValueError as e:
            raise Refused(str(e), code="InvalidParameterValue")
        expired = operate.run(self.name, "clock advance", seconds)
        return Clock(status.load_model(self.name).clock, [p.name for p in expired])

    def events(self) -> List[Event]:
        from ..controller import events as log

        return [_pick(Event, e) for e in log.read(self.name)]


