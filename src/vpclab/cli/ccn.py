"""`vpclab ccn`: Cloud Connect Networks, live (create, delete, list, attach, detach, accept,
reject, route list|enable|disable, bandwidth). Each change is a live operation of the one
table (controller/operate.py): logged in `events`, refused with the cloud's code, and applied
to the routers whose routes it changes only."""
from __future__ import annotations

import click

from ..errors import Refused
from ..model.units import bandwidth_kbps
from .options import json_option, lab_option
from .output import emit

EPILOG = """\b
Examples:
  sudo vpclab ccn create ccn-core
  sudo vpclab ccn attach ccn-core vpc-a
  sudo vpclab ccn attach ccn-core partner-vpc --as bob      # another account's VPC: PENDING
  sudo vpclab ccn accept ccn-core partner-vpc --as alice    # the CCN's owner accepts: ACTIVE
  sudo vpclab ccn route list ccn-core
  sudo vpclab ccn route enable ccn-core 10.9.1.0/24@spoke-2
  sudo vpclab ccn bandwidth ccn-core ap-guangzhou ap-shanghai 200Mbps
  sudo vpclab ccn list"""


@click.group(short_help="Cloud Connect Networks: attach VPCs, routes, bandwidth.", epilog=EPILOG)
def ccn():
    """Cloud Connect Networks (CCN): the transitive alternative to peering.

    Every ACTIVE attachment reaches every other over the CCN's enabled routes. Each attached
    VPC publishes one route per subnet; a route identical to, inside or containing one of a VPC
    attached earlier comes in disabled (`ccn route list` says why). Another account's VPC is
    PENDING until the CCN's owner accepts it. Between two regions the CCN is capped (1 Gbps by
    default), inside one region it is not.
    """


def _attachment_doc(ccn_name: str, a) -> dict:
    return {"ccn": ccn_name, "vpc": a.vpc, "state": a.state, "publish": a.publish}


@ccn.command("create", short_help="Create a CCN (default id: ccn- and 8 characters).")
@click.argument("name", required=False)
@click.option("--as", "account", help="The owning account (default: the lab's first).")
@lab_option
@json_option
def ccn_create(name, account, lab, as_json):
    """Create a CCN, owned by ACCOUNT; at most 5 per account (LimitExceeded)."""
    from ..controller import operate

    c = operate.run(lab, "ccn create", name, account)
    emit({"id": c.name, "account": c.account}, as_json, lambda: click.echo(c.name))


@ccn.command("delete", short_help="Delete a CCN that has no attachment left.")
@click.argument("ccn_name", metavar="CCN")
@click.option("--as", "account", help="Acting account (default: the CCN's owner, the only one allowed).")
@lab_option
@json_option
def ccn_delete(ccn_name, account, lab, as_json):
    """Delete CCN; refused while VPCs are attached (ExistCcnInstancesNotSupportDeleteCcn)."""
    from ..controller import operate

    c = operate.run(lab, "ccn delete", ccn_name, account)
    emit({"id": c.name, "deleted": True}, as_json, lambda: click.echo(f"{c.name} deleted"))


@ccn.command("list", short_help="Every CCN, its attachments and caps.")
@lab_option
@json_option
def ccn_list(lab, as_json):
    """Every CCN: its attachments in attach order with their state, and its caps."""
    from ..controller import static, status
    from .render.status import render_ccns

    rows = status.ccn_rows(static.model_for(lab, load=status.load_model))
    emit({"ccns": rows}, as_json, lambda: render_ccns(rows))


def _vpc_command(event: str, doc: str, account_help: str, short_help: str, publish: bool = False):
    @click.argument("ccn_name", metavar="CCN")
    @click.argument("vpc")
    @click.option("--as", "account", help=account_help)
    @lab_option
    @json_option
    def cmd(ccn_name, vpc, account, lab, as_json, publish="subnets"):
        from ..controller import operate

        args = (ccn_name, vpc, account) + ((publish,) if event == "attach" else ())
        a = operate.run(lab, f"ccn {event}", *args)
        emit(_attachment_doc(ccn_name, a), as_json, lambda: click.echo(f"{ccn_name} {a.vpc} {a.state}"))

    cmd.__doc__ = doc
    if publish:
        cmd = click.option("--publish", type=click.Choice(["subnets", "vpc-cidr"]), default="subnets",
                           show_default=True, help="What the VPC publishes: one route per subnet, or its CIDR.")(cmd)
    return ccn.command(event, short_help=short_help)(cmd)


