"""Usage metering and billing, pure parts (no root): percentiles, billing days and windows,
the cost of each charge type, price files and the `billing:` key, usage.db, the meter's
process guard."""
from __future__ import annotations

import os
import time
import sqlite3
import textwrap

import pytest

from vpclab.topology import load as loader
from vpclab.errors import StateError, TopologyInvalid
from vpclab.model.codec import lab_from_dict, lab_to_dict
from vpclab.usage import meterctl, report, samples
from vpclab.topology import billing as prices
from vpclab.usage.samples import Sample

TOPO = """\
lab: bill
accounts: [alice, bob]
regions: {ap-guangzhou: {}, ap-singapore: {}}
vpcs:
  vpc-a: {account: alice, region: ap-guangzhou, cidr: 10.0.0.0/16}
  vpc-b: {account: bob, region: ap-singapore, cidr: 10.1.0.0/16}
  vpc-c: {account: bob, region: ap-guangzhou, cidr: 10.2.0.0/16}
peerings:
  pcx-ab: {vpc: vpc-a, peer_vpc: vpc-b, bandwidth: 20Mbps}
  pcx-cb: {vpc: vpc-c, peer_vpc: vpc-b, bandwidth: 10Mbps}
  pcx-ac: {vpc: vpc-a, peer_vpc: vpc-c}
"""
BILLING = """\
billing:
  window: 10s
  currency: CNY
  prices: {ap-singapore/ap-guangzhou: 2.5}
  charge_types: {pcx-cb: POSTPAID_BY_MONTH_95}
"""
MB = 1_000_000 // 8  # bytes in one megabit


def lab(with_billing=True):
    return loader.loads(TOPO + (BILLING if with_billing else ""), "bill.yaml")


# ---- percentiles -----------------------------------------------------------------------


def test_percentile95_drops_the_top_five_percent():
    assert report.percentile95([]) == 0.0
    assert report.percentile95([3.0]) == 3.0
    assert report.percentile95(list(range(1, 20))) == 19  # 19 samples: floor(19/20) = 0 dropped
    assert report.percentile95(list(range(1, 21))) == 19  # 20 samples: the top one dropped
    values = list(range(100, 0, -1))  # order does not matter
    assert report.percentile95(values) == 95  # 100 samples: the top 5 dropped
    assert report.percentile95([1] * 95 + [1000] * 5) == 1
    assert report.percentile95([1] * 94 + [1000] * 6) == 1000


# ---- windows and billing days ------------------------------------------------------------


def s(wall, clock, out, inn=0, peering="pcx-ab", cap=20_000):
    return Sample(float(wall), float(clock), peering, out, inn, cap)


def test_windows_are_rates_over_real_seconds_and_a_clock_jump_starts_a_day():
    epoch = 1000.0
    rows = [s(1000, 0, 0), s(1010, 0, 10 * MB * 10),  # 10 s at 10 Mbps
            s(1020, 0, 10 * MB * 10 + 10 * MB * 20, 10 * MB),  # 10 s at 20 Mbps out, 1 Mbps in
            s(1021, 0, 10 * MB * 10 + 10 * MB * 20, 10 * MB),  # closed early by `clock advance 1d`
            s(1031, 86400, 10 * MB * 30 + 10 * MB * 5, 10 * MB, cap=5_000)]  # day 1, after the jump: 5 Mbps
    ser = report.series(rows, epoch, window_s=10)["pcx-ab"]
    assert [w.day for w in ser.windows] == [0, 0, 0, 1]
    assert [round(w.out_mbps, 6) for w in ser.windows] == [10, 20, 0, 5]  # real seconds, not lab seconds
    assert [w.rate for w in ser.windows] == [True, True, False, True]  # 1 s < half the window
    assert ser.caps == [(0.0, 20), (86400 + 21, 5)]  # from the sample that closed the old cap's window
    assert report.lab_time(rows[-1], epoch) == 86400 + 31


def test_day_boundary_from_real_time_alone():
    # no clock advance: 24 real hours later is the next billing day too
    epoch = 0.0
    assert report.day_of(report.lab_time(s(86399.9, 0, 0), epoch)) == 0
    assert report.day_of(report.lab_time(s(86400.0, 0, 0), epoch)) == 1
    assert report.day_of(report.lab_time(s(10, 2 * 86400, 0), epoch)) == 2


