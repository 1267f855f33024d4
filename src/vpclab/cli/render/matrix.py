"""How `vpclab matrix` prints: the `--json` document written a row at a time, and the
human grid, service ports and reasons, gathered row by row (only what is printed is kept)."""
from __future__ import annotations

import json
import sys

from ..output import console, table

CELL = {"reachable": "[green]R[/]", "no-return": "[yellow]N[/]", "unreachable": "[red].[/]",
        "inconclusive": "[magenta]?[/]"}


def stream_matrix_json(run) -> None:
    """The `matrix --json` document, written a row at a time (one pair per line)."""
    out = sys.stdout
    head = json.dumps({"lab": run.lab, "instances": run.instances, **({"public": run.public} if run.public else {})},
                      indent=2)
    out.write(head[:-2] + ',\n  "pairs": [')
    sep = "\n    "
    for r in run.rows():
        out.write(sep + json.dumps(r))
        sep = ",\n    "
    tail = json.dumps(run.document(), indent=2)
    out.write("\n  ],\n" + tail[tail.index('  "summary"'):] + "\n")
    out.flush()


class MatrixView:
    """The human matrix, gathered row by row: only what it prints is kept."""

    GRID_MAX, SERVICES_MAX, WHY_MAX, MISMATCHES_MAX = 40, 200, 60, 50

    def __init__(self, run):
        self.run = run
        self.grid = {} if len(run.instances) <= self.GRID_MAX else None
        self.services, self.bad, self.mismatched = [], [], []
        self.n_services = self.n_bad = 0
        self.n_fast = 0  # answered on the fast path: a request and its reply, nothing captured
        self.counts = {}

    def add(self, r: dict) -> None:
        self.n_fast += r.get("seen_source_from") == "explain"  # verdicts.classify marks those so
        if r["proto"] == "icmp":
            if self.grid is not None:
                self.grid[(r["src"], r["dst"])] = (r["result"], "mismatch" in r)
        else:
            self.n_services += 1
            if self.n_services <= self.SERVICES_MAX:
                self.services.append([r["src"], r["dst"], f"{r['proto']}/{r['port']}", r["result"],
                                      r["reason"]["code"]])
        if r["result"] != "reachable":
            self.n_bad += 1
            key = (r["result"], r["reason"]["code"])
            self.counts[key] = self.counts.get(key, 0) + 1
            if self.n_bad <= self.WHY_MAX:
                self.bad.append([r["src"], r["dst"], r["proto"] + (f"/{r['port']}" if r["port"] else ""),
                                 r["result"], r["reason"]["code"], r["reason"]["where"], r["reason"]["table"]])
        if "mismatch" in r and len(self.mismatched) < self.MISMATCHES_MAX:
            self.mismatched.append(f"{r['src']} -> {r['dst']} {r['proto']}: {r['mismatch']}")

    def render(self) -> None:
        from rich.table import Table

        c, run = console(), self.run
        insts = run.instances
        s_inc = run.summary.get("inconclusive", 0)
        if self.grid is not None:
            t = Table(title=f"lab {run.lab}: ICMP  (R reachable, N no-return, . unreachable"
                            f"{', ? inconclusive' if s_inc else ''}; rows: from)",
                      title_justify="left", show_edge=False, pad_edge=False)
            t.add_column("from \\ to")
            for i, d in enumerate(insts):
                t.add_column(str(i + 1), justify="center")
            for i, s in enumerate(insts):
                cells = []
                for d in insts:
                    if s == d:
                        cells.append("-")
                    else:
                        result, bad = self.grid[(s, d)]
                        cells.append(CELL[result] + ("[bold red]![/]" if bad else ""))
                t.add_row(f"{i + 1} {s}", *cells)
            c.print(t)
        if self.services and self.n_services <= self.SERVICES_MAX:
            table("Service ports", ["from", "to", "port", "result", "reason"], self.services)
        if self.n_bad and self.n_bad <= self.WHY_MAX:
            table("Why not", ["from", "to", "proto", "result", "reason", "at", "table"], self.bad)
        elif self.n_bad:
            table("Why not (counts; --json lists every pair)", ["result", "reason", "pairs"],
                  [[res, code, n] for (res, code), n in sorted(self.counts.items(), key=lambda kv: -kv[1])])
        s = run.summary
        c.print(f"{run.pairs} probes in {duration(run.seconds)}{self.how()}: "
                f"[green]{s['reachable']} reachable[/], [yellow]{s['no-return']} no-return[/], "
                f"[red]{s['unreachable']} unreachable[/]"
                + (f", [bold magenta]{s_inc} inconclusive[/]" if s_inc else "")
                + (f", [bold red]{run.mismatches} mismatches with explain[/]" if run.mismatches else ""))
        for line in self.mismatched:
            c.print(f"[bold red]MISMATCH[/] {line}")
        if run.mismatches > len(self.mismatched):
            c.print(f"[bold red]MISMATCH[/] ... and {run.mismatches - len(self.mismatched)} more (--json lists them)")

    def how(self) -> str:
        """How the pairs were answered: the fast path's pairs are real packets (a request and its reply),
        but not captured; their path and seen source are explain's."""
        if not self.n_fast:
            return ""
        rest = self.run.pairs - self.n_fast
        return (f" ({'' if rest else 'all '}{self.n_fast} answered on the fast path: request and reply only, "
                f"no capture; path and seen source from explain" + (f"; {rest} captured)" if rest else ")"))


def duration(seconds: float) -> str:
    """A run's wall time with a precision that says something: `3 ms`, `1.50 s`, `under 1 ms`."""
    if seconds < 0.001:
        return "under 1 ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s"
