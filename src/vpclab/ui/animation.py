"""How the web view animates a probe: its verdict turned into steps the page plays.

Pure and root-free. `steps(doc)` takes a probe's JSON document (`vpclab probe --json`,
or `explain`, which sends no packets) and returns the moves of the packet dot, hop by
hop, request first and then reply, with how long each lasts on screen, and where and
why the packet stopped.

With `evidence` (the capture points that saw the probe's packets, in time order:
`{"at": "vpc-b/cvm-1" | "vpc-b", "dir": "request" | "reply", "t_ms": 0.12, ...}`),
the animation follows the evidence: the packet moves from capture point to capture
point, passing the hops of the analysed path that lie between two of them (a peering
has no capture point of its own), and the last capture point that saw it is where it
stopped. A point seen several times in a row (a router: in on one interface, out on
another) is one stop. Each move lasts in proportion to the time from the packet's
arrival at one point to its arrival at the next, scaled so that it is watchable: at
least MIN_HOP_MS, the slowest gap MAX_HOP_MS; the destination's time to answer is a
wait before the reply sets off. An ICMP error about the flow (`what` "icmp ...") is not
animated (the stop's words name it), unless the probe is reachable: then it is the
answer (UDP to a closed port), and it travels back as the reply. Without
evidence (`explain`, or a probe from before captures existed) it follows the analysed
`forward` and `return` paths at an even pace, and stops at their last hop.

The words for each reason live here too, so the page and the tests share them.
"""
from __future__ import annotations

from typing import Dict, List, Optional

from ..model.filters import INTERNET
from .layout import nat_node

REQUEST, REPLY = "request", "reply"
MIN_HOP_MS = 300.0  # the shortest move on screen
MAX_HOP_MS = 1100.0  # the move of the longest gap between two captures
EVEN_HOP_MS = 420.0  # each move when there is no evidence to pace by

WHY: Dict[str, str] = {
    "NO_ROUTE": "there is no route for the destination",
    "BLACKHOLE_ROUTE": "the matching route points at a peering that is not ACTIVE (a blackhole route)",
    "NOT_TRANSITIVE": "peering is not transitive: a VPC never forwards from one peering into another",
    "PEERING_NOT_ACTIVE": "the peering on the way is not ACTIVE",
    "CLB_CROSS_REGION": "a CLB cannot be reached across regions over a peering",
    "NO_LISTENER": "nothing listens on that port",
    "SECURITY_GROUP_DENY": "a security group drops it",
    "NETWORK_ACL_DENY": "a network ACL drops it",
    "NO_PUBLIC_IP": "the instance has no public address (no EIP, and no NAT gateway on its route)",
    "CCN_ROUTE_DISABLED": "the only CCN route that would carry it is disabled",
    "CCN_ATTACHMENT_NOT_ACTIVE": "a VPC on the way is not an ACTIVE member of the CCN",
}


SHORT: Dict[str, str] = {  # what the picture writes beside the stop mark
    "NO_ROUTE": "no route", "BLACKHOLE_ROUTE": "blackhole route", "NOT_TRANSITIVE": "peering is not transitive",
    "PEERING_NOT_ACTIVE": "peering not ACTIVE", "CLB_CROSS_REGION": "no CLB across regions",
    "NO_LISTENER": "nothing listens", "SECURITY_GROUP_DENY": "dropped by security group",
    "NETWORK_ACL_DENY": "dropped by network ACL", "NO_PUBLIC_IP": "no public address",
    "CCN_ROUTE_DISABLED": "CCN route disabled", "CCN_ATTACHMENT_NOT_ACTIVE": "CCN member not ACTIVE",
}


def short_words(reason: dict, direction: str) -> str:
    code = reason.get("code") or ""
    if code == "NO_ROUTE":
        return "no route back" if direction == REPLY else "no route"
    text = SHORT.get(code, code.lower().replace("_", " ") or "stopped")
    owner = reason.get("group") or reason.get("acl")
    return f"{text} {owner}" if owner else text


def _rule_words(reason: dict) -> str:
    """ " (security group web, ingress, rule 2)" for the filtering reasons; "" otherwise."""
    owner = reason.get("group") or reason.get("acl")
    if not owner:
        return ""
    kind = "security group" if reason.get("group") else "ACL"
    rule = reason.get("rule")
    which = "no rule matched" if rule is None else f"rule {rule}"  # numbered from 0, as the CLI and the table
    parts = [f"{kind} {owner}"] + [x for x in (reason.get("direction"), which) if x]
    return " (" + ", ".join(parts) + ")"


