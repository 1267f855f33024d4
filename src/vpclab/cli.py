"""The `vpclab` command: click commands, rendering, and the ONE place errors become exit codes.

Data goes to stdout, diagnostics and progress to stderr; with `--json` stdout
holds exactly one JSON document (errors too: `{"error": {...}}`). Exit codes
follow CLI.md: 0 done, 1 expectations failed, 2 refused, 3 environment, 4 kernel.
Heavy modules (pyroute2, scapy, rich) are imported inside the commands that use them.
"""
from __future__ import annotations

import json
import sys
from typing import Optional

import click

from . import __version__
from .errors import ExpectationFailed, Refused, VpclabError

EXAMPLES = """
\b
Examples:
  vpclab validate topologies/01-two-vpcs.yaml
  vpclab explain vpc-a/cvm-1 vpc-b/cvm-1 -f topologies/01-two-vpcs.yaml
  sudo vpclab up topologies/01-two-vpcs.yaml
  sudo vpclab probe vpc-a/cvm-1 vpc-b/cvm-1
  sudo vpclab matrix
  sudo vpclab test
  sudo vpclab peering accept pcx-ab --as bob
  sudo vpclab route add vpc-b --destination 10.0.0.0/16 --next-hop pcx-ab
  sudo vpclab down
"""

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
lab_option = click.option("-l", "--lab", "lab", metavar="LAB", help="The lab (may be left out when one runs).")


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


@click.group(epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="vpclab")
def cli():
    """Cloud VPC peering on Linux network namespaces: real kernel objects, real packets.

    Each VPC is a namespace acting as its router, each instance a namespace of its
    own, each ACTIVE peering a veth between two VPCs. Routes are kernel routes, and
    traffic flows only when BOTH sides route it. Topology format: TOPOLOGY.md.
    """


# ---- validate / explain -------------------------------------------------------------------


@cli.command(epilog="\b\nExample:\n  vpclab validate topologies/01-two-vpcs.yaml")
@click.argument("file", type=click.Path(dir_okay=False))
@json_option
def validate(file, as_json):
    """Check a topology file; print every problem as FILE:LINE: CODE: message (exit 2)."""
    from . import controller
    from .errors import TopologyInvalid

    try:
        lab = controller.validate(file)
    except TopologyInvalid as e:
        if as_json:
            raise
        for line in e.lines():
            click.echo(line)
        sys.exit(e.exit_code)
    doc = {"file": file, "valid": True, "lab": lab.name, "vpcs": len(lab.vpcs), "instances": len(lab.instances()),
           "peerings": len(lab.peerings), "expectations": len(lab.expectations)}
    emit(doc, as_json, lambda: click.echo(
        f"{file}: ok: lab {lab.name}, {plural(len(lab.vpcs), 'VPC')}, {plural(len(lab.instances()), 'instance')}, "
        f"{plural(len(lab.peerings), 'peering')}, {plural(len(lab.expectations), 'expectation')}"))


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def proto_options(f):
    f = click.option("--port", type=click.IntRange(1, 65535), help="Destination port (tcp/udp).")(f)
    f = click.option("--proto", type=click.Choice(["icmp", "tcp", "udp"]), default="icmp", show_default=True)(f)
    return f


@cli.command(epilog="\b\nExamples:\n  vpclab explain vpc-a/cvm-1 vpc-b/cvm-1 -f topologies/01-two-vpcs.yaml\n"
                    "  vpclab explain vpc-a/cvm-1 vpc-b/db-1 --proto tcp --port 3306 -f topo.yaml --json")
@click.argument("src")
@click.argument("dst")
@click.option("-f", "--file", "file", type=click.Path(dir_okay=False), help="Answer from a topology file (no lab, no root).")
@lab_option
@proto_options
@json_option
def explain(src, dst, file, lab, proto, port, as_json):
    """Can SRC reach DST, and does the reply come back? Answered from the model alone, hop by hop."""
    from . import controller

    v = controller.explain(src, dst, proto, port, file=file, lab=lab)
    emit(v.to_json(), as_json, lambda: render_verdict(v.to_json(), "explain"))


COLOURS = {"reachable": "green", "no-return": "yellow", "unreachable": "red"}


