"""The help and the tables say what the tool does today (issue 22, "The help text is behind"):
`route add` takes a NAT gateway as next hop, an empty `route list` is not about peerings only,
no command summary is cut at an abbreviation, the rules table has one header per column, and
a peering's age follows the lab clock."""
from __future__ import annotations

from pathlib import Path

import click
from click.testing import CliRunner

from vpclab.cli.main import cli
from vpclab.controller import static
from vpclab.controller.status import peering_rows
from vpclab.model import lifecycle
from vpclab.model.units import parse_duration

TOPOLOGIES = Path(__file__).resolve().parents[3] / "topologies"


def _help(*path: str) -> str:
    r = CliRunner().invoke(cli, list(path) + ["--help"], terminal_width=200)
    assert r.exit_code == 0, r.output
    return " ".join(r.output.split())


def test_route_add_help_says_a_nat_gateway_is_a_next_hop():
    """`0.0.0.0/0 --next-hop nat-a` is accepted (06-internet-vs-peering.yaml has it), so the help says so."""
    model = static.validate(str(TOPOLOGIES / "06-internet-vs-peering.yaml"))
    lifecycle.del_route(model, "vpc-a", "0.0.0.0/0", "nat-a", "nat")
    r = lifecycle.add_route(model, "vpc-a", "0.0.0.0/0", "nat-a", "nat")  # accepted: no refusal
    assert str(r.destination) == "0.0.0.0/0"
    out = _help("route", "add")
    assert "NAT gateway" in out and "0.0.0.0/0" in out
    assert "A CIDR inside the peer VPC." not in out and "A peering of the VPC." not in out


def _short_helps(cmd, path=()):
    for name, sub in getattr(cmd, "commands", {}).items():
        yield path + (name,), sub.get_short_help_str(limit=10_000)
        yield from _short_helps(sub, path + (name,))


def test_no_short_help_is_cut_at_an_abbreviation():
    """click cuts a summary at its first '. ': `clock advance` read "Move the lab clock forward, e.g."."""
    cut = [" ".join(p) + ": " + s for p, s in _short_helps(cli)
           if s.endswith(("e.g.", "i.e.", "vs.", "etc.")) or s.endswith("...")]
    assert cut == []
    assert "advance Move the lab clock forward; due expiries happen." in _help("clock")


def test_an_empty_route_list_says_no_routes(capsys):
    from vpclab.cli.render.status import render_routes

    render_routes([])
    assert capsys.readouterr().out == "no routes\n"  # NAT gateway routes are listed too: not "no peering routes"


def test_the_rules_table_has_one_header_per_column(capsys):
    from vpclab.cli.render.status import render_filters

    rule = {"index": 0, "proto": "tcp", "port": "80", "source": "10.1.0.0/16", "action": "accept"}
    doc = {"internet": None, "vpcs": [{"name": "vpc-a", "instances": [], "subnets": [], "nat_gateways": [],
                                       "security_groups": [{"name": "sg-web", "ingress": [rule], "egress": []}],
                                       "network_acls": []}]}
    render_filters(doc)
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if "direction" in line)
    row = next(line for line in lines if "10.1.0.0/16" in line)
    assert "peer action" not in header
    # the action sits under its own header, the source under another
    assert row.index("accept") == header.index("action")
    assert row.index("10.1.0.0/16") == header.index("source / destination")


def test_a_peerings_age_follows_the_lab_clock(capsys):
    """`created` read `0s` after `clock advance 8d`: the lab-clock time of the creation, not the age."""
    from vpclab.cli.render.status import render_peerings

    model = static.validate(str(TOPOLOGIES / "05-cross-account.yaml"))
    lifecycle.advance_clock(model, parse_duration("36h"))
    row = next(r for r in peering_rows(model) if r["id"] == "pcx-alice-bob")  # PENDING: expires at 7d
    assert row["age_s"] == parse_duration("36h") and row["expires_in_s"] == parse_duration("5d12h")
    render_peerings([row])
    line = next(line for line in capsys.readouterr().out.splitlines() if "pcx-alice-bob" in line)
    assert "1d12h ago" in line and "in 5d12h" in line
    lifecycle.advance_clock(model, parse_duration("8d"))
    row = next(r for r in peering_rows(model) if r["id"] == "pcx-alice-bob")
    assert row["state"] == "EXPIRED" and row["age_s"] == parse_duration("9d12h")
    render_peerings([row])
    line = next(line for line in capsys.readouterr().out.splitlines() if "pcx-alice-bob" in line)
    assert "9d12h ago" in line