def test_first_sample_counts_bytes_since_the_link_was_made_and_a_reset_restarts():
    rows = [s(0, 0, 5 * MB), s(10, 0, 15 * MB), s(20, 0, 1 * MB), s(30, 0, 11 * MB)]  # reset at 20
    doc = report.build(lab(), 0.0, rows, lab().billing)
    day = next(p for p in doc["peerings"] if p["id"] == "pcx-ab")["days"][0]
    assert day["out_bytes"] == 5 * MB + 10 * MB + 1 * MB + 10 * MB
    assert day["peak_out_mbps"] == pytest.approx(1.0)  # 10 Mbit in 10 s; the reset window is no rate


# ---- cost --------------------------------------------------------------------------------


def two_days():
    """pcx-ab: day 0 at 20 Mbps out / 0.5 in, day 1 at 5 Mbps out / 0.1 in; pcx-ac (regional) twice pcx-ab out.
    As the meter does: the sample that closes day 0 carries day 0's clock."""
    rows, out, inn, t = [], 0, 0, 0.0
    for day, rate_out, rate_in, cap in ((0, 20, 0.5, 20_000), (1, 5, 0.1, 5_000)):
        for k in range(5):
            if k:
                out += int(rate_out * MB * 10)
                inn += int(rate_in * MB * 10)
                t += 10
            rows.append(s(t, day * 86400, out, inn, cap=cap))
            rows.append(Sample(t, day * 86400, "pcx-ac", out * 2, 0, None))
    return rows


def test_day_max_cost_is_each_days_peak_times_the_price_and_the_requester_pays():
    doc = report.build(lab(), 0.0, two_days(), lab().billing)
    ab = next(p for p in doc["peerings"] if p["id"] == "pcx-ab")
    assert ab["payer"] == "alice" and ab["charge_type"] == prices.DAY_MAX and ab["price_per_mbps_day"] == 2.5
    assert [d["day"] for d in ab["days"]] == [0, 1]
    assert ab["days"][0]["peak_mbps"] == pytest.approx(20.5, abs=1e-3)  # out max + in max
    assert ab["days"][1]["peak_mbps"] == pytest.approx(5.1, abs=1e-3)
    assert ab["days"][0]["cost"] == pytest.approx(20.5 * 2.5, abs=1e-2)
    assert ab["days"][1]["cost"] == pytest.approx(5.1 * 2.5, abs=1e-2)
    assert [d["cap_mbps"] for d in ab["days"]] == [20, 5]
    later = two_days()
    last = [r for r in later if r.peering == "pcx-ab"][-1]
    later += [s(200, 2 * 86400, last.out_bytes, last.in_bytes, cap=5_000),
              s(210, 2 * 86400, last.out_bytes, last.in_bytes, cap=5_000)]  # an idle day 2
    day2 = next(p for p in report.build(lab(), 0.0, later, lab().billing)["peerings"] if p["id"] == "pcx-ab")["days"][2]
    assert day2["day"] == 2 and day2["cap_mbps"] == 5 and day2["peak_mbps"] == 0.0  # no change that day: still 5
    totals = {t["account"]: (t["cost"], t["currency"]) for t in doc["totals"]}
    assert totals["alice"] == (pytest.approx((20.5 + 5.1) * 2.5, abs=1e-2), "CNY")
    assert totals["bob"] == (0.0, "CNY")  # pcx-cb, bob's, carried nothing
    assert doc["priced"] and doc["note"] is None


def test_a_regional_peering_shows_traffic_and_is_free():
    doc = report.build(lab(), 0.0, two_days(), lab().billing)
    ac = next(p for p in doc["peerings"] if p["id"] == "pcx-ac")
    assert ac["free"] and not ac["cross_region"] and ac["charge_type"] is None
    assert ac["days"][0]["peak_out_mbps"] == pytest.approx(40, abs=1e-3)
    assert all(d["cost"] == 0.0 for d in ac["days"])
    assert ac["cost"] == 0.0


