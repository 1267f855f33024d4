"""`vpclab usage` on a real lab: iperf3 through a 20 Mbps cross-region peering, a day of lab
clock, the cap re-set to 5 Mbps, iperf3 again; the meter's days, peaks and costs are checked
against iperf3's own numbers and the price, a regional peering is free, the plot is a PNG,
and the meter goes with the lab."""
from __future__ import annotations

import json
import os
import shutil
import struct
import time
from pathlib import Path

import pytest

from labkit import meter_pids as lab_pids, needs_root, run, run_json

pytestmark = [pytest.mark.kernel, needs_root]

PRICE = 3.0  # CNY per Mbps-day, gz <-> sg
TOPOLOGY = f"""\
lab: usage
accounts: [alice, bob]
regions: {{ap-guangzhou: {{}}, ap-singapore: {{}}}}
vpcs:
  vpc-a:
    account: alice
    region: ap-guangzhou
    cidr: 10.0.0.0/16
    subnets: {{app: {{cidr: 10.0.1.0/24}}}}
    route_tables: {{default: {{routes: [{{destination: 10.1.0.0/16, next_hop: pcx-ab}},
                                        {{destination: 10.2.0.0/16, next_hop: pcx-ac}}]}}}}
    instances: {{cvm-1: {{subnet: app, ip: 10.0.1.10}}}}
  vpc-b:
    account: bob
    region: ap-singapore
    cidr: 10.1.0.0/16
    subnets: {{app: {{cidr: 10.1.1.0/24}}}}
    route_tables: {{default: {{routes: [{{destination: 10.0.0.0/16, next_hop: pcx-ab}}]}}}}
    instances: {{cvm-1: {{subnet: app, ip: 10.1.1.10}}}}
  vpc-c:
    account: alice
    region: ap-guangzhou
    cidr: 10.2.0.0/16
    subnets: {{app: {{cidr: 10.2.1.0/24}}}}
    route_tables: {{default: {{routes: [{{destination: 10.0.0.0/16, next_hop: pcx-ac}}]}}}}
    instances: {{cvm-1: {{subnet: app, ip: 10.2.1.10}}}}
peerings:
  pcx-ab: {{vpc: vpc-a, peer_vpc: vpc-b, bandwidth: 20Mbps, accepted: true}}
  pcx-ac: {{vpc: vpc-a, peer_vpc: vpc-c}}
billing:
  window: 1s
  currency: CNY
  prices: {{ap-guangzhou/ap-singapore: {PRICE}}}
"""
WINDOW = 1.0
ETH_IP_TCP = 14 + 20 + 32  # a data frame's headers around one MSS of payload (TCP timestamps on)


def iperf3(lab, src, dst_ip, seconds):
    """Run iperf3 from `src` to `dst_ip` (a server runs there); its JSON."""
    for _ in range(50):  # the daemon may need a moment before it listens
        p = run("exec", src, "-l", lab, "--", "iperf3", "-c", dst_ip, "-t", str(seconds), "-J", timeout=60)
        if p.returncode == 0:
            return json.loads(p.stdout)
        time.sleep(0.1)
    raise AssertionError(f"iperf3 never connected:\n{p.stdout}{p.stderr}")


def wait_for_samples(lab):
    """The meter has started (its first sample is in): the traffic that follows is in windows."""
    deadline = time.monotonic() + 30
    while run_json("usage", "-l", lab)["samples"] == 0:
        assert time.monotonic() < deadline, "the meter took no sample in 30 s"
        time.sleep(0.1)


def wait_windows(lab, n):
    """`n` more of the meter's windows are sampled (the event itself, not a fixed sleep)."""
    start = run_json("usage", "-l", lab)["samples"]
    deadline = time.monotonic() + 30 + 2 * n * WINDOW
    while run_json("usage", "-l", lab)["samples"] < start + n:
        assert time.monotonic() < deadline, f"the meter sampled fewer than {n} windows in time"
        time.sleep(0.1)


def wire_mbps(doc) -> float:
    """iperf3's receiver goodput with each segment's Ethernet, IP and TCP headers counted."""
    mss = doc["start"].get("tcp_mss_default") or 1448
    return doc["end"]["sum_received"]["bits_per_second"] / 1e6 * (mss + ETH_IP_TCP) / mss


