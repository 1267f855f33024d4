"""How `vpclab probe` shows its packet evidence: timed observations, not a path.

`explain` prints the model's path (a -> b -> c). A probe prints what each capture
point really saw and when, one line per packet, then where the lost direction
stopped, e.g.:

      0.000 ms  vpc-a/cvm-1   tx eth0      echo-request 10.0.1.10 > 10.1.1.10
      0.210 ms  vpc-b/cvm-1   rx eth0      echo-request 10.0.1.10 > 10.1.1.10
      0.260 ms  vpc-b router  rx app       echo-reply   10.1.1.10 > 10.0.1.10
  stopped: vpc-b router: reply came in on app, never sent on (no route)
"""
from __future__ import annotations

from typing import List, Optional

WAY = {"tx": "[cyan]tx[/]", "rx": "[magenta]rx[/]"}


def place(e: dict) -> str:
    return f"{e['at']} router" if e.get("role") == "router" else e["at"]


def arrived(doc: dict, e: dict) -> str:
    """What became of a request seen arriving at the destination `e['at']` with source `e['src']`."""
    r = doc.get("reason") or {}
    if r.get("code") == "SECURITY_GROUP_DENY" and r.get("where") == e["at"]:
        from ...explain.verdict import dropped_on_arrival

        return dropped_on_arrival(e["at"], e["src"], r.get("group"), r.get("direction"), r.get("rule"))
    code = r.get("code")
    why = f" ({code.lower().replace('_', ' ')})" if code else ""
    return f"the request reached {e['at']} (seen source {e['src']}), and no reply left it{why}"


def stop_line(doc: dict) -> Optional[str]:
    """Where the direction that did not make it was last seen, from the evidence alone."""
    if doc["result"] == "reachable":
        return None
    lost = "reply" if doc["forward"]["delivered"] else "request"
    seen = [e for e in doc.get("evidence") or [] if e["dir"] == lost and not e["what"].startswith("icmp ")]
    errors = [e for e in doc.get("evidence") or [] if e["what"].startswith("icmp ")]
    code = (doc.get("reason") or {}).get("code")
    why = f" ({code.lower().replace('_', ' ')})" if code else ""
    if not seen:
        if lost == "request":
            return f"stopped: the request never left {doc['src']}{why}"
        return f"stopped: {doc['dst']} never sent a reply{why}"
    last = seen[-1]
    if lost == "request" and last["way"] == "rx" and last.get("role") == "instance":
        # it reached the destination itself: nothing there sends a request on
        return f"stopped: {arrived(doc, last)}"
    if last["way"] == "rx":
        line = f"stopped: {place(last)}: {lost} came in on {last['if']}, never sent on{why}"
    else:
        line = f"stopped: {place(last)}: {lost} sent on {last['if']}, seen nowhere after{why}"
    if errors:
        line += f"; {place(errors[0])} {errors[0]['way']} {errors[0]['what']}"
    return line


def said_by_reason(doc: dict, stop: str) -> bool:
    """A request dropped on arrival by the destination's security group: the stop line and the
    reason would say the same sentence (the reason adds the rule's counter); the reason says it."""
    r = doc.get("reason") or {}
    if r.get("code") != "SECURITY_GROUP_DENY" or not r.get("where"):
        return False
    same = f"the request reached {r['where']} (seen source "
    return stop.startswith("stopped: " + same) and (r.get("detail") or "").startswith(same)


def evidence_lines(doc: dict) -> List[str]:
    ev = doc.get("evidence") or []
    if not ev:
        return ["  [dim]no packet of the probe was captured[/]"]
    wat = max(len(place(e)) for e in ev)
    wif = max(len(e["if"]) for e in ev)
    wwhat = max(len(e["what"]) for e in ev)
    out = ["  [dim]packets seen (ms after the send):[/]"]
    for e in ev:
        out.append(f"  {e['t_ms']:9.3f} ms  {place(e):<{wat}}  {WAY.get(e['way'], e['way'])} {e['if']:<{wif}}  "
                   f"{e['what']:<{wwhat}}  {e['src']} > {e['dst']}")
    return out


def render(c, doc: dict) -> bool:
    """The lines under a probe's verdict: evidence, where it stopped, the source the destination saw
    (once: here, or in the stop line or the reason). Returns True: the seen source is taken care of."""
    for line in evidence_lines(doc):
        c.print(line)
    stop = stop_line(doc)
    seen = doc.get("seen_source")
    # said once: by the stop line or the reason (a request dropped on arrival), else by a line of its own
    said = bool(seen) and any(f"seen source {seen}" in (text or "")
                              for text in (stop, (doc.get("reason") or {}).get("detail")))
    if stop and not said_by_reason(doc, stop):
        c.print(f"  [red]{stop}[/]")
    for r in doc.get("counters") or []:
        colour = "red" if r["verdict"] == "drop" else "green"
        verdict = "pass" if r["verdict"] == "return" else r["verdict"]  # an ACL's accept returns to the next check
        c.print(f"  rule counter: {r['at']}: [{colour}]{r['rule']}[/] ({verdict}) +{r['packets']}")
    if seen and not said:
        c.print(f"  {doc['dst']} saw the request come from {seen}")
    return True


def pcap_line(doc: dict) -> str:
    """The last line of a probe written with --pcap: where its packets went (after the verdict's reason)."""
    return f"  [dim]{doc['pcap']['packets']} packets written to {doc['pcap']['path']}[/]"