def test_month_95_costs_the_months_percentile_times_price_times_days():
    rows, out, t = [], 0, 0.0
    rates = [1.0] * 38 + [30.0] * 2  # 40 windows over 2 days: the top 2 (5%) dropped -> 1 Mbps
    for k, r in enumerate(rates):
        day = 0 if k < 20 else 1
        rows.append(s(t, day * 86400, out, peering="pcx-cb", cap=10_000))
        out += int(r * MB * 10)
        t += 10
    rows.append(s(t, 86400, out, peering="pcx-cb", cap=10_000))
    doc = report.build(lab(), 0.0, rows, lab().billing)
    cb = next(p for p in doc["peerings"] if p["id"] == "pcx-cb")
    assert cb["charge_type"] == prices.MONTH_95 and cb["payer"] == "bob"
    assert all(d["cost"] is None for d in cb["days"])  # billed by the month
    (month,) = cb["months"]
    assert month["days"] == 2 and month["p95_mbps"] == pytest.approx(1.0, abs=1e-3)
    assert month["cost"] == pytest.approx(1.0 * 2.5 * 2, abs=1e-2)
    assert {t["account"]: t["cost"] for t in doc["totals"]}["bob"] == pytest.approx(5.0, abs=1e-2)


def test_without_prices_usage_only_and_it_says_so():
    doc = report.build(lab(False), 0.0, two_days(), None)
    assert not doc["priced"] and "usage only" in doc["note"] and doc["totals"] == []
    assert all(p["cost"] is None for p in doc["peerings"])
    assert doc["window_s"] == prices.DEFAULT_WINDOW_S


# ---- prices: the billing key and price files ----------------------------------------------


def test_billing_key_is_read_normalised_and_survives_the_state_codec():
    b = lab().billing
    assert b == {"currency": "CNY", "window_s": 10.0, "prices": {"ap-guangzhou/ap-singapore": 2.5},
                 "charge_types": {"pcx-cb": "POSTPAID_BY_MONTH_95"}}
    assert lab_from_dict(lab_to_dict(lab())).billing == b
    assert "billing" not in lab_to_dict(lab(False))  # a v1 model is unchanged (same digest)
    assert lab_from_dict(lab_to_dict(lab(False))).billing is None


def problems_of(text, file="bad.yaml"):
    with pytest.raises(TopologyInvalid) as e:
        loader.loads(text, file)
    assert e.value.exit_code == 2
    return [str(p) for p in e.value.problems]


def test_bad_billing_key_names_file_line_and_code():
    got = problems_of(TOPO + textwrap.dedent("""\
        billing:
          window: 0.5s
          prices: {ap-guangzhou/ap-mars: 1, ap-singapore/ap-guangzhou: -2, ap-guangzhou/ap-guangzhou: 1}
          charge_types: {pcx-ab: POSTPAID_BY_DAY, pcx-zz: POSTPAID_BY_DAY_MAX}
          colour: red
        """))
    n = TOPO.count("\n")
    assert f"bad.yaml:{n + 2}: InvalidParameterValue: billing window 0.5s is outside 1s..1h" in got[0]
    text = "\n".join(got)
    assert f"bad.yaml:{n + 3}: ResourceNotFound: price names unknown region 'ap-mars'" in text
    assert f"bad.yaml:{n + 3}: InvalidParameterValue: price of ap-singapore/ap-guangzhou must be a number >= 0" in text
    assert "names one region: a regional peering is free" in text
    assert (f"bad.yaml:{n + 4}: InvalidParameterValue: charge type of pcx-ab must be one of POSTPAID_BY_DAY_MAX, "
            "POSTPAID_BY_MONTH_95, not POSTPAID_BY_DAY") in text
    assert f"bad.yaml:{n + 4}: ResourceNotFound: charge_types names unknown peering 'pcx-zz'" in text
    assert f"bad.yaml:{n + 5}: UnknownParameter: unknown key 'colour' in billing" in text


