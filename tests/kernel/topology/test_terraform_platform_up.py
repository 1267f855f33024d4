"""The platform team's plan (tests/fixtures/terraform/platform-plan.json) imported, then its
expectations checked with real packets by `pytest --vpclab`, as the team's CI does.

The import writes net.yaml on every plan; the team keeps team.yaml by hand: it includes
net.yaml and adds what the plan cannot say, an Internet host to test egress through the NAT
gateway and to reach the web servers' EIPs from, and the expectations.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from labkit import assert_gone, lab_name, needs_root, run

pytestmark = needs_root

PLAN = Path(__file__).resolve().parents[2] / "fixtures" / "terraform" / "platform-plan.json"
TEAM = """include: [net.yaml]
internet:                      # merged into net.yaml's internet: (its range holds the EIPs)
  hosts: {web: {ip: 203.0.113.250, ports: [443]}}
expect:
  - {from: hub-spoke-app/web-server-0, to: hub-spoke-db/db-primary, proto: tcp, port: 3306}   # same account
  - {from: hub-spoke-app/web-server-1, to: partner/partner-api, proto: tcp, port: 443}       # accepted
  - {from: hub-spoke-db/db-primary, to: partner/partner-api, result: unreachable}            # rejected
  - {from: edge/bastion, to: hub-spoke-app/web-server-0, proto: tcp, port: 22}
  - {from: edge/bastion, to: hub-spoke-app/web-server-0, proto: tcp, port: 80, result: unreachable}  # group
  - {from: hub-spoke-app/web-server-0, to: hub-spoke-db/db-primary, proto: tcp, port: 22, result: unreachable}  # ACL
  - {from: edge/worker, to: internet/web, proto: tcp, port: 443}                             # NAT gateway
  - {from: internet/web, to: hub-spoke-app/web-server-0, proto: tcp, port: 443}              # its EIP
  - {from: internet/web, to: hub-spoke-app/web-server-0, proto: tcp, port: 22, result: unreachable}
"""


def test_the_imported_plan_keeps_the_teams_expectations_with_real_packets(tmp_path):
    lab = lab_name()
    net = tmp_path / "net.yaml"
    run("import", "terraform", PLAN, "--lab", lab, "-o", net, check=0)
    team = tmp_path / "team.yaml"
    team.write_text(TEAM)
    run("validate", team, check=0)
    p = subprocess.run([sys.executable, "-m", "pytest", "--vpclab", str(team), "-p", "no:cacheprovider", "-q",
                        "-p", "no:randomly"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    built = re.findall(r"lab ([a-z0-9]{1,8}) built and removed", p.stdout)
    try:
        assert p.returncode == 0 and "9 passed" in p.stdout, p.stdout[-4000:] + p.stderr[-2000:]
        assert built, p.stdout[-2000:]
    finally:
        for name in built or [lab]:
            run("down", name, timeout=120)
    for name in built:
        assert_gone(name)
