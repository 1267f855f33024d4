"""`vpclab usage`: what each peering carried per lab day, its billed bandwidth and cost.

The work is in controller/usage.py (and usage/: meter, report, plot).
"""
from __future__ import annotations

import click

from .options import json_option, lab_option
from .output import emit, plural, table

EPILOG = """
\b
Examples:
  sudo vpclab usage                        # per peering and lab day: bytes, peak, p95, payer
  sudo vpclab usage --prices prices.yaml   # adds the cost and the totals per paying account
  sudo vpclab usage -l demo --json
  sudo vpclab usage --plot usage.png       # rate over lab time, the cap, each day's peak
\b
A price file (YAML; the topology's billing: key takes the same keys):
  currency: CNY
  prices:                                  # per Mbps-day, per region pair (either order)
    ap-guangzhou/ap-singapore: 1.5
  charge_types:                            # per peering, default POSTPAID_BY_DAY_MAX
    pcx-ab: POSTPAID_BY_MONTH_95
\b
The meter samples every 5 minutes like the cloud; a lab may sample faster with
`billing: {window: 10s}` in its topology. A billing day is a day of lab time:
real time since `up` plus every `vpclab clock advance`.
"""


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f}"


@click.command("usage", short_help="Peering and CCN usage and cost per lab day.", epilog=EPILOG)
@lab_option
@click.option("--prices", "prices_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Prices per Mbps-day per region pair (YAML); adds a cost column and totals.")
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False), metavar="FILE.png",
              help="Also draw the rate over lab time per peering (needs matplotlib: vpclab[plot]).")
@json_option
def usage_command(lab, prices_file, plot_file, as_json):
    """Peering usage per lab day: bytes each way, peak and 95th percentile, payer, cost.

    Cross-region peerings are billed to the requester VPC's account: by the day's
    peak (POSTPAID_BY_DAY_MAX, the default: the highest outbound plus the highest
    inbound window rate, in Mbps, times the price per Mbps-day) or by the month's
    95th percentile (POSTPAID_BY_MONTH_95). Regional peerings are listed as free.
    A CCN's traffic between two regions is billed to the CCN's account by the month's
    95th percentile of max(out, in) per window, times the valid days (a sample above
    10 Kbps) and the pair's price per Mbps-day; inside one region it is free.
    """
    from ..controller import outfiles, usage

    if plot_file:  # refused at once, with the message every output path has (outfiles)
        outfiles.check_writable(plot_file, "the plot")
    doc, series = usage.usage(lab, prices_file)
    if plot_file:
        doc["plot"] = usage.draw(doc, series, plot_file)
    emit(doc, as_json, lambda: _human(doc))


def _human(doc: dict) -> None:
    from ..errors import shown

    cur = shown(doc["currency"] or "", 16)  # checked where it is read; a damaged state still prints escaped
    rows = []
    for p in doc["peerings"]:
        who = f"{p['vpc']}->{p['peer_vpc']}"
        if not p["days"]:
            rows.append([p["id"], who, "-", "", "", "", "", "", p["payer"], "free" if p["free"] else ""])
            continue
        for d in p["days"]:
            if p["free"]:
                cost = "free"
            elif d["cost"] is not None:
                cost = f"{d['cost']:.2f} {cur}".strip()
            elif p["charge_type"] == "POSTPAID_BY_MONTH_95" and doc["priced"]:
                cost = "(monthly)"
            else:
                cost = ""
            rows.append([p["id"], who, d["day"], _mb(d["out_bytes"]), _mb(d["in_bytes"]),
                         f"{d['peak_mbps']:.2f}", f"{d['p95_mbps']:.2f}",
                         "-" if d["cap_mbps"] is None else d["cap_mbps"], p["payer"], cost])
        for m in p["months"]:
            rows.append([p["id"], who, f"month {m['month']}", "", "", "", f"{m['p95_mbps']:.2f}", "", p["payer"],
                         f"{m['cost']:.2f} {cur}".strip() if m["cost"] is not None else ""])
    columns = ["peering", "vpcs", "day", "out MB", "in MB", "peak Mbps", "p95 Mbps", "cap Mbps", "payer",
               "cost" if doc["priced"] else ""]
    table(f"lab {doc['lab']}: usage per lab day ({doc['window_s']:g} s windows, {plural(doc['samples'], 'sample')})",
          columns, rows)
    if doc.get("ccns"):
        _ccns(doc, cur)
    if doc["note"]:
        click.echo(doc["note"])
    for t in doc["totals"]:
        click.echo(f"total {t['account']}: {t['cost']:.2f} {cur}".rstrip())
    if not doc.get("metering") and (any(p.get("cross_region") for p in doc["peerings"]) or doc.get("ccns")):
        click.echo("warning: the meter of this lab is not running (`vpclab up FILE` starts it again)", err=True)
    elif not doc.get("metering") and doc["peerings"]:
        click.echo("note: every peering of this lab is regional, so free: no meter runs (a `billing:` "
                   "section in the topology meters them anyway)")
    if doc.get("plot"):
        click.echo(f"plot: {doc['plot']['file']}")


def _ccns(doc: dict, cur: str) -> None:
    """Per CCN region pair: each day (bytes, the peak of max(out, in), valid), then each month's p95 and cost."""
    rows = []
    for c in doc["ccns"]:
        pair = "<->".join(c["regions"])
        caps = "/".join("-" if x is None else f"{x:g}" for x in c["cap_mbps"])
        if not c["days"]:
            rows.append([c["ccn"], pair, "-", "", "", "", "", caps, c["payer"], ""])
        for d in c["days"]:
            rows.append([c["ccn"], pair, d["day"], _mb(d["bytes_out"]), _mb(d["bytes_in"]), f"{d['peak_mbps']:.2f}",
                         "yes" if d["valid"] else "no", caps, c["payer"], ""])
        for m in c["months"]:
            rows.append([c["ccn"], pair, f"month {m['month']}", "", "", f"p95 {m['p95_mbps']:.2f}",
                         f"{m['valid_days']}/{m['days']}", caps, c["payer"],
                         f"{m['cost']:.2f} {cur}".strip() if m["cost"] is not None else ""])
    table("CCN inter-region traffic (billed by the month's 95th percentile of max(out, in) per window)",
          ["ccn", "regions", "day", "out MB", "in MB", "peak Mbps", "valid day", "cap Mbps", "payer",
           "cost" if doc["priced"] else ""], rows)


COMMANDS = [usage_command]
