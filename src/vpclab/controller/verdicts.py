"""What a probe's packets showed, in the reachability vocabulary of CLI.md.

`classify` turns a probe's outcome into a verdict document (reachable / no-return /
unreachable, with the last hop each way), with explain's reason, a cross-check with
explain (`mismatch` when the packets and the model disagree: one of them has a bug), and
the dropping rule the counters name (attribution.py) as the reason.

For one `probe`: its `evidence`, `seen_source` and `--pcap` file. The engine
(probe/evidence.py) records every packet of the probe's flow at each capture point with
its kernel timestamp; this module says it in the lab's terms: which capture point is the
source, a VPC router, an instance or the Internet, the source address the destination
really saw, and where the lost direction stopped.
"""
from __future__ import annotations

import errno
from typing import Dict, List, Optional, Tuple

from .. import explain
from ..model.filters import INTERNET
from ..model.types import ACTIVE, Lab
from ..plan import names
from ..probe import counters as nftc
from ..probe import evidence as ev
from ..probe import fast
from ..probe import pcap as pcapfile
from ..probe.types import ProbeOutcome
from . import attribution, outfiles
from .targets import Target

Between = Dict[Tuple[str, str], str]


def peerings_between(model: Lab) -> Between:
    """(VPC, VPC) -> the first ACTIVE peering joining them, both ways round."""
    out: Between = {}
    for p in model.peerings.values():
        if p.state == ACTIVE:
            out.setdefault((p.vpc, p.peer_vpc), p.name)
            out.setdefault((p.peer_vpc, p.vpc), p.name)
    return out


def _with_peerings(model: Lab, hops: List[str], between: Between) -> List[str]:
    """Insert the ACTIVE peering between consecutive VPC hops, as explain's paths do."""
    out: List[str] = []
    for h in hops:
        if out and out[-1] in model.vpcs and h in model.vpcs:
            p = between.get((out[-1], h))
            if p is not None:
                out.append(p)
        out.append(h)
    return out


