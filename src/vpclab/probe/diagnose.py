"""Capture diagnosis: probes sent while every capture point on their way watches, batch after batch.

A pair the fast path could not settle (its answer did not come, or explain expected none) is
probed here again with captures, so the verdict says where the packet was last seen.
"""
from __future__ import annotations

from typing import List, Sequence

from ..kernel.nsenter import Hopper
from .capture import CaptureSession, annotate
from .evidence import FlowSession
from .fast import TRANSLATED_ICMP_MAX, Run, namespace_cap, parts
from .types import CapturePoint, ProbeOutcome, ProbeSpec


class Diagnoser:
    """Capture diagnosis of batch after batch, on capture sockets that stay open.

    Opening and closing a capture socket costs about as much as many probes (the close
    waits for an RCU grace period), so a long run (a matrix of thousands of instances,
    chunk by chunk) keeps them; each batch starts from a clean slate. Between batches
    they stay open: what they queue meanwhile (the fast path's few probes) is thrown
    away. Use from one thread, as a context manager.
    """

    def __init__(self, translated: bool = False):
        self.translated = translated  # probes whose addresses a NAT rewrites (evidence.FlowSession)

    def __enter__(self) -> "Diagnoser":
        self.hop = Hopper().__enter__()
        try:
            if self.translated:
                self.session = FlowSession(self.hop, [])
            else:
                self.session = CaptureSession(self.hop, [])
        except BaseException:
            self.hop.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.session.close()
        finally:
            self.hop.close()

    def probe(self, specs: Sequence[ProbeSpec], captures: Sequence[Sequence[CapturePoint]],
              timeout: float = 0.5) -> List[ProbeOutcome]:
        """As `capture_probe`, on this diagnoser's sockets."""
        if len(captures) != len(specs):
            raise ValueError("capture_probe: one list of capture points per spec")
        points_of = [list(pts) for pts in captures]
        # Capture sockets stay open batch after batch, but a batch works in at most
        # namespace_cap() namespaces (its sources' and its capture points'): one that needs
        # more goes in parts, and the capture sockets of namespaces it does not watch close
        # first (issue 24: a matrix of 10,000 namespaces failed on a limit of 20,000 files).
        cap = namespace_cap()
        cut = parts([[s.src_ns] + [cp.ns for cp in pts] for s, pts in zip(specs, points_of)], cap)
        if len(cut) > 1:
            out: List[ProbeOutcome] = [None] * len(specs)  # type: ignore[list-item]
            for idx in cut:
                for i, o in zip(idx, self.probe([specs[i] for i in idx], [points_of[i] for i in idx], timeout)):
                    out[i] = o
            return out
        session, hop = self.session, self.hop
        session.trim({cp.ns for pts in points_of for cp in pts}, cap)
        session.add(cp.ns for pts in points_of for cp in pts)
        session.check_points({cp for pts in points_of for cp in pts if cp.ifname is not None})
        session.reset()
        try:
            run = Run(specs, timeout, hop, readers=session.readers(), flow_index=getattr(session, "flows", None))
            try:
                probes = run.run()
            finally:
                run.close()
            session.settle()
            drops = session.drops()
        finally:
            hop.enter(None)
        outcomes = []
        for p, pts in zip(probes, points_of):
            o = p.outcome()
            annotate(o, session, p.req_key, p.rep_key, pts, drops)
            outcomes.append(o)
        session.seen.clear()
        session.errors.clear()
        if self.translated:
            session.flows.clear()
            session.sources.clear()
        return outcomes


def capture_probe(specs: Sequence[ProbeSpec], captures: Sequence[Sequence[CapturePoint]],
                  timeout: float = 0.5, translated: bool = False) -> List[ProbeOutcome]:
    """Probe everything at once while capturing; one ProbeOutcome per spec, in order.

    `captures[i]` lists the points to watch for `specs[i]`, in path order. It is a list
    beside the specs, not a mapping keyed by spec: two equal specs (one source to one
    address held in two VPCs) are two probes with their own destinations to watch.
    Raises NotFound for a missing namespace or interface, EnvironmentProblem without root.
    `translated`: the probes' addresses may be rewritten on the way (EIPs, NAT gateways):
    packets are told apart by their ids and ports alone (ICMP by its sequence number: a run
    holds at most fast.TRANSLATED_ICMP_MAX of them, so larger batches go in parts).
    """
    with Diagnoser(translated) as d:
        if not translated or len(specs) <= TRANSLATED_ICMP_MAX:
            return d.probe(specs, captures, timeout)
        out: List[ProbeOutcome] = []
        for k in range(0, len(specs), TRANSLATED_ICMP_MAX):
            out += d.probe(specs[k:k + TRANSLATED_ICMP_MAX], captures[k:k + TRANSLATED_ICMP_MAX], timeout)
        return out