def render_verdict(doc: dict, how: str) -> None:
    c = console()
    colour = COLOURS.get(doc["result"], "white")
    what = doc["proto"] + (f"/{doc['port']}" if doc.get("port") else "")
    rtt = f"  rtt {doc['rtt_ms']:.2f} ms" if doc.get("rtt_ms") is not None else ""
    c.print(f"{doc['src']} -> {doc['dst']} ({what}): [bold {colour}]{doc['result']}[/]{rtt}  [dim]({how})[/]")
    for leg, label in (("forward", "request"), ("return", "reply  ")):
        l = doc[leg]
        if not l["path"]:
            c.print(f"  {label}: [dim]not sent[/]")
            continue
        mark = "[green]delivered[/]" if l["delivered"] else f"[red]lost after {l['last_hop']}[/]"
        c.print(f"  {label}: {' -> '.join(l['path'])}  {mark}")
    r = doc.get("reason") or {}
    if r.get("code"):
        table_ = f", table {r['table']}" if r.get("table") else ""
        c.print(f"  reason: [bold]{r['code']}[/] at {r['where']}{table_}: {r['detail']}")
    n = doc.get("note")
    if n:
        c.print(f"  note: {n['code']}: {n['detail']}")
    m = doc.get("mismatch")
    if m:
        c.print(f"[bold red]  MISMATCH: {m}[/]")


# ---- lab lifecycle ---------------------------------------------------------------------------


@cli.command(epilog="\b\nExamples:\n  sudo vpclab up topologies/01-two-vpcs.yaml\n  vpclab up --dry-run topologies/01-two-vpcs.yaml")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Print the actions `up` would run, change nothing.")
@json_option
def up(file, dry_run, as_json):
    """Build the lab of FILE (idempotent: a second `up` changes nothing)."""
    from . import controller

    if dry_run:
        report = controller.up(file, dry_run=True)
    else:
        with progress_bar(f"building lab from {file}", quiet=as_json) as cb:
            report = controller.up(file, progress=cb)
    for w in report.warnings:
        warn(w)
    doc = {"lab": report.lab, "dry_run": dry_run, "actions": [a.describe() for a in report.actions]}

    def human():
        if dry_run:
            for a in report.actions:
                click.echo(a.describe())
            click.echo(f"# {len(report.actions)} actions", err=True)
        else:
            click.echo(f"lab {report.lab} is up ({len(report.actions)} changes)" if report.actions
                       else f"lab {report.lab} is up (nothing to change)")

    emit(doc, as_json, human)


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


@cli.command(epilog="\b\nExamples:\n  sudo vpclab down two\n  sudo vpclab down two --no-wait")
@click.argument("lab", required=False)
@click.option("-l", "--lab", "lab_option", metavar="LAB", help="The lab, as for the other commands.")
@click.option("--no-wait", is_flag=True,
              help="Return once the lab's namespaces are unnamed; the kernel finishes destroying them in the "
                   "background (a matter of milliseconds since subnets are routed, not bridged).")
@json_option
def down(lab, lab_option, no_wait, as_json):
    """Remove every kernel object, process and state file of LAB (fine if already gone).

    By default it returns when the kernel has destroyed every namespace of the lab.
    """
    from . import controller

    if lab and lab_option and lab != lab_option:
        raise Refused(f"two labs named: {lab} and -l {lab_option}", code="InvalidParameter")
    r = controller.down(lab or lab_option, wait=not no_wait)
    emit(r, as_json, lambda: click.echo(f"lab {r['lab']} is down" if r["lab"] else "no lab is running"))


@cli.command(epilog="\b\nExamples:\n  sudo vpclab cleanup\n  sudo vpclab cleanup demo   # only this lab")
@click.argument("labs", nargs=-1, metavar="[LAB]...")
@json_option
def cleanup(labs, as_json):
    """Remove what crashed or killed commands left behind (only vpclab's own objects).

    A lab is left alone when it is ready (its `up` finished) or a command holds it.
    """
    from . import controller

    removed = controller.cleanup(list(labs) or None)
    emit({"removed": removed}, as_json, lambda: click.echo(
        f"removed: {', '.join(removed)}" if removed else "nothing left behind"))


@cli.command()
@json_option
def ls(as_json):
    """Running labs."""
    from . import controller

    labs = controller.ls()
    emit({"labs": labs}, as_json, lambda: table(None, ["lab", "status", "vpcs", "instances", "peerings", "source"],
                                                [[l["lab"], l["status"], l["vpcs"], l["instances"], l["peerings"],
                                                  l["source"]] for l in labs]) if labs else click.echo("no lab is running"))


