"""explain against the kernel on the shipped version-2 topologies, with real TCP connects.

For every instance and every destination (the other instances, the Internet's hosts, the
EIPs), a TCP connect from the source's namespace either gets an answer (connected, or
refused by a closed port: a reply came back) or times out. explain must say `reachable`
exactly when an answer came back. This checks the model of filters, EIPs, NAT gateways and
the Internet against the nftables rulesets and routes without the probe engine (whose
Internet destinations and filter classification are built separately). It needs the
planner's filter objects; without them it skips, saying so.
"""
from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from labkit import TOPOLOGIES, VPCLAB, needs_root
from vpclab import explain as analyze
from vpclab.topology import load as loader
from vpclab.explain.filtered import public_destinations

pytestmark = [pytest.mark.kernel, needs_root]


def answered(lab: str, src: str, ip: str, port: int) -> bool:
    """Whether a TCP connect from `src` to ip:port got any answer (SYN-ACK or RST) within 2 s."""
    p = subprocess.run([VPCLAB, "exec", "-l", lab, src, "--", "timeout", "2", "bash", "-c",
                        f"exec 3<>/dev/tcp/{ip}/{port}"], capture_output=True, text=True, timeout=30)
    return p.returncode == 0 or "Connection refused" in p.stderr


@pytest.mark.parametrize("name", ["06-internet-vs-peering.yaml", "07-security-groups.yaml"])
def test_explain_agrees_with_tcp_connects(mklab, name):
    model = loader.load(TOPOLOGIES / name)
    lab, _ = mklab(TOPOLOGIES / name)
    questions = []
    for s in model.instances():
        for dst in [i.ref for i in model.instances() if i is not s] + public_destinations(model):
            if dst == str(s.eip):
                continue
            inst = model.instance(dst)
            host = model.internet.hosts.get(dst.partition("/")[2]) if dst.startswith("internet/") else None
            ip = str(inst.ip) if inst else str(host.ip) if host else dst
            port = inst.service_port if inst and inst.service_port else host.ports[0] if host and host.ports else 22
            questions.append((s.ref, dst, ip, port))
    with ThreadPoolExecutor(16) as pool:
        got = list(pool.map(lambda q: answered(lab, q[0], q[2], q[3]), questions))
    wrong = [(s, d, port, analyze.explain(model, s, d, "tcp", port).result, "answered" if a else "no answer")
             for (s, d, _, port), a in zip(questions, got)
             if (analyze.explain(model, s, d, "tcp", port).result == "reachable") != a]
    assert not wrong, wrong
    assert len(questions) >= 20