@pytest.mark.long(20)
def test_two_days_two_caps_peaks_costs_regional_free_and_plot(mklab, tmp_path):
    if shutil.which("iperf3") is None:
        pytest.skip("iperf3 is not installed (apt-get install iperf3)")
    lab, _ = mklab(TOPOLOGY)
    assert lab_pids(lab), "up started no meter"
    wait_for_samples(lab)
    run("exec", "vpc-b/cvm-1", "-l", lab, "--", "iperf3", "-s", "-D", "-B", "10.1.1.10", check=0)
    run("exec", "vpc-a/cvm-1", "-l", lab, "--", "iperf3", "-s", "-D", "-B", "10.0.1.10", check=0)

    day0 = iperf3(lab, "vpc-a/cvm-1", "10.1.1.10", 5)
    wait_windows(lab, 2)  # the windows after the run are sampled
    run("clock", "advance", "1d", "-l", lab, check=0)
    run("peering", "modify", "pcx-ab", "--bandwidth", "5Mbps", "-l", lab, check=0)
    wait_windows(lab, 1)
    day1 = iperf3(lab, "vpc-a/cvm-1", "10.1.1.10", 5)
    regional = iperf3(lab, "vpc-c/cvm-1", "10.0.1.10", 2)
    wait_windows(lab, 2)

    doc = run_json("usage", "-l", lab)
    assert doc["priced"] and doc["currency"] == "CNY" and doc["metering"]
    ab = next(p for p in doc["peerings"] if p["id"] == "pcx-ab")
    assert ab["cross_region"] and ab["payer"] == "alice" and ab["charge_type"] == "POSTPAID_BY_DAY_MAX"
    assert [d["day"] for d in ab["days"]] == [0, 1]
    for d, run_doc, cap in zip(ab["days"], (day0, day1), (20, 5)):
        expected = wire_mbps(run_doc)
        assert abs(d["peak_mbps"] - expected) <= 0.05 * expected, \
            f"day {d['day']}: peak {d['peak_mbps']} Mbps, iperf3 {expected:.3f} Mbps on the wire"
        assert abs(d["cost"] - expected * PRICE) <= 0.05 * expected * PRICE, (d["cost"], expected * PRICE)
        assert d["cost"] == pytest.approx(d["peak_mbps"] * PRICE, abs=1e-3)
        assert d["cap_mbps"] == cap
        assert d["out_bytes"] >= run_doc["end"]["sum_received"]["bytes"]  # payload and headers
        assert d["in_bytes"] > 0  # the ACKs
        assert d["windows"] >= 4
    assert ab["cost"] == pytest.approx(sum(d["cost"] for d in ab["days"]), abs=1e-3)

    ac = next(p for p in doc["peerings"] if p["id"] == "pcx-ac")
    assert ac["free"] and not ac["cross_region"]
    got = sum(d["in_bytes"] for d in ac["days"])  # vpc-c -> vpc-a: inbound for the requester vpc-a
    assert got >= regional["end"]["sum_received"]["bytes"]
    assert max(d["peak_in_mbps"] for d in ac["days"]) > 20  # uncapped: faster than pcx-ab ever was
    assert all(d["cost"] == 0.0 for d in ac["days"]) and ac["cost"] == 0.0
    assert [t["account"] for t in doc["totals"]] == ["alice"]
    assert doc["totals"][0]["cost"] == pytest.approx(ab["cost"], abs=1e-3)

    human = run("usage", "-l", lab, check=0).stdout
    assert "pcx-ab" in human and "free" in human and "total alice" in human

    png = tmp_path / "usage.png"
    import os
    if os.environ.get("VPCLAB_KEEP_PLOT"):  # to look at it: VPCLAB_KEEP_PLOT=/tmp/usage.png
        png = __import__("pathlib").Path(os.environ["VPCLAB_KEEP_PLOT"])
    plotted = run_json("usage", "-l", lab, "--plot", png)
    assert plotted["plot"]["days"] == [0, 1] and set(plotted["plot"]["peerings"]) == {"pcx-ab", "pcx-ac"}
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 600 and height >= 400 and len(data) > 20_000