@cli.command()
@lab_option
@json_option
def status(lab, as_json):
    """VPCs, subnets, instances with addresses, peerings and routes with their state."""
    from . import controller
    from .model.units import format_duration

    s = controller.status(lab)

    def human():
        click.echo(f"lab {s['lab']} ({s['status']}), lab clock {format_duration(s['clock'])}")
        table("VPCs", ["vpc", "account", "region", "cidr", "subnets", "namespace"],
              [[v["name"], v["account"], v["region"], v["cidr"],
                ", ".join(f"{x['name']} {x['cidr']} ({x['route_table']})" for x in v["subnets"]), v["namespace"]]
               for v in s["vpcs"]])
        table("Instances", ["instance", "kind", "ip", "port"],
              [[f"{v['name']}/{i['name']}", i["kind"], i["ip"], i["port"]] for v in s["vpcs"] for i in v["instances"]])
        render_peerings(s["peerings"])
        render_routes(s["routes"])

    emit(s, as_json, human)


STATE_COLOURS = {"ACTIVE": "green", "PENDING": "yellow", "active": "green", "blackhole": "red"}


def render_peerings(rows):
    if not rows:
        click.echo("no peerings")
        return
    table("Peerings", ["id", "vpc", "peer_vpc", "state", "bandwidth", "created", "expires"],
          [[r["id"], r["vpc"], r["peer_vpc"], f"[{STATE_COLOURS.get(r['state'], 'dim')}]{r['state']}[/]",
            f"{r['bandwidth_mbps']} Mbps" if r["bandwidth_mbps"] is not None else "no cap",
            r["created_at_text"], r["expires_at_text"] or "-"] for r in rows])


def render_routes(rows):
    if not rows:
        click.echo("no peering routes")
        return
    table("Routes", ["vpc", "table", "destination", "next hop", "state"],
          [[r["vpc"], r["table"], r["destination"], r["next_hop"],
            f"[{STATE_COLOURS.get(r['state'], 'dim')}]{r['state']}[/]"] for r in rows])


# ---- peering / route / clock / events ----------------------------------------------------------


@cli.group(epilog="\b\nExamples:\n  sudo vpclab peering create --vpc vpc-a --peer-vpc vpc-c --as alice\n"
                  "  sudo vpclab peering accept pcx-1a2b3c4d --as bob\n  sudo vpclab peering list")
def peering():
    """Peering connections: create, accept, reject, delete, modify, list."""


def bandwidth_arg(text):
    from .model.units import parse_bandwidth

    if text is None:
        return None
    try:
        return parse_bandwidth(text)
    except ValueError as e:
        raise Refused(str(e), code="InvalidParameterValue")


@peering.command("create")
@click.option("--vpc", required=True, help="The requester VPC.")
@click.option("--peer-vpc", required=True, help="The accepter VPC.")
@click.option("--bandwidth", help="Cross-region cap, 1Mbps..10Gbps (e.g. 100Mbps).")
@click.option("--name", help="The peering id (default: pcx- and 8 random characters).")
@click.option("--as", "account", help="Acting account (default: the requester VPC's).")
@lab_option
@json_option
def peering_create(vpc, peer_vpc, bandwidth, name, account, lab, as_json):
    """Request a peering; same account: ACTIVE at once, across accounts: PENDING."""
    from . import controller

    p = controller.peering_create(lab, vpc, peer_vpc, bandwidth_arg(bandwidth), name, account)
    emit({"id": p.name, "state": p.state}, as_json, lambda: click.echo(p.name))


def _event_command(event: str, doc: str):
    @click.argument("id")
    @click.option("--as", "account", help="Acting account (default: the requester VPC's).")
    @lab_option
    @json_option
    def cmd(id, account, lab, as_json):
        from . import controller

        p = controller.peering_event(lab, event, id, account)
        emit({"id": p.name, "state": p.state}, as_json, lambda: click.echo(f"{p.name} {p.state}"))

    cmd.__doc__ = doc
    return peering.command(event)(cmd)


_event_command("accept", "Accept a PENDING peering (the accepter's account only).")
_event_command("reject", "Reject a PENDING peering (the accepter's account only).")
_event_command("delete", "Delete a PENDING or ACTIVE peering (either account); its routes become blackholes.")


