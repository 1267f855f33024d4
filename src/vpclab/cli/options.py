"""The options every command group shares, and the command line's own argument checks.

`--json`, `-l/--lab`, `--proto/--port`; a lab named explicitly but empty, a bandwidth,
`exec`'s split between vpclab's options and the command it runs, and click's usage
errors as refusals with a parameter code.
"""
from __future__ import annotations

from typing import Optional

import click

from ..errors import SHOWN, Refused, shown
from ..model.units import NumberError, parse_whole


class Whole(click.ParamType):
    """A whole number lo..hi on the command line, read by the one bounded parser (model.units):
    a 5,000-digit value, '²' or '-1' is a usage error (InvalidParameterValue), never a crash."""

    name = "integer"

    def __init__(self, lo: Optional[int] = None, hi: Optional[int] = None):
        self.lo, self.hi = lo, hi

    def convert(self, value, param, ctx):
        try:
            return parse_whole(value.strip() if isinstance(value, str) else value, "the value", self.lo, self.hi)
        except NumberError as e:
            self.fail(str(e), param, ctx)

    def __repr__(self) -> str:
        return f"Whole({self.lo}, {self.hi})"


def explicit_lab(ctx, param, value):
    """Every lab option and argument: an explicitly empty name is refused, never taken as
    "the only lab running" (a script's unset `$LAB` must not reach someone else's lab)."""
    what = param.opts[-1] if isinstance(param, click.Option) else param.human_readable_name
    for v in value if isinstance(value, tuple) else (value,):
        refuse_empty_lab(v, what)
    return value


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
lab_option = click.option("-l", "--lab", "lab", metavar="LAB", callback=explicit_lab,
                          help="The lab (may be left out when one runs).")


def proto_options(f):
    f = click.option("--port", type=Whole(1, 65535), help="Destination port (tcp/udp).")(f)
    f = click.option("--proto", type=click.Choice(["icmp", "tcp", "udp"]), default="icmp", show_default=True)(f)
    return f


def every_lab(ctx, param, value):
    """explicit_lab for `cleanup [LAB]...`, where leaving LAB out means every lab (not "the one running")."""
    for v in value:
        refuse_empty_lab(v, "LAB", "to clean up after every lab")
    return value


def refuse_empty_lab(value: Optional[str], what: str, left_out: str = "when one lab runs") -> None:
    if value is not None and not value.strip():
        raise Refused(f"{what} is empty: name a lab, or leave {what} out {left_out}",
                      code="InvalidParameterValue", hint="an unset shell variable? `vpclab ls` lists the labs")


def exec_arguments(cmd, lab):
    """(CMD, lab) from what follows INSTANCE: `[-l LAB] -- CMD...` or just `CMD...`."""
    if not cmd or not cmd[0].startswith("-"):
        return cmd, lab
    if "--" not in cmd:
        raise Refused(f"CMD starts with an option ({shown(cmd[0])})", code="UnknownParameter",
                      hint="vpclab exec [-l LAB] INSTANCE [-l LAB] -- CMD [ARGS]...: vpclab's options go before --")
    end = cmd.index("--")
    head, argv = cmd[:end], cmd[end + 1:]
    while head:
        opt = head.pop(0)
        name, eq, value = opt.partition("=")
        if name in ("-l", "--lab") and (eq or head):
            lab = value if eq else head.pop(0)
        elif opt.startswith("-l") and not opt.startswith("--"):
            lab = opt[2:]
        else:
            raise Refused(f"vpclab exec has no option {shown(opt)} (its options: -l/--lab)", code="UnknownParameter",
                          hint="vpclab's options go before --, the command and its options after it")
        refuse_empty_lab(lab, "--lab")
    return argv, lab


def usage_error(e: click.ClickException, as_json: bool) -> Refused:
    """A click usage error as a refusal with a parameter code; the message quotes at most a short value."""
    for kind, code in ((click.MissingParameter, "MissingParameter"), (click.NoSuchOption, "UnknownParameter"),
                       (click.BadParameter, "InvalidParameterValue")):
        if isinstance(e, kind):
            break
    else:
        code = "InvalidParameter"
    message = " ".join(e.format_message().split())  # click lists choices on lines of their own
    return Refused(shown(message, 4 * SHOWN), code=code, hint="see --help" if as_json else None)
