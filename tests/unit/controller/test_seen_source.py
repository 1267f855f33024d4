"""Issue 19, items 2 and 3: `seen_source` everywhere, and one meaning for a security-group drop
at the destination (no root).

- `explain --json` always carries `seen_source`: null when the request never arrived.
- A request the destination's security group drops did arrive: the verdict stays
  `unreachable` (nothing was delivered to the application), the reason is
  SECURITY_GROUP_DENY at the destination with group, direction and rule, `seen_source` is
  the address it arrived with, and the words say so, in explain, probe and matrix alike.
- Matrix rows (`verdicts.classify` of a batch) carry `seen_source` as probe rows do: from the
  captures when the pair was captured, else explain's, marked `seen_source_from: explain`.

Every expected address below is worked out from tests/kernel/internet.yaml by hand: vpc-b
(10.1/16) is peered with vpc-a, whose web-1 (10.0.1.10, EIP 203.0.113.10) carries sg-web
(tcp/80 only, from 10.1/16 and 203.0.113/24); vpc-c/cvm-1 (10.2.1.10) has the EIP 203.0.113.30.
"""
from __future__ import annotations

import socket
import struct
from pathlib import Path

import yaml
from click.testing import CliRunner

from vpclab import explain as analyze
from vpclab.cli import main as cli
from vpclab.cli.render.evidence import stop_line
from vpclab.controller import targets, verdicts
from vpclab.topology import load as loader
from vpclab.plan.names import RuleRef
from vpclab.plan import names
from vpclab.probe import counters as nftc
from vpclab.probe import wire
from vpclab.probe.capture import CaptureSession, annotate
from vpclab.probe.types import CapturePoint, ProbeOutcome, ProbeSpec

NET = Path(__file__).resolve().parents[2] / "kernel" / "internet.yaml"
WEB, PEER, FAR = "vpc-a/web-1", "vpc-b/cvm-1", "vpc-c/cvm-1"
WEB_EIP, FAR_EIP = "203.0.113.10", "203.0.113.30"
ARRIVED = ("the request reached vpc-a/web-1 (seen source {}) and its security group sg-web dropped it "
           "(ingress, no rule matched")


def lab():
    return loader.load(NET)


# ---- explain ---------------------------------------------------------------------------------------


def test_explain_json_always_has_seen_source_null_only_when_the_request_never_arrived():
    model = lab()
    refs = [i.ref for i in model.instances()]
    dsts = refs + ["internet/web", WEB_EIP, FAR_EIP]
    nulls = arrived = 0
    for s in refs:
        for d in dsts:
            if d == s:
                continue
            for proto, port in (("icmp", None), ("tcp", 80)):
                v = analyze.explain(model, s, d, proto, port)
                doc = v.to_json()
                assert "seen_source" in doc, (s, d, proto)
                at_door = v.reason.code == analyze.SECURITY_GROUP_DENY and v.reason.direction == "ingress"
                if v.result == analyze.UNREACHABLE and not at_door:
                    assert doc["seen_source"] is None, (s, d, proto)
                    nulls += 1
                else:
                    assert doc["seen_source"], (s, d, proto)
                    arrived += 1
    assert nulls and arrived  # both kinds were asked


def test_a_security_group_drop_at_the_destination_arrived_from_the_peer():
    v = analyze.explain(lab(), PEER, WEB)  # a ping: sg-web lets only tcp/80 in
    doc = v.to_json()
    assert doc["result"] == "unreachable"
    r = doc["reason"]
    assert (r["code"], r["where"], r["group"], r["direction"], r["rule"]) == (
        "SECURITY_GROUP_DENY", WEB, "sg-web", "ingress", None)
    assert doc["seen_source"] == "10.1.1.10"  # over the peering: its private address
    assert r["detail"].startswith(ARRIVED.format("10.1.1.10"))
    assert doc["forward"] == {"delivered": False, "last_hop": WEB,
                              "path": [PEER, "vpc-b", "pcx-ab", "vpc-a", WEB]}
    assert doc["return"] == {"delivered": False, "last_hop": None, "path": []}
    assert "never reached" not in r["detail"]


def test_a_security_group_drop_at_the_destination_over_its_eip_arrived_from_the_senders_eip():
    doc = analyze.explain(lab(), FAR, WEB_EIP).to_json()
    assert doc["result"] == "unreachable" and doc["reason"]["code"] == "SECURITY_GROUP_DENY"
    assert doc["seen_source"] == FAR_EIP
    assert doc["reason"]["detail"].startswith(ARRIVED.format(FAR_EIP))


