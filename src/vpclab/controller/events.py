"""A lab's event log: all of it (`vpclab events`, the web view, the API), or a piece at a time,
as `vpclab events --follow` prints it. Reading it never settles the lab (it holds no model), so
this module stays light: `vpclab events` starts without the build path."""
from __future__ import annotations

import contextlib
import time as _time
from typing import List, Optional

from ..errors import VpclabError
from ..state.labs import resolve_lab
from ..state.store import Store

__all__ = ["read", "since", "resolve_lab", "log", "iso_time"]


def iso_time(wall: float) -> str:
    """The wall-clock time of an event, ISO 8601 in UTC (`2026-12-08T04:21:59Z`)."""
    return _time.strftime("%Y-%m-%dT%H:%M:%SZ", _time.gmtime(wall))


def _timed(rows: List[dict]) -> List[dict]:
    for e in rows:
        e["time"] = iso_time(e["wall"])  # beside the lab time: a teacher follows the class by the clock
    return rows


def read(lab: Optional[str]) -> List[dict]:
    """Every event of lab `lab` (None: the only lab running)."""
    tx = Store(resolve_lab(lab)).read()
    try:
        return _timed(tx.events())
    finally:
        tx.close()


def since(name: str, last: int) -> List[dict]:
    """The events of lab `name` logged after event `last`; NotFound once the lab is removed."""
    tx = Store(name).read()
    try:
        return _timed(tx.events(after=last))
    finally:
        tx.close()


def log(lab: str, action: str, target: Optional[str], result: str, detail: Optional[str] = None,
        lab_time: Optional[float] = None, actor: Optional[str] = None) -> None:
    """Log what a command observed (a probe, a matrix, `test`, `lab check`: their verdict summary),
    so a teacher can follow the attempts. Under the lab's lock, and only while the lab exists (a
    lab removed meanwhile is never re-created by its log); a log that cannot be written never
    fails the command that observed."""
    try:
        store = Store(lab)
        with contextlib.ExitStack() as stack:
            if not store.locked_here():  # `down` removes a lab under its lock
                stack.enter_context(store.lock())
            if not store.exists():
                return
            with store.tx() as tx:
                if lab_time is None:
                    model = tx.model(required=False)
                    lab_time = model.clock if model is not None else 0.0
                tx.event(lab_time, actor, action, target, result, detail or None)
    except VpclabError:
        pass


# ---- the verdict summaries the observing commands log ---------------------------------------


def _what(src: str, dst: str, proto: str, port) -> str:
    return f"{src} -> {dst} {proto}" + (f"/{port}" if port else "")


def probe_summary(doc: dict) -> tuple:
    """(target, result, detail) of a probe's event: the pair, the verdict, the reason and the
    source the destination saw (`probe --json`'s shape)."""
    r = doc.get("reason") or {}
    detail = []
    if r.get("code"):
        detail.append(f"{r['code']} at {r.get('where')}" + (f" (table {r['table']})" if r.get("table") else ""))
    if doc.get("seen_source"):
        detail.append(f"seen source {doc['seen_source']}")
    if "expected" in doc:
        detail.append(f"expected {doc['expected']}: {'met' if doc.get('ok') else 'NOT met'}")
    return _what(doc["src"], doc["dst"], doc["proto"], doc.get("port")), doc["result"], "; ".join(detail)


def counts_summary(summary: dict) -> str:
    """`3 reachable, 1 no-return, 2 unreachable` (the verdicts that occur, in the usual order)."""
    return ", ".join(f"{n} {verdict}" for verdict, n in summary.items() if n) or "no pairs"


def test_summary(doc: dict) -> tuple:
    """(result, detail) of a `test` run: `N passed, N failed`, and the failing cases."""
    bad = [f"{_what(c['from'], c['to'], c['proto'], c.get('port'))} expected {c['expected']}, got {c['got']}"
           for c in doc["cases"] if not c["ok"]]
    return f"{doc['passed']} passed, {doc['failed']} failed", "; ".join(bad)
