"""The live use cases: `probe`, `matrix` and `test` on a running lab.

They turn questions into probe specs and capture points (targets.py), ask explain what
to expect, run the probe engine (the fast path for the pairs explain expects to reach,
capture diagnosis for the rest), classify what the packets did (verdicts.py) and, where
a filter dropped them, name its rule from the kernel's counters (attribution.py).
"""
from __future__ import annotations

import functools
import time
import xml.etree.ElementTree as ET
from typing import Dict, Iterator, List, Optional

from ..errors import Refused
from .. import explain
from ..model.filters import INTERNET, InternetHost
from ..model.types import RESULTS, Lab
from ..probe import counters as nftc
from ..probe import engine
from ..probe.types import ProbeOutcome, ProbeSpec
from ..state import labs
from . import attribution, build, events, host, outfiles, settle, static, teardown, verdicts
from .targets import Target, capture_points, host_targets, matrix_targets, ports_asked, target

FAST_TIMEOUT = 0.5
DIAG_TIMEOUT = 0.5
SINGLE_TIMEOUT = 0.6


# ---- probe --------------------------------------------------------------------------------


def probe(src: str, dst: str, proto: str = "icmp", port: Optional[int] = None, expect: Optional[str] = None,
          lab: Optional[str] = None, pcap: Optional[str] = None, log: bool = True,
          actor: Optional[str] = None) -> dict:
    """One live probe crafted with scapy, with captures along the path.

    The document also carries `evidence` (every packet of the probe each capture point
    saw, timed) and `seen_source`; `pcap`: a file to write those packets to. A verdict
    without a reason, or one explain disagrees with, is looked at again (ATTEMPTS in all);
    one still without a reason is `inconclusive`: the evidence is the last attempt's.
    """
    if pcap is not None:
        verdicts.check_pcap_path(pcap)
    host.require_root("probe")
    if expect is not None and expect not in RESULTS:
        raise Refused(f"--expect must be one of {', '.join(RESULTS)}", code="InvalidParameterValue")
    name = labs.resolve_lab(lab)
    model = settle.load_model(name)
    t = target(model, src, dst, proto, port)
    expected = explain.explain(model, t.src.ref, t.dst_ref, proto, port)
    spec, points = t.spec(name, expected), capture_points(model, t, expected)
    fulls = neighbour_table_fulls()
    for attempt in range(1, ATTEMPTS + 1):
        doc, outcome = _probe_once(model, t, expected, spec, points, SINGLE_TIMEOUT if attempt == 1 else RETRY_TIMEOUT)
        if attempt > 1:
            doc["attempts"] = attempt
        if not verdicts.unsure(doc):
            break
    if verdicts.undecided(doc):
        verdicts.inconclusive(doc, outcome, neighbour_table_fulls() - fulls if fulls >= 0 else -1)
    doc["evidence"] = verdicts.evidence(model, t.src.ref, outcome)  # classify set seen_source, from them
    if pcap is not None:
        doc["pcap"] = {"path": pcap, "packets": verdicts.write_pcap(pcap, outcome, model, doc)}
    if expect is not None:
        doc["expected"] = expect
        doc["ok"] = doc["result"] == expect
    if log:  # `lab check` logs its own summary instead (log=False for the probes it runs)
        events.log(name, "probe", *events.probe_summary(doc), lab_time=model.clock, actor=actor)
    return doc


def _probe_once(model: Lab, t: Target, expected: explain.Verdict, spec: ProbeSpec, points, timeout: float):
    """One crafted probe, classified; in a lab with filters, the probe's own packets counted on
    both sides of the filter chains on its path, and the rule that dropped them named
    (attribution.Rounds; the `counters` list: the rules met on its way)."""
    watch = attribution.probe_watch(model, [spec.src_ns] + [p.ns for p in points])
    try:
        fids: list = []

        def armed(req: bytes, rep: bytes) -> None:
            fids[:] = nftc.flow_ids(req, rep)
            watch.arm_all(fids)

        outcome = engine.crafted_probe(spec, points, timeout=timeout, source_label=t.src.ref,
                                       before_send=armed if watch is not None else None)
        doc = verdicts.classify(model, t, outcome, expected)
        if watch is not None and fids:
            grown, counts = watch.done()
            for _, h in attribute(model, [(0, t, doc, spec, expected, verdicts.stop_ns(model, doc))],
                                  watch=watch, first={0: (grown, counts, tuple(fids))}):
                verdicts.apply_counter_reason(model, t, doc, h, expected)
            doc["counters"] = verdicts.counters_json(
                model, attribution.met_on_path(model, t, fids, grown, counts))
    finally:
        if watch is not None:
            watch.close()
    return doc, outcome


