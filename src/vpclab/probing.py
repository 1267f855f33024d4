"""The live use cases: `probe`, `matrix` and `test` on a running lab.

They turn instance refs into probe specs and capture points (the destination
instance and every VPC router on the way), run the probe engine, classify what
the packets did into the reachability vocabulary (reachable / no-return /
unreachable, with the last hop each way), and cross-check every verdict with
`explain`: when the packets and the model disagree, one of them has a bug, and
the result says so loudly (`mismatch`).
"""
from __future__ import annotations

import functools
import ipaddress
import time
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Tuple

from . import analyze, controller
from .errors import Refused
from .filter_match import EPHEMERAL
from .model.filters import INTERNET, InternetHost
from .model.types import ACTIVE, RESULTS, Instance, Lab
from .plan import names
from .probe.types import CRAFTED_PORTS, CapturePoint, ProbeOutcome, ProbeSpec

FAST_TIMEOUT = 0.5
DIAG_TIMEOUT = 0.5
SINGLE_TIMEOUT = 0.6


@dataclass
class Target:
    """One question: src instance -> dst (instance, address, EIP or Internet host), proto/port.

    `dst_ref` is the destination as explain names it (an instance, `internet/<host>`, or
    an address as asked: a public address stays the address); `dst` the instance that
    holds the address (through its EIP too), `host` the Internet host.
    """

    src: Instance
    dst_ref: str
    dst_ip: ipaddress.IPv4Address
    dst: Optional[Instance]
    proto: str
    port: Optional[int]
    host: Optional[InternetHost] = None

    def spec(self, lab: str, expected: Optional[analyze.Verdict] = None) -> ProbeSpec:
        return ProbeSpec(names.instance_ns(lab, self.src.vpc, self.src.name), _text(self.src.ip),
                         _text(self.dst_ip), self.proto, self.port, reply_ports(expected))

    @property
    def point(self) -> Optional[str]:
        """The label of the destination's capture point (None: no known holder to watch)."""
        if self.dst is not None:
            return self.dst.ref
        return self.host.ref if self.host is not None else None

    @property
    def public(self) -> bool:
        """Whether the destination is reached over the lab's Internet (an EIP or a host)."""
        return self.host is not None or (self.dst is not None and self.dst.eip == self.dst_ip)


_text = functools.lru_cache(maxsize=1 << 16)(str)  # an address's text (ipaddress's str() is slow)


def target(model: Lab, src: str, dst: str, proto: str, port: Optional[int]) -> Target:
    controller.check_proto(proto, port)
    net = model.internet
    h = net.host(dst) if net is not None else None
    # an Internet host is probed at its address (the same checks as for any address)
    controller.check_ends(model, src, str(h.ip) if h is not None else dst)
    s = model.instance(src)
    if h is not None:
        return Target(s, h.ref, h.ip, None, proto, port, host=h)
    d = model.instance(dst)
    if d is not None:
        return Target(s, d.ref, d.ip, d, proto, port)
    ip = ipaddress.IPv4Address(dst)
    if net is not None and ip in net.cidr:  # a public address: an Internet host's, an EIP, a NAT gateway's
        host = next((h for h in net.hosts.values() if h.ip == ip), None)
        holder = next((i for i in model.instances() if i.eip == ip), None)
        return Target(s, str(ip), ip, holder, proto, port, host=host)
    if model.vpc_of_ip(ip) is None:
        raise Refused(f"{ip} is not inside any VPC of lab {model.name}: vpclab probes only the lab's own addresses",
                      code="InvalidParameterValue")
    for sub in model.vpc_of_ip(ip).subnets.values():
        # The lab's VPC router holds each subnet's gateway and would answer for it (explain
        # cannot: the cloud reserves these addresses), so probing them proves nothing.
        if ip in (sub.cidr.network_address, sub.gateway, sub.cidr.broadcast_address):
            raise Refused(f"{ip} is reserved in {sub.cidr} (network, gateway and broadcast addresses): "
                          f"probe an instance or a free address", code="InvalidParameterValue.IpReserved")
    # Which instance an address means depends on where the source's routes take it
    # (VPCs that are not peered may overlap): the one explain lands on.
    inst = model.instance(analyze.explain(model, s.ref, str(ip), proto, port).dst)
    return Target(s, inst.ref if inst else str(ip), ip, inst, proto, port)


