"""How `vpclab status` prints a lab: its VPCs, instances, peerings, routes, the kernel's
names for them, and the filters, public addresses and the Internet when it has them.

The table of kernel names is what `ip rule` and `ip route` call things: inside a VPC
router (`vpclab exec vpc-a -- ip rule`), a subnet is a `from CIDR lookup N` rule and a
peering an `iif NAME lookup 90` rule over a veth of that NAME; the table maps each back
to the subnet or peering it stands for. `peering list` and `route list` print their
rows as `status` does.
"""
from __future__ import annotations

import click

from ...controller.status import uses_v2
from ...model.units import format_duration
from ..output import table

STATE_COLOURS = {"ACTIVE": "green", "PENDING": "yellow", "active": "green", "blackhole": "red",
                 "enabled": "green", "disabled": "red"}


def render(s: dict) -> None:
    click.echo(f"lab {s['lab']} ({s['status']}), lab clock {format_duration(s['clock'])}")
    if s.get("pending"):  # `applying`: a killed operation whose repair failed
        op = " ".join(str(x) for x in s["pending"].values() if x)
        click.echo(f"`{op}` is not in the kernel yet and could not be finished: shown is the lab before it; "
                   "the next command retries, `vpclab up FILE` repairs the lab")
    table("VPCs", ["vpc", "account", "region", "cidr", "subnets", "namespace"],
          [[v["name"], v["account"], v["region"], v["cidr"],
            ", ".join(f"{x['name']} {x['cidr']} ({x['route_table']})" for x in v["subnets"]), v["namespace"]]
           for v in s["vpcs"]])
    table("Instances", ["instance", "kind", "ip", "port", "router interface"],
          [[f"{v['name']}/{i['name']}", i["kind"], i["ip"], i["port"], i["interface"]]
           for v in s["vpcs"] for i in v["instances"]])
    render_peerings(s["peerings"])
    if s.get("ccns"):  # version 3
        render_ccns(s["ccns"])
        render_ccn_routes(s["ccn_routes"])
    render_routes(s["routes"])
    table("Kernel names (ip rule / ip route in the VPC routers)", ["object", "interfaces", "in ip rule"],
          kernel_rows(s))
    render_filters(s)


def render_peerings(rows):
    if not rows:
        click.echo("no peerings")
        return
    table("Peerings", ["id", "vpc", "peer_vpc", "state", "bandwidth", "created", "expires"],
          [[r["id"], r["vpc"], r["peer_vpc"], f"[{STATE_COLOURS.get(r['state'], 'dim')}]{r['state']}[/]",
            f"{r['bandwidth_mbps']} Mbps" if r["bandwidth_mbps"] is not None else "no cap",
            f"{format_duration(r['age_s'])} ago", _expires(r)] for r in rows])


def _expires(r: dict) -> str:
    """When a peering expires, by the lab clock: `in 6d23h` (PENDING), `1d ago` (passed), `-`."""
    left = r.get("expires_in_s")
    if left is None:
        return "-"
    return f"in {format_duration(left)}" if left > 0 else f"{format_duration(-left)} ago"


def render_routes(rows):
    if not rows:
        click.echo("no routes")
        return
    table("Routes", ["vpc", "table", "destination", "next hop", "state"],
          [[r["vpc"], r["table"], r["destination"], r["next_hop"] + (" (CCN)" if r.get("type") == "CCN" else ""),
            f"[{STATE_COLOURS.get(r['state'], 'dim')}]{r['state']}[/]" + (f": {r['why']}" if r.get("why") else "")]
           for r in rows])


def render_ccns(rows):
    """`ccn list` and status: each CCN with its attachments and the caps of its region pairs."""
    if not rows:
        click.echo("no CCNs")
        return
    table("CCNs", ["id", "account", "attachments (in attach order)", "region pairs"],
          [[c["id"], c["account"],
            ", ".join(f"{a['vpc']} [{STATE_COLOURS.get(a['state'], 'dim')}]{a['state']}[/]" for a in c["attachments"])
            or "none",
            ", ".join(f"{p['regions'][0]} <-> {p['regions'][1]} {_mbps(p['mbps'])}" for p in c["region_pairs"])
            or "one region: uncapped"] for c in rows])


def _mbps(m: float) -> str:
    return f"{m / 1000:g} Gbps" if m >= 1000 else f"{m:g} Mbps"


def render_ccn_routes(rows):
    """A CCN's route table; a disabled route says why."""
    if not rows:
        click.echo("no CCN routes")
        return
    table("CCN routes", ["ccn", "id", "destination", "vpc", "region", "state"],
          [[r["ccn"], r["id"], r["destination"], r["vpc"], r["region"],
            f"[{STATE_COLOURS[r['state']]}]{r['state']}[/]" + (f": {r['why']}" if r["why"] else "")] for r in rows])


def kernel_rows(s: dict) -> list:
    rows = []
    for v in s["vpcs"]:
        for sub in v["subnets"]:
            rows.append([f"subnet {v['name']}/{sub['name']}", ", ".join(sub["interfaces"]) or "-",
                         f"{v['name']}: {sub['rule_priority']}: {sub['rule']} (route table {sub['route_table']})"])
    for p in s["peerings"]:
        ends = ", ".join(f"{vpc} {addr}" for vpc, addr in p["addresses"].items())
        if p["in_kernel"]:
            where = f"{p['vpc']} and {p['peer_vpc']}: {p['rule_priority']}: {p['rule']}; link {ends}"
        else:
            where = f"not in the kernel while {p['state']} (routes through it are blackholes)"
        rows.append([f"peering {p['id']}", p["interface"], where])
    return rows


def render_filters(s: dict) -> None:
    """The Internet, public addresses, filters and their rules, for a lab that has any."""
    if not uses_v2(s):
        return
    net = s.get("internet")
    if net is not None:
        table(f"Internet {net['cidr']}", ["host", "ip", "ports"],
              [[h["ref"], h["ip"], ", ".join(map(str, h["ports"])) or "icmp only"] for h in net["hosts"]])
    public = ([[v["name"], f"{v['name']}/{i['name']}", i["eip"]] for v in s["vpcs"] for i in v["instances"]
               if i["eip"]]
              + [[v["name"], f"{n['name']} (NAT gateway)", n["eip"]] for v in s["vpcs"] for n in v["nat_gateways"]])
    if public:
        table("Public addresses", ["vpc", "what", "eip"], public)
    filters = ([[v["name"], i["name"], ", ".join(i["security_groups"])] for v in s["vpcs"] for i in v["instances"]
                if i["security_groups"]]
               + [[v["name"], f"subnet {x['name']}", f"acl {x['network_acl']}"] for v in s["vpcs"]
                  for x in v["subnets"] if x.get("network_acl")])
    if filters:
        table("Filters", ["vpc", "instance / subnet", "security groups / network ACL"], filters)
    rows = []
    for v in s["vpcs"]:
        for kind, items, dirs in (("sg", v["security_groups"], ("ingress", "egress")),
                                  ("acl", v["network_acls"], ("inbound", "outbound"))):
            for g in items:
                for d in dirs:
                    for r in g[d] or [None]:
                        if r is None:
                            rows.append([f"{kind} {v['name']}/{g['name']}", d, "-", "(no rules: drops all)", "", "",
                                         ""])
                            continue
                        peer = r.get("source", r.get("destination"))
                        rows.append([f"{kind} {v['name']}/{g['name']}", d, r["index"], r["proto"], r["port"],
                                     peer, r["action"]])
    if rows:
        table("Rules", ["group / acl", "direction", "#", "proto", "port", "source / destination", "action"], rows)