def test_prices_file_errors_damage_and_the_meter_goes_with_the_lab(mklab, tmp_path):
    lab, _ = mklab(TOPOLOGY.replace("window: 1s", "window: 2s"))
    bad = tmp_path / "prices.yaml"
    bad.write_text("currency: CNY\nprices:\n  ap-guangzhou/ap-singapore: free\n")
    p = run("usage", "-l", lab, "--prices", bad, check=2)
    assert f"{bad}:3: InvalidParameterValue: price of ap-guangzhou/ap-singapore must be a number" in p.stderr
    assert "Traceback" not in p.stderr

    good = tmp_path / "other.yaml"
    good.write_text("currency: USD\nprices: {ap-guangzhou/ap-singapore: 0.5}\n")
    doc = run_json("usage", "-l", lab, "--prices", good)
    assert doc["currency"] == "USD"
    assert next(p for p in doc["peerings"] if p["id"] == "pcx-ab")["price_per_mbps_day"] == 0.5

    pids = lab_pids(lab)
    assert len(pids) == 1
    (f := __import__("pathlib").Path(f"/run/vpclab/{lab}/usage.db")).write_bytes(b"garbage" * 1000)
    p = run("usage", "-l", lab, "--json", check=4)
    assert json.loads(p.stdout)["error"]["code"] == "StateError"
    assert oct(f.stat().st_mode & 0o777) == "0o600"

    run("down", lab, check=0)
    assert lab_pids(lab) == [], "the meter outlived its lab"


# The cloud's own 5-minute window (no `billing: window`): nothing closes a window during the test.
FIVE_MINUTES = TOPOLOGY.replace("  window: 1s\n", "")
TEN_MB = 10_000_000


def test_usage_is_current_the_open_window_counts_json_integers_and_plot_at_once(mklab, tmp_path):
    """10 MB sent over pcx-ab right after the meter's first sample show in `usage` at once (the
    counters are read when `usage` runs, the 5-minute window still open), as integers in
    `--json`, and `--plot` draws them without waiting for the window to close."""
    if shutil.which("iperf3") is None:
        pytest.skip("iperf3 is not installed (apt-get install iperf3)")
    assert "window" not in FIVE_MINUTES
    lab, _ = mklab(FIVE_MINUTES)
    wait_for_samples(lab)  # the meter's first sample is in; its next is 5 minutes away
    run("exec", "vpc-b/cvm-1", "-l", lab, "--", "iperf3", "-s", "-D", "-B", "10.1.1.10", check=0)
    sent = None
    for _ in range(50):  # the daemon may need a moment before it listens
        p = run("exec", "vpc-a/cvm-1", "-l", lab, "--", "iperf3", "-c", "10.1.1.10", "-n", str(TEN_MB), "-J",
                timeout=60)
        if p.returncode == 0:
            sent = json.loads(p.stdout)
            break
        time.sleep(0.1)
    assert sent is not None, f"iperf3 never connected:\n{p.stdout}{p.stderr}"
    assert sent["end"]["sum_sent"]["bytes"] >= TEN_MB
    received = sent["end"]["sum_received"]["bytes"]  # what crossed the peering by the time iperf3 ended

    human = run("usage", "-l", lab, check=0).stdout
    line = next(ln for ln in human.splitlines() if ln.lstrip().startswith("pcx-ab"))
    out_mb = float(line.split("\u2502")[3])  # peering | vpcs | day | out MB
    assert out_mb >= received / 1e6 - 0.01, line

    doc = run_json("usage", "-l", lab)
    assert doc["window_s"] == 300 and doc["samples"] >= 1 and doc["metering"]
    assert doc["live"] is True, "usage did not read the counters now"
    ab = next(p for p in doc["peerings"] if p["id"] == "pcx-ab")
    for row in [ab] + ab["days"]:
        assert type(row["bytes_out"]) is int and type(row["bytes_in"]) is int, row
    assert ab["bytes_out"] >= received, f"usage shows {ab['bytes_out']} bytes out, iperf3 received {received}"
    assert ab["bytes_in"] > 0  # the ACKs
    assert sum(d["out_bytes"] for d in ab["days"]) == ab["bytes_out"]
    assert ab["days"][0]["bytes_out"] == ab["days"][0]["out_bytes"]

    png = tmp_path / "usage.png"
    if os.environ.get("VPCLAB_KEEP_PLOT"):
        png = Path(os.environ["VPCLAB_KEEP_PLOT"])
    plotted = run_json("usage", "-l", lab, "--plot", png)
    assert "pcx-ab" in plotted["plot"]["peerings"] and plotted["plot"]["days"] == [0]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
