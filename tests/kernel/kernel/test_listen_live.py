"""`listen:` on a cvm (TOPOLOGY.md version 3): real listeners from the lab's service daemon.

A real client in the lab connects over TCP and exchanges a UDP datagram with the listed ports;
a port not listed (or listed for the other protocol only) is refused by the kernel, as before.
`probe` and `explain` agree: no NO_LISTENER note on a listed port, the note on another.
"""
from __future__ import annotations

import os
import socket
from contextlib import contextmanager

import pytest

from labkit import needs_root, run_json
from vpclab.plan import names

pytestmark = [pytest.mark.kernel, needs_root]

TOPOLOGY = """\
lab: placeholder
vpcs:
  v:
    region: ap-guangzhou
    cidr: 10.5.0.0/16
    subnets: {s: {cidr: 10.5.1.0/24}}
    instances:
      cli: {subnet: s, ip: 10.5.1.10}
      web: {subnet: s, ip: 10.5.1.20, listen: [tcp/80, udp/53]}
"""
WEB = "10.5.1.20"


@contextmanager
def inside(ns: str):
    """This thread inside namespace `ns` (to create a client socket there)."""
    from pyroute2 import netns

    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
    try:
        netns.setns(target, flags=0)
        try:
            yield
        finally:
            netns.setns(home, flags=0)
    finally:
        os.close(target)
        os.close(home)


def tcp(ns: str, port: int) -> bytes:
    with inside(ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with s:
        s.settimeout(5)
        s.connect((WEB, port))
        out = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return out
            out += chunk


def udp(ns: str, port: int) -> bytes:
    with inside(ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with s:
        s.settimeout(5)
        s.connect((WEB, port))  # connected: an ICMP port unreachable comes back as ECONNREFUSED
        s.send(b"ping")
        return s.recv(2048)


def test_listed_ports_answer_and_the_others_are_refused(mklab, tmp_path):
    src = tmp_path / "listen.yaml"
    src.write_text(TOPOLOGY)
    lab, _ = mklab(src)
    cli = names.instance_ns(lab, "v", "cli")
    assert tcp(cli, 80) == b"hello from v/web on tcp/80\n"
    assert udp(cli, 53) == b"ping"  # an echo
    with pytest.raises(ConnectionRefusedError):
        tcp(cli, 81)  # not listed: RST
    with pytest.raises(ConnectionRefusedError):
        tcp(cli, 53)  # listed for UDP only
    with pytest.raises(ConnectionRefusedError):
        udp(cli, 80)  # listed for TCP only: ICMP port unreachable

    # the packets and the model say the same
    for port, listening in ((80, True), (81, False)):
        row = run_json("probe", "v/cli", "v/web", "--proto", "tcp", "--port", str(port), "-l", lab)
        said = run_json("explain", "v/cli", "v/web", "--proto", "tcp", "--port", str(port), "-l", lab)
        assert row["result"] == said["result"] == "reachable", (row, said)
        notes = [(d.get("note") or {}).get("code") for d in (row, said)]
        assert notes == ([None, None] if listening else ["NO_LISTENER", "NO_LISTENER"]), (port, row, said)
