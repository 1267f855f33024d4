"""`vpclab events [--follow]`: the event log as a table, or streamed as it grows.

The table keeps every refusal code whole whatever the terminal's width (the
detail column wraps instead): a code cut to `UnsupportedOperat…` is the one
thing a student needs to read. `--follow` prints what is logged already, then
each new event as one line as it is written, until Ctrl-C (exit 0) or until
the lab is removed; `--json --follow` prints one JSON object per line.
"""
from __future__ import annotations

import json
import time
from typing import Callable, List, Optional

import click

from .options import json_option, lab_option
from .output import console, emit

NARROW = 72  # the room the other columns need beside the result; narrower: one line per event
POLL_S = 0.25  # how often --follow reads the log; a lab logs a handful of events a minute


@click.command(short_help="The lab's event log: who did what, when.",
               epilog="\b\nExamples:\n  sudo vpclab events\n  sudo vpclab events --follow     # on a projector; Ctrl-C stops")
@lab_option
@json_option
@click.option("-f", "--follow", is_flag=True,
              help="Keep printing events as they are logged, one line each (with --json, one JSON object a line), "
                   "until Ctrl-C.")
def events(lab, as_json, follow):
    """The lab's event log: who did what, when (wall-clock time, ISO 8601 UTC, and lab time), with
    what result: live operations, and the probes, matrix runs, `test` and `lab check` runs with
    their verdict summary."""
    from ..controller import events as log

    if follow:
        follow_log(lab, as_json, console(), stopped=lambda msg: click.echo(msg, err=True))
        return
    rows = log.read(lab)
    emit({"events": rows}, as_json, lambda: render_table(rows, console()))


def render_table(rows: List[dict], console) -> None:
    """A table when the terminal is wide enough for the longest result and some detail,
    else one event per line (as --follow prints them): a code is never cut."""
    from rich.table import Table

    from ..model.units import format_duration

    widest = max((len(e["result"]) for e in rows), default=0)
    if console.width < widest + NARROW:
        for e in rows:
            console.print(line(e))
        return

    t = Table(title=None, show_edge=False, pad_edge=False)
    t.add_column("#", no_wrap=True, justify="right")
    t.add_column("time (UTC)", no_wrap=True)
    t.add_column("lab time", no_wrap=True)
    t.add_column("actor", no_wrap=True)
    t.add_column("action", no_wrap=True)
    t.add_column("target")
    results = [e["result"] for e in rows]
    # The code is never cut nor folded: its column is as wide as the longest result.
    t.add_column("result", no_wrap=True, min_width=max(map(len, results), default=6))
    t.add_column("detail", ratio=1, min_width=12)
    for e in rows:
        colour = "green" if e["result"] == "ok" else "red" if e["result"].startswith("refused") else "yellow"
        t.add_row(str(e["id"]), _time(e), format_duration(e["lab_time"]), e["actor"] or "-", e["action"],
                  e["target"] or "",
                  f"[{colour}]{e['result']}[/]", e["detail"] or "")
    console.print(t)


def _time(e: dict) -> str:
    """The event's wall-clock time, ISO 8601 UTC (the log's `time`, or made from `wall`)."""
    from ..controller.events import iso_time

    return e.get("time") or iso_time(e["wall"])


def line(e: dict) -> str:
    """One event as one line of rich markup (--follow)."""
    from rich.markup import escape

    from ..model.units import format_duration

    colour = "green" if e["result"] == "ok" else "red" if e["result"].startswith("refused") else "yellow"
    detail = f"  [dim]{escape(e['detail'])}[/]" if e["detail"] else ""
    return (f"[bold]#{e['id']}[/] {_time(e)} {format_duration(e['lab_time']):>6}  {escape(e['actor'] or '-')}  "
            f"{escape(e['action'])} {escape(e['target'] or '')}  [{colour}]{escape(e['result'])}[/]{detail}")


def follow_log(lab: Optional[str], as_json: bool, console, stopped: Callable[[str], None],
               poll_s: float = POLL_S) -> None:
    """Print the log, then every new event as it is written; returns on Ctrl-C or when the lab goes."""
    from ..controller import events as log
    from ..errors import NotFound

    last = 0
    try:
        name = log.resolve_lab(lab)
        while True:
            try:
                rows = log.since(name, last)
            except NotFound:
                stopped(f"lab {name} was removed: no more events")
                return
            for e in rows:
                if as_json:
                    click.echo(json.dumps(e))
                else:
                    console.print(line(e))
                console.file.flush()  # a pipe (a projector's tee, a test) sees each event at once
                last = e["id"]
            time.sleep(poll_s)
    except KeyboardInterrupt:
        stopped("stopped following")


COMMANDS = [events]