def capture_points(model: Lab, t: Target, expected: analyze.Verdict) -> List[CapturePoint]:
    """Every VPC router (and the lab's Internet) the request or reply may cross, then the destination."""
    order: List[str] = []
    dst_vpc = t.dst.vpc if t.dst is not None else getattr(model.vpc_of_ip(t.dst_ip), "name", None)
    net = model.internet is not None
    for hop in [t.src.vpc] + expected.forward.path + expected.ret.path + [dst_vpc] + ([INTERNET] if net else []):
        if (hop in model.vpcs or (net and hop == INTERNET)) and hop not in order:
            order.append(hop)
    # An Internet host lives in the Internet's namespace: that point is the destination's.
    pts = [_internet_point(model.name, INTERNET if t.host is None else t.host.ref) if v == INTERNET
           else _vpc_point(model.name, v) for v in order if not (v == INTERNET and t.host is not None)]
    if t.dst is not None:
        pts.append(_instance_point(model.name, t.dst.vpc, t.dst.name))
    elif t.host is not None:
        pts.append(_internet_point(model.name, t.host.ref))
    return pts


@functools.lru_cache(maxsize=1 << 10)
def _internet_point(lab: str, label: str) -> CapturePoint:
    return CapturePoint(names.internet_ns(lab), None, label)


@functools.lru_cache(maxsize=1 << 14)
def _vpc_point(lab: str, vpc: str) -> CapturePoint:
    return CapturePoint(names.vpc_ns(lab, vpc), None, vpc)


@functools.lru_cache(maxsize=1 << 16)
def _instance_point(lab: str, vpc: str, inst: str) -> CapturePoint:
    return CapturePoint(names.instance_ns(lab, vpc, inst), None, f"{vpc}/{inst}")


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


def classify(model: Lab, t: Target, o: ProbeOutcome, expected: analyze.Verdict, captured: bool = True,
             between: Optional[Between] = None, hits: Optional[list] = None) -> dict:
    """What the packets did, in the shape of CLI.md, with explain's reason and a cross-check.

    `captured`: the outcome carries captures (crafted probe, capture diagnosis), so an
    answer the destination instance never saw the request for came from someone else
    (an overlapping address elsewhere, the source itself): not a reply from DST; and a
    request the destination's namespace received but never answered was dropped there
    (by its security group): unreachable.
    `between`: peerings_between(model), when classifying many.
    `hits`: the filter rules whose counters grew during the probe (probe_filters); a
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
    impostor = captured and o.replied and not arrived
    if impostor:
        o = ProbeOutcome(o.spec, False, None, o.request_seen, o.reply_seen,
                         f"{o.detail}; answered by another holder of {t.dst_ip}, not {t.dst_ref}")
    if o.replied:
        result = analyze.REACHABLE
        if expected.result == analyze.REACHABLE:
            fwd, ret = expected.forward.to_json(), expected.ret.to_json()
        else:
            fwd = {"delivered": True, "last_hop": end,
                   "path": _with_peerings(model, [t.src.ref] + vpcs_fwd, between) + [end]}
            ret = {"delivered": True, "last_hop": t.src.ref,
                   "path": _with_peerings(model, [end] + vpcs_back, between) + [t.src.ref]}
    else:
        # the destination's namespace got the request but sent nothing back: dropped on arrival
        unanswered = captured and arrived and t.point not in o.reply_seen
        result = analyze.NO_RETURN if arrived and not unanswered else analyze.UNREACHABLE
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
    if hits and result != analyze.REACHABLE:
        _reason_from_counters(model, t, doc, hits, expected)
    closed = _closed_port_answer(t.proto, o.detail or "")
    if result == analyze.REACHABLE and closed and expected.note is None and expected.result == analyze.REACHABLE:
        # explain expects a listener there; the packets found none: the lab's service is down.
        doc["note"] = analyze.Reason(analyze.NO_LISTENER, t.dst_ref, None,
                                     f"{closed}: nothing listens on {t.proto}/{t.port}").to_json()
        doc["mismatch"] = (f"explain expects a listener on {t.proto}/{t.port} at {t.dst_ref}, but {closed}: "
                           f"the lab's service process is not running (`vpclab up FILE` restarts it)")
    if result != expected.result:
        doc["mismatch"] = (f"the packets say {result} but explain says {expected.result}: one of them has a bug "
                           f"(captures saw the request at {', '.join(o.request_seen) or 'nothing'}, the reply at "
                           f"{', '.join(o.reply_seen) or 'nothing'})")
        if result == analyze.REACHABLE:
            doc["reason"] = analyze.Reason().to_json()
    return doc


def _seen_source(t: Target, seen: Optional[str], inferred: bool, expected: analyze.Verdict, doc: dict) -> None:
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


def _reason_from_counters(model: Lab, t: Target, doc: dict, hits: list, expected: analyze.Verdict) -> None:
    """`hits`: rules judged to have dropped this probe's packets; the one drop rule among them
    whose place and direction lie on the lost packet's way becomes the reason (none, or two:
    explain's stays). probe() and run_many() judge the counters themselves (probe_filters)."""
    from . import probe_filters
    from .probe import counters as nftc

    lost = probe_filters.lost_of(doc)
    d = [h for h in hits if h.verdict == nftc.DROP and probe_filters.on_path(model, t, h, lost)]
    if len(d) == 1:
        _apply_counter_reason(model, t, doc, d[0], expected)


