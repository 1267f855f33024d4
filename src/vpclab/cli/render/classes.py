"""How `vpclab matrix --by-class` prints: one row per class (its representative's verdict, how
many pairs it holds, how many were probed), then what was measured and what was inferred."""
from __future__ import annotations

from ...controller.classes import question_text as _question
from ..output import console, table

ROWS_MAX = 60  # classes listed; the summary counts all of them


def render_classes(run) -> None:
    order = sorted(run.classes, key=lambda k: (k.row["result"] == "reachable", -k.members))
    rows = []
    for k in order[:ROWS_MAX]:
        r = k.row.get("reason") or {}
        why = f"{r['code']} at {r.get('where')}" if r.get("code") else ""
        odd = sum("class_mismatch" in s or "mismatch" in s for s in k.sampled) + ("mismatch" in k.row)
        rows.append((k.id, _question(k.row), k.row["result"], why, k.members, 1 + len(k.sampled),
                     f"{odd} disagree" if odd else ""))
    table(f"{len(run.classes)} classes of {run.pairs} pairs (each represented by one probed pair)",
          ["class", "representative", "verdict", "reason", "pairs", "probed", ""], rows)
    c = console()
    if len(order) > ROWS_MAX:
        c.print(f"... and {len(order) - ROWS_MAX} more classes (--json lists every one)")
    inferred = run.pairs - run.probed
    c.print(f"{run.probed} pairs probed ({len(run.classes)} representatives and "
            f"{run.probed - len(run.classes)} sampled at {run.sample:g}, seed {run.seed}); {inferred} inferred "
            f"from their class's representative, not probed (--jsonl marks each row); "
            f"{run.seconds:.2f} s")
    counts = ", ".join(f"{n} {res}" for res, n in run.summary.items() if n)
    c.print(f"verdicts, probed and inferred: {counts}")
