"""Answers from the model alone, no packets: `explain` (one question, hop by hop) and `diff`
(every question whose answer a change of topology changes)."""
from __future__ import annotations

import sys

import click

from ..errors import ExpectationFailed
from .options import json_option, lab_option, proto_options
from .output import emit, plural


@click.command(short_help="Can SRC reach DST, and can DST reply?",
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
    from ..controller import explaining
    from .render.verdict import render_verdict

    v = explaining.explain(src, dst, proto, port, file=file, lab=lab, load=None if file else _settled())
    emit(v.to_json(), as_json, lambda: render_verdict(v.to_json(), "explain"))


def _settled():
    """How a running lab's model is read: a live operation a kill interrupted is finished first."""
    from ..controller import settle

    return settle.load_model


@click.command("diff", short_help="What a topology change gains and loses.",
               epilog="\b\nExamples:\n  vpclab diff topologies/01-two-vpcs.yaml topologies/02-one-way-route.yaml\n"
                      "  vpclab diff -l demo new.yaml --json   # the running lab against a file\n"
                      "  git show HEAD:lab.yaml > /tmp/old.yaml && vpclab diff /tmp/old.yaml lab.yaml")
@click.argument("files", nargs=-1, metavar="OLD NEW")  # the loader checks the files
@lab_option
@json_option
def diff(files, lab, as_json):
    """Differential reachability: every pair and protocol whose verdict changes from OLD to NEW.

    ICMP and TCP on every service port of every ordered instance pair, answered
    from the models (no lab, no root), each change with the route or peering state
    that made it. Exit 1 when a change breaks an `expect:` entry of NEW.
    """
    from ..controller import files as topology_files

    doc = topology_files.diff(list(files), lab, load=_settled() if lab else None)
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
        click.echo(click.style("BROKEN", fg="red", bold=True) + f" {e.get('file') or doc['new']}:{e['line']}: expect {e['from']} -> "
                   f"{e['to']} {what} {e['expected']}: now {e['new']} (was {e['old'] or 'absent'})"
                   + (f": {e['reason']['code']}: {e['reason']['detail']}" if e["reason"].get("code") else ""))
    n = len(doc["changes"])
    click.echo(f"{plural(n, 'change')}: {doc['gained']} gained, {doc['lost']} lost, {doc['changed']} other "
               f"({doc['compared']} questions, {doc['explained']} re-explained, {doc['seconds']:.3f} s)"
               + (f"; {plural(len(doc['expectations']['broken']), 'expectation')} of {doc['new']} broken"
                  if doc["expectations"]["broken"] else ""))


COMMANDS = [explain, diff]