def test_a_matched_drop_rule_at_the_destination_is_named_with_its_text():
    doc = yaml.safe_load(NET.read_text())
    doc["vpcs"]["vpc-a"]["security_groups"]["sg-web"]["ingress"].insert(
        0, {"proto": "tcp", "port": 80, "source": "10.1.0.0/16", "action": "drop"})
    v = analyze.explain(loader.loads(yaml.safe_dump(doc), "drop.yaml"), PEER, WEB, "tcp", 80)
    assert (v.result, v.reason.code, v.reason.rule, v.seen_source) == ("unreachable", "SECURITY_GROUP_DENY", 0,
                                                                       "10.1.1.10")
    assert v.reason.detail == ("the request reached vpc-a/web-1 (seen source 10.1.1.10) and its security group "
                               "sg-web dropped it (ingress, rule 0: tcp/80 from 10.1.0.0/16 drop)")


def test_explain_prints_the_arrival_and_the_seen_source():
    r = CliRunner().invoke(cli.cli, ["explain", PEER, WEB, "-f", str(NET)])
    assert r.exit_code == 0, r.output
    assert ARRIVED.format("10.1.1.10") in r.output
    assert "seen source: 10.1.1.10" in r.output


# ---- probe and matrix rows ---------------------------------------------------------------------------


def row(model, src, dst, o_kw, proto="icmp", port=None, captured=True, hits=None):
    t = targets.target(model, src, dst, proto, port)
    v = analyze.explain(model, t.src.ref, t.dst_ref, proto, port)
    o = ProbeOutcome(t.spec(model.name, v), **o_kw)
    return verdicts.classify(model, t, o, v, captured, hits=hits)


def test_a_fast_path_row_takes_explains_seen_source_and_says_so():
    model = lab()
    r = row(model, PEER, WEB, {"replied": True, "rtt_ms": 0.2, "detail": "SYN-ACK"}, "tcp", 80, captured=False)
    assert (r["result"], r["seen_source"], r["seen_source_from"]) == ("reachable", "10.1.1.10", "explain")
    r = row(model, FAR, "internet/web", {"replied": True, "rtt_ms": 0.2, "detail": "SYN-ACK"}, "tcp", 80,
            captured=False)
    assert (r["seen_source"], r["seen_source_from"]) == (FAR_EIP, "explain")  # its EIP, no NAT gateway


def test_a_captured_row_says_what_the_destination_saw():
    model = lab()
    seen = ["vpc-b", "vpc-a", WEB]
    r = row(model, PEER, WEB, {"replied": False, "rtt_ms": None, "detail": "no reply", "request_seen": seen,
                               "request_from": {h: "10.1.1.10" for h in seen}})
    assert (r["result"], r["reason"]["code"], r["seen_source"]) == ("unreachable", "SECURITY_GROUP_DENY", "10.1.1.10")
    assert "seen_source_from" not in r and "mismatch" not in r
    # a request that never arrived has no seen source
    r = row(model, PEER, WEB, {"replied": False, "rtt_ms": None, "detail": "no reply", "request_seen": ["vpc-b"],
                               "request_from": {"vpc-b": "10.1.1.10"}})
    assert r["seen_source"] is None
    # over the EIP: what the captures saw, checked against explain
    r = row(model, FAR, WEB_EIP, {"replied": False, "rtt_ms": None, "detail": "no reply",
                                  "request_seen": ["vpc-c", "internet", "vpc-a", WEB],
                                  "request_from": {"vpc-c": "10.2.1.10", "internet": FAR_EIP, "vpc-a": FAR_EIP,
                                                   WEB: FAR_EIP}})
    assert (r["seen_source"], r.get("mismatch")) == (FAR_EIP, None)
    r = row(model, FAR, WEB_EIP, {"replied": False, "rtt_ms": None, "detail": "no reply",
                                  "request_seen": ["vpc-c", "internet", "vpc-a", WEB],
                                  "request_from": {WEB: "10.2.1.10"}})
    assert r["seen_source"] == "10.2.1.10" and f"explain says {FAR_EIP}" in r["mismatch"]


def test_a_counter_named_drop_at_the_destination_says_the_request_arrived():
    model = lab()
    seen = ["vpc-b", "vpc-a", WEB]
    ns = names.instance_ns(model.name, "vpc-a", "web-1")
    hit = nftc.Hit(ns, RuleRef("sg", "vpc-a", "web-1", "ingress", None), "drop", 1)
    r = row(model, PEER, WEB, {"replied": False, "rtt_ms": None, "detail": "no reply", "request_seen": seen,
                               "request_from": {h: "10.1.1.10" for h in seen}}, hits=[hit])
    assert r["reason_from"] == "counters"
    assert (r["reason"]["group"], r["reason"]["direction"], r["reason"]["rule"]) == ("sg-web", "ingress", None)
    assert r["reason"]["detail"] == ARRIVED.format("10.1.1.10") + ": counter +1)"
    assert "mismatch" not in r


