"""`vpclab usage` meters a CCN's inter-region link: iperf3 between two CCN members in two regions
through a 20 Mbps cap; the day's peak is iperf3's own rate on the wire, the month's 95th
percentile and cost follow from it, the CCN's owner pays, and a third member in the sender's
region adds no pair (inside one region the CCN is free)."""
from __future__ import annotations

import shutil

import pytest

from labkit import meter_pids as lab_pids, needs_root, run, run_json
from test_usage_live import iperf3, wait_for_samples, wait_windows, wire_mbps

pytestmark = [pytest.mark.kernel, needs_root]

PRICE = 2.0  # per Mbps-day, gz <-> sh
TOPOLOGY = f"""\
lab: ccnuse
accounts: [alice, bob]
vpcs:
  a: {{account: bob, region: ap-guangzhou, cidr: 10.0.0.0/16, subnets: {{s: {{cidr: 10.0.1.0/24}}}},
      instances: {{c: {{subnet: s, ip: 10.0.1.10}}}}}}
  b: {{account: alice, region: ap-shanghai, cidr: 10.1.0.0/16, subnets: {{s: {{cidr: 10.1.1.0/24}}}},
      instances: {{c: {{subnet: s, ip: 10.1.1.10}}}}}}
  c: {{account: alice, region: ap-guangzhou, cidr: 10.2.0.0/16, subnets: {{s: {{cidr: 10.2.1.0/24}}}}}}
ccns:
  ccn-x:
    account: alice
    bandwidth_limits: [{{regions: [ap-guangzhou, ap-shanghai], bandwidth: 20Mbps}}]
    attachments: [{{vpc: a, accepted: true}}, {{vpc: b}}, {{vpc: c}}]
billing:
  window: 1s
  currency: CNY
  prices: {{ap-guangzhou/ap-shanghai: {PRICE}}}
"""


@pytest.mark.long(10)
def test_ccn_pair_is_metered_by_its_monthly_p95(mklab):
    if shutil.which("iperf3") is None:
        pytest.skip("iperf3 is not installed (apt-get install iperf3)")
    lab, _ = mklab(TOPOLOGY)
    assert lab_pids(lab), "up started no meter"
    wait_for_samples(lab)
    run("exec", "b/c", "-l", lab, "--", "iperf3", "-s", "-D", "-B", "10.1.1.10", check=0)
    sent = iperf3(lab, "a/c", "10.1.1.10", 4)
    wait_windows(lab, 2)

    doc = run_json("usage", "-l", lab)
    (row,) = doc["ccns"]  # a and c share gz: one pair
    assert row["id"] == "ccn-x@ap-guangzhou/ap-shanghai" and row["payer"] == "alice"  # a is bob's
    assert row["cap_mbps"] == [20.0, 20.0]
    (day,) = row["days"]
    expected = wire_mbps(sent)
    assert expected < 20 * 1.02  # the cap held
    assert abs(day["peak_mbps"] - expected) <= 0.05 * expected, (day["peak_mbps"], expected)
    assert day["valid"] and day["bytes_out"] >= sent["end"]["sum_received"]["bytes"] and day["bytes_in"] > 0
    (month,) = row["months"]
    assert 0 < month["p95_mbps"] <= day["peak_mbps"] and month["valid_days"] == 1
    assert month["cost"] == pytest.approx(month["p95_mbps"] * PRICE, abs=1e-3) == row["cost"]
    assert doc["totals"] == [{"account": "alice", "cost": row["cost"], "currency": "CNY"}]
    assert "CCN inter-region traffic" in run("usage", "-l", lab, check=0).stdout
