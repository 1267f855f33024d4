"""The probe animation's steps (ui/animation.py), root-free: from a probe's evidence when it
has some, else from the analysed paths. Verdicts come from the analyser on shipped
topologies; the evidence is written in the shape `vpclab probe --json` gives it (capture
points in time order), since capturing needs root and a running lab."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from vpclab import explain as analyze
from vpclab.topology import load as loader
from vpclab.ui import animation
from vpclab.ui.animation import MAX_HOP_MS, MIN_HOP_MS, REPLY, REQUEST, steps

TOPO = Path(__file__).resolve().parents[3] / "topologies"


def verdict(topology: str, src: str, dst: str) -> dict:
    return analyze.explain(loader.load(str(TOPO / topology)), src, dst).to_json()


def walk(anim: dict) -> list:
    """(dir, hop) of every hop the dot reaches, in order, starting where it appears."""
    out, here = [], anim["start"]
    for m in anim["moves"]:
        assert m["from"] == here, f"move {m} does not start where the dot is ({here})"
        if m["to"] != m["from"]:
            out.append((m["dir"], m["to"]))
        here = m["to"]
    return out


def ev(at, d, t, **extra):
    return dict({"at": at, "dir": d, "t_ms": t}, **extra)


NO_RETURN = verdict("02-one-way-route.yaml", "vpc-a/cvm-1", "vpc-b/cvm-1")


def test_without_evidence_it_follows_both_paths_and_stops_at_the_last_hop_of_the_reply():
    doc = NO_RETURN
    assert doc["result"] == "no-return" and "evidence" not in doc
    a = steps(doc)
    assert a["source"] == "paths"
    fwd, ret = doc["forward"]["path"], doc["return"]["path"]
    assert a["start"] == fwd[0]
    assert walk(a) == [(REQUEST, h) for h in fwd[1:]] + [(REPLY, h) for h in ret[1:]]
    assert a["stop"]["at"] == doc["return"]["last_hop"] and a["stop"]["dir"] == REPLY
    assert a["stop"]["code"] == doc["reason"]["code"]
    assert a["stop"]["words"].startswith(f"The reply stopped at {doc['reason']['where']}: ")
    assert animation.WHY[doc["reason"]["code"]] in a["stop"]["words"]
    assert not any(m["seen"] for m in a["moves"])


def test_an_unreachable_request_stops_on_its_way_out_and_sends_no_reply():
    doc = verdict("03-hub-spokes.yaml", "spoke-1/cvm-1", "spoke-2/cvm-1")
    assert doc["result"] == "unreachable"
    a = steps(doc)
    assert {m["dir"] for m in a["moves"]} == {REQUEST}
    assert a["stop"]["at"] == doc["forward"]["last_hop"] and a["stop"]["dir"] == REQUEST
    assert a["stop"]["words"].startswith(f"The request stopped at {doc['reason']['where']}")


def test_a_reachable_probe_comes_back_to_its_source_and_has_no_stop():
    doc = verdict("01-two-vpcs.yaml", "vpc-a/cvm-1", "vpc-b/cvm-1")
    assert doc["result"] == "reachable"
    a = steps(doc)
    assert a["stop"] is None
    assert walk(a)[-1] == (REPLY, doc["src"])


def _no_return_evidence():
    # What the captures of 02-one-way-route see: the request at every point to vpc-b/cvm-1, the
    # reply leaving vpc-b/cvm-1 and reaching vpc-b's router, then nothing (no route back).
    return [ev("vpc-a/cvm-1", REQUEST, 0.0), ev("vpc-a", REQUEST, 0.04), ev("vpc-b", REQUEST, 0.10),
            ev("vpc-b/cvm-1", REQUEST, 0.12, src="10.0.1.10", dst="10.1.1.10"),
            ev("vpc-b/cvm-1", REPLY, 0.20), ev("vpc-b", REPLY, 0.21)]


def test_with_evidence_the_dot_goes_from_capture_to_capture_through_the_peering_and_stops_at_the_last():
    doc = dict(NO_RETURN, evidence=_no_return_evidence())
    a = steps(doc)
    assert a["source"] == "evidence"
    peering = [h for h in doc["forward"]["path"] if h.startswith("pcx-")]
    assert walk(a) == [(REQUEST, "vpc-a"), (REQUEST, peering[0]), (REQUEST, "vpc-b"), (REQUEST, "vpc-b/cvm-1"),
                       (REPLY, "vpc-b")]
    # captures mark the hops they saw; the peering has no capture point
    seen = [(m["dir"], m["to"]) for m in a["moves"] if m["seen"] and m["to"] != m["from"]]
    assert seen == [(REQUEST, "vpc-a"), (REQUEST, "vpc-b"), (REQUEST, "vpc-b/cvm-1"), (REPLY, "vpc-b")]
    # the turn-around at the destination is a wait, in the reply's colour
    turn = [m for m in a["moves"] if m["from"] == m["to"]]
    assert [(m["dir"], m["to"]) for m in turn] == [(REPLY, "vpc-b/cvm-1")]
    assert a["stop"]["at"] == "vpc-b" and a["stop"]["dir"] == REPLY and a["stop"]["code"] == "NO_ROUTE"
    assert "captures last saw" not in a["stop"]["words"]  # they agree with the verdict


def test_evidence_out_of_order_is_played_in_time_order_and_bad_rows_are_skipped():
    rows = _no_return_evidence()
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)
    junk = [{"at": "vpc-a", "dir": "sideways", "t_ms": 0.05}, {"dir": REQUEST, "t_ms": 0.06}, "text",
            {"at": 7, "dir": REPLY, "t_ms": 0.3}]
    a = steps(dict(NO_RETURN, evidence=shuffled + junk))
    assert a == steps(dict(NO_RETURN, evidence=rows))


def test_moves_are_paced_by_the_capture_times_and_stay_watchable():
    rows = _no_return_evidence()
    a = steps(dict(NO_RETURN, evidence=rows))
    for m in a["moves"]:
        assert MIN_HOP_MS <= m["ms"] <= MAX_HOP_MS
    by_to = {(m["dir"], m["to"]): m["ms"] for m in a["moves"]}
    # vpc-b -> vpc-b/cvm-1 took 0.02 ms, the turn-around 0.08 ms (the longest gap), vpc-b/cvm-1 -> vpc-b 0.01 ms
    assert by_to[(REPLY, "vpc-b/cvm-1")] == MAX_HOP_MS
    assert by_to[(REPLY, "vpc-b")] < by_to[(REQUEST, "vpc-b/cvm-1")] < by_to[(REPLY, "vpc-b/cvm-1")]
    # a gap crossing the peering (0.06 ms) is shared by its two moves
    two = [m["ms"] for m in a["moves"] if m["dir"] == REQUEST and m["to"] in ("vpc-b",) or
           m["dir"] == REQUEST and m["to"].startswith("pcx-")]
    assert len(two) == 2 and two[0] == two[1]
    # times ten, the same picture: only the ratios count
    slow = [dict(r, t_ms=r["t_ms"] * 10) for r in rows]
    assert [m["ms"] for m in steps(dict(NO_RETURN, evidence=slow))["moves"]] == [m["ms"] for m in a["moves"]]


def test_the_evidence_decides_where_the_packet_stopped_even_against_the_analysis():
    # The captures saw the request die at vpc-a's router although the model would pass it.
    rows = [ev("vpc-a/cvm-1", REQUEST, 0.0), ev("vpc-a", REQUEST, 0.05)]
    a = steps(dict(NO_RETURN, evidence=rows))
    assert walk(a) == [(REQUEST, "vpc-a")]
    assert a["stop"]["at"] == "vpc-a" and a["stop"]["dir"] == REQUEST
    assert a["stop"]["words"].endswith("The captures last saw it at vpc-a.")


def test_a_request_seen_arriving_with_no_reply_seen_leaving_stops_the_reply_at_the_destination():
    rows = _no_return_evidence()[:4]
    a = steps(dict(NO_RETURN, evidence=rows))
    assert a["stop"]["at"] == "vpc-b/cvm-1" and a["stop"]["dir"] == REPLY


def test_a_reachable_probe_with_evidence_ends_at_its_source():
    doc = verdict("01-two-vpcs.yaml", "vpc-a/cvm-1", "vpc-b/cvm-1")
    fwd, ret = doc["forward"]["path"], doc["return"]["path"]
    caps = [h for h in fwd if not h.startswith("pcx-")]
    back = [h for h in ret if not h.startswith("pcx-")]
    rows = [ev(h, REQUEST, k * 0.01) for k, h in enumerate(caps)] + \
           [ev(h, REPLY, 0.1 + k * 0.01) for k, h in enumerate(back[:-1])]  # no capture at the source
    a = steps(dict(doc, evidence=rows))
    assert a["stop"] is None
    assert walk(a)[-1] == (REPLY, doc["src"])


@pytest.mark.parametrize("reason,words", [
    ({"code": "SECURITY_GROUP_DENY", "where": "vpc-b/web-1", "group": "web", "direction": "ingress", "rule": None},
     "(security group web, ingress, no rule matched)"),
    ({"code": "NETWORK_ACL_DENY", "where": "vpc-b", "acl": "strict", "direction": "inbound", "rule": 2},
     "(ACL strict, inbound, rule 2)"),  # numbered from 0, as the CLI does
    ({"code": "NO_PUBLIC_IP", "where": "vpc-a/cvm-1"}, animation.WHY["NO_PUBLIC_IP"]),
])
def test_the_filtering_reasons_name_the_group_or_acl_and_the_rule(reason, words):
    doc = {"result": "unreachable", "forward": {"delivered": False, "path": ["vpc-a/cvm-1", "vpc-a"]},
           "return": {"delivered": False, "path": []}, "reason": dict({"table": None, "detail": None}, **reason)}
    a = steps(doc)
    assert words in a["stop"]["words"]
    owner = reason.get("group") or reason.get("acl")
    if owner:
        assert a["stop"]["short"].endswith(owner)


def _capture(at, d, t, way, what="echo-request"):
    """A row as the probe writes it: a capture per interface (a router sees rx, then tx), extra keys."""
    return {"at": at, "dir": d, "t_ms": t, "src": "10.0.1.10", "dst": "10.1.1.10", "if": f"{at}-if", "way": way,
            "what": what, "role": "router" if "/" not in at else "instance"}


def test_a_router_seen_in_and_out_is_one_stop_and_its_time_inside_paces_the_next_move():
    rows = [_capture("vpc-a/cvm-1", REQUEST, 0.00, "tx"), _capture("vpc-a", REQUEST, 0.01, "rx"),
            _capture("vpc-a", REQUEST, 0.05, "tx"), _capture("vpc-b", REQUEST, 0.06, "rx"),
            _capture("vpc-b", REQUEST, 0.07, "tx"), _capture("vpc-b/cvm-1", REQUEST, 0.08, "rx")]
    a = steps(dict(NO_RETURN, evidence=rows))
    assert walk(a)[:4] == [(REQUEST, "vpc-a"), (REQUEST, "pcx-ab"), (REQUEST, "vpc-b"), (REQUEST, "vpc-b/cvm-1")]
    ms = {m["to"]: m["ms"] for m in a["moves"]}
    # vpc-a -> vpc-b took 0.05 ms from arriving at vpc-a (0.04 inside it), the longest: its two moves share it
    assert ms["pcx-ab"] == ms["vpc-b"] > ms["vpc-b/cvm-1"]
    assert a["stop"] == dict(a["stop"], at="vpc-b/cvm-1", dir=REPLY)  # no reply was seen leaving


def test_an_icmp_error_is_named_in_the_words_and_not_animated_as_the_reply():
    rows = [_capture("vpc-a/cvm-1", REQUEST, 0.0, "tx"), _capture("vpc-a", REQUEST, 0.01, "rx"),
            _capture("vpc-a", REPLY, 0.02, "tx", "icmp net unreachable"),
            _capture("vpc-a/cvm-1", REPLY, 0.03, "rx", "icmp net unreachable")]
    doc = verdict("03-hub-spokes.yaml", "spoke-1/cvm-1", "spoke-2/cvm-1")
    rows = [dict(r, at=r["at"].replace("vpc-a", "spoke-1")) for r in rows]
    a = steps(dict(doc, evidence=rows))
    assert walk(a) == [(REQUEST, "spoke-1")]
    assert a["stop"]["at"] == "spoke-1" and a["stop"]["dir"] == REQUEST
    assert a["stop"]["words"].endswith("An ICMP error came back: net unreachable, first seen at spoke-1.")


def test_a_reachable_udp_probe_answered_by_port_unreachable_animates_that_answer_as_the_reply():
    doc = verdict("01-two-vpcs.yaml", "vpc-a/cvm-1", "vpc-b/cvm-1")
    back = [h for h in doc["return"]["path"] if not h.startswith("pcx-")]
    rows = [_capture(h, REQUEST, k * 0.01, "rx", "udp request") for k, h in enumerate(
        [h for h in doc["forward"]["path"] if not h.startswith("pcx-")])] + \
        [_capture(h, REPLY, 0.1 + k * 0.01, "rx", "icmp port unreachable") for k, h in enumerate(back)]
    a = steps(dict(doc, evidence=rows))
    assert a["stop"] is None
    seen_back = [m["to"] for m in a["moves"] if m["dir"] == REPLY and m["seen"] and m["from"] != m["to"]]
    assert seen_back == back[1:]


def test_a_probe_through_a_nat_gateway_passes_its_box_between_the_captures():
    """Evidence from a probe to an Internet host (topology 06: job-a leaves through nat-a):
    no capture point sits at the NAT gateway, so the dot passes it between the router's
    capture and the host's, out and back, once the caller has `placed` it."""
    from vpclab.ui.layout import nat_node

    doc = analyze.explain(loader.load(str(TOPO / "06-internet-vs-peering.yaml")), "vpc-a/job-a", "internet/web",
                          "tcp", 80).to_json()
    assert doc["result"] == "reachable" and "nat-a" in doc["forward"]["path"]
    doc["evidence"] = [ev("vpc-a/job-a", REQUEST, 0.0), ev("vpc-a", REQUEST, 0.02), ev("internet/web", REQUEST, 0.05),
                       ev("internet/web", REPLY, 0.06), ev("vpc-a", REPLY, 0.09), ev("vpc-a/job-a", REPLY, 0.1)]
    gw = nat_node("vpc-a", "nat-a")
    a = steps(animation.placed(doc, [("vpc-a", "nat-a")]))
    assert a["source"] == "evidence" and a["stop"] is None
    assert walk(a) == [(REQUEST, "vpc-a"), (REQUEST, gw), (REQUEST, "internet"), (REQUEST, "internet/web"),
                       (REPLY, "internet"), (REPLY, gw), (REPLY, "vpc-a"), (REPLY, "vpc-a/job-a")]


def test_every_reason_code_explain_gives_has_its_words_in_the_picture():
    """A new reason (CCN_ROUTE_DISABLED, CCN_ATTACHMENT_NOT_ACTIVE: issue 23) is written in words
    beside the stop mark, not as its code in lower case."""
    from vpclab.explain import verdict

    codes = {v for k, v in vars(verdict).items() if k.isupper() and isinstance(v, str) and v == k
             and k not in ("INCONCLUSIVE",)}
    assert {"CCN_ROUTE_DISABLED", "NO_ROUTE"} <= codes
    assert codes <= set(animation.WHY) and codes <= set(animation.SHORT)
