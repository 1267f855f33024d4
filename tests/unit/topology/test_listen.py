"""`listen:` on any instance (TOPOLOGY.md version 3): read, refused at its line, round-tripped,
planned as the daemon's sockets, and what explain calls listening; earlier meanings unchanged."""
from __future__ import annotations

import pytest

from vpclab.errors import TopologyInvalid
from vpclab.explain import explain
from vpclab.model.codec import lab_from_dict, lab_to_dict
from vpclab.plan.planner import services
from vpclab.topology import load as loader

TOPOLOGY = """\
lab: listen
vpcs:
  v:
    region: ap-guangzhou
    cidr: 10.5.0.0/16
    subnets: {s: {cidr: 10.5.1.0/24}}
    instances:
      cli: {subnet: s, ip: 10.5.1.10}
      web: {subnet: s, ip: 10.5.1.20, listen: [tcp/80, udp/53, tcp/53]}
      db: {subnet: s, ip: 10.5.1.30, kind: cdb, listen: [udp/9000]}
"""


def _note(lab, dst, proto, port):
    v = explain(lab, "v/cli", dst, proto, port)
    assert v.result == "reachable", v
    return v.note.code if v.note is not None else None


def test_a_listed_port_listens_and_only_for_its_protocol():
    lab = loader.loads(TOPOLOGY, "t.yaml")
    assert lab.instance("v/web").listen == [("tcp", 80), ("udp", 53), ("tcp", 53)]
    assert _note(lab, "v/web", "tcp", 80) is None
    assert _note(lab, "v/web", "udp", 53) is None
    assert _note(lab, "v/web", "tcp", 53) is None
    assert _note(lab, "v/web", "udp", 80) == "NO_LISTENER"  # tcp/80 only
    assert _note(lab, "v/web", "tcp", 81) == "NO_LISTENER"  # not listed: closed, as before
    assert _note(lab, "v/db", "tcp", 3306) is None  # a cdb keeps its implicit port
    assert _note(lab, "v/db", "udp", 9000) is None


def test_the_plan_binds_what_is_listed():
    lab = loader.loads(TOPOLOGY, "t.yaml")
    got = {(s.name, s.port): (s.kind, s.protos) for s in services(lab)}
    assert got == {("v/web", 80): ("listener", ("tcp",)), ("v/web", 53): ("listener", ("tcp", "udp")),
                   ("v/db", 3306): ("listener", ("tcp", "udp")), ("v/db", 9000): ("listener", ("udp",))}


def test_a_cvm_without_listen_still_has_no_listener():
    lab = loader.loads(TOPOLOGY.replace(", listen: [tcp/80, udp/53, tcp/53]", ""), "t.yaml")
    assert _note(lab, "v/web", "tcp", 80) == "NO_LISTENER"
    assert [s.name for s in services(lab)] == ["v/db", "v/db"]


def test_the_state_codec_keeps_it():
    lab = loader.loads(TOPOLOGY, "t.yaml")
    back = lab_from_dict(lab_to_dict(lab))
    assert back.instance("v/web").listen == [("tcp", 80), ("udp", 53), ("tcp", 53)]
    assert "listen" not in [i for i in lab_to_dict(lab)["vpcs"][0]["instances"] if i["name"] == "cli"][0]


@pytest.mark.parametrize("entry, code", [
    ("tcp/80, tcp/80", "InvalidParameterValue.Duplicate"),
    ("tcp/0", "InvalidParameterValue.Range"),
    ("udp/65536", "InvalidParameterValue.Range"),
    ("icmp/1", "InvalidParameterValue.Malformed"),
    ("80", "InvalidParameterValue.Malformed"),
    ("tcp-80", "InvalidParameterValue.Malformed"),
])
def test_a_bad_entry_is_refused_at_its_line(entry, code):
    items = "".join(f"\n          - {e.strip()}" for e in entry.split(","))
    web = "      web: {subnet: s, ip: 10.5.1.20, listen: [tcp/80, udp/53, tcp/53]}"
    text = TOPOLOGY.replace(web, "      web:\n        subnet: s\n        listen:" + items)
    with pytest.raises(TopologyInvalid) as e:
        loader.loads(text, "t.yaml")
    line = len(text[:text.rindex("- " + entry.split(",")[-1].strip())].splitlines())
    assert [(p.code, p.line) for p in e.value.problems] == [(code, line)]
