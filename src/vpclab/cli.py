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

from . import __version__, cli_filters, cli_notes, cli_status
from .cliargs import Whole, every_lab, exec_arguments, explicit_lab, usage_error
from .errors import ExpectationFailed, Refused, VpclabError, shown

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
  vpclab diff old.yaml new.yaml            # what a change gains and loses, no root
  vpclab import terraform plan.json -o lab.yaml
  sudo pytest --vpclab lab.yaml -n auto --junitxml=report.xml
"""

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
lab_option = click.option("-l", "--lab", "lab", metavar="LAB", callback=explicit_lab,
                          help="The lab (may be left out when one runs).")


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
    traffic flows only when BOTH sides route it. Topology format: docs/topology.md.
    """


cli_filters.register(cli)  # version 2: sg, acl, eip


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
    f = click.option("--port", type=Whole(1, 65535), help="Destination port (tcp/udp).")(f)
    f = click.option("--proto", type=click.Choice(["icmp", "tcp", "udp"]), default="icmp", show_default=True)(f)
    return f


@cli.command(short_help="Can SRC reach DST, and can DST reply?",
             epilog="\b\nExamples:\n  vpclab explain vpc-a/cvm-1 vpc-b/cvm-1 -f topologies/01-two-vpcs.yaml\n"
                    "  vpclab explain vpc-a/cvm-1 vpc-b/db-1 --proto tcp --port 3306 -f topo.yaml --json\n"
                    "  # to a server on the lab's Internet, and to another VPC's EIP (no peering):\n"
                    "  vpclab explain vpc-a/web-a internet/web --proto tcp --port 80 \\\n"
                    "      -f topologies/06-internet-vs-peering.yaml\n"
                    "  vpclab explain vpc-c/cvm-c 203.0.113.10 -f topologies/06-internet-vs-peering.yaml")
@click.argument("src")
@click.argument("dst")
@click.option("-f", "--file", "file", type=click.Path(dir_okay=False), help="Answer from a topology file (no lab, no root).")
@lab_option
@proto_options
@json_option
def explain(src, dst, file, lab, proto, port, as_json):
    """Can SRC reach DST, and does the reply come back? Answered from the model alone, hop by hop.

    SRC is VPC/INSTANCE or internet/<host>; DST is VPC/INSTANCE, internet/<host> or an
    address (an instance's private address or EIP, any address of the lab's Internet).

    `seen source`: the source address DST sees (a private address over a peering, the
    sender's EIP or NAT gateway address over the Internet). SECURITY_GROUP_DENY /
    NETWORK_ACL_DENY: a security group / network ACL dropped it (named, with the
    direction and the rule index, or "no rule matched"); NO_PUBLIC_IP: DST is public, but SRC has no EIP and no
    route to a NAT gateway.
    """
    from . import controller

    v = controller.explain(src, dst, proto, port, file=file, lab=lab)
    emit(v.to_json(), as_json, lambda: render_verdict(v.to_json(), "explain"))


COLOURS = {"reachable": "green", "no-return": "yellow", "unreachable": "red", "inconclusive": "magenta"}


def render_verdict(doc: dict, how: str) -> None:
    c = console()
    colour = COLOURS.get(doc["result"], "white")
    what = doc["proto"] + (f"/{doc['port']}" if doc.get("port") else "")
    rtt = f"  rtt {doc['rtt_ms']:.2f} ms" if doc.get("rtt_ms") is not None else ""
    c.print(f"{doc['src']} -> {doc['dst']} ({what}): [bold {colour}]{doc['result']}[/]{rtt}  [dim]({how})[/]")
    for leg, label in (("forward", "request"), ("return", "reply  ")) if "evidence" not in doc else ():
        l = doc[leg]
        if not l["path"]:
            c.print(f"  {label}: [dim]not sent[/]")
            continue
        mark = "[green]delivered[/]" if l["delivered"] else f"[red]lost after {l['last_hop']}[/]"
        c.print(f"  {label}: {' -> '.join(l['path'])}  {mark}")
    if "evidence" in doc:  # a probe shows what the packets did, not a path
        from .cli_evidence import render

        render(c, doc)
    r = doc.get("reason") or {}
    if r.get("code"):
        table_ = f", table {r['table']}" if r.get("table") else ""
        c.print(f"  reason: [bold]{r['code']}[/] at {r['where']}{table_}: {r['detail']}")
    elif doc["result"] == "inconclusive":
        c.print(f"[bold magenta]  INCONCLUSIVE[/]: {r.get('detail')}")
    cli_filters.render_filter_reason(c, doc)  # version 2: which group/ACL rule; the source seen
    n = doc.get("note")
    if n:
        c.print(f"  note: {n['code']}: {n['detail']}")
    m = doc.get("mismatch")
    if m:
        c.print(f"[bold red]  MISMATCH: {m}[/]")


