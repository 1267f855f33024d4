"""How every command prints: one JSON document or text for people, rich tables, warnings.

Data goes to stdout, diagnostics and progress to stderr; with `--json` stdout holds
exactly one JSON document. rich is imported only when something is drawn with it.
"""
from __future__ import annotations

import json
import sys
from typing import Optional

import click


def emit(data, as_json: bool, human=None) -> None:
    """Print `data` as JSON, or call `human()` to render it for people."""
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    elif human is not None:
        human()


def console(stderr: bool = False):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # Piped output keeps whole table rows on one line instead of wrapping at 80 columns.
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=None if stream.isatty() else 160)


def table(title: Optional[str], columns, rows):
    from rich.table import Table

    t = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*["" if v is None else str(v) for v in r])
    console().print(t)


def warn(msg: str) -> None:
    click.echo(f"warning: {msg}", err=True)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


class progress_bar:
    """A rich progress bar on stderr fed by (done, total, description) callbacks."""

    def __init__(self, title: str, quiet: bool = False):
        self.title, self.quiet, self.bar, self.task = title, quiet or not sys.stderr.isatty(), None, None

    def __enter__(self):
        if self.quiet:
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=console(stderr=True), transient=True)
        self.bar.start()
        self.task = self.bar.add_task(self.title, total=None)

        def cb(done, total, what=""):
            self.bar.update(self.task, completed=done, total=total)

        return cb

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False