def reason_words(doc: dict, direction: Optional[str] = None, at: Optional[str] = None) -> Optional[str]:
    """The reason a probe's packet stopped, in words; None when both ways were delivered.

    `direction` and `at` say which packet was last seen where (from the evidence); by
    default the verdict's own: the reply when the request was delivered, at reason.where.
    """
    r = doc.get("reason") or {}
    code = r.get("code")
    if not code:
        return None
    if direction is None:
        direction = REPLY if (doc.get("forward") or {}).get("delivered") else REQUEST
    where = r.get("where") or "?"
    text = f"The {direction} stopped at {where}: {WHY.get(code, code)}"
    if r.get("table"):
        text += f" (route table {r['table']})"
    text += _rule_words(r) + "."
    if at is not None and at != r.get("where"):
        text += f" The captures last saw it at {at}."
    return text


def _path(doc: dict, key: str) -> List[str]:
    leg = doc.get(key) or {}
    return [h for h in (leg.get("path") or []) if isinstance(h, str)]


def _through(path: List[str], a: str, b: str) -> List[str]:
    """The hops of `path` strictly between a and b when b follows a there; [] otherwise."""
    try:
        i = path.index(a)
        j = path.index(b, i + 1)
    except ValueError:
        return []
    return path[i + 1:j]


def _evidence(doc: dict) -> List[dict]:
    """The usable evidence rows in time order (stable: rows with equal times keep their order)."""
    rows = []
    # A reachable probe answered by an ICMP error (UDP to a closed port: port unreachable is the
    # reply) animates that error as its reply.
    answered = doc.get("result") == "reachable"
    for k, e in enumerate(doc.get("evidence") or []):
        if not isinstance(e, dict) or not isinstance(e.get("at"), str) or e.get("dir") not in (REQUEST, REPLY):
            continue
        if _is_error(e) and not answered:
            continue  # an ICMP error about the flow is not the flow: named in the words, not animated
        t = e.get("t_ms")
        t = float(t) if isinstance(t, (int, float)) and not isinstance(t, bool) else None
        rows.append((k, e["at"], e["dir"], t))
    # Rows without a time keep their place after the last timed row before them.
    last, keyed = 0.0, []
    for k, at, d, t in rows:
        last = t if t is not None else last
        keyed.append((last, k, at, d, t))
    keyed.sort()
    return [{"at": at, "dir": d, "t_ms": t} for _, _, at, d, t in keyed]


def _is_error(e: dict) -> bool:
    what = e.get("what")
    return isinstance(what, str) and what.startswith("icmp ")


def _error_words(doc: dict) -> str:
    """ " An ICMP error came back: net unreachable, first seen at vpc-a." when the captures saw one."""
    if doc.get("result") == "reachable":
        return ""
    for e in doc.get("evidence") or []:
        if isinstance(e, dict) and _is_error(e) and isinstance(e.get("at"), str):
            return f" An ICMP error came back: {e['what'][5:]}, first seen at {e['at']}."
    return ""


def _pace(moves: List[dict]) -> None:
    """Give each move its `ms`: MIN_HOP_MS plus its share of the captured time gap."""
    gaps = [m["gap_ms"] for m in moves if m.get("gap_ms") is not None]
    longest = max(gaps, default=0.0)
    for m in moves:
        gap = m.pop("gap_ms", None)
        share = (gap / longest) if (gap is not None and longest > 0) else 0.0
        m["ms"] = round(MIN_HOP_MS + (MAX_HOP_MS - MIN_HOP_MS) * share, 1)


def _from_evidence(doc: dict, rows: List[dict]) -> dict:
    fwd, ret = _path(doc, "forward"), _path(doc, "return")
    moves: List[dict] = []
    here: Optional[str] = fwd[0] if fwd else None  # the source sent the request: it starts there
    t_here: Optional[float] = None
    direction = REQUEST
    for p in rows:
        turn = p["dir"] != direction
        direction = p["dir"]
        path = fwd if direction == REQUEST else ret
        gap = None if (t_here is None or p["t_ms"] is None) else max(0.0, p["t_ms"] - t_here)
        if here is None:
            here = p["at"]
        elif p["at"] == here:
            if not turn:
                continue  # the same point again (in on one interface, out on another): the time it
                # arrived stays, so the next move's pace includes the time spent here
            # the reply leaves where the request arrived: the dot waits there, then turns
            moves.append({"dir": direction, "from": here, "to": here, "seen": True, "t_ms": p["t_ms"], "gap_ms": gap})
        else:
            hops = _through(path, here, p["at"]) + [p["at"]]
            for n, hop in enumerate(hops):
                last = n == len(hops) - 1
                moves.append({"dir": direction, "from": here, "to": hop, "seen": last,
                              "t_ms": p["t_ms"] if last else None,
                              "gap_ms": None if gap is None else gap / len(hops)})
                here = hop
        if p["t_ms"] is not None:
            t_here = p["t_ms"]
    stop_dir = direction
    if direction == REQUEST and (doc.get("forward") or {}).get("delivered") and fwd and here == fwd[-1]:
        stop_dir = REPLY  # the request arrived and no capture saw a reply leave: the reply stopped there
    delivered = doc.get("result") == "reachable"
    if delivered and ret and here != ret[-1]:
        # The verdict says the reply came back; the captures stopped short of the source: finish the path.
        rest = ret[ret.index(here) + 1:] if here in ret else [ret[-1]]
        for hop in rest:
            moves.append({"dir": REPLY, "from": here, "to": hop, "seen": False, "t_ms": None, "gap_ms": None})
            here = hop
    return {"source": "evidence", "moves": moves, "end": here, "stop_dir": stop_dir, "delivered": delivered}


