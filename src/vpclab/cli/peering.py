"""`vpclab peering`: peering connections and their lifecycle (create, accept, reject, delete,
modify, list), each a live operation on the running lab."""
from __future__ import annotations

import click

from . import notes
from ..model.units import bandwidth_kbps
from .options import json_option, lab_option
from .output import emit


@click.group(short_help="Peering connections and their lifecycle.",
             epilog="\b\nExamples:\n  sudo vpclab peering create --vpc vpc-a --peer-vpc vpc-c --as alice\n"
                    "  sudo vpclab peering accept pcx-1a2b3c4d --as bob\n  sudo vpclab peering list")
def peering():
    """Peering connections: create, accept, reject, delete, modify, list."""


@peering.command("create", short_help="Request a peering (PENDING across accounts).")
@click.option("--vpc", required=True, help="The requester VPC.")
@click.option("--peer-vpc", required=True, help="The accepter VPC.")
@click.option("--bandwidth", help="Cross-region cap, 1Mbps..10Gbps (e.g. 100Mbps).")
@click.option("--name", help="The peering id (default: pcx- and 8 random characters).")
@click.option("--as", "account", help="Acting account (default: the requester VPC's).")
@lab_option
@json_option
def peering_create(vpc, peer_vpc, bandwidth, name, account, lab, as_json):
    """Request a peering; same account: ACTIVE at once, across accounts: PENDING."""
    from ..controller import operate, static, status

    p = operate.peering_create(lab, vpc, peer_vpc, bandwidth_kbps(bandwidth), name, account)
    note = notes.pending_peering(static.model_for(lab, load=status.load_model), p.name)
    if note:
        click.echo(note, err=True)
    emit({"id": p.name, "state": p.state}, as_json, lambda: click.echo(p.name))


ACCOUNT_HELP = {"accept": "Acting account (default: the accepter VPC's, the one entitled to accept).",
                "reject": "Acting account (default: the accepter VPC's, the one entitled to reject).",
                "delete": "Acting account (default: the requester VPC's)."}


def _event_command(event: str, doc: str, short_help=None):
    @click.argument("id")
    @click.option("--as", "account", help=ACCOUNT_HELP[event])
    @lab_option
    @json_option
    def cmd(id, account, lab, as_json):
        from ..controller import operate

        p = operate.peering_event(lab, event, id, account)
        emit({"id": p.name, "state": p.state}, as_json, lambda: click.echo(f"{p.name} {p.state}"))

    cmd.__doc__ = doc
    return peering.command(event, short_help=short_help)(cmd)


_event_command("accept", "Accept a PENDING peering (the accepter's account only).")
_event_command("reject", "Reject a PENDING peering (the accepter's account only).")
_event_command("delete", "Delete a PENDING or ACTIVE peering (either account); its routes become blackholes.",
               short_help="Delete a PENDING or ACTIVE peering.")


@peering.command("modify")
@click.argument("id")
@click.option("--bandwidth", required=True, help="New cross-region cap, e.g. 50Mbps.")
@click.option("--as", "account", help="Acting account (default: the requester VPC's).")
@lab_option
@json_option
def peering_modify(id, bandwidth, account, lab, as_json):
    """Re-cap a cross-region peering live (the link stays up)."""
    from ..controller import operate

    p = operate.peering_modify(lab, id, bandwidth_kbps(bandwidth), account)
    emit({"id": p.name, "state": p.state, "bandwidth_mbps": p.bandwidth_mbps}, as_json,
         lambda: click.echo(f"{p.name} {p.state} {p.bandwidth_mbps} Mbps"))


@peering.command("list")
@lab_option
@json_option
def peering_list(lab, as_json):
    """Every peering, terminal ones too, with lab-clock times."""
    from ..controller import static, status
    from .render.status import render_peerings

    rows = status.peering_rows(static.model_for(lab, load=status.load_model))
    emit({"peerings": rows}, as_json, lambda: render_peerings(rows))


COMMANDS = [peering]