# ---- lab lifecycle ---------------------------------------------------------------------------


@cli.command(epilog="\b\nExamples:\n  sudo vpclab up topologies/01-two-vpcs.yaml\n  vpclab up --dry-run topologies/01-two-vpcs.yaml\n"
                     "  sudo vpclab up topologies/04-cross-region.yaml --window 10s   # usage meter samples every 10 s")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Print the actions `up` would run, change nothing.")
@click.option("--window", metavar="DURATION", default=None,
              help="The usage meter's sample window, 1s..1h (a lab-only shortcut: the cloud samples every "
                   "5m; overrides the topology's billing: window).")
@json_option
def up(file, dry_run, window, as_json):
    """Build the lab of FILE (idempotent: a second `up` changes nothing)."""
    from .builds import marked

    window_s = None
    if window is not None:
        from .model.units import parse_duration

        try:
            window_s = parse_duration(window)
        except ValueError as e:
            raise Refused(f"--window: {e}", code="InvalidParameterValue") from None
        if not 1 <= window_s <= 3600:
            raise Refused(f"--window {shown(window)} is outside 1s..1h (the cloud samples every 5m)",
                          code="InvalidParameterValue")

    with marked(dry_run) as mark:  # first: a teardown started with this `up` gives way to it
        from . import controller

        if dry_run:
            report = controller.up(file, dry_run=True, window=window_s)
        else:
            with progress_bar(f"building lab from {file}", quiet=as_json) as cb:
                report = controller.up(file, progress=cb, mark=mark, window=window_s)
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
@click.argument("lab", required=False, callback=explicit_lab)
@click.option("-l", "--lab", "lab_option", metavar="LAB", callback=explicit_lab,
              help="The lab, as for the other commands.")
@click.option("--no-wait", is_flag=True,
              help="Return once the lab's namespaces are unnamed; the kernel finishes destroying them in the "
                   "background (a matter of milliseconds since subnets are routed, not bridged).")
@json_option
def down(lab, lab_option, no_wait, as_json):
    """Remove every kernel object, process and state file of LAB (fine if already gone).

    A LAB that is not running is "already down" (exit 0), unless a running lab has a
    close name and LAB was not removed since boot: then it is taken for a typo and
    refused (exit 2, LabNotFound, "did you mean"), and nothing is removed.

    By default it returns when the kernel has destroyed every namespace of the lab.
    A process vpclab did not start (a shell from `ip netns exec`, an open file, a bind
    mount) can keep a namespace alive after its name is gone: `down` still exits 0, and
    names each one on stderr (and in --json, `held_by`) with its PID.
    """
    from . import controller

    if lab is not None and lab_option is not None and lab != lab_option:
        raise Refused(f"two labs named: {shown(lab)} and -l {shown(lab_option)}", code="InvalidParameter")
    r = controller.down(lab if lab is not None else lab_option, wait=not no_wait, typo_check=True)
    warn_held(r["held_by"])
    emit(r, as_json, lambda: click.echo(
        "no lab is running" if not r["lab"] else
        f"lab {r['lab']} is already down (nothing to remove)" if r["already_down"] else f"lab {r['lab']} is down"))


def warn_held(held) -> None:
    """Loudly, on stderr: namespaces something else keeps alive after their lab is gone (exit stays 0)."""
    if not held:
        return
    pids = sorted({h["pid"] for h in held if h["pid"] is not None})
    warn(f"the lab's names are gone, but {len(held)} reference(s) vpclab did not make keep its namespaces alive, "
         "with their interfaces and routes:")
    for h in held:
        click.echo(f"  {h['text']}", err=True)
    todo = [f"end the processes (`kill {' '.join(map(str, pids))}`)"] if pids else []
    if any(h["pid"] is None for h in held):
        todo.append("unmount the bind mounts (`umount PATH`)")
    click.echo(f"  {' and '.join(todo)}: then the kernel frees the namespaces", err=True)