@peering.command("modify")
@click.argument("id")
@click.option("--bandwidth", required=True, help="New cross-region cap, e.g. 50Mbps.")
@click.option("--as", "account", help="Acting account (default: the requester VPC's).")
@lab_option
@json_option
def peering_modify(id, bandwidth, account, lab, as_json):
    """Re-cap a cross-region peering live (the link stays up)."""
    from . import controller

    p = controller.peering_modify(lab, id, bandwidth_arg(bandwidth), account)
    emit({"id": p.name, "state": p.state, "bandwidth_mbps": p.bandwidth_mbps}, as_json,
         lambda: click.echo(f"{p.name} {p.state} {p.bandwidth_mbps} Mbps"))


@peering.command("list")
@lab_option
@json_option
def peering_list(lab, as_json):
    """Every peering, terminal ones too, with lab-clock times."""
    from . import controller

    rows = controller.peering_rows(controller.model_for(lab))
    emit({"peerings": rows}, as_json, lambda: render_peerings(rows))


@cli.group(epilog="\b\nExamples:\n  sudo vpclab route add vpc-b --destination 10.0.0.0/16 --next-hop pcx-ab\n"
                  "  sudo vpclab route list vpc-b")
def route():
    """Route tables: add, del, list (routes via a non-ACTIVE peering are blackholes)."""


def _route_options(f):
    f = click.option("--table", default="default", show_default=True, help="The VPC's route table.")(f)
    f = click.option("--next-hop", help="A peering of the VPC.")(f)
    f = click.option("--destination", required=True, help="A CIDR inside the peer VPC.")(f)
    return f


@route.command("add")
@click.argument("vpc")
@_route_options
@lab_option
@json_option
def route_add(vpc, destination, next_hop, table, lab, as_json):
    """Add a route to VPC's table, live."""
    from . import controller

    if not next_hop:
        raise Refused("route add needs --next-hop (a peering of the VPC)", code="MissingParameter")
    r = controller.route_add(lab, vpc, destination, next_hop, table)
    emit({"vpc": vpc, "table": table, "destination": str(r.destination), "next_hop": r.next_hop}, as_json,
         lambda: click.echo(f"{vpc}/{table}: {r.destination} via {r.next_hop}"))


@route.command("del")
@click.argument("vpc")
@_route_options
@lab_option
@json_option
def route_del(vpc, destination, next_hop, table, lab, as_json):
    """Delete a route from VPC's table, live."""
    from . import controller

    r = controller.route_del(lab, vpc, destination, next_hop, table)
    emit({"vpc": vpc, "table": table, "destination": str(r.destination), "next_hop": r.next_hop, "deleted": True},
         as_json, lambda: click.echo(f"{vpc}/{table}: {r.destination} via {r.next_hop} deleted"))


@route.command("list")
@click.argument("vpc", required=False)
@lab_option
@json_option
def route_list(vpc, lab, as_json):
    """Routes with state active / blackhole."""
    from . import controller

    rows = controller.route_rows(controller.model_for(lab), vpc)
    emit({"routes": rows}, as_json, lambda: render_routes(rows))


@cli.group()
def clock():
    """The lab clock (pending peerings expire after 7 days of it)."""


@clock.command("advance")
@click.argument("duration")
@lab_option
@json_option
def clock_advance(duration, lab, as_json):
    """Move the lab clock forward, e.g. `8d`, `36h`; due expiries happen."""
    from . import controller
    from .model.units import format_duration, parse_duration

    try:
        seconds = parse_duration(duration)
    except ValueError as e:
        raise Refused(str(e), code="InvalidParameterValue")
    expired = controller.clock_advance(lab, seconds)
    clock_now = controller.model_for(lab).clock
    emit({"clock": clock_now, "expired": [p.name for p in expired]}, as_json, lambda: click.echo(
        f"lab clock at {format_duration(clock_now)}" + (f"; expired: {', '.join(p.name for p in expired)}"
                                                        if expired else "")))


@cli.command()
@lab_option
@json_option
def events(lab, as_json):
    """The lab's event log: who did what, when (lab time), with what result."""
    from . import controller
    from .model.units import format_duration

    rows = controller.events(lab)
    emit({"events": rows}, as_json, lambda: table(
        None, ["#", "lab time", "actor", "action", "target", "result", "detail"],
        [[e["id"], format_duration(e["lab_time"]), e["actor"] or "-", e["action"], e["target"], e["result"],
          e["detail"]] for e in rows]))


# ---- probes ------------------------------------------------------------------------------------