def _apply_counter_reason(model: Lab, t: Target, doc: dict, h, expected: analyze.Verdict) -> None:
    from . import probe_filters

    lost = "the reply" if doc["forward"]["delivered"] else "the request"
    r = probe_filters.reason(model, h, lost)
    if lost == "the request" and r.code == analyze.SECURITY_GROUP_DENY and r.direction == "ingress" \
            and r.where == t.point and doc.get("seen_source"):  # it reached the destination: say so
        r.detail = analyze.dropped_on_arrival(r.where, doc["seen_source"], r.group, r.direction, r.rule,
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


# ---- probe --------------------------------------------------------------------------------


def probe(src: str, dst: str, proto: str = "icmp", port: Optional[int] = None, expect: Optional[str] = None,
          lab: Optional[str] = None, pcap: Optional[str] = None) -> dict:
    """One live probe crafted with scapy, with captures along the path.

    The document also carries `evidence` (every packet of the probe each capture point
    saw, timed) and `seen_source`; `pcap`: a file to write those packets to. A verdict
    without a reason, or one explain disagrees with, is looked at again (ATTEMPTS in all);
    one still without a reason is `inconclusive`: the evidence is the last attempt's.
    """
    from . import probe_report

    if pcap is not None:
        probe_report.check_pcap_path(pcap)
    controller.require_root("probe")
    if expect is not None and expect not in RESULTS:
        raise Refused(f"--expect must be one of {', '.join(RESULTS)}", code="InvalidParameterValue")
    name = controller.resolve_lab(lab)
    model = controller.load_model(name)
    t = target(model, src, dst, proto, port)
    expected = analyze.explain(model, t.src.ref, t.dst_ref, proto, port)
    spec, points = t.spec(name, expected), capture_points(model, t, expected)
    fulls = neighbour_table_fulls()
    for attempt in range(1, ATTEMPTS + 1):
        doc, outcome = _probe_once(model, t, expected, spec, points, SINGLE_TIMEOUT if attempt == 1 else RETRY_TIMEOUT)
        if attempt > 1:
            doc["attempts"] = attempt
        if not unsure(doc):
            break
    if undecided(doc):
        inconclusive(doc, outcome, neighbour_table_fulls() - fulls if fulls >= 0 else -1)
    doc["evidence"] = probe_report.evidence(model, t.src.ref, outcome)  # classify set seen_source, from them
    if pcap is not None:
        doc["pcap"] = {"path": pcap, "packets": probe_report.write_pcap(pcap, outcome)}
    if expect is not None:
        doc["expected"] = expect
        doc["ok"] = doc["result"] == expect
    return doc


def _probe_once(model: Lab, t: Target, expected: analyze.Verdict, spec: ProbeSpec, points, timeout: float):
    """One crafted probe, classified; in a lab with filters, the probe's own packets counted on
    both sides of the filter chains on its path, and the rule that dropped them named
    (probe_filters.attribute; the `counters` list: the rules met on its way)."""
    from . import probe_filters, probe_report
    from .probe import counters as nftc
    from .probe import engine

    watch = probe_filters.probe_watch(model, [spec.src_ns] + [p.ns for p in points])
    try:
        fids: list = []

        def armed(req: bytes, rep: bytes) -> None:
            fids[:] = nftc.flow_ids(req, rep)
            watch.arm_all(fids)

        outcome = engine.crafted_probe(spec, points, timeout=timeout, source_label=t.src.ref,
                                       before_send=armed if watch is not None else None)
        doc = classify(model, t, outcome, expected)
        if watch is not None and fids:
            grown, counts = watch.done()
            probe_filters.attribute(model, [(0, t, doc, spec, expected)],
                                    lambda i, h: _apply_counter_reason(model, t, doc, h, expected),
                                    watch=watch, first={0: (grown, counts, tuple(fids))})
            doc["counters"] = probe_report.counters_json(
                model, probe_filters.met_on_path(model, t, fids, grown, counts))
    finally:
        if watch is not None:
            watch.close()
    return doc, outcome


# ---- when the packets cannot tell ------------------------------------------------------------

ATTEMPTS = 3  # a pair the packets cannot tell is probed again, twice, with more time
RETRY_TIMEOUT = 1.5
INCONCLUSIVE = "inconclusive"


def undecided(doc: dict) -> bool:
    """A verdict without a reason: the packets say the request or reply was lost, explain says it
    should have come through, and no counter or ICMP error says why."""
    return doc["result"] in (analyze.UNREACHABLE, analyze.NO_RETURN) and not (doc.get("reason") or {}).get("code")


def unsure(doc: dict) -> bool:
    """Worth a second look: no reason for the verdict, or the packets disagree with explain."""
    return undecided(doc) or "mismatch" in doc


def neighbour_table_fulls() -> int:
    """How often the kernel found its IPv4 neighbour (ARP) table full since boot: one table for
    every namespace of the machine (net.ipv4.neigh.default.gc_thresh3 entries); a full table
    drops packets to addresses it has no entry for, silently. -1 when it cannot be read."""
    try:
        with open("/proc/net/stat/arp_cache") as f:
            head, *rows = f.read().split("\n")
        k = head.split().index("table_fulls")
        return sum(int(r.split()[k], 16) for r in rows if r.strip())
    except (OSError, ValueError, IndexError):
        return -1


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


def reply_ports(expected: Optional[analyze.Verdict]) -> Optional[Tuple[int, int]]:
    """The source ports to probe from when explain says a filter drops the replies to some ports
    only (an ACL rule covering part of the ephemeral range): those, so that the packets show the
    drop; the crafted probes' own ports among them if there are any. None: any port will do."""
    ports = expected.reason.ports if expected is not None and expected.result == analyze.NO_RETURN else None
    if ports is None or ports == EPHEMERAL:
        return None
    lo, hi = max(ports[0], CRAFTED_PORTS[0]), min(ports[1], CRAFTED_PORTS[1])
    return (lo, hi) if lo <= hi else ports


# ---- many probes: matrix and test ----------------------------------------------------------

MATRIX_CHUNK = 40_000  # pairs probed at once by `matrix`: rows stream out chunk by chunk


def run_many(model: Lab, targets: List[Target], progress=None, diagnoser=None) -> List[dict]:
    """Fast path for what should answer; capture diagnosis for what should not, or did not.

    Every probe is its own: targets that differ only by which VPC holds an address have
    equal specs, so nothing here is keyed by spec or address, only by position.
    `diagnoser`: an open engine.Diagnoser to capture with (a matrix keeps one for all
    its chunks); by default the capture sockets live for this call only.
    """
    from .probe import engine

    with analyze.frozen(model):
        verdicts = [analyze.explain(model, t.src.ref, t.dst_ref, t.proto, t.port)
                    for t in targets]
    specs = [t.spec(model.name, v) for t, v in zip(targets, verdicts)]
    # The fast path for the pairs explain expects to be reachable; capture diagnosis for the
    # others (sent once, straight away: an answer explain did not expect is checked on the
    # spot, was it really DST?) and for the expected answers that did not come.
    fast = [i for i, v in enumerate(verdicts) if v.result == analyze.REACHABLE]
    outcomes: List[Optional[ProbeOutcome]] = [None] * len(targets)
    for i, o in zip(fast, engine.fast_probe([specs[i] for i in fast], timeout=FAST_TIMEOUT)):
        outcomes[i] = o
    if progress:
        progress(1, 2, "fast path")
    pending = [i for i, o in enumerate(outcomes) if o is None or not o.replied]
    captured = [False] * len(outcomes)
    fulls = neighbour_table_fulls()
    from . import probe_filters

    batch = probe_filters.batch_counters(model) if pending else None  # None: no filter in the lab
    for i, o in zip(pending, _capture(model, targets, verdicts, specs, pending, DIAG_TIMEOUT, diagnoser)):
        outcomes[i], captured[i] = o, True
    if progress:
        progress(2, 2, "diagnosis")
    between = peerings_between(model)
    rows = [classify(model, t, o, v, c, between) for t, o, v, c in zip(targets, outcomes, verdicts, captured)]
    _attribute(model, targets, verdicts, specs, rows, pending, batch)
    # What the packets cannot tell (no reply, no reason) or what disagrees with explain is
    # probed again, with more time; what still cannot be told is `inconclusive`.
    for attempt in range(2, ATTEMPTS + 1):
        again = [i for i in pending if unsure(rows[i])]
        if not again:
            break
        if batch is not None:
            batch.grown()  # the counters from now
        for i, o in zip(again, _capture(model, targets, verdicts, specs, again, RETRY_TIMEOUT, diagnoser)):
            outcomes[i] = o
            rows[i] = classify(model, targets[i], o, verdicts[i], True, between)
            rows[i]["attempts"] = attempt
        _attribute(model, targets, verdicts, specs, rows, again, batch)
    fulls = neighbour_table_fulls() - fulls if fulls >= 0 else -1
    for i in pending:
        if undecided(rows[i]):
            inconclusive(rows[i], outcomes[i], fulls)
    return rows


def _capture(model: Lab, targets: List[Target], verdicts, specs, idx: List[int], timeout: float,
             diagnoser=None) -> List[ProbeOutcome]:
    """Capture diagnosis of the probes `idx`: one outcome each, in that order."""
    from .probe import engine

    out: Dict[int, ProbeOutcome] = {}
    # Probes over the Internet have their addresses rewritten (EIP, NAT gateway): their
    # captures tell packets apart by ids and ports (a diagnosis of their own).
    nat = [i for i in idx if _translated(targets[i], verdicts[i])]
    plain = [i for i in idx if not _translated(targets[i], verdicts[i])] if nat else idx
    for group, translated in ((plain, False), (nat, True)):
        if not group:
            continue
        if translated:
            run = functools.partial(engine.capture_probe, translated=True)
        else:
            run = diagnoser.probe if diagnoser is not None else engine.capture_probe
        diag = run([specs[i] for i in group], [capture_points(model, targets[i], verdicts[i]) for i in group],
                   timeout=timeout)
        out.update(zip(group, diag))
    return [out[i] for i in idx]


def _attribute(model: Lab, targets: List[Target], verdicts, specs, rows: List[dict], idx: List[int],
               batch) -> None:
    """Which rule dropped each unanswered probe of `idx`, from the counters (probe_filters);
    `batch`: the counters read since just before `idx` were probed (None: no filter)."""
    from . import probe_filters

    if idx and batch is not None:
        probe_filters.attribute(model, [(i, targets[i], rows[i], specs[i], verdicts[i]) for i in idx],
                                lambda i, h: _apply_counter_reason(model, targets[i], rows[i], h, verdicts[i]),
                                batch=batch)


def _translated(t: Target, v: analyze.Verdict) -> bool:
    """Whether a NAT may rewrite the probe's addresses: a public destination, or a path over the Internet."""
    return t.public or (v.forward.path and INTERNET in v.forward.path) or (v.ret.path and INTERNET in v.ret.path) \
        or (t.dst is None and t.host is None and t.dst_ip.is_global)


def matrix_targets(src: Instance, insts: List[Instance], hosts: Optional[List[InternetHost]] = None) -> List[Target]:
    """SRC to every other instance: ICMP, plus the service port of service instances; then
    to every other instance's EIP the same way, and to every Internet host (ICMP and its ports)."""
    out = []
    for d in insts:
        if d is src:
            continue
        out.append(Target(src, d.ref, d.ip, d, "icmp", None))
        if d.service_port:
            out.append(Target(src, d.ref, d.ip, d, "tcp", d.service_port))
    for d in insts:
        if d is src or d.eip is None or d.eip == src.eip:
            continue
        out.append(Target(src, _text(d.eip), d.eip, d, "icmp", None))
        if d.service_port:
            out.append(Target(src, _text(d.eip), d.eip, d, "tcp", d.service_port))
    for h in hosts or ():
        out.append(Target(src, h.ref, h.ip, None, "icmp", None, host=h))
        out += [Target(src, h.ref, h.ip, None, "tcp", port, host=h) for port in h.ports]
    return out


class MatrixRun:
    """Every ordered instance pair of a running lab, probed a chunk of sources at a time.

    `rows()` yields each pair's verdict as soon as its chunk is done and keeps none of
    them, so memory stays flat however many pairs there are; the counts (`summary`,
    `mismatches`, `pairs`, `seconds`) are complete once `rows()` is exhausted.
    """

    public: List[str] = []  # EIPs and Internet hosts probed as destinations (set per run)
    hosts: List[InternetHost] = []

    def __init__(self, lab: Optional[str] = None, progress=None, chunk: int = MATRIX_CHUNK):
        controller.require_root("matrix")
        self.lab = controller.resolve_lab(lab)
        self.model = controller.load_model(self.lab)
        self.insts = self.model.instances()
        self.instances = [i.ref for i in self.insts]
        self.hosts = list(self.model.internet.hosts.values()) if self.model.internet is not None else []
        # the public destinations (CLI.md v2: the matrix covers EIPs and Internet hosts)
        self.public = [str(i.eip) for i in self.insts if i.eip is not None] + [h.ref for h in self.hosts]
        per_src = len(self.insts) - 1 + sum(1 for i in self.insts if i.service_port)
        self.total = sum(per_src - (1 if s.service_port else 0) for s in self.insts)
        if self.public:
            self.total = sum(len(matrix_targets(s, self.insts, self.hosts)) for s in self.insts)
        self.progress, self.chunk = progress, max(1, chunk)
        self.summary: Dict[str, int] = {r: 0 for r in RESULTS + (INCONCLUSIVE,)}
        self.mismatches = self.pairs = 0
        self.seconds = 0.0

    def rows(self) -> Iterator[dict]:
        from .probe.engine import Diagnoser

        t0 = time.monotonic()
        batch: List[Target] = []
        with analyze.frozen(self.model), Diagnoser() as diagnoser:
            for n, s in enumerate(self.insts):
                batch += matrix_targets(s, self.insts, self.hosts)
                if len(batch) >= self.chunk or n == len(self.insts) - 1:
                    for r in run_many(self.model, batch, diagnoser=diagnoser):
                        self.summary[r["result"]] += 1
                        self.mismatches += "mismatch" in r
                        self.pairs += 1
                        yield r
                    batch = []
                    if self.progress:
                        self.progress(self.pairs, self.total, "probing")
        self.seconds = round(time.monotonic() - t0, 3)

    def document(self, pairs: Optional[List[dict]] = None) -> dict:
        """The `matrix --json` document (CLI.md); `pairs` left out when streamed."""
        doc = {"lab": self.lab, "instances": self.instances}
        if self.public:
            doc["public"] = self.public
        if pairs is not None:
            doc["pairs"] = pairs
        doc.update({"summary": self.summary, "mismatches": self.mismatches, "seconds": self.seconds})
        return doc


def matrix(lab: Optional[str] = None, progress=None) -> dict:
    """Every pair at once, as one document (MatrixRun streams them instead)."""
    run = MatrixRun(lab, progress)
    return run.document(list(run.rows()))


def test(file: Optional[str] = None, lab: Optional[str] = None, progress=None) -> dict:
    """Check the lab's `expect:` list (building FILE first, and removing it after, if it was not running)."""
    built = None
    if file:
        model = controller.validate(file)
        lab = model.name
        if lab not in controller.known_labs():
            built = lab
    try:
        if file:
            controller.up(file)
        controller.require_root("test")
        name = controller.resolve_lab(lab)
        model = controller.load_model(name)
        if not model.expectations:
            raise Refused(f"lab {name} has no `expect:` list to test", code="MissingParameter")
        targets = [target(model, e.src, e.dst, e.proto, e.port) for e in model.expectations]
        rows = run_many(model, targets, progress)
        cases = []
        for e, r in zip(model.expectations, rows):
            cases.append({"from": e.src, "to": e.dst, "proto": e.proto, "port": e.port, "expected": e.result,
                          "got": r["result"], "ok": r["result"] == e.result, "reason": r["reason"],
                          "line": e.line, "mismatch": r.get("mismatch"), "forward": r["forward"],
                          "return": r["return"]})
        passed = sum(1 for c in cases if c["ok"])
        return {"lab": name, "passed": passed, "failed": len(cases) - passed, "cases": cases,
                "source": model.source}
    finally:
        if built:
            controller.down(built)


JUNIT = "JUnit XML"  # what `test --junit` writes, as its messages name it


def junit(doc: dict, path: str) -> None:
    """Write JUnit XML: one testcase per expectation; a failure holds the verdict and reason."""
    import xml.etree.ElementTree as ET

    suite = ET.Element("testsuite", name=f"vpclab.{doc['lab']}", tests=str(len(doc["cases"])),
                       failures=str(doc["failed"]), errors="0", skipped="0")
    for c in doc["cases"]:
        what = c["proto"] + (f"/{c['port']}" if c["port"] else "")
        case = ET.SubElement(suite, "testcase", classname=f"vpclab.{doc['lab']}",
                             name=f"{c['from']} -> {c['to']} {what} is {c['expected']}")
        if not c["ok"]:
            r = c["reason"] or {}
            msg = f"expected {c['expected']}, got {c['got']}"
            if c["got"] == INCONCLUSIVE:
                msg += ": the packets could not tell"
            if r.get("code"):
                msg += f": {r['code']} at {r['where']}" + (f" (table {r['table']})" if r.get("table") else "")
            f = ET.SubElement(case, "failure", message=msg, type="ReachabilityMismatch")
            f.text = (r.get("detail") or "") + (f"\n{c['mismatch']}" if c.get("mismatch") else "")
    from . import outpath

    with outpath.replacing(path, JUNIT) as f:  # never through a link, never into a FIFO
        ET.ElementTree(suite).write(f, encoding="utf-8", xml_declaration=True)