def classify(model: Lab, t: Target, o: ProbeOutcome, expected: explain.Verdict, captured: bool = True,
             between: Optional[Between] = None, hits: Optional[list] = None) -> dict:
    """What the packets did, in the shape of CLI.md, with explain's reason and a cross-check.

    `captured`: the outcome carries captures (crafted probe, capture diagnosis), so an
    answer the destination instance never saw the request for came from someone else
    (an overlapping address elsewhere, the source itself): not a reply from DST; and a
    request the destination's namespace received but never answered was dropped there
    (by its security group): unreachable.
    `between`: peerings_between(model), when classifying many.
    `hits`: the filter rules whose counters grew during the probe (attribution.py); a
    dropping one gives the reason instead of explain (`reason_from`: "counters").
    """
    if between is None:
        between = peerings_between(model)
    # the address the captures saw the request come in with at the destination (before any
    # rewriting of `o` below); a fast-path answer was not captured: explain's then
    seen = o.request_from.get(t.point) if o.request_from is not None else None
    inferred = o.request_from is None and not captured and o.replied
    vpcs = model.vpcs
    vpcs_fwd = [l for l in o.request_seen if l in vpcs or l == INTERNET]
    vpcs_back = [l for l in reversed(o.reply_seen) if l in vpcs or l == INTERNET]
    end = t.point or t.dst_ref
    arrived = t.point is not None and t.point in o.request_seen
    if t.host is not None:  # the host sits behind the Internet's router, in its namespace
        vpcs_fwd = vpcs_fwd + [INTERNET] if arrived else vpcs_fwd
        vpcs_back = [INTERNET] + vpcs_back if t.point in o.reply_seen else vpcs_back
    if t.from_internet:  # so does a host that sends: its packets start and end at that router
        vpcs_fwd = [INTERNET] + vpcs_fwd
        vpcs_back = vpcs_back + [INTERNET] if o.replied else vpcs_back
    impostor = captured and o.replied and not arrived
    if impostor:
        o = ProbeOutcome(o.spec, False, None, o.request_seen, o.reply_seen,
                         f"{o.detail}; answered by another holder of {t.dst_ip}, not {t.dst_ref}")
    if o.replied:
        result = explain.REACHABLE
        if expected.result == explain.REACHABLE:
            fwd, ret = expected.forward.to_json(), expected.ret.to_json()
        else:
            fwd = {"delivered": True, "last_hop": end,
                   "path": _with_peerings(model, [t.src.ref] + vpcs_fwd, between) + [end]}
            ret = {"delivered": True, "last_hop": t.src.ref,
                   "path": _with_peerings(model, [end] + vpcs_back, between) + [t.src.ref]}
    else:
        # the destination's namespace got the request but sent nothing back: dropped on arrival
        unanswered = captured and arrived and t.point not in o.reply_seen
        result = explain.NO_RETURN if arrived and not unanswered else explain.UNREACHABLE
        fpath = _with_peerings(model, [t.src.ref] + vpcs_fwd, between)
        if unanswered:
            fwd = {"delivered": False, "last_hop": end, "path": fpath + [end]}
            ret = {"delivered": False, "last_hop": None, "path": []}
        elif arrived:
            fwd = {"delivered": True, "last_hop": end, "path": fpath + [end]}
            rpath = _with_peerings(model, [end] + vpcs_back, between)
            ret = {"delivered": False, "last_hop": rpath[-1], "path": rpath}
        else:
            fwd = {"delivered": False, "last_hop": fpath[-1], "path": fpath}
            ret = {"delivered": False, "last_hop": None, "path": []}
    doc = {"src": t.src.ref, "dst": t.dst_ref, "proto": t.proto, "port": t.port, "result": result,
           "forward": fwd, "return": ret, "reason": expected.reason.to_json(),
           "rtt_ms": round(o.rtt_ms, 3) if o.rtt_ms is not None else None,
           "explain": expected.result, "observed": o.detail or None}
    _seen_source(t, seen, inferred, expected, doc)
    if expected.note is not None:
        doc["note"] = expected.note.to_json()
    if hits and result != explain.REACHABLE:
        _reason_from_counters(model, t, doc, hits, expected)
    closed = _closed_port_answer(t.proto, o.detail or "")
    if result == explain.REACHABLE and closed and expected.note is None and expected.result == explain.REACHABLE:
        # explain expects a listener there; the packets found none: the lab's service is down.
        doc["note"] = explain.Reason(explain.NO_LISTENER, t.dst_ref, None,
                                     f"{closed}: nothing listens on {t.proto}/{t.port}").to_json()
        doc["mismatch"] = (f"explain expects a listener on {t.proto}/{t.port} at {t.dst_ref}, but {closed}: "
                           f"the lab's service process is not running (`vpclab up FILE` restarts it)")
    if result != expected.result:
        doc["mismatch"] = (f"the packets say {result} but explain says {expected.result}: one of them has a bug "
                           f"(captures saw the request at {', '.join(o.request_seen) or 'nothing'}, the reply at "
                           f"{', '.join(o.reply_seen) or 'nothing'})")
        if result == explain.REACHABLE:
            doc["reason"] = explain.Reason().to_json()
        elif not doc["reason"].get("code") and (o.detail or "").startswith(_NO_ROUTE_AT_SOURCE):
            # the source's own kernel had no route for it: the packets say where and why
            doc["reason"] = explain.Reason(explain.NO_ROUTE, t.src.ref, None, (
                f"the source's kernel refused to send it ({o.detail}): it has no route the model "
                f"has (`vpclab up FILE` repairs the lab)")).to_json()
    return doc


# what the probe engine says when the source's own kernel had no route for the packet
_NO_ROUTE_AT_SOURCE = tuple(fast.errno_detail(e, at_source=True).rsplit(" (", 1)[0]
                            for e in (errno.ENETUNREACH, errno.EHOSTUNREACH))