def attribute(model: Lab, items, watch=None, first=None, batch=None) -> List[tuple]:
    """Which rule dropped each unanswered probe of `items`: the (index, hit) of each one found.
    attribution.Rounds says what to probe again and reads what the probes met; this sends them
    (the arguments are Rounds')."""
    rounds = attribution.Rounds(model, items, watch=watch, first=first, batch=batch)
    try:
        while True:
            specs = rounds.next()
            if specs is None:
                break
            engine.fast_probe(specs, timeout=attribution.ATTRIBUTE_TIMEOUT, before_send=rounds.arm)
            rounds.record()
    finally:
        rounds.close()
    return rounds.found


# ---- when the packets cannot tell ------------------------------------------------------------

ATTEMPTS = 3  # a pair the packets cannot tell is probed again, twice, with more time
RETRY_TIMEOUT = 1.5


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


# ---- many probes: matrix and test ----------------------------------------------------------

MATRIX_CHUNK = 40_000  # pairs probed at once by `matrix`: rows stream out chunk by chunk


def run_many(model: Lab, targets: List[Target], progress=None, diagnoser=None) -> List[dict]:
    """Fast path for what should answer; capture diagnosis for what should not, or did not.

    Every probe is its own: targets that differ only by which VPC holds an address have
    equal specs, so nothing here is keyed by spec or address, only by position.
    `diagnoser`: an open engine.Diagnoser to capture with (a matrix keeps one for all
    its chunks); by default the capture sockets live for this call only.
    """
    with explain.frozen(model):
        expected = [explain.explain(model, t.src.ref, t.dst_ref, t.proto, t.port)
                    for t in targets]
    specs = [t.spec(model.name, v) for t, v in zip(targets, expected)]
    # The fast path for the pairs explain expects to be reachable; capture diagnosis for the
    # others (sent once, straight away: an answer explain did not expect is checked on the
    # spot, was it really DST?) and for the expected answers that did not come.
    fast = [i for i, v in enumerate(expected) if v.result == explain.REACHABLE]
    outcomes: List[Optional[ProbeOutcome]] = [None] * len(targets)
    for i, o in zip(fast, engine.fast_probe([specs[i] for i in fast], timeout=FAST_TIMEOUT)):
        outcomes[i] = o
    if progress:
        progress(1, 2, "fast path")
    pending = [i for i, o in enumerate(outcomes) if o is None or not o.replied]
    captured = [False] * len(outcomes)
    fulls = neighbour_table_fulls()
    batch = attribution.batch_counters(model) if pending else None  # None: no filter in the lab
    for i, o in zip(pending, _capture(model, targets, expected, specs, pending, DIAG_TIMEOUT, diagnoser)):
        outcomes[i], captured[i] = o, True
    if progress:
        progress(2, 2, "diagnosis")
    between = verdicts.peerings_between(model)
    rows = [verdicts.classify(model, t, o, v, c, between)
            for t, o, v, c in zip(targets, outcomes, expected, captured)]
    _attribute(model, targets, expected, specs, rows, pending, batch)
    # What the packets cannot tell (no reply, no reason) or what disagrees with explain is
    # probed again, with more time; what still cannot be told is `inconclusive`.
    for attempt in range(2, ATTEMPTS + 1):
        again = [i for i in pending if verdicts.unsure(rows[i])]
        if not again:
            break
        if batch is not None:
            batch.grown()  # the counters from now
        for i, o in zip(again, _capture(model, targets, expected, specs, again, RETRY_TIMEOUT, diagnoser)):
            outcomes[i] = o
            rows[i] = verdicts.classify(model, targets[i], o, expected[i], True, between)
            rows[i]["attempts"] = attempt
        _attribute(model, targets, expected, specs, rows, again, batch)
    fulls = neighbour_table_fulls() - fulls if fulls >= 0 else -1
    for i in pending:
        if verdicts.undecided(rows[i]):
            verdicts.inconclusive(rows[i], outcomes[i], fulls)
    return rows