@cli.command(epilog="\b\nExamples:\n  sudo vpclab cleanup\n  sudo vpclab cleanup demo   # only this lab")
@click.argument("labs", nargs=-1, metavar="[LAB]...", callback=every_lab)
@json_option
def cleanup(labs, as_json):
    """Remove what crashed or killed commands left behind (only vpclab's own objects).

    A lab is left alone when it is ready (its `up` finished) or a command holds it; a lab
    whose state is damaged is not ready, and is removed. A named LAB that does not exist
    is reported as nothing to remove (exit 0).
    """
    from . import controller

    r = controller.cleanup(list(labs) or None)
    warn_held(r["held_by"])

    def human():
        if r["removed"]:
            click.echo(f"removed: {', '.join(r['removed'])}")
        if r["absent"]:
            click.echo(f"nothing to remove: {', '.join(r['absent'])} (no such lab)")
        if labs and r["kept"]:
            click.echo(f"left alone: {', '.join(r['kept'])} (ready, or a command holds it; "
                       "`vpclab down LAB` removes a lab)")
        if not (r["removed"] or r["absent"] or (labs and r["kept"])):
            click.echo("nothing left behind")

    emit(r, as_json, human)


@cli.command()
@json_option
def ls(as_json):
    """Running labs."""
    from . import controller

    labs = controller.ls()

    for l in labs:
        if l.get("error"):
            warn(f"{l['error']} ({l['hint']})")

    def human():
        if not labs:
            click.echo("no lab is running")
            return
        table(None, ["lab", "status", "vpcs", "instances", "peerings", "source"],
              [[l["lab"], l["status"], l["vpcs"], l["instances"], l["peerings"], l["source"]] for l in labs])
        for l in labs:
            if l["status"] == controller.DELETING:
                click.echo(f"lab {l['lab']} is half removed (an interrupted `vpclab down`): "
                           f"`vpclab cleanup {l['lab']}` finishes it")
            elif l["status"] == controller.APPLYING:
                click.echo(f"lab {l['lab']}: its last live operation is not in the kernel yet and could not be "
                           f"finished (see `vpclab status -l {l['lab']}`)")

    emit({"labs": labs}, as_json, human)


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
        if s.get("pending"):  # `applying`: a killed operation whose repair failed
            op = " ".join(str(x) for x in s["pending"].values() if x)
            click.echo(f"`{op}` is not in the kernel yet and could not be finished: shown is the lab before it; "
                       "the next command retries, `vpclab up FILE` repairs the lab")
        table("VPCs", ["vpc", "account", "region", "cidr", "subnets", "namespace"],
              [[v["name"], v["account"], v["region"], v["cidr"],
                ", ".join(f"{x['name']} {x['cidr']} ({x['route_table']})" for x in v["subnets"]), v["namespace"]]
               for v in s["vpcs"]])
        table("Instances", ["instance", "kind", "ip", "port", "router interface"],
              [[f"{v['name']}/{i['name']}", i["kind"], i["ip"], i["port"], i["interface"]]
               for v in s["vpcs"] for i in v["instances"]])
        render_peerings(s["peerings"])
        render_routes(s["routes"])
        cli_status.render(s, table)
        cli_filters.render_status(s)  # version 2: groups, ACLs, EIPs, NAT gateways, the Internet

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
    from .api import bandwidth_kbps

    return bandwidth_kbps(text)


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
    note = cli_notes.pending_peering(controller.model_for(lab), p.name)
    if note:
        click.echo(note, err=True)
    emit({"id": p.name, "state": p.state}, as_json, lambda: click.echo(p.name))


ACCOUNT_HELP = {"accept": "Acting account (default: the accepter VPC's, the one entitled to accept).",
                "reject": "Acting account (default: the accepter VPC's, the one entitled to reject).",
                "delete": "Acting account (default: the requester VPC's)."}


def _event_command(event: str, doc: str):
    @click.argument("id")
    @click.option("--as", "account", help=ACCOUNT_HELP[event])
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
    note = cli_notes.blackhole_route(controller.model_for(lab), vpc, table, str(r.destination), r.next_hop)
    if note:
        warn(note)
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


@cli.command(epilog="\b\nExamples:\n  sudo vpclab events\n  sudo vpclab events --follow     # on a projector; Ctrl-C stops")
@lab_option
@json_option
@click.option("-f", "--follow", is_flag=True,
              help="Keep printing events as they are logged, one line each (with --json, one JSON object a line), "
                   "until Ctrl-C.")
def events(lab, as_json, follow):
    """The lab's event log: who did what, when (lab time), with what result."""
    from . import cli_events, controller

    if follow:
        cli_events.follow(lab, as_json, console(), stopped=lambda msg: click.echo(msg, err=True))
        return
    rows = controller.events(lab)
    emit({"events": rows}, as_json, lambda: cli_events.render_table(rows, console()))