def test_price_file_good_and_bad(tmp_path):
    good = tmp_path / "prices.yaml"
    good.write_text("currency: USD\nprices:\n  ap-guangzhou/ap-singapore: 0.75\n"
                    "charge_types: {pcx-ab: POSTPAID_BY_MONTH_95}\n")
    got = prices.load_file(str(good), lab())
    assert got["prices"] == {"ap-guangzhou/ap-singapore": 0.75} and got["currency"] == "USD"
    merged = prices.merged(lab().billing, got)
    assert merged["window_s"] == 10.0 and merged["currency"] == "USD"
    assert merged["charge_types"] == {"pcx-cb": prices.MONTH_95, "pcx-ab": prices.MONTH_95}
    wrapped = tmp_path / "wrapped.yaml"
    wrapped.write_text("billing:\n  prices: {ap-singapore/ap-guangzhou: 1}\n")  # under one billing: key
    assert prices.load_file(str(wrapped), lab())["prices"] == {"ap-guangzhou/ap-singapore": 1.0}

    bad = tmp_path / "bad.yaml"
    bad.write_text("currency: CNY\nprices:\n  ap-guangzhou/ap-singapore: cheap\n  nopair: 1\nwindow: 10s\n"
                   "charge_types: {pcx-nope: POSTPAID_BY_DAY_MAX}\n")
    with pytest.raises(TopologyInvalid) as e:
        prices.load_file(str(bad), lab())
    lines = [str(p) for p in e.value.problems]
    assert e.value.exit_code == 2
    assert lines[0].startswith(f"{bad}:3: InvalidParameterValue: price of ap-guangzhou/ap-singapore must be a number")
    assert lines[1].startswith(f"{bad}:4: InvalidParameterValue: price key 'nopair' must be REGION/REGION")
    assert lines[2].startswith(f"{bad}:5: UnknownParameter: unknown key 'window' in the price file")
    assert e.value.message == "4 problem(s) in the price file"
    assert "topology's billing: key" in lines[2]
    assert lines[3].startswith(f"{bad}:6: ResourceNotFound: charge_types names unknown peering 'pcx-nope'")
    for text in ("", "prices: [1, 2]\n", "prices: {a/b: 1\n"):
        bad.write_text(text)
        with pytest.raises(TopologyInvalid) as e:
            prices.load_file(str(bad), lab())
        assert str(e.value.problems[0]).startswith(f"{bad}:")
    with pytest.raises(TopologyInvalid):
        prices.load_file(str(tmp_path / "missing.yaml"), lab())


def test_currency_is_a_short_printable_code_in_the_topology_and_in_a_price_file(tmp_path):
    """Control characters (a terminal title escape, a bell) are refused at the currency's line with
    the cloud code, in both places; a code or a symbol is fine."""
    n = TOPO.count("\n")
    for bad in ('"EUR\\x07"', '"\\e]0;pwned\\a"', '"CNY\\u009b2J"', '"C N Y"', '"ABCDEFGHI"', '""', "[CNY]",
                '"\\u202eYNC"', "1.5"):
        got = problems_of(TOPO + f"billing:\n  currency: {bad}\n")
        assert len(got) == 1 and got[0].startswith(f"bad.yaml:{n + 2}: InvalidParameterValue: billing currency "), got
        assert not any(ord(ch) < 32 or 0x7f <= ord(ch) < 0xa0 for ch in got[0]), got  # shown escaped
        f = tmp_path / "p.yaml"
        f.write_text(f"prices: {{ap-guangzhou/ap-singapore: 1}}\ncurrency: {bad}\n")
        with pytest.raises(TopologyInvalid) as e:
            prices.load_file(str(f), lab())
        (only,) = [str(p) for p in e.value.problems]
        assert only.startswith(f"{f}:2: InvalidParameterValue: currency must be "), only
        assert "billing" not in only and not any(ord(ch) < 32 or 0x7f <= ord(ch) < 0xa0 for ch in only), only
    for good in ("CNY", "USD", "EUR", "\u00a5", "US$", "\u5143", "RMB"):
        assert loader.loads(TOPO + f"billing:\n  currency: {good}\n", "ok.yaml").billing["currency"] == good


def test_a_currency_that_got_past_the_checks_still_prints_escaped(capsys, tmp_path):
    """A state written by an older vpclab (or damaged) may hold any currency: the table, the totals
    and the plot never print a control character raw (a terminal would take ESC ] 0 ; as a title)."""
    from vpclab.cli import usage as cli_usage

    billing = dict(lab().billing, currency="\x1b]0;pwned\x07\x9b")
    doc = report.build(lab(), 0.0, two_days(), billing)
    doc["metering"] = True
    cli_usage._human(doc)
    out = capsys.readouterr().out
    assert "total alice" in out and "\\x1b]0;pwned\\x07\\x9b" in out, out
    assert not any(ord(ch) < 32 and ch != "\n" or 0x7f <= ord(ch) < 0xa0 for ch in out), repr(out)
    pytest.importorskip("matplotlib")
    from vpclab.controller import usage as plot  # draw: usage/plot through the checked opener

    doc["currency"] = "$$"  # two dollars: matplotlib's mathtext, unless escaped
    assert plot.draw(doc, report.series(two_days(), 0.0, 10), str(tmp_path / "c.png"))["days"] == [0, 1]