def _seen_source(t: Target, seen: Optional[str], inferred: bool, expected: explain.Verdict, doc: dict) -> None:
    """`seen_source`: the address the request carried arriving at the destination, as the
    captures saw it (null: it never arrived; a request its security group dropped did). A pair
    answered on the fast path, as explain expected, was not captured: its row takes explain's
    seen source, as it takes explain's path, and says so (`seen_source_from`: explain)."""
    if inferred:
        doc["seen_source"], doc["seen_source_from"] = expected.seen_source, "explain"
        return
    doc["seen_source"] = seen
    if expected.seen_source and doc["seen_source"] and expected.seen_source != doc["seen_source"]:
        doc["mismatch"] = (f"{t.dst_ref} saw the request come from {doc['seen_source']} but explain says "
                           f"{expected.seen_source}: one of them has a bug")


def stop_ns(model: Lab, doc: dict) -> Optional[str]:
    """The namespace where the lost direction of a verdict document was last seen."""
    stop = doc["return"]["last_hop"] if doc["forward"]["delivered"] else doc["forward"]["last_hop"]
    if stop in model.vpcs:
        return names.vpc_ns(model.name, stop)
    inst = model.instance(stop) if stop else None
    return names.instance_ns(model.name, inst.vpc, inst.name) if inst is not None else None


def _reason_from_counters(model: Lab, t: Target, doc: dict, hits: list, expected: explain.Verdict) -> None:
    """`hits`: rules judged to have dropped this probe's packets; the one drop rule among them
    whose place and direction lie on the lost packet's way becomes the reason (none, or two:
    explain's stays). probing.probe() and run_many() judge the counters themselves (attribution)."""
    lost = attribution.lost_of(doc)
    d = [h for h in hits if h.verdict == nftc.DROP and attribution.on_path(model, t, h, lost)]
    if len(d) == 1:
        apply_counter_reason(model, t, doc, d[0], expected)


def apply_counter_reason(model: Lab, t: Target, doc: dict, h, expected: explain.Verdict) -> None:
    """Hit `h` (a dropping rule's counter) is the reason of verdict document `doc`."""
    lost = "the reply" if doc["forward"]["delivered"] else "the request"
    r = attribution.reason(model, h, lost)
    if lost == "the request" and r.code == explain.SECURITY_GROUP_DENY and r.direction == "ingress" \
            and r.where == t.point and doc.get("seen_source"):  # it reached the destination: say so
        r.detail = explain.dropped_on_arrival(r.where, doc["seen_source"], r.group, r.direction, r.rule,
                                             f"counter +{h.packets}")
    doc["reason"] = r.to_json()
    doc["reason_from"] = "counters"
    e = expected.reason
    if doc["result"] == expected.result and (e.code, e.group or e.acl, e.direction, e.rule) != (
            r.code, r.group or r.acl, r.direction, r.rule):
        said = f"{e.code}" + (f" ({e.group or e.acl} {e.direction} rule {e.rule})" if e.direction else "")
        doc["mismatch"] = (f"the rule counters name {r.code} ({h.ref.comment()}) but explain says {said}: "
                           f"one of them has a bug")


def _closed_port_answer(proto: str, detail: str) -> Optional[str]:
    """How a closed port answered the probe ("the SYN was answered by RST"...), else None."""
    if proto == "tcp" and detail.startswith("RST"):
        return "the SYN was answered by RST"
    if proto == "udp" and detail.startswith("icmp port unreachable"):
        return "the datagram was answered by ICMP port unreachable"
    return None


# ---- when the packets cannot tell ------------------------------------------------------------

INCONCLUSIVE = explain.INCONCLUSIVE


def undecided(doc: dict) -> bool:
    """A verdict without a reason: the packets say the request or reply was lost, explain says it
    should have come through, and no counter or ICMP error says why."""
    return doc["result"] in (explain.UNREACHABLE, explain.NO_RETURN) and not (doc.get("reason") or {}).get("code")