# ---- probes ------------------------------------------------------------------------------------


@cli.command(epilog="\b\nExamples:\n  sudo vpclab probe vpc-a/cvm-1 vpc-b/cvm-1\n"
                    "  sudo vpclab probe vpc-a/cvm-1 vpc-b/db-1 --proto tcp --port 3306 --expect reachable\n"
                    "  sudo vpclab probe vpc-a/cvm-1 vpc-b/cvm-1 --pcap probe.pcapng && tcpdump -r probe.pcapng\n"
                    "  sudo vpclab probe vpc-c/cvm-1 internet/web --proto tcp --port 80   # over the lab's Internet")
@click.argument("src")
@click.argument("dst")
@proto_options
@click.option("--expect", type=click.Choice(["reachable", "no-return", "unreachable"]),
              help="Exit 1 unless the verdict is this.")
@click.option("--pcap", "pcap", metavar="FILE",
              help="Also write every captured packet of the probe (all capture points) to FILE (pcapng).")
@lab_option
@json_option
def probe(src, dst, proto, port, expect, pcap, lab, as_json):
    """Send one real probe SRC -> DST (scapy) and show what each capture point saw, and when.

    Captures run at the source, at every VPC router on the way and at the destination;
    the lines under the verdict are those packets, timed from the send.
    """
    from . import probing

    doc = probing.probe(src, dst, proto, port, expect, lab, pcap)
    emit(doc, as_json, lambda: render_verdict(doc, "probe"))
    if doc.get("mismatch") and as_json:
        warn(doc["mismatch"])
    if expect is not None and not doc["ok"]:
        if as_json:  # the verdict document already says "ok": false; stdout holds one document
            sys.exit(ExpectationFailed.exit_code)
        raise ExpectationFailed(f"expected {expect}, got {doc['result']}" + (
            ": the packets could not tell (the reason above says what they showed)"
            if doc["result"] == "inconclusive" else ""), code="ExpectationFailed")


CELL = {"reachable": "[green]R[/]", "no-return": "[yellow]N[/]", "unreachable": "[red].[/]",
        "inconclusive": "[magenta]?[/]"}


@cli.command(epilog="\b\nExamples:\n  sudo vpclab matrix\n  sudo vpclab matrix -l demo --json > matrix.json\n"
                    "  sudo vpclab matrix -l big --jsonl | grep -v '\"reachable\"'")
@lab_option
@json_option
@click.option("--jsonl", "as_jsonl", is_flag=True,
              help="Print JSON lines: one pair per line as it is probed, then one line with the summary.")
def matrix(lab, as_json, as_jsonl):
    """Probe every ordered instance pair (ICMP, plus the service port of service instances).

    Rows stream out as they are probed, a chunk of sources at a time, so memory stays
    flat on large labs; --json still prints one document.
    """
    from . import probing

    quiet = as_json or as_jsonl
    with progress_bar("probing all pairs", quiet=quiet) as cb:
        run = probing.MatrixRun(lab, progress=cb)
        if as_jsonl:
            for r in run.rows():
                click.echo(json.dumps(r))
            click.echo(json.dumps(run.document()))
        elif as_json:
            stream_matrix_json(run)
        else:
            view = MatrixView(run)
            for r in run.rows():
                view.add(r)
    if not quiet:
        view.render()
    if run.mismatches:
        warn(f"{run.mismatches} pair(s) where the packets and explain disagree: one of them has a bug")
    if run.summary.get("inconclusive"):
        warn(f"{run.summary['inconclusive']} pair(s) inconclusive: the packets could not tell, even probed "
             f"again (each row's reason says what they showed)")


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
        self.counts = {}

    def add(self, r: dict) -> None:
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
        c.print(f"{run.pairs} probes in {run.seconds:.2f} s: [green]{s['reachable']} reachable[/], "
                f"[yellow]{s['no-return']} no-return[/], [red]{s['unreachable']} unreachable[/]"
                + (f", [bold magenta]{s_inc} inconclusive[/]" if s_inc else "")
                + (f", [bold red]{run.mismatches} mismatches with explain[/]" if run.mismatches else ""))
        for line in self.mismatched:
            c.print(f"[bold red]MISMATCH[/] {line}")
        if run.mismatches > len(self.mismatched):
            c.print(f"[bold red]MISMATCH[/] ... and {run.mismatches - len(self.mismatched)} more (--json lists them)")


@cli.command(epilog="\b\nExamples:\n  sudo vpclab test                 # the running lab's expect: list\n"
                    "  sudo vpclab test topologies/02-one-way-route.yaml --junit report.xml")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False), help="Write JUnit XML here.")
