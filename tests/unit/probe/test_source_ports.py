"""Source ports of successive probe runs (probe/ports.py): a run never reuses the flow keys
the run before it sent, whose state (a NAT's conntrack entry, a half-open connection at the
destination) would still be in the kernel. Found by the differential test: a matrix run right
after a probe run sent the same SYNs, and a NAT gateway ignored them."""
import socket
from types import SimpleNamespace

from vpclab.probe import ports


def _probes(n):
    return [SimpleNamespace(proto=socket.IPPROTO_TCP, src4=socket.inet_aton("10.1.3.11"),
                            dst4=socket.inet_aton("203.0.113.200"),
                            spec=SimpleNamespace(sports=None, port=80 + i % 2, src_ip="10.1.3.11"),
                            plan=0, req_key=None, rep_key=None) for i in range(n)]


def test_a_run_never_repeats_the_keys_of_the_run_before_it():
    first, second = _probes(26), _probes(26)
    ports.SourcePorts().plan(first)
    ports.SourcePorts().plan(second)
    used = {p.req_key for p in first}
    assert len(used) == 26
    assert not used & {p.req_key for p in second}


def test_translated_runs_do_not_repeat_ports_either():
    first, second = _probes(10), _probes(10)
    ports.SourcePorts(flow_index={}).plan(first)
    ports.SourcePorts(flow_index={}).plan(second)
    assert not {p.plan for p in first} & {p.plan for p in second}


def test_ports_stay_in_the_ephemeral_range_when_the_cursor_wraps(monkeypatch):
    monkeypatch.setattr(ports, "_cursor", 5 * ports.PORT_SPAN - 3)
    probes = _probes(8)
    ports.SourcePorts().plan(probes)
    assert all(ports.PORT_LOW <= p.plan < ports.PORT_LOW + ports.PORT_SPAN for p in probes)
    assert len({p.plan for p in probes}) == 8
