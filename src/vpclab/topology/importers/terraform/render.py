"""Rendering the converted topology as YAML (each object with its Terraform address) and validating it."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple

import yaml

from ....errors import shown


@dataclass
class _Out:
    """The topology being built: plain data plus, per object, its Terraform address."""

    vpcs: Dict[str, dict] = field(default_factory=dict)
    peerings: Dict[str, dict] = field(default_factory=dict)
    ccns: Dict[str, dict] = field(default_factory=dict)  # name -> {account, attachments, bandwidth_limits}
    accounts: List[str] = field(default_factory=list)
    regions: List[str] = field(default_factory=list)
    where: Dict[Tuple, str] = field(default_factory=dict)  # (kind, names...) -> address
    internet: str = ""  # the lab's Internet range, when EIPs or NAT gateways need one


def _flow(d: dict) -> str:
    return "{" + ", ".join(f"{k}: {_list(v) if isinstance(v, list) else _scalar(v)}" for k, v in d.items()) + "}"


def _list(items: list) -> str:
    return "[" + ", ".join(_scalar(v) for v in items) + "]"


def _scalar(v) -> str:
    """`v` as a YAML scalar: a plain word when it reads back as itself, else quoted (a value from
    the file never adds a line or a key to the topology)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if not isinstance(v, str):
        return json.dumps(v)
    return v if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9./_-]*", v) and _reads_back(v) else json.dumps(v)


def _reads_back(word: str) -> bool:

    return yaml.safe_load(word) == word  # not `no`, `null`, `1.5`, ...


def render(out: _Out, lab: str, source: str, doc: dict) -> Tuple[str, Dict[int, str]]:
    """Block YAML with each object's Terraform address in a comment; line -> address."""
    lines: List[str] = []
    where: Dict[int, str] = {}

    def add(text: str, key=None):
        addr = out.where.get(key) if key else None
        lines.append(text + (f"  # {shown(addr, 200)}" if addr else ""))
        if addr:
            where[len(lines)] = addr

    version = doc.get("terraform_version")
    version = version if isinstance(version, str) and re.fullmatch(r"[\w.+-]{1,40}", version) else None
    add(f"# Imported by `vpclab import terraform` from {shown(Path(source).name, 80)}"
        + (f" (Terraform {version})" if version else ""))
    add("# Each object names the Terraform address it came from.")
    add(f"lab: {lab}")
    add(f"accounts: [{', '.join(_scalar(a) for a in out.accounts)}]")  # values from the file: quoted
    add("regions:")                                                      # unless plain words
    for r in out.regions:
        add(f"  {_scalar(r)}: {{}}")
    if out.internet:
        add("internet:")
        add(f"  cidr: {_scalar(out.internet)}    # every EIP and NAT address; add your hosts with their own "
            "addresses in it")
    add("vpcs:")
    for vname, v in out.vpcs.items():
        add(f"  {vname}:", ("vpc", vname))
        add(f"    account: {_scalar(v['account'])}", ("vpc", vname))
        add(f"    region: {_scalar(v['region'])}", ("vpc", vname))
        add(f"    cidr: {_scalar(v['cidr'])}", ("vpc", vname))
        for key, kind, dirs in (("security_groups", "sg", ("ingress", "egress")),
                                ("network_acls", "acl", ("inbound", "outbound"))):
            if v.get(key):
                add(f"    {key}:")
                for g, body in v[key].items():
                    add(f"      {g}:", (kind, vname, g))
                    if body.get("subnets") is not None:
                        add(f"        subnets: {_list(body['subnets'])}", (kind, vname, g))
                    for d in dirs:
                        add(f"        {d}:" + ("" if body[d] else " []"), (kind, vname, g))
                        for rule in body[d]:
                            add(f"          - {_flow(rule)}", (kind, vname, g))
        if v.get("nat_gateways"):
            add("    nat_gateways:")
            for n, body in v["nat_gateways"].items():
                add(f"      {n}: {_flow(body)}", ("nat", vname, n))
        if v["subnets"]:
            add("    subnets:")
            for s, body in v["subnets"].items():
                add(f"      {s}: {_flow(body)}", ("subnet", vname, s))
        if v["route_tables"]:
            add("    route_tables:")
            for t, body in v["route_tables"].items():
                add(f"      {t}:", ("table", vname, t))
                add("        routes:" + ("" if body["routes"] else " []"))
                for i, route in enumerate(body["routes"]):
                    add(f"          - {_flow(route)}", ("route", vname, t, i))
        if v["instances"]:
            add("    instances:")
            for i, body in v["instances"].items():
                add(f"      {i}: {_flow(body)}", ("instance", vname, i))
    if out.peerings:
        add("peerings:")
        for p, body in out.peerings.items():
            add(f"  {p}: {_flow(body)}", ("peering", p))
    if out.ccns:
        add("ccns:")
        for n, body in out.ccns.items():
            add(f"  {n}:", ("ccn", n))
            add(f"    account: {_scalar(body['account'])}", ("ccn", n))
            for key, kind, ref in (("attachments", "ccn-attach", "vpc"), ("bandwidth_limits", "ccn-limit", None)):
                if body[key]:
                    add(f"    {key}:")
                    for i, item in enumerate(body[key]):
                        add(f"      - {_flow(item)}", (kind, n, item[ref] if ref else i))
    return "\n".join(lines) + "\n", where