@lab_option
@json_option
def test(file, junit_path, lab, as_json):
    """Check the topology's `expect:` list with real probes (building FILE first, removing it after)."""
    from . import outpath, probing

    if junit_path:  # before any probe: a bad path is refused at once, not after the run
        outpath.check_writable(junit_path, probing.JUNIT)
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
            if case["got"] == "inconclusive":
                c.print(f"  [bold magenta]INCONCLUSIVE[/]: {r.get('detail')}")
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
    emit(doc, as_json, lambda: table(None, ["check", "found", "without it"],
                                     [[n, "[green]ok[/]" if ok else "[red]missing[/]", "" if ok else why]
                                      for n, ok, why in rows]))


@cli.command(epilog="\b\nExamples:\n  vpclab graph -f topologies/03-hub-spokes.yaml -o hub.png\n  sudo vpclab graph > lab.dot\n"
                    "  vpclab graph -f topologies/02-one-way-route.yaml --probe vpc-a/cvm-1 vpc-b/cvm-1 -o why.png\n"
                    "  sudo vpclab graph --probe vpc-a/cvm-1 vpc-b/db-1 --proto tcp --port 3306 -o probe.svg")
@click.option("-f", "--file", "file", type=click.Path(dir_okay=False), help="From a topology file instead of a lab.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write DOT, or SVG/PNG by extension (Graphviz).")
@lab_option
@click.option("--probe", nargs=2, metavar="SRC DST",
              help="Draw this probe's path both ways and where it stopped (a real probe on a lab; explain's "
                   "answer with -f).")
@proto_options
@click.option("--json", "as_json", is_flag=True,
              help="Print the graph as one JSON document: its nodes (regions, VPCs, subnets, instances) and edges.")
def graph(file, output, lab, probe, proto, port, as_json):
    """A topology diagram: DOT always; SVG or PNG when Graphviz is installed.

    Each VPC's router lists its route tables; each peering is a box joined to both
    routers, the side with no route back red and dashed; CLBs point at their
    backends; a legend explains it all. With --json, the same graph as data (and -o
    still writes the diagram); with --probe, --json adds the probe's result.
    """
    from . import cli_graph, controller, graph as g, outpath

    if output:  # before the model is read and a probe is run: a bad path is refused at once
        outpath.check_writable(output, g.WHAT)
    model = controller.model_for(lab, file)
    overlay = cli_graph.verdict(probe, proto, port, file, lab)
    text = g.dot(model, overlay)
    if output:
        g.write(text, output)
    if as_json:
        doc = dict(g.to_json(model), output=output)
        if overlay is not None:
            doc["probe"] = overlay
        emit(doc, True)
    elif output:
        click.echo(output)
    else:
        click.echo(text, nl=False)


# ---- ui ----------------------------------------------------------------------------------------


@cli.command(epilog="\b\nExamples:\n  sudo vpclab ui\n  sudo vpclab ui -l demo --port 8471")
@lab_option
@click.option("--port", type=Whole(0, 65535), default=8470, show_default=True,
              help="Port on 127.0.0.1 (0: any free one).")
def ui(lab, port):
    """A live web view of the lab on 127.0.0.1 only; prints its URL (with a token) and serves until Ctrl-C."""
    try:
        from .ui import server
    except ImportError as e:
        from .errors import EnvironmentProblem

        raise EnvironmentProblem(f"the web view needs aiohttp ({e.name} is missing)", code="ToolMissing",
                                 hint="pip install 'vpclab[ui]'")

    def ready(url):
        click.echo(url)
        click.echo("serving on 127.0.0.1 only; open the URL above in a browser, Ctrl-C stops", err=True)

    server.serve(lab, port, ready=ready)
    click.echo("stopped", err=True)


# ---- exec --------------------------------------------------------------------------------------


@cli.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
             epilog="\b\nExamples:\n  sudo vpclab exec vpc-a/cvm-1 -- ip addr\n"
                    "  sudo vpclab exec vpc-a/cvm-1 -l two -- ping -c 1 10.2.1.20\n"
                    "  sudo vpclab exec vpc-a/cvm-1 ls -l /     # everything after INSTANCE is CMD\n"
                    "  sudo vpclab exec vpc-a -- ip rule        # the VPC's router")
