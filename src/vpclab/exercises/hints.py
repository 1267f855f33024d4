"""Hints computed from the lab's current state.

A check file's hint is a text, or `{when: {FACT: VALUE-or-list, ...}, text: "..."}`: shown
only while the item's current facts (what the grader just saw: `grader.Result.facts`) match.
A text may quote a fact as `{FACT}` (`{seen_source}`, `{over}`, `{peering}`, ...), filled in
from the same facts. So a hint is never about a state the lab has left: after a wrong fix,
the hint that described the start no longer matches, and the one about the new state does.
A hint that names a reason code (NO_ROUTE, NO_PUBLIC_IP, ...) must say so in its `when`
(`catalog` refuses it otherwise): the code is a fact of one state only.
"""
from __future__ import annotations

import re
from typing import Dict, List, Optional

from ..explain import verdict

# The facts each item kind's result carries, which a `when` may test (and a text may quote).
FACTS: Dict[str, tuple] = {
    "probe": ("result", "code", "where", "seen_source", "over"),
    "peering": ("state", "bandwidth_mbps", "peering"),
    "route": ("present", "state", "next_hop"),
    "refused": ("code",),
    "throughput": ("mbps",),
    "isolated": ("peering", "peering_state", "routes", "result"),
}
REASON_CODES = (verdict.NO_ROUTE, verdict.BLACKHOLE_ROUTE, verdict.NOT_TRANSITIVE, verdict.PEERING_NOT_ACTIVE,
                verdict.CLB_CROSS_REGION, verdict.NO_LISTENER, verdict.SECURITY_GROUP_DENY,
                verdict.NETWORK_ACL_DENY, verdict.NO_PUBLIC_IP, verdict.CCN_ROUTE_DISABLED,
                verdict.CCN_ATTACHMENT_NOT_ACTIVE)
_FIELD = re.compile(r"\{([a-z_]+)\}")
_CODE = re.compile(r"\b(" + "|".join(REASON_CODES) + r")\b")


def named_codes(text: str) -> List[str]:
    """The reason codes a hint's text names."""
    return _CODE.findall(text)


def _norm(v):
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def matches(when: dict, facts: dict) -> bool:
    """Every fact `when` names has (one of) the value(s) it gives; `none` matches a missing fact."""
    for k, want in when.items():
        wants = want if isinstance(want, list) else [want]
        if _norm(facts.get(k)) not in {_norm(w) for w in wants}:
            return False
    return True


def fill(text: str, facts: dict) -> str:
    """`{fact}` replaced by its current value (an unknown name stays as written)."""
    return _FIELD.sub(lambda m: _norm(facts[m.group(1)]) if m.group(1) in facts else m.group(0), text)


def current(hints: List[str], whens: List[dict], facts: dict) -> List[str]:
    """The hints that hold in the current state, filled in, in the check file's order."""
    return [fill(h, facts) for h, w in zip(hints, whens) if matches(w, facts)]


def first(hints: List[str], whens: List[dict], facts: dict, got: str) -> str:
    """The hint `lab check` prints: the first that holds now; with none, what the lab shows."""
    now = current(hints, whens, facts)
    return now[0] if now else fallback(got)


def fallback(got: str) -> str:
    return f"no hint of this exercise matches what the lab shows now ({got}): compare it with the item's title"


def nth(hints: List[str], whens: List[dict], facts: dict, got: str, n: int) -> tuple:
    """(text, number, of) of the n-th (0-based, kept at the last) hint that holds now (`lab hint`)."""
    now = current(hints, whens, facts) or [fallback(got)]
    k = min(n, len(now) - 1)
    return now[k], k + 1, len(now)


def problems(kind: str, hints: List[str], whens: List[dict]) -> List[str]:
    """What is wrong with an item's hints (catalog reports each with the item's line)."""
    out = []
    known = FACTS.get(kind, ())
    for h, w in zip(hints, whens):
        for k in w:
            if k not in known:
                out.append(f"hint: when: '{k}' is not a fact of a {kind} item (known: {', '.join(known)})")
        for code in named_codes(h) if kind == "probe" else ():
            wanted = w.get("code")
            wanted = wanted if isinstance(wanted, list) else [wanted]
            if code not in wanted:
                out.append(f"hint names the reason code {code}, which holds in one state only: give it "
                           f"`when: {{code: {code}}}` (hints are computed from the lab's current state)")
        for name in _FIELD.findall(h):
            if name not in known:
                out.append(f"hint quotes '{{{name}}}', which is not a fact of a {kind} item")
        if not h.strip():
            out.append("a hint's text is empty")
    return out


def parse(raw) -> Optional[tuple]:
    """(texts, whens) from a check file's `hint:` (a text, a {when, text}, or a list of them); None: malformed."""
    entries = raw if isinstance(raw, list) else [raw]
    texts, whens = [], []
    for e in entries:
        if isinstance(e, dict):
            if set(e) - {"when", "text"} or "text" not in e or not isinstance(e.get("when", {}), dict):
                return None
            texts.append(str(e["text"]))
            whens.append(dict(e.get("when") or {}))
        elif e is None:
            return None
        else:
            texts.append(str(e))
            whens.append({})
    return texts, whens