def _capture(model: Lab, targets: List[Target], expected, specs, idx: List[int], timeout: float,
             diagnoser=None) -> List[ProbeOutcome]:
    """Capture diagnosis of the probes `idx`: one outcome each, in that order."""
    out: Dict[int, ProbeOutcome] = {}
    # Probes over the Internet have their addresses rewritten (EIP, NAT gateway): their
    # captures tell packets apart by ids and ports (a diagnosis of their own).
    nat = [i for i in idx if _translated(targets[i], expected[i])]
    plain = [i for i in idx if not _translated(targets[i], expected[i])] if nat else idx
    for group, translated in ((plain, False), (nat, True)):
        if not group:
            continue
        if translated:
            run = functools.partial(engine.capture_probe, translated=True)
        else:
            run = diagnoser.probe if diagnoser is not None else engine.capture_probe
        diag = run([specs[i] for i in group], [capture_points(model, targets[i], expected[i]) for i in group],
                   timeout=timeout)
        out.update(zip(group, diag))
    return [out[i] for i in idx]


def _attribute(model: Lab, targets: List[Target], expected, specs, rows: List[dict], idx: List[int],
               batch) -> None:
    """Which rule dropped each unanswered probe of `idx`, from the counters (attribute);
    `batch`: the counters read since just before `idx` were probed (None: no filter)."""
    if idx and batch is not None:
        items = [(i, targets[i], rows[i], specs[i], expected[i], verdicts.stop_ns(model, rows[i])) for i in idx]
        for i, h in attribute(model, items, batch=batch):
            verdicts.apply_counter_reason(model, targets[i], rows[i], h, expected[i])


def _translated(t: Target, v: explain.Verdict) -> bool:
    """Whether a NAT may rewrite the probe's addresses: a public destination, or a path over the Internet."""
    return t.public or (v.forward.path and INTERNET in v.forward.path) or (v.ret.path and INTERNET in v.ret.path) \
        or (t.dst is None and t.host is None and t.dst_ip.is_global)



class MatrixRun:
    """Every ordered instance pair of a running lab, probed a chunk of sources at a time.

    `rows()` yields each pair's verdict as soon as its chunk is done and keeps none of
    them, so memory stays flat however many pairs there are; the counts (`summary`,
    `mismatches`, `pairs`, `seconds`) are complete once `rows()` is exhausted.
    """

    public: List[str] = []  # EIPs and Internet hosts probed as destinations (set per run)
    hosts: List[InternetHost] = []

    def __init__(self, lab: Optional[str] = None, progress=None, chunk: int = MATRIX_CHUNK,
                 actor: Optional[str] = None):
        host.require_root("matrix")
        self.actor = actor  # who asked, for the event log (the web view: "web view")
        self.lab = labs.resolve_lab(lab)
        self.model = settle.load_model(self.lab)
        self.insts = self.model.instances()
        self.instances = [i.ref for i in self.insts]
        self.hosts = list(self.model.internet.hosts.values()) if self.model.internet is not None else []
        # the public destinations (CLI.md v2: the matrix covers EIPs and Internet hosts)
        self.public = [str(i.eip) for i in self.insts if i.eip is not None] + [h.ref for h in self.hosts]
        asked = sum(len(ports_asked(i)) for i in self.insts)
        per_src = len(self.insts) - 1 + asked
        self.total = sum(per_src - len(ports_asked(s)) for s in self.insts)
        if self.public:
            self.total = sum(len(matrix_targets(s, self.insts, self.hosts)) for s in self.insts) + \
                sum(len(host_targets(h, self.insts)) for h in self.hosts)
        self.progress, self.chunk = progress, max(1, chunk)
        self.summary: Dict[str, int] = {r: 0 for r in RESULTS + (verdicts.INCONCLUSIVE,)}
        self.mismatches = self.pairs = 0
        self.seconds = 0.0

    def rows(self) -> Iterator[dict]:
        t0 = time.monotonic()
        batch: List[Target] = []
        # every instance's rows, then every Internet host's (to the EIPs: version 3)
        sources = [(s, matrix_targets) for s in self.insts] + [(h, _host_rows) for h in self.hosts]
        with explain.frozen(self.model), engine.Diagnoser() as diagnoser:
            for n, (s, rows_of) in enumerate(sources):
                batch += rows_of(s, self.insts, self.hosts)
                if batch and (len(batch) >= self.chunk or n == len(sources) - 1):
                    for r in run_many(self.model, batch, diagnoser=diagnoser):
                        self.summary[r["result"]] += 1
                        self.mismatches += "mismatch" in r
                        self.pairs += 1
                        yield r
                    batch = []
                    if self.progress:
                        self.progress(self.pairs, self.total, "probing")
        self.seconds = round(time.monotonic() - t0, 3)
        events.log(self.lab, "matrix", f"{self.pairs} pairs", events.counts_summary(self.summary),
                   f"{self.mismatches} disagree with explain" if self.mismatches else None,
                   lab_time=self.model.clock, actor=self.actor)

    def document(self, pairs: Optional[List[dict]] = None) -> dict:
        """The `matrix --json` document (CLI.md); `pairs` left out when streamed."""
        doc = {"lab": self.lab, "instances": self.instances}
        if self.public:
            doc["public"] = self.public
        if pairs is not None:
            doc["pairs"] = pairs
        doc.update({"summary": self.summary, "mismatches": self.mismatches, "seconds": self.seconds})
        return doc