@cli.command(epilog="\b\nExamples:\n  sudo vpclab probe vpc-a/cvm-1 vpc-b/cvm-1\n"
                    "  sudo vpclab probe vpc-a/cvm-1 vpc-b/db-1 --proto tcp --port 3306 --expect reachable")
@click.argument("src")
@click.argument("dst")
@proto_options
@click.option("--expect", type=click.Choice(["reachable", "no-return", "unreachable"]),
              help="Exit 1 unless the verdict is this.")
@lab_option
@json_option
def probe(src, dst, proto, port, expect, lab, as_json):
    """Send one real probe SRC -> DST (scapy) and watch it along the path, the reply included."""
    from . import probing

    doc = probing.probe(src, dst, proto, port, expect, lab)
    emit(doc, as_json, lambda: render_verdict(doc, "probe"))
    if doc.get("mismatch") and as_json:
        warn(doc["mismatch"])
    if expect is not None and not doc["ok"]:
        if as_json:  # the verdict document already says "ok": false; stdout holds one document
            sys.exit(ExpectationFailed.exit_code)
        raise ExpectationFailed(f"expected {expect}, got {doc['result']}", code="ExpectationFailed")


CELL = {"reachable": "[green]R[/]", "no-return": "[yellow]N[/]", "unreachable": "[red].[/]"}


@cli.command(epilog="\b\nExamples:\n  sudo vpclab matrix\n  sudo vpclab matrix -l demo --json > matrix.json")
@lab_option
@json_option
def matrix(lab, as_json):
    """Probe every ordered instance pair (ICMP, plus the service port of service instances)."""
    from . import probing

    with progress_bar("probing all pairs", quiet=as_json) as cb:
        doc = probing.matrix(lab, progress=cb)
    emit(doc, as_json, lambda: render_matrix(doc))
    if doc["mismatches"]:
        warn(f"{doc['mismatches']} pair(s) where the packets and explain disagree: one of them has a bug")


def render_matrix(doc):
    from rich.table import Table

    c = console()
    insts = doc["instances"]
    icmp = {(r["src"], r["dst"]): r for r in doc["pairs"] if r["proto"] == "icmp"}
    if len(insts) <= 40:
        t = Table(title=f"lab {doc['lab']}: ICMP  (R reachable, N no-return, . unreachable; rows: from)",
                  title_justify="left", show_edge=False, pad_edge=False)
        t.add_column("from \\ to")
        for i, d in enumerate(insts):
            t.add_column(str(i + 1), justify="center")
        for i, s in enumerate(insts):
            t.add_row(f"{i + 1} {s}", *["-" if s == d else CELL[icmp[(s, d)]["result"]] + (
                "[bold red]![/]" if "mismatch" in icmp[(s, d)] else "") for d in insts])
        c.print(t)
    services = [r for r in doc["pairs"] if r["proto"] != "icmp"]
    if services and len(services) <= 200:
        table("Service ports", ["from", "to", "port", "result", "reason"],
              [[r["src"], r["dst"], f"{r['proto']}/{r['port']}", r["result"], r["reason"]["code"]]
               for r in services])
    bad = [r for r in doc["pairs"] if r["result"] != "reachable"]
    if bad and len(bad) <= 60:
        table("Why not", ["from", "to", "proto", "result", "reason", "at", "table"],
              [[r["src"], r["dst"], r["proto"] + (f"/{r['port']}" if r["port"] else ""), r["result"],
                r["reason"]["code"], r["reason"]["where"], r["reason"]["table"]] for r in bad])
    elif bad:
        counts = {}
        for r in bad:
            counts[(r["result"], r["reason"]["code"])] = counts.get((r["result"], r["reason"]["code"]), 0) + 1
        table("Why not (counts; --json lists every pair)", ["result", "reason", "pairs"],
              [[res, code, n] for (res, code), n in sorted(counts.items(), key=lambda kv: -kv[1])])
    s = doc["summary"]
    c.print(f"{len(doc['pairs'])} probes in {doc['seconds']:.2f} s: [green]{s['reachable']} reachable[/], "
            f"[yellow]{s['no-return']} no-return[/], [red]{s['unreachable']} unreachable[/]"
            + (f", [bold red]{doc['mismatches']} mismatches with explain[/]" if doc["mismatches"] else ""))
    for r in doc["pairs"]:
        if "mismatch" in r:
            c.print(f"[bold red]MISMATCH[/] {r['src']} -> {r['dst']} {r['proto']}: {r['mismatch']}")


