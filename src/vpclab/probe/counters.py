"""nftables rule counters: which filter rule a probe's packets met, read from the kernel.

Every nftables rule vpclab installs for a security group or network ACL rule carries
a counter and a comment naming the model rule (`RuleRef.comment()`, plan/names.py),
the "no rule matched" drops included. Reading the counters of the namespaces on a
probe's path before and after it, the rules whose counters grew are the rules its
packets, and any other traffic meanwhile, met. `Brackets` counts one probe's own packets
(by protocol and ids) just before and just after the filter chains, so that the caller
(controller/attribution.py) can tell whether they, and not another flow's, were dropped there.
Nothing here reads the model: the rule's name comes from the comment the kernel holds.

libnftables (its Python binding, `nftables`) is opened once per namespace from inside
it (a context talks to the namespace it was created in) and can then be used from
anywhere; output is libnftables JSON (`list ruleset`).
"""
from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Tuple

from ..errors import EnvironmentProblem, KernelRefused
from ..plan.names import RuleRef
from ..kernel import nsenter

DROP, ACCEPT = "drop", "accept"
RuleKey = Tuple[str, str, str, int]  # (family, table, chain, handle)


@dataclass(frozen=True)
class Counted:
    """One vpclab rule as the kernel holds it: what it stands for, its verdict, its counter."""

    ref: RuleRef
    verdict: str  # "drop" (drop or reject), "accept", or another verdict's name ("jump", ...)
    packets: int
    bytes: int


Snapshot = Dict[str, Dict[RuleKey, Counted]]  # namespace -> its vpclab rules


@dataclass(frozen=True)
class Hit:
    """A rule whose counter grew between two snapshots of one namespace."""

    ns: str
    ref: RuleRef
    verdict: str
    packets: int  # by how much


def _verdict(expr: List[dict]) -> str:
    for e in reversed(expr):
        if not isinstance(e, dict) or not e:
            continue
        k = next(iter(e))
        if k in ("drop", "reject"):
            return DROP
        if k in ("accept", "jump", "goto", "return", "continue", "queue"):
            return k
    return "continue"


def parse(doc: dict) -> Dict[RuleKey, Counted]:
    """The vpclab rules (a RuleRef comment and a counter) of one `list ruleset` JSON document."""
    out: Dict[RuleKey, Counted] = {}
    for item in doc.get("nftables", []):
        r = item.get("rule") if isinstance(item, dict) else None
        if not r:
            continue
        ref = RuleRef.parse(r.get("comment") or "")
        if ref is None:
            continue
        expr = r.get("expr") or []
        counter = next((e["counter"] for e in expr if isinstance(e, dict) and "counter" in e), None)
        if not isinstance(counter, dict):  # a named counter ({"counter": "name"}) holds no numbers here
            continue
        out[(r.get("family"), r.get("table"), r.get("chain"), r.get("handle"))] = Counted(
            ref, _verdict(expr), int(counter.get("packets", 0)), int(counter.get("bytes", 0)))
    return out


def grew(before: Snapshot, after: Snapshot) -> List[Hit]:
    """Every rule whose counter grew, namespace by namespace (a rule new since `before` counts from 0)."""
    hits = []
    for ns, rules in after.items():
        old = before.get(ns, {})
        for key, c in rules.items():
            prev = old.get(key)
            was = prev.packets if prev is not None and prev.ref == c.ref else 0
            if c.packets > was:
                hits.append(Hit(ns, c.ref, c.verdict, c.packets - was))
    return hits


def drops(hits: Iterable[Hit]) -> List[Hit]:
    return [h for h in hits if h.verdict == DROP]


class Reader:
    """Reads the vpclab rule counters of a set of namespaces, one libnftables context each."""

    def __init__(self, namespaces: Iterable[str]):
        try:
            from nftables import Nftables
        except ImportError:
            raise EnvironmentProblem("reading the filter rules' counters needs libnftables' Python binding "
                                     "(module nftables)", hint="run scripts/setup") from None
        self.ctx = {}
        for ns in dict.fromkeys(namespaces):
            with nsenter.entered(ns):
                try:
                    n = Nftables()
                except OSError as e:
                    raise EnvironmentProblem(f"cannot load libnftables: {e}", hint="run scripts/setup") from None
            n.set_json_output(True)
            n.set_handle_output(True)
            self.ctx[ns] = n
        self.tables: Dict[str, List[str]] = {}  # namespace -> its tables' names, as last read

    def read(self, namespaces: Optional[Iterable[str]] = None) -> Snapshot:
        """The vpclab rules of every namespace (of `namespaces` only, if given). Sets are
        listed without their elements (terse): a probe's flow sets (Brackets) can be large."""
        out: Snapshot = {}
        for ns in (self.ctx if namespaces is None else namespaces):
            n = self.ctx[ns]
            n.set_terse_output(True)
            try:
                rc, text, err = n.cmd("list ruleset")
            finally:
                n.set_terse_output(False)
            if rc != 0:
                raise KernelRefused(f"nft list ruleset in {ns}: {err.strip()}")
            doc = json.loads(text) if text.strip() else {}
            out[ns] = parse(doc)
            self.tables[ns] = [o["table"].get("name", "") for o in doc.get("nftables", [])
                               if isinstance(o, dict) and isinstance(o.get("table"), dict)]
        return out


