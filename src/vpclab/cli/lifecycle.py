"""A lab's life: `up`, `down`, `cleanup`, and what runs: `ls`, `status`."""
from __future__ import annotations

import click

from ..errors import Refused, shown
from .options import every_lab, explicit_lab, json_option, lab_option
from .output import emit, progress_bar, table, warn


@click.command(short_help="Build (or update) the lab of FILE.",
               epilog="\b\nExamples:\n  sudo vpclab up topologies/01-two-vpcs.yaml\n  vpclab up --dry-run topologies/01-two-vpcs.yaml\n"
                      "  sudo vpclab up topologies/04-cross-region.yaml --window 10s   # usage meter samples every 10 s")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Print the actions `up` would run, change nothing.")
@click.option("--window", metavar="DURATION", default=None,
              help="The usage meter's sample window, 1s..1h (a lab-only shortcut: the cloud samples every "
                   "5m; overrides the topology's billing: window).")
@json_option
def up(file, dry_run, window, as_json):
    """Build the lab of FILE (idempotent: a second `up` changes nothing)."""
    from ..controller.marks import marked

    window_s = None
    if window is not None:
        from ..model.units import parse_duration

        try:
            window_s = parse_duration(window)
        except ValueError as e:
            raise Refused(f"--window: {e}", code="InvalidParameterValue") from None
        if not 1 <= window_s <= 3600:
            raise Refused(f"--window {shown(window)} is outside 1s..1h (the cloud samples every 5m)",
                          code="InvalidParameterValue")

    with marked(dry_run) as mark:  # first: a teardown started with this `up` gives way to it
        from ..controller import build

        if dry_run:
            report = build.up(file, dry_run=True, window=window_s)
        else:
            with progress_bar(f"building lab from {file}", quiet=as_json) as cb:
                report = build.up(file, progress=cb, mark=mark, window=window_s)
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


@click.command(short_help="Remove everything of a lab.",
               epilog="\b\nExamples:\n  sudo vpclab down two\n  sudo vpclab down two --no-wait")
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
    from ..controller import teardown

    if lab is not None and lab_option is not None and lab != lab_option:
        raise Refused(f"two labs named: {shown(lab)} and -l {shown(lab_option)}", code="InvalidParameter")
    r = teardown.down(lab if lab is not None else lab_option, wait=not no_wait, typo_check=True)
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


@click.command(short_help="Remove what crashed or killed commands left.",
               epilog="\b\nExamples:\n  sudo vpclab cleanup\n  sudo vpclab cleanup demo   # only this lab")
@click.argument("labs", nargs=-1, metavar="[LAB]...", callback=every_lab)
@json_option
def cleanup(labs, as_json):
    """Remove what crashed or killed commands left behind (only vpclab's own objects).

    A lab is left alone when it is ready (its `up` finished) or a command holds it; a lab
    whose state is damaged is not ready, and is removed. A named LAB that does not exist
    is reported as nothing to remove (exit 0).
    """
    from ..controller import teardown

    r = teardown.cleanup(list(labs) or None)
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


@click.command()
@json_option
def ls(as_json):
    """Running labs."""
    from ..controller import status

    labs = status.ls()

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
            if l["status"] == status.DELETING:
                click.echo(f"lab {l['lab']} is half removed (an interrupted `vpclab down`): "
                           f"`vpclab cleanup {l['lab']}` finishes it")
            elif l["status"] == status.APPLYING:
                click.echo(f"lab {l['lab']}: its last live operation is not in the kernel yet and could not be "
                           f"finished (see `vpclab status -l {l['lab']}`)")

    emit({"labs": labs}, as_json, human)


@click.command(short_help="VPCs, instances, peerings and routes.")
@lab_option
@json_option
def status(lab, as_json):
    """VPCs, subnets, instances with addresses, peerings and routes with their state."""
    from ..controller import status as lab_status
    from .render import status as status_view

    s = lab_status.status(lab)
    emit(s, as_json, lambda: status_view.render(s))


COMMANDS = [up, down, cleanup, ls, status]