def test_the_probe_stop_line_says_the_request_reached_the_destination():
    doc = analyze.explain(lab(), PEER, WEB).to_json()
    doc["evidence"] = [
        {"at": PEER, "dir": "request", "t_ms": 0.0, "src": "10.1.1.10", "dst": "10.0.1.10", "if": "eth0",
         "way": "tx", "what": "echo-request", "role": "source"},
        {"at": "vpc-a", "dir": "request", "t_ms": 0.1, "src": "10.1.1.10", "dst": "10.0.1.10", "if": "i-web-1",
         "way": "tx", "what": "echo-request", "role": "router"},
        {"at": WEB, "dir": "request", "t_ms": 0.2, "src": "10.1.1.10", "dst": "10.0.1.10", "if": "eth0",
         "way": "rx", "what": "echo-request", "role": "instance"}]
    line = stop_line(doc)
    assert line == "stopped: " + ARRIVED.format("10.1.1.10") + ")"
    assert "never sent on" not in line


# ---- the engine: the source address each capture point saw -------------------------------------------


def test_annotate_gives_the_source_each_point_saw_the_request_come_in_with():
    """A plain capture session files a packet under its own addresses: the key is the source."""
    req, rep = wire.probe_keys(1, wire.addr4("10.1.1.10"), wire.addr4("10.0.1.10"), 7, 9)
    s = CaptureSession.__new__(CaptureSession)  # no sockets: only the bookkeeping is exercised
    s.seen, s.errors, s.index = {req: {(0, "p"), (1, "eth0")}}, {}, {"ns-r": 0, "ns-i": 1, "ns-x": 2}
    points = [CapturePoint("ns-r", None, "vpc-a"), CapturePoint("ns-i", None, WEB), CapturePoint("ns-x", None, "x")]
    o = ProbeOutcome(ProbeSpec("ns-s", "10.1.1.10", "10.0.1.10", "icmp"), False, None, detail="no reply")
    annotate(o, s, req, rep, points, {})
    assert o.request_seen == ["vpc-a", WEB]
    assert o.request_from == {"vpc-a": "10.1.1.10", WEB: "10.1.1.10"}


def tcp_syn(src, dst, sport, dport) -> bytes:
    """An IPv4 TCP SYN, header only."""
    ip = bytes([0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0]) + socket.inet_aton(src) + socket.inet_aton(dst)
    return ip + struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 0x50, 0x02, 64240, 0, 0)


class _Packets:
    """A capture socket that hands out canned packets, then would block."""

    def __init__(self, packets):
        self.packets = list(packets)

    def recvfrom(self, n):
        if not self.packets:
            raise BlockingIOError
        return self.packets.pop(0)


def test_a_translated_session_records_the_address_a_request_came_in_with():
    """FlowSession files packets under the probe's own key whatever a NAT rewrote: the address
    the request really arrived with is recorded per namespace (incoming copies only)."""
    from vpclab.kernel.nsenter import Hopper
    from vpclab.probe import evidence as ev
    from vpclab.probe.capture import PACKET_OUTGOING

    with Hopper() as hop:
        s = ev.FlowSession(hop, [])
        try:
            keys = wire.probe_keys(6, wire.addr4("10.2.1.10"), wire.addr4(WEB_EIP), 40001, 80)
            s.flows[(6, keys[0][9:13])] = keys
            s.index, s.ns = {"ns-c": 0, "ns-a": 1}, ["ns-c", "ns-a"]
            s.socks = {101: (_Packets([(tcp_syn("10.2.1.10", WEB_EIP, 40001, 80), ("eth0", 0x800, PACKET_OUTGOING)),
                                       (tcp_syn("10.2.1.10", WEB_EIP, 40001, 80), ("i", 0x800, 0))]), 0),
                       102: (_Packets([(tcp_syn(FAR_EIP, "10.0.1.10", 40001, 80), ("i-web", 0x800, 0)),
                                       (tcp_syn(FAR_EIP, "10.0.1.10", 40001, 80), ("i-web", 0x800, 0))]), 1)}
            s.drain(101)
            s.drain(102)
            assert s.request_source(keys[0], 0) == socket.inet_aton("10.2.1.10")
            assert s.request_source(keys[0], 1) == socket.inet_aton(FAR_EIP)  # after the EIP's SNAT
        finally:
            s.socks = {}
            s.close()
