"""How `vpclab sg rule list` and `vpclab acl rule list` print: one table per group or ACL, its
rules in order with the index `--index` takes, the rule as written, and its counter."""
from __future__ import annotations

import click

from ..output import table


def _count(c, key: str) -> str:
    return "-" if c is None else str(c[key])


def render(doc: dict) -> None:
    kind = doc["kind"]
    items = doc["groups" if kind == "sg" else "acls"]
    if not items:
        click.echo(f"no {'security groups' if kind == 'sg' else 'network ACLs'} in lab {doc['lab']}")
        return
    for it in items:
        places = it["instances"] if kind == "sg" else it["subnets"]
        where = (("carried by " if kind == "sg" else "bound to ") + ", ".join(places)) if places else \
            ("carried by no instance" if kind == "sg" else "bound to no subnet")
        title = f"{'security group' if kind == 'sg' else 'network ACL'} {it['ref']} ({where})"
        table(title, ["direction", "index", "rule", "packets", "bytes"],
              [[r["direction"], "-" if r["index"] is None else r["index"], r["text"],
                _count(r["counter"], "packets"), _count(r["counter"], "bytes")] for r in it["rules"]])
    if doc["counters_missing"]:
        click.echo(f"counters not shown: {doc['counters_missing']}", err=True)