# ---- one probe's own packets: per-flow counters on both sides of the filter chains ---------------

# The hook each vpclab filter chain hangs on (plan/filters.py): an ACL's chains are jumped to
# from the router's forward chain, a security group's are the instance's input and output.
FORWARD, INPUT, OUTPUT = "forward", "input", "output"
ROUTER_HOOKS, INSTANCE_HOOKS = (FORWARD,), (INPUT, OUTPUT)
BRACKET_PRIO = 1  # the filter chains sit at priority 0: ours at -1 (before) and +1 (after)


def hook_of(ref: RuleRef) -> str:
    if ref.kind == "acl":
        return FORWARD
    return INPUT if ref.direction == "ingress" else OUTPUT


@dataclass(frozen=True)
class FlowId:
    """One direction of a probe's flow, by what a NAT leaves of it: the protocol and, for
    ICMP, the echo type and sequence number (a NAT may change the id), for TCP/UDP the
    port pair (kept unless the gateway must change a port to keep its flows apart)."""

    proto: int
    a: int  # ICMP: the type (8 request, 0 reply); TCP/UDP: the source port
    b: int  # ICMP: the sequence number; TCP/UDP: the destination port

    def element(self) -> str:
        if self.proto == 1:
            return f"{self.a} . {self.b}"
        return f"{self.proto} . {self.a} . {self.b}"


def flow_ids(req_key: bytes, rep_key: bytes) -> Tuple[FlowId, FlowId]:
    """(request, reply) FlowIds of a probe from its flow keys (wire.probe_keys)."""
    p = req_key[0]
    if p == 1:
        seq = int.from_bytes(req_key[11:13], "big")
        return FlowId(1, 8, seq), FlowId(1, 0, seq)
    ids = lambda k: (int.from_bytes(k[9:11], "big"), int.from_bytes(k[11:13], "big"))  # noqa: E731
    return FlowId(p, *ids(req_key)), FlowId(p, *ids(rep_key))


_table_serial = itertools.count(1)
BRACKETS_PREFIX = "vpclab_probe_"


