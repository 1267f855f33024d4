"""Tools around a lab: `exec` (a command inside an instance's or router's namespace) and
`doctor` (the kernel features and tools vpclab needs)."""
from __future__ import annotations

import click

from .options import exec_arguments, json_option, lab_option
from .output import emit, table


@click.command()
@json_option
def doctor(as_json):
    """Kernel features and tools found, and what degrades without them."""
    from ..controller import tools

    rows = tools.doctor()
    doc = {"checks": [{"name": n, "ok": ok, "without": why} for n, ok, why in rows]}
    emit(doc, as_json, lambda: table(None, ["check", "found", "without it"],
                                     [[n, "[green]ok[/]" if ok else "[red]missing[/]", "" if ok else why]
                                      for n, ok, why in rows]))


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
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
    from ..controller import tools

    argv, lab = exec_arguments(list(cmd), lab)
    tools.exec_in(instance, argv, lab)


COMMANDS = [doctor, exec]