@cli.command(epilog="\b\nExamples:\n  sudo vpclab test                 # the running lab's expect: list\n"
                    "  sudo vpclab test topologies/02-one-way-route.yaml --junit report.xml")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False), help="Write JUnit XML here.")
@lab_option
@json_option
def test(file, junit_path, lab, as_json):
    """Check the topology's `expect:` list with real probes (building FILE first, removing it after)."""
    from . import probing

    doc = probing.test(file, lab)
    if junit_path:
        probing.junit(doc, junit_path)

    def human():
        c = console()
        for case in doc["cases"]:
            what = case["proto"] + (f"/{case['port']}" if case["port"] else "")
            mark = "[green]PASS[/]" if case["ok"] else "[bold red]FAIL[/]"
            line = f"{mark} {case['from']} -> {case['to']} {what}: expected {case['expected']}, got {case['got']}"
            r = case["reason"] or {}
            if r.get("code"):
                line += f" ({r['code']} at {r['where']})"
            c.print(line)
            if case.get("mismatch"):
                c.print(f"  [bold red]MISMATCH[/]: {case['mismatch']}")
        click.echo(f"{doc['passed']} passed, {doc['failed']} failed")

    emit(doc, as_json, human)
    if doc["failed"]:
        sys.exit(ExpectationFailed.exit_code)


# ---- doctor / graph ----------------------------------------------------------------------------


@cli.command()
@json_option
def doctor(as_json):
    """Kernel features and tools found, and what degrades without them."""
    from . import controller

    rows = controller.doctor()
    doc = {"checks": [{"name": n, "ok": ok, "without": why} for n, ok, why in rows]}
    emit(doc, as_json, lambda: table(None, ["check", "", "without it"],
                                     [[n, "[green]ok[/]" if ok else "[red]missing[/]", "" if ok else why]
                                      for n, ok, why in rows]))


@cli.command(epilog="\b\nExamples:\n  vpclab graph -f topologies/03-hub-spokes.yaml -o hub.svg\n  sudo vpclab graph > lab.dot")
@click.option("-f", "--file", "file", type=click.Path(dir_okay=False), help="From a topology file instead of a lab.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write DOT, or SVG/PNG by extension (Graphviz).")
@lab_option
def graph(file, output, lab):
    """A topology diagram: DOT always; SVG or PNG when Graphviz is installed."""
    from . import controller, graph as g

    text = g.dot(controller.model_for(lab, file))
    if not output:
        click.echo(text, nl=False)
        return
    g.write(text, output)
    click.echo(output)


# ---- exec --------------------------------------------------------------------------------------


@cli.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": True},
             epilog="\b\nExamples:\n  sudo vpclab exec vpc-a/cvm-1 -- ip addr\n"
                    "  sudo vpclab exec vpc-a -- ip rule   # the VPC's router")
@click.argument("instance")
@click.argument("cmd", nargs=-1, type=click.UNPROCESSED)
@lab_option
def exec(instance, cmd, lab):
    """Run CMD inside an instance's namespace (or a VPC router's)."""
    from . import controller

    controller.exec_in(instance, list(cmd), lab)


# ---- the one place errors become exit codes ---------------------------------------------------


def report(err: VpclabError, as_json: bool) -> None:
    """An error on the channel the user asked for: JSON on stdout, or lines on stderr."""
    if as_json:
        click.echo(json.dumps(err.to_json(), indent=2))
    else:
        for line in err.lines():
            click.echo(line, err=True)


def main(argv=None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args
    try:
        cli.main(args=args, prog_name="vpclab", standalone_mode=False)
    except VpclabError as e:
        report(e, as_json)
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        if as_json:
            report(Refused(e.format_message(), code="InvalidParameter", hint="see --help"), True)
        else:
            e.show()
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("interrupted: run `vpclab cleanup` if a lab was half built", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except OSError as e:
        # A system call the kernel layer did not expect to fail (e.g. setns on a
        # namespace file that is not a network namespace): exit 4, cleanable.
        from .errors import KernelRefused

        err = KernelRefused(f"{e.strerror or e} (errno {e.errno}){': ' + str(e.filename) if e.filename else ''}",
                            errno=e.errno)
        report(err, as_json)
        sys.exit(err.exit_code)
    sys.exit(0)