_vpc_command("attach", "Attach VPC to CCN: ACTIVE at once in the CCN's account, PENDING from another account "
             "until the CCN's owner accepts. Its routes come in after those of the VPCs attached before.",
             "Acting account (default: the VPC's, which asks).", "Attach a VPC (PENDING across accounts).",
             publish=True)
_vpc_command("detach", "Detach VPC from CCN: its routes leave the CCN and every route table it was delivered to.",
             "Acting account (default: the VPC's; the CCN's owner may too).", "Detach a VPC; its routes leave.")
_vpc_command("accept", "Accept another account's PENDING attachment (the CCN's owner only): ACTIVE.",
             "Acting account (default: the CCN's owner, the only one allowed).", "Accept a PENDING attachment.")
_vpc_command("reject", "Reject another account's PENDING attachment (the CCN's owner only): REJECTED.",
             "Acting account (default: the CCN's owner, the only one allowed).", "Reject a PENDING attachment.")


@ccn.group("route", short_help="The CCN's routes: list, enable, disable.")
def ccn_route():
    """The CCN's route table: one route per published subnet (or VPC CIDR), named
    DESTINATION@VPC; users cannot add or delete them, only enable or disable them."""


@ccn_route.command("list", short_help="The CCN's routes, disabled ones with why.")
@click.argument("ccn_name", metavar="[CCN]", required=False)
@lab_option
@json_option
def ccn_route_list(ccn_name, lab, as_json):
    """The routes of CCN (default: every CCN's), enabled or disabled and why."""
    from ..controller import static, status
    from .render.status import render_ccn_routes

    rows = status.ccn_route_rows(static.model_for(lab, load=status.load_model), ccn_name)
    emit({"routes": rows}, as_json, lambda: render_ccn_routes(rows))


def _route_command(event: str, doc: str, short_help: str):
    @click.argument("ccn_name", metavar="CCN")
    @click.argument("route", metavar="DESTINATION@VPC")
    @click.option("--as", "account", help="Acting account (default: the CCN's owner, the only one allowed).")
    @lab_option
    @json_option
    def cmd(ccn_name, route, account, lab, as_json):
        from ..controller import operate

        r = operate.run(lab, f"ccn route {event}", ccn_name, route, account)
        state = "enabled" if r.enabled else "disabled"
        emit({"ccn": r.ccn, "id": r.id, "route": r.key, "state": state, "why": r.why or None}, as_json,
             lambda: click.echo(f"{r.ccn} {r.key} {state}" + (f" ({r.why})" if r.why else "")))

    cmd.__doc__ = doc
    return ccn_route.command(event, short_help=short_help)(cmd)


_route_command("enable", "Enable a route that came in disabled; refused when an enabled route has the identical "
               "destination (UnsupportedOperation.CcnRouteCidrOverlap). For an inclusive overlap the longest "
               "prefix then decides.", "Enable a route that came in disabled.")
_route_command("disable", "Disable a route of the CCN: it leaves every route table it was delivered to.",
               "Disable a route of the CCN.")


@ccn.command("bandwidth", short_help="Cap the CCN between two regions.")
@click.argument("ccn_name", metavar="CCN")
@click.argument("region")
@click.argument("dst_region", metavar="REGION")
@click.argument("rate", metavar="RATE")
@click.option("--as", "account", help="Acting account (default: the CCN's owner, the only one allowed).")
@lab_option
@json_option
def ccn_bandwidth(ccn_name, region, dst_region, rate, account, lab, as_json):
    """Cap CCN between two regions, both ways, live: RATE 1Mbps..10Gbps (e.g. 200Mbps), or
    `default` (1 Gbps). Inside one region the CCN is uncapped."""
    from ..controller import operate

    kbps = None if rate == "default" else bandwidth_kbps(rate)
    if rate != "default" and kbps is None:
        raise Refused("RATE must be a bandwidth (e.g. 200Mbps) or `default`", code="InvalidParameterValue")
    c = operate.run(lab, "ccn bandwidth", ccn_name, region, dst_region, kbps, account)
    mbps = c.bandwidth_kbps(region, dst_region) / 1000
    emit({"ccn": c.name, "regions": [region, dst_region], "bandwidth_mbps": mbps}, as_json,
         lambda: click.echo(f"{c.name} {region} <-> {dst_region}: {mbps:g} Mbps"))


COMMANDS = [ccn]