def test_a_price_file_names_itself_in_its_problems_with_type_words(tmp_path):
    """A price file's problems say "the price file" and "a list", never "billing" or a class name."""
    f = tmp_path / "p.yaml"
    for text, want in (("- 1\n- 2\n", "the price file must be a mapping, not a list"),
                       ("billing: [1]\n", "the price file must be a mapping, not a list"),
                       ("prices: [1, 2]\n", "prices must be a mapping REGION/REGION"),
                       ("charge_types: 3\n", "charge_types must be a mapping PEERING"),
                       ("window: 10s\n", "unknown key 'window' in the price file")):
        f.write_text(text)
        with pytest.raises(TopologyInvalid) as e:
            prices.load_file(str(f), lab())
        got = [str(p) for p in e.value.problems]
        assert len(got) == 1 and f"{f}:1: " in got[0] and want in got[0], (text, got)
        assert "billing" not in got[0].split(" (")[0] and "LList" not in got[0] and "LDict" not in got[0], got
    got = problems_of(TOPO + "billing: [1]\n")
    assert got == [f"bad.yaml:{TOPO.count(chr(10)) + 1}: InvalidParameter: billing must be a mapping, not a list"]


def test_a_price_file_naming_a_region_the_lab_does_not_have_is_refused(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("currency: CNY\nprices:\n  ap-guangzhou/ap-singapore: 1\n  ap-guangzou/ap-singapore: 2\n"
                 "  ap-tokyo/ap-singapore: 3\n")
    with pytest.raises(TopologyInvalid) as e:
        prices.load_file(str(f), lab())
    got = [str(p) for p in e.value.problems]
    assert len(got) == 2, got
    assert got[0].startswith(f"{f}:4: ResourceNotFound: price names region 'ap-guangzou', which lab bill does not have")
    assert "did you mean 'ap-guangzhou'?" in got[0]
    assert got[1].startswith(f"{f}:5: ResourceNotFound: price names region 'ap-tokyo', which lab bill does not have")
    assert "the lab's regions: ap-guangzhou, ap-singapore" in got[1]


# ---- the open window -------------------------------------------------------------------------


def test_the_open_window_counts_its_bytes_at_once_and_its_rate_once_half_a_window_long():
    """`vpclab usage` closes the open window with a live read of the counters (never stored): its
    bytes count at once, it is a rate sample under the rule of any window closed early."""
    stored = [s(0, 0, 1 * MB), s(10, 0, 1 * MB + 10 * MB)]  # a 10 s window at 8 Mbps... of MB units: 1 Mbps x 10
    live = Sample(12.0, 0.0, "pcx-ab", 1 * MB + 10 * MB + 40 * MB, 3 * MB, 20_000, True)  # 2 s: 20 Mbps out
    doc = report.build(lab(), 0.0, stored + [live], lab().billing)
    assert doc["samples"] == 2 and doc["live"] is True
    ab = next(p for p in doc["peerings"] if p["id"] == "pcx-ab")
    (day,) = ab["days"]
    assert day["out_bytes"] == day["bytes_out"] == 51 * MB and day["in_bytes"] == day["bytes_in"] == 3 * MB
    assert ab["bytes_out"] == 51 * MB and ab["bytes_in"] == 3 * MB
    assert all(type(x[k]) is int for x in (ab, day) for k in ("bytes_out", "bytes_in"))
    assert day["windows"] == 1 and day["peak_out_mbps"] == pytest.approx(1.0)  # 2 s < half of 10 s: no rate
    ser = report.series(stored + [live], 0.0, 10)["pcx-ab"]
    assert [w.open for w in ser.windows] == [False, True] and ser.windows[1].out_mbps == pytest.approx(20.0)
    later = Sample(16.0, 0.0, "pcx-ab", 1 * MB + 10 * MB + 60 * MB, 3 * MB, 20_000, True)  # 6 s: a rate sample
    day = report.build(lab(), 0.0, stored + [later], lab().billing)["peerings"][0]["days"][0]
    assert day["windows"] == 2 and day["peak_out_mbps"] == pytest.approx(10.0)
    assert report.build(lab(), 0.0, stored, lab().billing)["live"] is False


def test_plot_draws_a_lone_open_window(tmp_path):
    """One stored sample and the live read: a window, drawn (the plot no longer waits for the meter)."""
    pytest.importorskip("matplotlib")
    from vpclab.controller import usage as plot  # draw: usage/plot through the checked opener

    rows = [s(0, 0, 0), Sample(4.0, 0.0, "pcx-ab", 10 * MB * 4, MB, 20_000, True)]
    doc = report.build(lab(), 0.0, rows, lab().billing)
    png = tmp_path / "open.png"
    got = plot.draw(doc, report.series(rows, 0.0, 300), str(png))
    assert got["peerings"] == ["pcx-ab"] and got["days"] == [0]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---- usage.db --------------------------------------------------------------------------------


def test_samples_round_trip_private_and_damage_is_a_state_error(tmp_path):
    run = tmp_path / "bill"
    run.mkdir()
    assert samples.read(run) == (None, [])  # the meter has not started yet
    samples.create(run, epoch=123.0)
    assert os.stat(samples.path(run)).st_mode & 0o777 == 0o600
    w = samples.Writer(run)
    rows = [Sample(1.0, 0.0, "pcx-ab", 10, 20, 20_000), Sample(2.0, 0.0, "pcx-ac", 1, 2, None)]
    w.write(rows)
    w.close()
    assert samples.read(run) == (123.0, rows)

    con = sqlite3.connect(samples.path(run))
    con.execute("INSERT INTO samples VALUES (3.0, 0.0, 'pcx-ab', 'lots', 0, NULL)")
    con.commit()
    con.close()
    with pytest.raises(StateError) as e:
        samples.read(run)
    assert e.value.exit_code == 4 and "damaged" in e.value.message

    samples.path(run).write_bytes(b"not a database at all" * 100)
    with pytest.raises(StateError):
        samples.read(run)


def test_stop_never_signals_a_process_that_is_not_this_labs_meter(tmp_path):
    run = tmp_path / "bill"
    run.mkdir()
    (run / meterctl.PID_FILE).write_text(f"{os.getpid()}\n")  # a stale PID, now someone else's: ours
    meterctl.stop(run)  # must not SIGTERM the test process
    assert not (run / meterctl.PID_FILE).exists()
    assert meterctl.running(run) is None


def test_a_meter_without_pid_file_is_found_by_its_command_line_and_stopped(tmp_path):
    """What an `up` killed right after starting the meter leaves: a meter and no PID file."""
    import subprocess
    import sys

    run = tmp_path / "bill"
    run.mkdir()
    samples.create(run)
    # a stand-in with the meter's command line (python -c ignores the rest): it only sleeps
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "-m", meterctl.MODULE,
                             "--lab", "bill", "--run-dir", str(run.resolve())])
    try:
        for _ in range(100):
            if meterctl._is_ours(proc.pid, run.resolve()):
                break
            time.sleep(0.01)
        assert meterctl._is_ours(proc.pid, run.resolve())
        meterctl.stop(run)
        assert proc.wait(timeout=5) != 0  # signalled
    finally:
        proc.kill()
        proc.wait()


