"""`vpclab usage` for CCN inter-region traffic (pure): per CCN and region pair, the month's 95th
percentile of max(out, in) per window, the valid days (a sample above 10 Kbps), the price and
the payer (the CCN's account). Expected values worked out by hand in each test."""
from __future__ import annotations

import pytest

from vpclab.topology.load import loads
from vpclab.usage import ccn, report
from vpclab.usage.samples import Sample

TOPO = """lab: ccnuse
accounts: [alice, bob]
billing: {currency: CNY, prices: {gz/sh: 1.5}}
vpcs:
  a: {account: bob, region: gz, cidr: 10.0.0.0/16, subnets: {s: {cidr: 10.0.1.0/24}}}
  b: {account: alice, region: sh, cidr: 10.1.0.0/16, subnets: {s: {cidr: 10.1.1.0/24}}}
  c: {account: alice, region: gz, cidr: 10.2.0.0/16, subnets: {s: {cidr: 10.2.1.0/24}}}
  d: {account: alice, region: bj, cidr: 10.3.0.0/16, subnets: {s: {cidr: 10.3.1.0/24}}}
ccns:
  ccn-x:
    account: alice
    attachments: [{vpc: a, accepted: true}, {vpc: b}, {vpc: c}, {vpc: d}]
"""
MB = 37_500_000  # bytes in a 300 s window at 1 Mbps
SID = "ccn-x@gz/sh"


def samples():
    """Day 0: 40 windows of 300 s; window k carries out k+1 Mbps, in 2 Mbps (the last: in 100 Mbps).
    Day 1 (clock advanced): one window of 0.008 Mbps. Day 2: one of 0.02 Mbps."""
    out, o, i = [Sample(1000.0, 0.0, SID, 0, 0, 1_000_000)], 0, 0
    for k in range(40):
        o += (k + 1) * MB
        i += (100 if k == 39 else 2) * MB
        out.append(Sample(1000.0 + 300 * (k + 1), 0.0, SID, o, i, 1_000_000))
    o += 300_000  # 0.008 Mbps over 300 s: under 10 Kbps
    out.append(Sample(1000.0 + 300 * 41, 86400.0, SID, o, i, 1_000_000))
    o += 750_000  # 0.02 Mbps
    out.append(Sample(1000.0 + 300 * 42, 172800.0, SID, o, i, 1_000_000))
    return out


def doc_for(lab, rows):
    doc = report.build(lab, 1000.0, rows, lab.billing)
    ccn.add(doc, lab, report.series(rows, 1000.0, doc["window_s"]), lab.billing)
    return doc


def test_ids_and_the_metered_pairs():
    assert ccn.sample_id("ccn-x", "sh", "gz") == SID and ccn.parse_id(SID) == ("ccn-x", "gz", "sh")
    assert ccn.parse_id("pcx-ab") is None
    lab = loads(TOPO)
    # a, b, c, d ACTIVE: regions bj, gz, sh -> three pairs
    assert ccn.pairs(lab) == [("ccn-x", "bj", "gz"), ("ccn-x", "bj", "sh"), ("ccn-x", "gz", "sh")]
    pending = loads(TOPO.replace("{vpc: a, accepted: true}", "{vpc: a}").replace(", {vpc: d}", ""))
    # a PENDING (not metered), d gone: b in sh and c in gz still make one pair
    assert ccn.pairs(pending) == [("ccn-x", "gz", "sh")]
    one_region = loads(TOPO.replace(", {vpc: b}", "").replace(", {vpc: d}", ""))
    assert ccn.pairs(one_region) == []  # inside one region: free, no link to meter


