"""`vpclab clock`: the lab clock, which pending peerings expire by."""
from __future__ import annotations

import click

from ..errors import Refused
from .options import json_option, lab_option
from .output import emit


@click.group()
def clock():
    """The lab clock (pending peerings expire after 7 days of it)."""


@clock.command("advance", short_help="Move the lab clock forward; due expiries happen.")
@click.argument("duration")
@lab_option
@json_option
def clock_advance(duration, lab, as_json):
    """Move the lab clock forward, e.g. `8d`, `36h`; due expiries happen."""
    from ..controller import operate, static, status
    from ..model.units import format_duration, parse_duration

    try:
        seconds = parse_duration(duration)
    except ValueError as e:
        raise Refused(str(e), code="InvalidParameterValue")
    expired = operate.clock_advance(lab, seconds)
    clock_now = static.model_for(lab, load=status.load_model).clock
    emit({"clock": clock_now, "expired": [p.name for p in expired]}, as_json, lambda: click.echo(
        f"lab clock at {format_duration(clock_now)}" + (f"; expired: {', '.join(p.name for p in expired)}"
                                                        if expired else "")))


COMMANDS = [clock]
