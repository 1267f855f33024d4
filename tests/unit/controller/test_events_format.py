"""Events a teacher can follow (issue 22): the wall-clock time of each row (ISO 8601 UTC) and the
verdict summaries that probes, matrix runs and `test` log (controller/events.py), as `vpclab
events` prints them. No root: the rows are made here."""
from __future__ import annotations

import calendar
import io

from rich.console import Console

from vpclab.cli import events as cli_events
from vpclab.controller import events


def test_iso_time_is_utc_iso8601():
    wall = calendar.timegm((2026, 12, 8, 4, 21, 59)) + 0.7
    assert events.iso_time(wall) == "2026-12-08T04:21:59Z"
    assert events.iso_time(0) == "1970-01-01T00:00:00Z"


def test_a_probe_summary_names_the_pair_the_verdict_the_reason_and_the_source_seen():
    doc = {"src": "vpc-a/cvm-1", "dst": "vpc-b/db-1", "proto": "tcp", "port": 3306, "result": "no-return",
           "reason": {"code": "NO_ROUTE", "where": "vpc-b", "table": "private", "detail": "no route"},
           "seen_source": "10.0.1.10", "expected": "unreachable", "ok": False}
    target, result, detail = events.probe_summary(doc)
    assert target == "vpc-a/cvm-1 -> vpc-b/db-1 tcp/3306" and result == "no-return"
    assert detail == "NO_ROUTE at vpc-b (table private); seen source 10.0.1.10; expected unreachable: NOT met"
    ok = {"src": "a/x", "dst": "b/y", "proto": "icmp", "port": None, "result": "reachable", "reason": None}
    assert events.probe_summary(ok) == ("a/x -> b/y icmp", "reachable", "")


def test_matrix_and_test_summaries():
    assert events.counts_summary({"reachable": 4, "no-return": 0, "unreachable": 2, "inconclusive": 0}) == \
        "4 reachable, 2 unreachable"
    assert events.counts_summary({"reachable": 0}) == "no pairs"
    doc = {"passed": 1, "failed": 1, "cases": [
        {"from": "a/x", "to": "b/y", "proto": "icmp", "port": None, "expected": "reachable", "got": "reachable",
         "ok": True},
        {"from": "b/y", "to": "a/x", "proto": "tcp", "port": 22, "expected": "reachable", "got": "no-return",
         "ok": False}]}
    assert events.test_summary(doc) == ("1 passed, 1 failed", "b/y -> a/x tcp/22 expected reachable, got no-return")


def _row(**kw):
    e = {"id": 7, "wall": calendar.timegm((2026, 12, 8, 4, 30, 0)), "lab_time": 90.0, "actor": "web view",
         "action": "probe", "target": "vpc-a/cvm-1 -> vpc-b/cvm-1 icmp", "result": "no-return",
         "detail": "NO_ROUTE at vpc-b (table default)"}
    e.update(kw)
    return e


def test_every_row_shows_the_wall_clock_time_beside_the_lab_time():
    buf = io.StringIO()
    c = Console(file=buf, width=200, highlight=False)
    cli_events.render_table([_row()], c)
    text = buf.getvalue()
    assert "time (UTC)" in text and "lab time" in text
    assert "2026-12-08T04:30:00Z" in text and "1m30s" in text
    buf = io.StringIO()
    Console(file=buf, width=200, highlight=False).print(cli_events.line(_row(time="2026-12-08T04:30:00Z")))
    assert buf.getvalue().startswith("#7 2026-12-08T04:30:00Z ")
    assert "web view" in buf.getvalue() and "NO_ROUTE at vpc-b" in buf.getvalue()