def _from_paths(doc: dict) -> dict:
    moves: List[dict] = []
    end, stop_dir = None, REQUEST
    for direction, key in ((REQUEST, "forward"), (REPLY, "return")):
        path = _path(doc, key)
        if not path:
            break
        stop_dir = direction
        if end is not None and path[0] != end:
            moves.append({"dir": direction, "from": end, "to": path[0], "seen": False, "t_ms": None})
        for a, b in zip(path, path[1:]):
            moves.append({"dir": direction, "from": a, "to": b, "seen": False, "t_ms": None})
        end = path[-1]
        if not (doc.get(key) or {}).get("delivered"):
            break
    for m in moves:
        m["ms"] = EVEN_HOP_MS
    delivered = doc.get("result") == "reachable"
    if not delivered and (doc.get("forward") or {}).get("delivered") and not _path(doc, "return"):
        stop_dir = REPLY  # the request arrived; no reply ever left (a reply path of no hops)
    return {"source": "paths", "moves": moves, "end": end, "stop_dir": stop_dir, "delivered": delivered}


def placed(doc: dict, nat_gateways=()) -> dict:
    """`doc` with its paths' NAT gateway hops named as the picture names them.

    A path names a NAT gateway by its own name, between its VPC's router and the Internet
    (`vpc-a -> nat-a -> internet`, and back); the picture draws it in its VPC's box, as the
    point `layout.nat_node(vpc, name)` (names are unique per VPC only). `nat_gateways` is
    the lab's (vpc, name) pairs. The probe's own document is left as it is."""
    nats = set(nat_gateways)
    if not nats:
        return doc
    out = dict(doc)
    for key in ("forward", "return"):
        path = _path(doc, key)
        named = list(path)
        for i in range(1, len(path) - 1):
            router = {path[i - 1], path[i + 1]} - {INTERNET}
            if INTERNET in (path[i - 1], path[i + 1]) and len(router) == 1 and (*router, path[i]) in nats:
                named[i] = nat_node(*router, path[i])
        if named != path:
            out[key] = dict(doc[key], path=named)
    return out


def steps(doc: dict) -> dict:
    """The animation of a probe document (its NAT gateway hops `placed` first, by the caller).

    {"source": "evidence" | "paths",
     "start": hop where the dot appears,
     "moves": [{"dir": "request" | "reply", "from": hop, "to": hop, "ms": on-screen duration,
                "seen": a capture at `to` saw this packet, "t_ms": that capture's time}],
     "stop": None when the reply came back, else {"at": hop, "dir": ..., "code": ...,
              "short": a few words for the picture, "words": the sentence for the panel}}

    A move whose `from` equals its `to` is a wait (the destination answering).
    """
    rows = _evidence(doc)
    plan = _from_evidence(doc, rows) if rows else _from_paths(doc)
    moves = plan["moves"]
    if plan["source"] == "evidence":
        _pace(moves)
    start = moves[0]["from"] if moves else plan["end"]
    stop = None
    if not plan["delivered"]:
        code = (doc.get("reason") or {}).get("code")
        at = plan["end"] or start
        words = reason_words(doc, plan["stop_dir"], at if plan["source"] == "evidence" else None) \
            or f"The {plan['stop_dir']} was last seen at {at}."
        stop = {"at": at, "dir": plan["stop_dir"], "code": code or "STOPPED",
                "short": short_words(doc.get("reason") or {}, plan["stop_dir"]), "words": words + _error_words(doc)}
    return {"source": plan["source"], "start": start, "moves": moves, "stop": stop}