def test_plot_is_a_png_with_a_panel_per_peering_and_day(tmp_path):
    pytest.importorskip("matplotlib")
    from vpclab.controller import usage as plot  # draw: usage/plot through the checked opener

    rows = two_days()
    doc = report.build(lab(), 0.0, rows, lab().billing)
    png = tmp_path / "u.png"
    got = plot.draw(doc, report.series(rows, 0.0, 10), str(png))
    assert got["days"] == [0, 1] and got["peerings"] == ["pcx-ab", "pcx-ac"]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    with pytest.raises(Exception) as e:  # nothing metered yet: a refusal, not an empty picture
        plot.draw(report.build(lab(), 0.0, [], None), {}, str(tmp_path / "none.png"))
    assert getattr(e.value, "exit_code", None) == 2


def test_up_window_is_checked_before_anything_is_built(tmp_path, capsys):
    """`up --window` out of 1s..1h, or not a duration, is refused (exit 2) before the file is even read."""
    from vpclab.cli.main import main

    for bad, words in (("2h", "outside 1s..1h"), ("soon", "--window")):
        with pytest.raises(SystemExit) as e:
            main(["up", str(tmp_path / "absent.yaml"), "--window", bad])
        err = capsys.readouterr().err
        assert e.value.code == 2 and "InvalidParameterValue" in err and words in err, err