def _host_rows(host: InternetHost, insts, hosts) -> List[Target]:
    return host_targets(host, insts)


def matrix(lab: Optional[str] = None, progress=None, actor: Optional[str] = None) -> dict:
    """Every pair at once, as one document (MatrixRun streams them instead)."""
    run = MatrixRun(lab, progress, actor=actor)
    return run.document(list(run.rows()))


def test(file: Optional[str] = None, lab: Optional[str] = None, progress=None) -> dict:
    """Check the lab's `expect:` list (building FILE first, and removing it after, if it was not running)."""
    built = None
    if file:
        model = static.validate(file)
        lab = model.name
        if lab not in labs.known_labs():
            built = lab
    try:
        if file:
            build.up(file)
        host.require_root("test")
        name = labs.resolve_lab(lab)
        model = settle.load_model(name)
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
        doc = {"lab": name, "passed": passed, "failed": len(cases) - passed, "cases": cases,
               "source": model.source}
        events.log(name, "test", file or model.source, *events.test_summary(doc), lab_time=model.clock)
        return doc
    finally:
        if built:
            teardown.down(built)


JUNIT = "JUnit XML"  # what `test --junit` writes, as its messages name it


def junit(doc: dict, path: str) -> None:
    """Write JUnit XML: one testcase per expectation; a failure holds the verdict and reason."""
    suite = ET.Element("testsuite", name=f"vpclab.{doc['lab']}", tests=str(len(doc["cases"])),
                       failures=str(doc["failed"]), errors="0", skipped="0")
    for c in doc["cases"]:
        what = c["proto"] + (f"/{c['port']}" if c["port"] else "")
        case = ET.SubElement(suite, "testcase", classname=f"vpclab.{doc['lab']}",
                             name=f"{c['from']} -> {c['to']} {what} is {c['expected']}")
        if not c["ok"]:
            r = c["reason"] or {}
            msg = f"expected {c['expected']}, got {c['got']}"
            if c["got"] == verdicts.INCONCLUSIVE:
                msg += ": the packets could not tell"
            if r.get("code"):
                msg += f": {r['code']} at {r['where']}" + (f" (table {r['table']})" if r.get("table") else "")
            f = ET.SubElement(case, "failure", message=msg, type="ReachabilityMismatch")
            f.text = (r.get("detail") or "") + (f"\n{c['mismatch']}" if c.get("mismatch") else "")
    with outfiles.replacing(path, JUNIT) as f:  # never through a link, never into a FIFO
        ET.ElementTree(suite).write(f, encoding="utf-8", xml_declaration=True)