def test_month_p95_of_the_larger_direction_valid_days_price_and_payer():
    lab = loads(TOPO)
    doc = doc_for(lab, samples())
    row = next(r for r in doc["ccns"] if r["id"] == SID)
    # values max(out, in): 2, 2, 3, ..., 39, 100 (40) + 0.008 + 0.02; floor(42/20) = 2 dropped (100, 39)
    (m,) = row["months"]
    assert m["p95_mbps"] == 38.0 and m["windows"] == 42
    assert m["valid_days"] == 2  # day 0 and day 2; day 1's only sample is under 10 Kbps
    assert [d["valid"] for d in row["days"]] == [True, False, True]
    assert m["cost"] == 38.0 * 1.5 * 2 == row["cost"]
    assert row["payer"] == "alice"  # the CCN's owner, though a is bob's
    assert row["cap_mbps"] == [1000.0, 1000.0] and row["charge_type"] == "POSTPAID_BY_MONTH_95"
    assert row["days"][0]["peak_mbps"] == 100.0
    assert row["bytes_out"] == sum(range(1, 41)) * MB + 300_000 + 750_000
    assert doc["totals"] == [{"account": "alice", "cost": 114.0, "currency": "CNY"}]
    # the other pairs were not sampled: listed, no cost
    assert {r["id"]: r["cost"] for r in doc["ccns"]} == {"ccn-x@bj/gz": None, "ccn-x@bj/sh": None, SID: 114.0}
    assert "no price for region pair bj/gz, bj/sh" in doc["note"]


def test_no_prices_is_usage_only_and_a_peering_total_merges():
    lab = loads(TOPO.replace("billing: {currency: CNY, prices: {gz/sh: 1.5}}\n", ""))
    doc = doc_for(lab, samples())
    row = next(r for r in doc["ccns"] if r["id"] == SID)
    assert row["cost"] is None and row["months"][0]["p95_mbps"] == 38.0 and doc["totals"] == []
    priced = loads(TOPO)
    doc = {"totals": [{"account": "alice", "cost": 6.0, "currency": "CNY"}], "currency": "CNY", "note": None}
    ccn.add(doc, priced, report.series(samples(), 1000.0, 300.0), priced.billing)
    assert doc["totals"] == [{"account": "alice", "cost": 120.0, "currency": "CNY"}]


def test_outer_region_caps_per_direction():
    lab = loads(TOPO.replace("    account: alice\n    attachments",
                             "    account: alice\n    bandwidth_limits: [{region: gz, bandwidth: 200Mbps}]\n"
                             "    attachments"))
    row = next(r for r in doc_for(lab, samples())["ccns"] if r["id"] == SID)
    assert row["cap_mbps"] == [200.0, 1000.0]  # gz -> sh capped by gz's outbound total; sh -> gz the default


def test_the_table_shows_each_pair_day_and_month(capsys):
    from vpclab.cli.usage import _human

    lab = loads(TOPO)
    _human(dict(doc_for(lab, samples()), metering=True))
    out = capsys.readouterr().out
    assert "CCN inter-region traffic (billed by the month's 95th percentile of max(out, in) per window)" in out
    month = next(line for line in out.splitlines() if "month 0" in line and "gz<->sh" in line)
    assert "p95 38.00" in month and "2/30" in month and "114.00 CNY" in month and "alice" in month
    day1 = next(line for line in out.splitlines() if "gz<->sh" in line and " 1 " in line and " no " in line)
    assert "1000/1000" in day1
    assert "total alice: 114.00 CNY" in out


def test_the_meter_reads_each_pairs_link_at_both_routers():
    from vpclab.usage import meter

    lab = loads(TOPO)
    got = {t[0]: t[1:] for t in meter.targets("cu", lab)}
    # the link between the CCN's gz and sh routers: in gz's its name is "to sh" (cu-x-sh), in sh's "to gz"
    assert got[SID] == ("vpclab-cu-ccn.0.gz", "vpclab-cu-ccn.0.sh", ("cu-x-sh", "cu-x-gz"), 1_000_000)
    assert set(got) == {"ccn-x@bj/gz", "ccn-x@bj/sh", SID}  # no peering in this lab


def test_the_plot_has_a_row_per_ccn_pair(tmp_path):
    pytest.importorskip("matplotlib")
    from vpclab.controller import usage as plot  # draw: usage/plot through the checked opener

    lab = loads(TOPO)
    doc = doc_for(lab, samples())
    got = plot.draw(doc, report.series(samples(), 1000.0, 300.0), str(tmp_path / "ccn.png"))
    assert got["peerings"] == [SID] and got["days"] == [0, 1, 2]  # the unsampled pairs have no row
    assert (tmp_path / "ccn.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
