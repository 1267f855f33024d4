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
from ..probe import engine
from ..probe.types import ProbeOutcome
from ..state import labs
from . import attribution, build, host, outfiles, settle, static, teardown, verdicts
from .targets import Target, capture_points, matrix_targets, target

FAST_TIMEOUT = 0.5
DIAG_TIMEOUT = 0.5
SINGLE_TIMEOUT = 0.6


# ---- probe --------------------------------------------------------------------------------


def probe(src: str, dst: str, proto: str = "icmp", port: Optional[int] = None, expect: Optional[str] = None,
          lab: Optional[str] = None, pcap: Optional[str] = None) -> dict:
    """One live probe crafted with scapy, with captures along the path.

    The document also carries `evidence` (every packet of the probe each capture point
    saw, timed) and `seen_source`; `pcap`: a file to write those packets to.
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
    watch = verdicts.counters_for(model, [spec.src_ns] + [p.ns for p in points])
    outcome = engine.crafted_probe(spec, points, timeout=SINGLE_TIMEOUT, source_label=t.src.ref)
    hits = watch.done() if watch is not None else None
    doc = verdicts.classify(model, t, outcome, expected, hits=hits)
    if hits is not None:
        doc["counters"] = verdicts.counters_json(model, hits)
    doc["evidence"] = verdicts.evidence(model, t.src.ref, outcome)  # classify set seen_source, from them
    if pcap is not None:
        doc["pcap"] = {"path": pcap, "packets": verdicts.write_pcap(pcap, outcome)}
    if expect is not None:
        doc["expected"] = expect
        doc["ok"] = doc["result"] == expect
    return doc


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
    # Probes over the Internet have their addresses rewritten (EIP, NAT gateway): their
    # captures tell packets apart by ids and ports (a diagnosis of their own).
    nat = [i for i in pending if _translated(targets[i], expected[i])]
    plain = [i for i in pending if not _translated(targets[i], expected[i])] if nat else pending
    watch = attribution.batch_counters(model) if pending else None  # None: no filter in the lab
    for group, translated in ((plain, False), (nat, True)):
        if not group:
            continue
        if translated:
            run = functools.partial(engine.capture_probe, translated=True)
        else:
            run = diagnoser.probe if diagnoser is not None else engine.capture_probe
        diag = run([specs[i] for i in group], [capture_points(model, targets[i], expected[i]) for i in group],
                   timeout=DIAG_TIMEOUT)
        for i, o in zip(group, diag):
            outcomes[i], captured[i] = o, True
    hits = watch.done() if watch is not None else None
    if progress:
        progress(2, 2, "diagnosis")
    between = verdicts.peerings_between(model)
    rows = [verdicts.classify(model, t, o, v, c, between)
            for t, o, v, c in zip(targets, outcomes, expected, captured)]
    if hits is not None:
        # Which rule dropped each unanswered probe, from the counters: batch-wide where one
        # drop rule alone grew in the namespace it stopped in, else by re-probing in halves.
        stopped = [(i, verdicts.stop_ns(model, rows[i]), specs[i]) for i in pending
                   if rows[i]["result"] != explain.REACHABLE]
        for i, h in attribution.attribute(watch, hits, stopped):
            verdicts.apply_counter_reason(model, targets[i], rows[i], h, expected[i])
    return rows


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

    def __init__(self, lab: Optional[str] = None, progress=None, chunk: int = MATRIX_CHUNK):
        host.require_root("matrix")
        self.lab = labs.resolve_lab(lab)
        self.model = settle.load_model(self.lab)
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
        self.summary: Dict[str, int] = {r: 0 for r in RESULTS}
        self.mismatches = self.pairs = 0
        self.seconds = 0.0

    def rows(self) -> Iterator[dict]:
        t0 = time.monotonic()
        batch: List[Target] = []
        with explain.frozen(self.model), engine.Diagnoser() as diagnoser:
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
        return {"lab": name, "passed": passed, "failed": len(cases) - passed, "cases": cases,
                "source": model.source}
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
            if r.get("code"):
                msg += f": {r['code']} at {r['where']}" + (f" (table {r['table']})" if r.get("table") else "")
            f = ET.SubElement(case, "failure", message=msg, type="ReachabilityMismatch")
            f.text = (r.get("detail") or "") + (f"\n{c['mismatch']}" if c.get("mismatch") else "")
    with outfiles.replacing(path, JUNIT) as f:  # never through a link, never into a FIFO
        ET.ElementTree(suite).write(f, encoding="utf-8", xml_declaration=True)
