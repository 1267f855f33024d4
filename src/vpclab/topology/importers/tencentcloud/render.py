"""The converted topology as YAML (each object with its cloud id in a comment), validated by
the ordinary loader (importers/check.py): a broken cloud rule is reported with the id of the object that broke it."""
from __future__ import annotations

import json
import re
from typing import Dict, List, Tuple

import yaml

from ....errors import shown
from .estate import Out


def _scalar(v) -> str:
    """`v` as a YAML scalar: a plain word when it reads back as itself, else quoted (a value from
    the cloud never adds a line or a key to the topology)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ", ".join(_scalar(x) for x in v) + "]"
    if not isinstance(v, str):
        return json.dumps(v)
    plain = re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9./_@-]*", v) and yaml.safe_load(v) == v
    return v if plain else json.dumps(v, ensure_ascii=True)


def _flow(d: dict) -> str:
    return "{" + ", ".join(f"{k}: {_scalar(v)}" for k, v in d.items() if not k.startswith("_")) + "}"


def render(out: Out, lab: str, source: str) -> Tuple[str, Dict[int, str]]:
    """Block YAML; line -> the cloud id of the object written there."""
    lines: List[str] = []
    where: Dict[int, str] = {}

    def add(text: str, cloud_id: str = ""):
        lines.append(text + (f"  # {shown(cloud_id, 80)}" if cloud_id else ""))
        if cloud_id:
            where[len(lines)] = cloud_id

    ids = out.ids
    add(f"# Imported by `vpclab import tencentcloud` from {shown(source, 200)}")
    add("# Each object names the Tencent Cloud id it came from. Regenerate rather than edit: keep")
    add("# expectations in a file that includes this one.")
    add(f"lab: {lab}")
    add(f"accounts: {_scalar(out.accounts)}")
    add("regions:")
    for r in out.regions:
        add(f"  {_scalar(r)}: {{}}")
    if out.internet:
        add(f"internet: {{cidr: {out.internet}}}")
    add("vpcs:")
    for vname, v in out.vpcs.items():
        add(f"  {vname}:", ids.get(("vpc", vname), ""))
        for key in ("account", "region", "cidr"):
            add(f"    {key}: {_scalar(v[key])}")
        if v["subnets"]:
            add("    subnets:")
            for name, body in v["subnets"].items():
                add(f"      {name}: {_flow(body)}", ids.get(("subnet", vname, name), ""))
        if v["route_tables"]:
            add("    route_tables:")
            for name, body in v["route_tables"].items():
                add(f"      {name}:", ids.get(("table", vname, name), ""))
                add("        routes:" + ("" if body["routes"] else " []"))
                for route in body["routes"]:
                    add(f"          - {_flow(route)}", route.get("_id", ""))
        if v["security_groups"]:
            add("    security_groups:")
            for name, body in v["security_groups"].items():
                add(f"      {name}:", ids.get(("sg", vname, name), ""))
                for d in ("ingress", "egress"):
                    _rules(add, d, body[d])
        if v["network_acls"]:
            add("    network_acls:")
            for name, body in v["network_acls"].items():
                add(f"      {name}:", ids.get(("acl", vname, name), ""))
                add(f"        subnets: {_scalar(body['subnets'])}")
                for d in ("inbound", "outbound"):
                    _rules(add, d, body[d])
        if v["nat_gateways"]:
            add("    nat_gateways:")
            for name, body in v["nat_gateways"].items():
                add(f"      {name}: {_flow(body)}", ids.get(("nat", vname, name), ""))
        if v["instances"]:
            add("    instances:")
            for name, body in v["instances"].items():
                add(f"      {name}: {_flow(body)}", ids.get(("instance", vname, name), ""))
    if out.peerings:
        add("peerings:")
        for name, body in out.peerings.items():
            add(f"  {name}: {_flow(body)}", ids.get(("peering", name), ""))
    if out.ccns:
        add("ccns:")
        for name, body in out.ccns.items():
            add(f"  {name}:", ids.get(("ccn", name), ""))
            add(f"    account: {_scalar(body['account'])}")
            for key in ("attachments", "bandwidth_limits"):
                if body[key]:
                    add(f"    {key}:")
                    for item in body[key]:
                        add(f"      - {_flow(item)}", ids.get(("ccn-attach", name, item.get("vpc")), ""))
            for key in ("disabled_routes", "enabled_routes"):
                if body.get(key):
                    add(f"    {key}: {_scalar(body[key])}")
    return "\n".join(lines) + "\n", where


def _rules(add, direction: str, rules: List[dict]) -> None:
    add(f"        {direction}:" + ("" if rules else " []"))
    for r in rules:
        add(f"          - {_flow(r)}")
