"""`vpclab route`: a VPC's route tables, live (add, del, list)."""
from __future__ import annotations

import click

from ..errors import Refused
from . import notes
from .options import json_option, lab_option
from .output import emit, warn


@click.group(short_help="Route tables: add, del, list.",
             epilog="\b\nExamples:\n  sudo vpclab route add vpc-b --destination 10.0.0.0/16 --next-hop pcx-ab\n"
                    "  sudo vpclab route add vpc-a --destination 0.0.0.0/0 --next-hop nat-a --table nat\n"
                    "  sudo vpclab route list vpc-b")
def route():
    """Route tables: add, del, list.

    A route's next hop is a peering of the VPC (the destination inside the peer VPC's CIDR;
    a route via a peering that is not ACTIVE is a blackhole) or a NAT gateway of the VPC
    (any destination not inside the VPC's own CIDR, e.g. 0.0.0.0/0 for the Internet).
    """


def _route_options(f):
    f = click.option("--table", default="default", show_default=True, help="The VPC's route table.")(f)
    f = click.option("--next-hop", help="A peering of the VPC, or a NAT gateway of the VPC.")(f)
    f = click.option("--destination", required=True,
                     help="A CIDR: inside the peer VPC's CIDR for a peering; for a NAT gateway, any CIDR not "
                          "inside the VPC's own (0.0.0.0/0: the Internet).")(f)
    return f


@route.command("add")
@click.argument("vpc")
@_route_options
@lab_option
@json_option
def route_add(vpc, destination, next_hop, table, lab, as_json):
    """Add a route to VPC's table, live."""
    from ..controller import operate, static, status

    if not next_hop:
        raise Refused("route add needs --next-hop (a peering or NAT gateway of the VPC)", code="MissingParameter")
    r = operate.route_add(lab, vpc, destination, next_hop, table)
    model = static.model_for(lab, load=status.load_model)
    note = notes.blackhole_route(model, vpc, table, str(r.destination), r.next_hop)
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
    from ..controller import operate

    r = operate.route_del(lab, vpc, destination, next_hop, table)
    emit({"vpc": vpc, "table": table, "destination": str(r.destination), "next_hop": r.next_hop, "deleted": True},
         as_json, lambda: click.echo(f"{vpc}/{table}: {r.destination} via {r.next_hop} deleted"))


@route.command("list")
@click.argument("vpc", required=False)
@lab_option
@json_option
def route_list(vpc, lab, as_json):
    """Routes with state active / blackhole."""
    from ..controller import static, status
    from .render.status import render_routes

    rows = status.route_rows(static.model_for(lab, load=status.load_model), vpc)
    emit({"routes": rows}, as_json, lambda: render_routes(rows))


COMMANDS = [route]