def unsure(doc: dict) -> bool:
    """Worth a second look: no reason for the verdict, or the packets disagree with explain."""
    return undecided(doc) or "mismatch" in doc


def inconclusive(doc: dict, o: ProbeOutcome, fulls: int) -> None:
    """Turn an undecided verdict into `inconclusive`, its reason saying what the packets showed.
    `fulls`: how often the neighbour table was full meanwhile (negative: unknown)."""
    lost = "reply" if doc["forward"]["delivered"] else "request"
    seen = o.reply_seen if lost == "reply" else o.request_seen
    where = doc["return"]["last_hop"] if lost == "reply" else doc["forward"]["last_hop"]
    tries = doc.get("attempts", 1)
    said = [f"the packets cannot tell: in {tries} attempt{'s' * (tries > 1)} the {lost} was "
            + (f"last seen at {', '.join(seen)}" if seen else "seen at no capture point")
            + ", and no ICMP error nor filter counter says why it went no further"
            + (f" ({o.detail})" if o.detail and o.detail != "no reply" else "")]
    if fulls > 0:
        said.append(f"the kernel's neighbour table was full {fulls} time(s) meanwhile: it is shared by every "
                    f"namespace of this machine (net.ipv4.neigh.default.gc_thresh3), and a packet to an address "
                    f"without an entry is dropped: too many lab addresses are busy at once")
    said.append(f"explain says {doc['explain']}")
    doc["result"] = INCONCLUSIVE
    doc["reason"] = {"code": None, "where": where, "table": None, "detail": "; ".join(said)}
    doc.pop("reason_from", None)
    doc.pop("mismatch", None)  # not a disagreement the packets showed: what they showed is above


# ---- one probe's evidence --------------------------------------------------------------------------


PCAP = "the capture file"  # what `probe --pcap` writes, as its messages name it


def check_pcap_path(path: str) -> None:
    """Refuse (before anything is probed) a --pcap path that cannot be written (outfiles' rules)."""
    outfiles.check_writable(path, PCAP)


def role(model: Lab, src_ref: str, at: str) -> str:
    if at == src_ref:
        return "source"
    if at in model.vpcs:
        return "router"
    if at == INTERNET:
        return INTERNET
    return "instance"


def evidence(model: Lab, src_ref: str, o: ProbeOutcome) -> List[dict]:
    """The `evidence` list of `probe --json` (time order), each entry with its capture point's role."""
    if o.packets is None or o.t0_ns is None:
        return []
    out = ev.entries(o.packets, o.t0_ns)
    for e in out:
        e["role"] = role(model, src_ref, e["at"])
    return out


def seen_source(entries: List[dict], dst_ref: Optional[str]) -> Optional[str]:
    """The source address of the request as the destination received it (None if it never did)."""
    for e in entries:
        if e["at"] == dst_ref and e["dir"] == ev.REQUEST and e["way"] == "rx" and not e["what"].startswith("icmp "):
            return e["src"]
    return None


def write_pcap(path: str, o: ProbeOutcome, model: Optional[Lab] = None, doc: Optional[dict] = None) -> int:
    """Write the probe's packets to `path`; returns how many. With the verdict document `doc`, the
    file's section header carries the verdict and its reason, and each packet's comment names its
    capture point as the evidence lines do ("vpc-b router rx echo-reply")."""
    packets = o.packets or []
    comment = pcapfile.header_comment(doc) if doc is not None else None
    place = None
    if model is not None and doc is not None:
        def place(p) -> str:
            return f"{p.label} router" if role(model, doc["src"], p.label) == "router" else p.label
    with outfiles.replacing(path, PCAP) as f:
        pcapfile.write(f, packets, comment, place)
    return len(packets)


def counters_json(model: Lab, hits: list) -> List[dict]:
    return attribution.met(hits, attribution.instance_of_ns(model), model.name)