def stale_brackets(tables: Iterable[str]) -> List[str]:
    """Bracket tables left by a process that is gone (killed before it could remove them)."""
    out = []
    for name in tables:
        if not name.startswith(BRACKETS_PREFIX):
            continue
        pid = name[len(BRACKETS_PREFIX):].split("_")[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            out.append(name)
        except OSError:
            pass
    return out
_TU = "meta l4proto . th sport . th dport"
_IC = "icmp type . icmp sequence"


class Brackets:
    """Counters of a probe's own packets just before and just after the vpclab filter chains
    of each watched namespace: a table of our own (`inet vpclab_probe_PID_N`, never the
    lab's) whose chains hang on the same hook at priority -1 and +1 and count, per flow, the
    packets whose protocol and ids are in a set (one counter per set element). A flow
    counted before a hook's filters and not after them was dropped by those filters; a
    flow not counted before never reached them (no route, say). Other flows are not
    counted: what moved is this probe's packets and nothing else.

    `where`: namespace -> the hooks to watch there (ROUTER_HOOKS, INSTANCE_HOOKS); the
    contexts are libnftables contexts bound to those namespaces (Reader.ctx). `load()`
    sets the flows to count (counters from 0), `read()` the counts; `close()` removes the
    table (always call it; a namespace gone meanwhile is fine).
    """

    def __init__(self, ctx: Dict[str, object], where: Dict[str, Iterable[str]]):
        self.name = f"{BRACKETS_PREFIX}{os.getpid()}_{next(_table_serial)}"
        self.ctx = {ns: ctx[ns] for ns in where if ns in ctx}
        self.where = {ns: tuple(h for h in where[ns]) for ns in self.ctx}
        self.made: List[str] = []
        self.loaded: set = set()  # namespaces whose sets hold flows
        try:
            for ns, hooks in self.where.items():
                self._cmd(ns, self._create(hooks))
                self.made.append(ns)
        except BaseException:
            self.close()
            raise

    def _sets(self, hooks) -> List[str]:
        return [f"{pos}_{h}_{k}" for h in hooks for pos in ("pre", "post") for k in ("tu", "ic")]

    def _create(self, hooks) -> str:
        t = f"inet {self.name}"
        out = [f"add table {t}"]
        for h in hooks:
            for pos, prio in (("pre", -BRACKET_PRIO), ("post", BRACKET_PRIO)):
                out.append(f"add set {t} {pos}_{h}_tu {{ typeof {_TU}; counter; }}")
                out.append(f"add set {t} {pos}_{h}_ic {{ typeof {_IC}; counter; }}")
                out.append(f"add chain {t} {pos}_{h} {{ type filter hook {h} priority {prio}; policy accept; }}")
                out.append(f"add rule {t} {pos}_{h} {_TU} @{pos}_{h}_tu")
                out.append(f"add rule {t} {pos}_{h} {_IC} @{pos}_{h}_ic")
        return "\n".join(out)

    def _cmd(self, ns: str, text: str) -> str:
        rc, out, err = self.ctx[ns].cmd(text)
        if rc != 0:
            raise KernelRefused(f"nftables refused the probe's flow counters in {ns}: {err.strip()}")
        return out

    def load(self, flows: Dict[str, Iterable[FlowId]]) -> None:
        """Count these flows from now on (namespace -> its flows), from 0, and no others: one
        transaction in each namespace named, or that counted flows before."""
        t = f"inet {self.name}"
        made = set(self.made)
        for ns in [n for n in dict.fromkeys(list(self.loaded) + list(flows)) if n in made]:
            fl = list(dict.fromkeys(flows.get(ns, ())))
            cmds = [f"flush set {t} {name}" for name in self._sets(self.where[ns])]
            tu = ", ".join(f.element() for f in fl if f.proto != 1)
            ic = ", ".join(f.element() for f in fl if f.proto == 1)
            for h in self.where[ns]:
                for pos in ("pre", "post"):
                    if tu:
                        cmds.append(f"add element {t} {pos}_{h}_tu {{ {tu} }}")
                    if ic:
                        cmds.append(f"add element {t} {pos}_{h}_ic {{ {ic} }}")
            self._cmd(ns, "\n".join(cmds))
            if fl:
                self.loaded.add(ns)
            else:
                self.loaded.discard(ns)

    def read(self) -> Dict[FlowId, Dict[Tuple[str, str], Tuple[int, int]]]:
        """flow -> {(namespace, hook): (packets before the filters, packets after them)}, for
        the flows loaded."""
        out: Dict[FlowId, Dict[Tuple[str, str], List[int]]] = {}
        for ns in self.loaded:
            doc = json.loads(self._cmd(ns, f"list table inet {self.name}") or "{}")
            for item in doc.get("nftables", []):
                st = item.get("set") if isinstance(item, dict) else None
                if not st or st.get("name", "").count("_") != 2:
                    continue
                pos, hook, kind = st["name"].split("_")
                for e in st.get("elem") or ():
                    f, n = _element(kind, e)
                    if f is not None:
                        out.setdefault(f, {}).setdefault((ns, hook), [0, 0])[pos == "post"] += n
        return {f: {k: (v[0], v[1]) for k, v in at.items()} for f, at in out.items()}

    def close(self) -> None:
        for ns in self.made:
            try:
                self.ctx[ns].cmd(f"delete table inet {self.name}")
            except Exception:  # noqa: BLE001 (best effort: the namespace may be gone)
                pass
        self.made = []


_PROTO_NUM = {"tcp": 6, "udp": 17, "icmp": 1}
_ICMP_TYPE = {"echo-request": 8, "echo-reply": 0}


def _element(kind: str, e) -> Tuple[Optional[FlowId], int]:
    """A set element of a listing ({"elem": {"val": {"concat": [...]}, "counter": {...}}})."""
    el = e.get("elem") if isinstance(e, dict) else None
    if not isinstance(el, dict):
        return None, 0
    val = (el.get("val") or {}).get("concat") if isinstance(el.get("val"), dict) else None
    n = int((el.get("counter") or {}).get("packets", 0))
    if not isinstance(val, list):
        return None, 0
    try:
        if kind == "ic" and len(val) == 2:
            t = _ICMP_TYPE.get(val[0], val[0])
            return FlowId(1, int(t), int(val[1])), n
        if kind == "tu" and len(val) == 3:
            return FlowId(int(_PROTO_NUM.get(val[0], val[0])), int(val[1]), int(val[2])), n
    except (TypeError, ValueError):
        pass
    return None, 0


def available() -> Optional[str]:
    """None when counters can be read here, else why not."""
    try:
        from nftables import Nftables  # noqa: F401
    except ImportError:
        return "libnftables' Python binding (module nftables) is not installed"
    return None
