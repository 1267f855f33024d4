"""The matrix asks every `listen:` port (TOPOLOGY.md v3) as it asks a service instance's port:
to the private address, to the EIP, and from an Internet host (controller/targets.py)."""
from vpclab.controller.targets import host_targets, matrix_targets
from vpclab.topology import load

TOPO = """
lab: ml
regions: {ap-guangzhou: {}}
internet:
  hosts: {client: {ip: 203.0.113.200}}
vpcs:
  a:
    region: ap-guangzhou
    cidr: 10.0.0.0/16
    subnets: {app: {cidr: 10.0.1.0/24}}
    instances:
      web-1: {subnet: app, eip: 203.0.113.10, listen: [tcp/80, udp/53]}
      db-1: {subnet: app, kind: cdb, listen: [tcp/3306, udp/3306]}
      cvm-1: {subnet: app}
"""


def asked(targets, dst):
    return sorted((t.proto, t.port) for t in targets if t.dst_ref == dst and t.proto != "icmp")


def test_listen_ports_are_asked_beside_the_service_port():
    m = load.loads(TOPO, "ml.yaml")
    src = m.instance("a/cvm-1")
    ts = matrix_targets(src, m.instances(), list(m.internet.hosts.values()))
    assert asked(ts, "a/web-1") == [("tcp", 80), ("udp", 53)]
    assert asked(ts, "203.0.113.10") == [("tcp", 80), ("udp", 53)]
    assert asked(ts, "a/db-1") == [("tcp", 3306), ("udp", 3306)]  # the service's tcp/3306 once
    from_host = host_targets(m.internet.hosts["client"], m.instances())
    assert asked(from_host, "203.0.113.10") == [("tcp", 80), ("udp", 53)]
