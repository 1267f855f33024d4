"""How `explain` and `probe` print a verdict: the result, each leg's path (or, for a probe,
the packets it saw), the reason with the filter rule that decided it, the source seen."""
from __future__ import annotations

from ..output import console
from . import evidence

COLOURS = {"reachable": "green", "no-return": "yellow", "unreachable": "red", "inconclusive": "magenta"}


def render_verdict(doc: dict, how: str) -> None:
    c = console()
    colour = COLOURS.get(doc["result"], "white")
    what = doc["proto"] + (f"/{doc['port']}" if doc.get("port") else "")
    rtt = f"  rtt {doc['rtt_ms']:.2f} ms" if doc.get("rtt_ms") is not None else ""
    c.print(f"{doc['src']} -> {doc['dst']} ({what}): [bold {colour}]{doc['result']}[/]{rtt}  [dim]({how})[/]")
    for leg, label in (("forward", "request"), ("return", "reply  ")) if "evidence" not in doc else ():
        l = doc[leg]
        if not l["path"]:
            c.print(f"  {label}: [dim]not sent[/]")
            continue
        mark = "[green]delivered[/]" if l["delivered"] else f"[red]lost after {l['last_hop']}[/]"
        c.print(f"  {label}: {' -> '.join(l['path'])}  {mark}")
    # a probe shows what the packets did, not a path; and names the seen source once
    said = evidence.render(c, doc) if "evidence" in doc else False
    r = doc.get("reason") or {}
    if r.get("code"):
        table_ = f", table {r['table']}" if r.get("table") else ""
        c.print(f"  reason: [bold]{r['code']}[/] at {r['where']}{table_}: {r['detail']}")
    elif doc["result"] == "inconclusive":
        c.print(f"[bold magenta]  INCONCLUSIVE[/]: {r.get('detail')}")
    render_filter_reason(c, doc, seen_said=said)
    n = doc.get("note")
    if n:
        c.print(f"  note: {n['code']}: {n['detail']}")
    m = doc.get("mismatch")
    if m:
        c.print(f"[bold red]  MISMATCH: {m}[/]")
    if doc.get("pcap"):  # last: not between the packets and the verdict's reason
        c.print(evidence.pcap_line(doc))


def render_filter_reason(c, doc: dict, seen_said: bool = False) -> None:
    """The filter that dropped it (group/acl, direction, rule) and the source the destination saw
    (unless a probe's lines above said it: `seen_said`)."""
    r = doc.get("reason") or {}
    owner = r.get("group") or r.get("acl")
    if owner is not None:
        kind = "security group" if "group" in r else "network ACL"
        rule = "no rule matched" if r.get("rule") is None else f"rule {r['rule']}"
        c.print(f"  filter: {kind} {owner}, {r.get('direction')}, {rule}")
    if doc.get("seen_source") and not seen_said:
        c.print(f"  seen source: {doc['seen_source']}")
