"""`vpclab matrix --by-class` on a real lab: every pair of the plain matrix is there once; a
probed row says so, any other names the probed representative it was inferred from, and
has its verdict (nothing inferred passes for measured)."""
import json

from labkit import TOPOLOGIES, needs_root, run

pytestmark = needs_root


def _jsonl(*args):
    lines = [json.loads(line) for line in run(*args, check=0).stdout.splitlines()]
    return lines[:-1], lines[-1]


def test_by_class_rows_are_probed_or_name_their_representative(mklab):
    lab, _ = mklab(TOPOLOGIES / "03-hub-spokes.yaml")
    plain, _ = _jsonl("matrix", "-l", lab, "--jsonl")
    rows, summary = _jsonl("matrix", "-l", lab, "--by-class", "--jsonl", "--seed", "5")
    key = lambda r: (r["src"], r["dst"], r["proto"], r["port"])  # noqa: E731
    assert sorted(map(key, rows)) == sorted(map(key, plain))
    probed = {f"{r['src']} -> {r['dst']} {r['proto']}" + (f"/{r['port']}" if r["port"] else ""): r
              for r in rows if r["probed"]}
    inferred = [r for r in rows if not r["probed"]]
    assert probed and inferred and summary["probed"] == len(probed) and summary["inferred"] == len(inferred)
    truth = {key(r): r["result"] for r in plain}
    for r in inferred:
        rep = probed[r["inferred_from"]]
        assert r["result"] == rep["result"] == truth[key(r)]
        assert "observed" not in r and "rtt_ms" not in r  # no packet evidence claimed
    assert summary["mismatches"] == summary["class_mismatches"] == 0
    # the human view names the classes and says what was inferred
    out = run("matrix", "-l", lab, "--by-class", "--sample", "0", check=0).stdout
    assert "classes of 40 pairs" in out and "inferred from their class's representative" in out


def test_sample_without_by_class_is_a_usage_error(mklab):
    lab, _ = mklab(TOPOLOGIES / "01-two-vpcs.yaml")
    p = run("matrix", "-l", lab, "--sample", "0.5", check=2)
    assert "--by-class" in p.stderr and "Traceback" not in p.stderr
