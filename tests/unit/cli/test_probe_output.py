"""What `probe` and `matrix` print (issue 22): a probe names the source the destination saw
once (not "saw the request come from X" and then "seen source: X"), the pcap line comes
last (not between the packets and the reason), and a matrix answered in milliseconds on the
fast path says so instead of "8 probes in 0.00 s"."""
from __future__ import annotations

import pytest

from vpclab.cli.render.matrix import MatrixView
from vpclab.cli.render.verdict import render_verdict

SRC, DST, SEEN = "vpc-a/cvm-1", "vpc-b/cvm-1", "10.0.1.10"


def _ev(t, at, way, ifname, d, what, src, dst, role="instance"):
    return {"at": at, "role": role, "way": way, "if": ifname, "dir": d, "t_ms": t, "what": what,
            "src": src, "dst": dst}


def _doc(result, reason=None, evidence=(), pcap=True):
    doc = {"src": SRC, "dst": DST, "proto": "icmp", "port": None, "result": result,
           "forward": {"delivered": result != "unreachable", "last_hop": DST, "path": []},
           "return": {"delivered": result == "reachable", "last_hop": SRC, "path": []},
           "reason": reason or {"code": None, "where": None, "table": None, "detail": None},
           "rtt_ms": 0.4 if result == "reachable" else None, "seen_source": SEEN, "evidence": list(evidence)}
    if pcap:
        doc["pcap"] = {"path": "/tmp/p.pcapng", "packets": len(doc["evidence"])}
    return doc


REQ = [_ev(0.0, SRC, "tx", "eth0", "request", "echo-request", SEEN, "10.1.1.10"),
       _ev(0.1, "vpc-a", "rx", "cvm-1", "request", "echo-request", SEEN, "10.1.1.10", "router"),
       _ev(0.2, "vpc-b", "tx", "cvm-1", "request", "echo-request", SEEN, "10.1.1.10", "router"),
       _ev(0.3, DST, "rx", "eth0", "request", "echo-request", SEEN, "10.1.1.10")]
REPLY_LOST = [_ev(0.35, DST, "tx", "eth0", "reply", "echo-reply", "10.1.1.10", SEEN),
              _ev(0.4, "vpc-b", "rx", "cvm-1", "reply", "echo-reply", "10.1.1.10", SEEN, "router")]


def _printed(capsys, doc) -> list:
    render_verdict(doc, "probe")
    return [line for line in capsys.readouterr().out.splitlines() if line.strip()]


def _mentions_of_seen(lines) -> int:
    return sum(f"come from {SEEN}" in line or f"seen source: {SEEN}" in line or f"seen source {SEEN}" in line
               for line in lines)


def test_a_reachable_probe_names_the_seen_source_once_and_the_pcap_last(capsys):
    lines = _printed(capsys, _doc("reachable", evidence=REQ + [
        _ev(0.35, DST, "tx", "eth0", "reply", "echo-reply", "10.1.1.10", SEEN),
        _ev(0.4, SRC, "rx", "eth0", "reply", "echo-reply", "10.1.1.10", SEEN)]))
    assert _mentions_of_seen(lines) == 1
    assert not any("seen source:" in line for line in lines)
    assert lines[-1].strip() == "6 packets written to /tmp/p.pcapng"


def test_a_lost_reply_names_the_seen_source_once_and_the_pcap_after_the_reason(capsys):
    reason = {"code": "NO_ROUTE", "where": "vpc-b", "table": "default", "detail": "no route to 10.0.0.0/16"}
    lines = _printed(capsys, _doc("no-return", reason, REQ + REPLY_LOST))
    assert _mentions_of_seen(lines) == 1 and f"  {DST} saw the request come from {SEEN}" in lines
    reason_at = next(i for i, line in enumerate(lines) if "reason: NO_ROUTE" in line)
    pcap_at = next(i for i, line in enumerate(lines) if "packets written to" in line)
    assert pcap_at == len(lines) - 1 and pcap_at > reason_at


def test_a_request_dropped_on_arrival_does_not_repeat_its_seen_source(capsys):
    from vpclab.explain.verdict import dropped_on_arrival

    detail = dropped_on_arrival(DST, SEEN, "sg-web", "ingress", None)
    reason = {"code": "SECURITY_GROUP_DENY", "where": DST, "table": None, "detail": detail,
              "group": "sg-web", "direction": "ingress", "rule": None}
    lines = _printed(capsys, _doc("unreachable", reason, REQ))
    assert not any(f"seen source: {SEEN}" in line for line in lines)  # the stop line and the reason say it
    assert lines[-1].strip().endswith("packets written to /tmp/p.pcapng")


class _Run:
    """A matrix run as the CLI sees it (probing.MatrixRun's attributes), answered in 4 ms."""

    def __init__(self, rows, seconds):
        self.lab, self.instances, self.public = "demo", ["a/cvm-1", "b/cvm-1"], []
        self.summary = {"reachable": 0, "no-return": 0, "unreachable": 0}
        self.mismatches, self.pairs, self.seconds, self._rows = 0, 0, seconds, rows

    def rows(self):
        for r in self._rows:
            self.summary[r["result"]] += 1
            self.pairs += 1
            yield r


def _row(i, fast):
    src, dst = ("a/cvm-1", "b/cvm-1")[::1 if i % 2 else -1]
    r = {"src": src, "dst": dst, "proto": "icmp", "port": None, "result": "reachable",
         "reason": {"code": None, "where": None, "table": None, "detail": None}, "seen_source": "10.0.0.1"}
    if fast:
        r["seen_source_from"] = "explain"  # verdicts.classify's mark of a fast-path answer
    return r


def _summary(capsys, rows, seconds) -> str:
    run = _Run(rows, seconds)
    view = MatrixView(run)
    for r in run.rows():
        view.add(r)
    view.render()
    return next(line for line in capsys.readouterr().out.splitlines() if "probes in" in line)


def test_a_matrix_answered_on_the_fast_path_says_so_with_a_sensible_precision(capsys):
    line = _summary(capsys, [_row(i, True) for i in range(8)], 0.004)
    assert "0.00 s" not in line
    assert line.startswith("8 probes in 4 ms (all 8 answered on the fast path")
    assert "from explain" in line and "8 reachable" in line
    line = _summary(capsys, [_row(i, i < 5) for i in range(8)], 1.234)
    assert line.startswith("8 probes in 1.23 s (5 answered on the fast path") and "3 captured" in line
    line = _summary(capsys, [_row(i, False) for i in range(2)], 0.0004)
    assert line.startswith("2 probes in under 1 ms:")


@pytest.mark.parametrize("how", [None, "counter +1"], ids=["from-the-model", "from-the-counters"])
def test_a_security_group_drop_at_the_destination_says_its_sentence_once(capsys, how):
    """issue 22: the stop line and the reason both printed 'the request reached ... and its
    security group ... dropped it': the sentence is printed once, in the reason with its code."""
    from vpclab.explain.verdict import dropped_on_arrival

    detail = dropped_on_arrival(DST, SEEN, "sg-web", "ingress", 0, how)
    reason = {"code": "SECURITY_GROUP_DENY", "where": DST, "table": None, "detail": detail,
              "group": "sg-web", "direction": "ingress", "rule": 0}
    lines = _printed(capsys, _doc("unreachable", reason, REQ))
    assert sum("dropped it" in line for line in lines) == 1
    assert sum(f"reached {DST}" in line for line in lines) == 1
    assert any(line.strip().startswith("reason: SECURITY_GROUP_DENY") and "dropped it" in line for line in lines)
    assert "filter: security group sg-web, ingress, rule 0" in "\n".join(lines)
