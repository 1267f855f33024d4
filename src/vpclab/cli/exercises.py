"""`vpclab lab`: the exercises (a broken lab to fix, a check that grades the fix, hints, reset)."""
from __future__ import annotations

import sys
from typing import Optional

import click

from ..errors import ExpectationFailed
from .options import explicit_lab, json_option
from .output import console, emit, progress_bar, table, warn


@click.group("lab", short_help="Exercises: break, fix, check, grade.",
             epilog="\b\nExamples:\n  vpclab lab list\n  sudo vpclab lab start 03\n  sudo vpclab lab check 03\n"
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
    from ..exercises import session

    rows = session.listing()
    emit({"exercises": rows}, as_json, lambda: table(
        None, ["lab", "title", "running"],
        [[r["name"], r["title"], f"[green]{', '.join(r['labs'])}[/]" if r["running"] else "[dim]no[/]"]
         for r in rows]))


def render_task(doc: dict, what: str) -> None:
    c = console()
    c.print(f"[bold]Exercise {doc['exercise']}: {doc['title']}[/]  ({what} as lab [bold]{doc['lab']}[/])\n")
    c.print(doc["task"] + "\n")
    lab = f" -l {doc['lab']}"  # always: on a shared machine `exNN` may be somebody else's
    c.print(f"Grade your fix: `vpclab lab check {doc['exercise']}{lab}`; stuck: `vpclab lab hint {doc['exercise']}{lab}`;"
            f" start again: `vpclab lab reset {doc['exercise']}{lab}`.\n"
            f"Give every other command `-l {doc['lab']}` too, as the task does. Guide: {doc['guide']}")


def exercise_command(verb: str, *examples: str, short_help: Optional[str] = None):
    """A `vpclab lab VERB NN [-l NAME] [--json]` command."""
    def wrap(f):
        f = click.argument("number", metavar="NN")(exercise_lab_option(json_option(f)))
        epilog = "\b\nExamples:\n" + "\n".join(f"  sudo vpclab lab {verb} {e}" for e in examples)
        return lab_group.command(verb, short_help=short_help, epilog=epilog)(f)
    return wrap


def build_exercise(verb: str, number: str, name: Optional[str], as_json: bool) -> None:
    from ..exercises import catalog, session

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


@exercise_command("check", "03", "03 --json", "03 --no-hints   # exam mode",
                  short_help="Grade the live lab: a checklist.")
@click.option("--no-hints", "no_hints", is_flag=True,
              help="Exam mode: pass or fail per item, without what the lab shows, hints or commands.")
def lab_check(number, name, as_json, no_hints):
    """Grade the live lab: a checklist; exit 0 when every item holds, 1 otherwise."""
    from ..exercises import catalog, session

    doc = session.check(catalog.find(number), name, with_hints=not no_hints)

    def human():
        c = console()
        c.print(f"[bold]Exercise {doc['exercise']}: {doc['title']}[/] (lab {doc['lab']})"
                + (" [dim]exam mode: no hints[/]" if no_hints else ""))
        for it in doc["items"]:
            mark = "[bold green]\u2714[/]" if it["ok"] else "[bold red]\u2718[/]"
            c.print(f" {mark} {it['title']}")
            if not it["ok"] and not no_hints:
                c.print(f"     [dim]got:[/] {it['got']}")
                c.print(f"     [yellow]hint:[/] {it['hint']}")
        colour = "green" if not doc["failed"] else "red"
        c.print(f"[bold {colour}]{doc['passed']} of {len(doc['items'])} hold[/]"
                + (": solved" if not doc["failed"] else ""))

    emit(doc, as_json, human)
    if doc["failed"]:
        sys.exit(ExpectationFailed.exit_code)


@exercise_command("hint", "03", short_help="The next hint for the first failing item.")
def lab_hint(number, name, as_json):
    """The next hint for the first item that does not hold yet (each call goes one hint further)."""
    from ..exercises import catalog, session

    doc = session.hint(catalog.find(number), name)
    emit(doc, as_json, lambda: click.echo(
        "every item holds: nothing to hint" if doc["solved"] else
        f"{doc['title']}: {doc['got']}\nhint {doc['number']} of {doc['of']}: {doc['hint']}"))


COMMANDS = [lab_group]
