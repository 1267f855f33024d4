"""nftables rule counters: which filter rule a probe's packets met, read from the kernel.

Every nftables rule vpclab installs for a security group or network ACL rule carries
a counter and a comment naming the model rule (`RuleRef.comment()`, plan/names.py),
the "no rule matched" drops included. Reading the counters of the namespaces on a
probe's path before and after it, the rules whose counters grew are the rules its
packets met; the one with a drop verdict dropped them. Nothing here reads the model:
the rule's name comes from the comment the kernel holds.

libnftables (its Python binding, `nftables`) is opened once per namespace from inside
it (a context talks to the namespace it was created in) and can then be used from
anywhere; output is libnftables JSON (`list ruleset`).
"""
from __future__ import annotations

import json
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

    def read(self) -> Snapshot:
        out: Snapshot = {}
        for ns, n in self.ctx.items():
            rc, text, err = n.cmd("list ruleset")
            if rc != 0:
                raise KernelRefused(f"nft list ruleset in {ns}: {err.strip()}")
            out[ns] = parse(json.loads(text)) if text.strip() else {}
        return out


def available() -> Optional[str]:
    """None when counters can be read here, else why not."""
    try:
        from nftables import Nftables  # noqa: F401
    except ImportError:
        return "libnftables' Python binding (module nftables) is not installed"
    return None
