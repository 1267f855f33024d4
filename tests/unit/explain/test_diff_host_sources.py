"""vpclab diff asks from the Internet hosts too (version 3: a host may be a source): a rule change that
loses "web on 443 from the Internet" is a lost row from the host, naming the rule."""
from vpclab.explain import diff as d
from vpclab.topology import load

OLD = """
lab: hd
regions: {ap-guangzhou: {}}
internet:
  hosts: {client: {ip: 203.0.113.200}}
vpcs:
  a:
    region: ap-guangzhou
    cidr: 10.0.0.0/16
    subnets: {app: {cidr: 10.0.1.0/24}}
    security_groups:
      sg-web:
        ingress:
        - {proto: tcp, port: 443, source: 0.0.0.0/0, action: accept}
    instances:
      web-1: {subnet: app, eip: 203.0.113.10, security_groups: [sg-web], listen: [tcp/443]}
      cvm-1: {subnet: app}
"""


def test_a_rule_change_from_the_internet_is_a_row_from_the_host():
    old = load.loads(OLD, "old.yaml")
    new = load.loads(OLD.replace("port: 443, source: 0.0.0.0/0", "port: 443, source: 10.0.0.0/8"), "new.yaml")
    rows = [c for c in d.diff(old, new)["changes"] if c["src"] == "internet/client"]
    assert [(c["dst"], c["proto"], c["port"], c["change"]) for c in rows] == [("a/web-1", "tcp", 443, "lost")]
    (cause,) = [x for x in rows[0]["causes"] if x["kind"] == "security_group"]
    assert cause["group"] == "sg-web" and cause["old"]["rule"] == 0


def test_the_pruned_diff_equals_the_full_reference_with_host_sources():
    old = load.loads(OLD, "old.yaml")
    new = load.loads(OLD.replace("port: 443, source: 0.0.0.0/0", "port: 443, source: 10.0.0.0/8"), "new.yaml")
    got = {(c["src"], c["dst"], c["proto"], c["port"]) for c in d.diff(old, new)["changes"]}
    want = {k for k, (a, b) in d.full(old, new).items() if a != b}
    assert got == want and any(k[0] == "internet/client" for k in want)