@click.argument("instance")
@click.argument("cmd", nargs=-1, type=click.UNPROCESSED)
@lab_option
def exec(instance, cmd, lab):
    """Run CMD inside an instance's namespace (or a VPC router's).

    vpclab's options go before INSTANCE, or between INSTANCE and `--`; everything
    after INSTANCE (or after `--`) is CMD with its own options, untouched. CMD's
    output is its own: it is passed through as it is (there is no --json).
    """
    from . import controller

    argv, lab = exec_arguments(list(cmd), lab)
    controller.exec_in(instance, argv, lab)


# ---- exercises ---------------------------------------------------------------------------------


@cli.group("lab", epilog="\b\nExamples:\n  vpclab lab list\n  sudo vpclab lab start 03\n  sudo vpclab lab check 03\n"
                         "  sudo vpclab lab hint 03\n  sudo vpclab lab reset 03")
def lab_group():
    """Exercises: a broken lab to fix, a check that grades the fix, hints, reset.

    Each exercise runs as the lab `exNN` (`-l NAME` names it otherwise). The
    exercises live in the repository's lab/ directory (or $VPCLAB_LABS).
    """


exercise_lab_option = click.option("-l", "--lab", "name", metavar="NAME", callback=explicit_lab,
                                   help="The exercise's lab name (default: exNN, e.g. ex03).")


@lab_group.command("list")
@json_option
def lab_list(as_json):
    """Every exercise with its title and whether it is running."""
    from .exercises import session

    rows = session.listing()
    emit({"exercises": rows}, as_json, lambda: table(
        None, ["lab", "title", "running"],
        [[r["name"], r["title"], f"[green]{', '.join(r['labs'])}[/]" if r["running"] else "[dim]no[/]"]
         for r in rows]))


def render_task(doc: dict, what: str) -> None:
    c = console()
    c.print(f"[bold]Exercise {doc['exercise']}: {doc['title']}[/]  ({what} as lab [bold]{doc['lab']}[/])\n")
    c.print(doc["task"] + "\n")
    lab = f" -l {doc['lab']}" if doc["lab"] != f"ex{doc['exercise']}" else ""
    c.print(f"Grade your fix: `vpclab lab check {doc['exercise']}{lab}`; stuck: `vpclab lab hint {doc['exercise']}{lab}`;"
            f" start again: `vpclab lab reset {doc['exercise']}{lab}`.\n"
            f"Add `-l {doc['lab']}` to the other commands when more than one lab runs. Guide: {doc['guide']}")


def exercise_command(verb: str, *examples: str):
    """A `vpclab lab VERB NN [-l NAME] [--json]` command."""
    def wrap(f):
        f = click.argument("number", metavar="NN")(exercise_lab_option(json_option(f)))
        epilog = "\b\nExamples:\n" + "\n".join(f"  sudo vpclab lab {verb} {e}" for e in examples)
        return lab_group.command(verb, epilog=epilog)(f)
    return wrap


def build_exercise(verb: str, number: str, name: Optional[str], as_json: bool) -> None:
    from .exercises import catalog, session

    ex = catalog.find(number)
    with progress_bar(f"building exercise {ex.number}", quiet=as_json) as cb:
        doc = (session.start if verb == "start" else session.reset)(ex, name, progress=cb)
    for w in doc["warnings"]:
        warn(w)
    emit(doc, as_json, lambda: render_task(doc, "started" if verb == "start" else "reset"))


@exercise_command("start", "03", "03 -l alice3")
def lab_start(number, name, as_json):
    """Build exercise NN's broken lab and print the task."""
    build_exercise("start", number, name, as_json)


@exercise_command("reset", "03")
def lab_reset(number, name, as_json):
    """Throw away the exercise's lab and build its start again."""
    build_exercise("reset", number, name, as_json)


@exercise_command("check", "03", "03 --json")
def lab_check(number, name, as_json):
    """Grade the live lab: a checklist; exit 0 when every item holds, 1 otherwise."""
    from .exercises import catalog, session

    doc = session.check(catalog.find(number), name)

    def human():
        c = console()
        c.print(f"[bold]Exercise {doc['exercise']}: {doc['title']}[/] (lab {doc['lab']})")
        for it in doc["items"]:
            mark = "[bold green]\u2714[/]" if it["ok"] else "[bold red]\u2718[/]"
            c.print(f" {mark} {it['title']}")
            if not it["ok"]:
                c.print(f"     [dim]got:[/] {it['got']}")
                c.print(f"     [yellow]hint:[/] {it['hint']}")
        colour = "green" if not doc["failed"] else "red"
        c.print(f"[bold {colour}]{doc['passed']} of {len(doc['items'])} hold[/]"
                + (": solved" if not doc["failed"] else ""))

    emit(doc, as_json, human)
    if doc["failed"]:
        sys.exit(ExpectationFailed.exit_code)


@exercise_command("hint", "03")
def lab_hint(number, name, as_json):
    """The next hint for the first item that does not hold yet (each call goes one hint further)."""
    from .exercises import catalog, session

    doc = session.hint(catalog.find(number), name)
    emit(doc, as_json, lambda: click.echo(
        "every item holds: nothing to hint" if doc["solved"] else
        f"{doc['title']}: {doc['got']}\nhint {doc['number']} of {doc['of']}: {doc['hint']}"))


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
        if any("\0" in a for a in args):  # only in-process callers can pass one; click's paths choke on it
            raise Refused("an argument contains a NUL character", code="InvalidParameterValue")
        cli.main(args=args, prog_name="vpclab", standalone_mode=False)
    except VpclabError as e:
        report(e, as_json)
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        err = usage_error(e, as_json)
        if not as_json and isinstance(e, click.UsageError) and e.ctx is not None:
            click.echo(f"{e.ctx.get_usage()}\nTry '{e.ctx.command_path} -h' for help.\n", err=True)
        report(err, as_json)
        sys.exit(err.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("interrupted: `vpclab ls` shows a lab left half built; `vpclab cleanup LAB` removes it "
                   "(or `vpclab up FILE` again repairs it)", err=True)
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


from .cli_usage import usage as _usage  # noqa: E402  (vpclab usage: cli_usage.py)

cli.add_command(_usage)

# ---- regression tools: diff, schema, import --------------------------------------------------


@cli.command("diff", epilog="\b\nExamples:\n  vpclab diff topologies/01-two-vpcs.yaml topologies/02-one-way-route.yaml\n"
                            "  vpclab diff -l demo new.yaml --json   # the running lab against a file\n"
                            "  git show HEAD:lab.yaml > /tmp/old.yaml && vpclab diff /tmp/old.yaml lab.yaml")
@click.argument("files", nargs=-1, metavar="OLD NEW")  # the loader checks the files
@lab_option
@json_option
def diff_cmd(files, lab, as_json):
    """Differential reachability: every pair and protocol whose verdict changes from OLD to NEW.

    ICMP and TCP on every service port of every ordered instance pair, answered
    from the models (no lab, no root), each change with the route or peering state
    that made it. Exit 1 when a change breaks an `expect:` entry of NEW.
    """
    from . import diffreach

    doc = diffreach.compare(list(files), lab)
    emit(doc, as_json, lambda: render_diff(doc))
    if doc["expectations"]["broken"]:
        sys.exit(ExpectationFailed.exit_code)


def render_diff(doc: dict) -> None:
    colour = {"gained": "green", "lost": "red", "changed": "yellow"}
    for c in doc["changes"]:
        what = c["proto"] + (f"/{c['port']}" if c["port"] else "")
        r = c["new"]["reason"] if c["new"]["result"] != "reachable" else c["old"]["reason"]
        why = f" ({r['code']} at {r['where']}" + (f", table {r['table']}" if r.get("table") else "") + ")" \
            if r.get("code") else ""
        click.echo(f"{click.style(c['change'].ljust(7), fg=colour[c['change']])} {c['src']} -> {c['dst']} {what}: "
                   f"{c['old']['result']} -> {c['new']['result']}{why}")
        for cause in c["causes"]:
            click.echo(f"        because {cause['detail']}")
    for k in ("added", "removed"):
        if doc["instances"][k]:
            click.echo(f"instances {k}: {', '.join(doc['instances'][k])} (their pairs are not compared)")
    for e in doc["expectations"]["broken"]:
        what = e["proto"] + (f"/{e['port']}" if e["port"] else "")
        click.echo(click.style("BROKEN", fg="red", bold=True) + f" {doc['new']}:{e['line']}: expect {e['from']} -> "
                   f"{e['to']} {what} {e['expected']}: now {e['new']} (was {e['old'] or 'absent'})"
                   + (f": {e['reason']['code']}: {e['reason']['detail']}" if e["reason"].get("code") else ""))
    n = len(doc["changes"])
    click.echo(f"{plural(n, 'change')}: {doc['gained']} gained, {doc['lost']} lost, {doc['changed']} other "
               f"({doc['compared']} questions, {doc['explained']} re-explained, {doc['seconds']:.3f} s)"
               + (f"; {plural(len(doc['expectations']['broken']), 'expectation')} of {doc['new']} broken"
                  if doc["expectations"]["broken"] else ""))


@cli.command(epilog="\b\nExamples:\n  vpclab schema > topology.schema.json\n"
                    "  # then, first line of a topology file, for yaml-language-server (VS Code, Neovim...):\n"
                    "  # yaml-language-server: $schema=./topology.schema.json")
def schema():
    """The JSON Schema of the topology format, for editors (completion and checks as you type)."""
    from . import schema as s

    click.echo(json.dumps(s.schema(), indent=2))


@cli.group("import", epilog="\b\nExamples:\n  terraform plan -out plan.out && terraform show -json plan.out > plan.json\n"
                            "  vpclab import terraform plan.json -o lab.yaml && vpclab validate lab.yaml")
def import_group():
    """A topology from another tool's description of the network."""


@import_group.command("terraform", epilog="\b\nExamples:\n"
                                          "  terraform show -json plan.out > plan.json\n"
                                          "  vpclab import terraform plan.json -o lab.yaml\n"
                                          "  vpclab import terraform state.json --lab prod > prod.yaml")
@click.argument("plan", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the topology here (default: stdout).")
@click.option("--lab", "lab", metavar="NAME", help="The lab name (default: from the file name).")
@json_option
def import_terraform(plan, output, lab, as_json):
    """A topology from `terraform show -json` of a plan or a state (tencentcloud provider).

    Imports tencentcloud_vpc, _subnet, _route_table, _route_table_entry (PEERCONNECTION),
    _vpc_peer_connect_manager with its accept/reject operations, and _instance. Every
    resource or attribute it cannot carry is listed on stderr with its address. A
    configuration that breaks a cloud rule is refused (exit 2), naming the resource.
    """
    from . import outpath
    from .importers import terraform
    from .model.types import LAB_NAME

    if lab is not None and not LAB_NAME.match(lab):
        raise Refused(f"--lab '{lab}' is not a lab name (1-8 characters, [a-z][a-z0-9]*)",
                      code="InvalidParameterValue")
    r = terraform.convert(terraform.read(plan), plan, lab)
    if output:
        outpath.write_text(output, r.text, "the topology")
    for n in r.notes:
        warn(str(n))
    doc = {"lab": r.lab, "output": output, **r.counts, "notes": [{"address": n.address, "what": n.what}
                                                                 for n in r.notes]}
    if not output:
        doc["topology"] = r.text
    emit(doc, as_json, lambda: click.echo(
        f"{output}: lab {r.lab}, {plural(r.counts['vpcs'], 'VPC')}, {plural(r.counts['instances'], 'instance')}, "
        f"{plural(r.counts['peerings'], 'peering')}" + (f"; {plural(len(r.notes), 'note')} above" if r.notes else "")
        if output else r.text, nl=bool(output)))


# The one-line summaries of `vpclab --help` (click cuts a docstring's first sentence at the
# listing's width; each command's own --help keeps its whole text).
SUMMARIES = {
    "cleanup": "Remove what crashed or killed commands left.",
    "diff": "What a topology change gains and loses.",
    "down": "Remove everything of a lab.",
    "events": "The lab's event log: who did what, when.",
    "graph": "A topology diagram (DOT, SVG, PNG).",
    "lab": "Exercises: break, fix, check, grade.",
    "matrix": "Probe every instance pair.",
    "peering": "Peering connections and their lifecycle.",
    "probe": "Send one real probe and show its path.",
    "route": "Route tables: add, del, list.",
    "schema": "The topology format as JSON Schema.",
    "status": "VPCs, instances, peerings and routes.",
    "test": "Check the topology's expect: list with probes.",
    "ui": "A live web view on 127.0.0.1.",
    "up": "Build (or update) the lab of FILE.",
    "usage": "Peering usage and cost per lab day.",
    "validate": "Check a topology file (FILE:LINE: CODE).",
}
SUB_SUMMARIES = {
    ("peering", "create"): "Request a peering (PENDING across accounts).",
    ("peering", "delete"): "Delete a PENDING or ACTIVE peering.",
    ("lab", "check"): "Grade the live lab: a checklist.",
    ("lab", "hint"): "The next hint for the first failing item.",
    ("import", "terraform"): "A topology from `terraform show -json`.",
}
for _name, _text in SUMMARIES.items():
    if _name in cli.commands and not cli.commands[_name].short_help:
        cli.commands[_name].short_help = _text
for (_group, _name), _text in SUB_SUMMARIES.items():
    _cmd = getattr(cli.commands.get(_group), "commands", {}).get(_name)
    if _cmd is not None and not _cmd.short_help:
        _cmd.short_help = _text
