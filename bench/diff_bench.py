"""Diff benchmark (issue 11): `vpclab diff OLD NEW` of two versions of the scale topology
(200 instances: 39,800 ordered pairs, ICMP each; no service instances), end to end as a
process, against the naive baseline measured in the same run: load both files and explain
every question twice (two full explain matrices), then compare.

    .venv/bin/python bench/diff_bench.py [--reps N]

NEW differs from OLD in one peering and 5 routes: peering pcx-10-11 is removed (with the
two routes through it, which the cloud rules require to go too), and 5 other routes are
removed. The pairs `diff` reports are checked against the two full matrices: the same
(src, dst, proto, port) set and the same old and new verdicts. No root needed.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from scale_topology import scale  # noqa: E402

import yaml  # noqa: E402

from vpclab.explain import diff as diffreach
from vpclab.topology import load as loader  # noqa: E402

VPCLAB = str(Path(sys.executable).parent / "vpclab")
LIMIT_S = 1.0
GONE_PEERING = "pcx-10-11"
GONE_ROUTES = [("vpc-03", "10.4.0.0/16"), ("vpc-20", "10.22.0.0/16"), ("vpc-31", "10.30.0.0/16"),
               ("vpc-44", "10.45.0.0/16"), ("vpc-49", "10.0.0.0/16")]


def versions(tmp: Path):
    old = scale(lab="bdiff")
    new = scale(lab="bdiff")
    del new["peerings"][GONE_PEERING]
    changed = 0
    for vpc, routes in ((v, new["vpcs"][v]["route_tables"]["default"]["routes"]) for v in new["vpcs"]):
        keep = [r for r in routes if r["next_hop"] != GONE_PEERING and (vpc, r["destination"]) not in GONE_ROUTES]
        changed += len(routes) - len(keep)
        routes[:] = keep
    assert changed == 2 + len(GONE_ROUTES), changed
    po, pn = tmp / "old.yaml", tmp / "new.yaml"
    po.write_text(yaml.safe_dump(old, sort_keys=False))
    pn.write_text(yaml.safe_dump(new, sort_keys=False))
    return po, pn


def full_matrices(po: Path, pn: Path) -> dict:
    """The baseline: load both files and explain every question in both models."""
    old, new = loader.load(po), loader.load(pn)
    return diffreach.full(old, new), sum(1 for _ in old.instances()) * (len(old.instances()) - 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    po, pn = versions(Path(tempfile.mkdtemp()))
    rows = []
    for rep in range(args.reps):
        t = time.perf_counter()
        p = subprocess.run([VPCLAB, "diff", str(po), str(pn), "--json"], capture_output=True, text=True)
        t_cli = time.perf_counter() - t
        if p.returncode not in (0, 1):
            sys.exit(p.stderr)
        doc = json.loads(p.stdout)
        t = time.perf_counter()
        truth, questions = full_matrices(po, pn)
        t_base = time.perf_counter() - t
        rows.append({"cli_s": t_cli, "core_s": doc["seconds"], "baseline_s": t_base, "ratio": t_cli / t_base})
    got = {(c["src"], c["dst"], c["proto"], c["port"]): (c["old"]["result"], c["new"]["result"])
           for c in doc["changes"]}
    same = got == truth
    med = lambda k: statistics.median(r[k] for r in rows)
    rng = lambda k: f"{min(r[k] for r in rows):.3f}-{max(r[k] for r in rows):.3f}"
    print(f"scale topology: {questions} ordered pairs; NEW: -1 peering ({GONE_PEERING}), -{2 + len(GONE_ROUTES)} routes")
    print(f"changes: {len(got)} ({doc['gained']} gained, {doc['lost']} lost, {doc['changed']} other); "
          f"re-explained {doc['explained']} of {doc['compared']} questions")
    print(f"checked against two full explain matrices: {'same pairs and verdicts' if same else 'DIFFERENT'}")
    print(f"{'what':<44} {'median s':>9}  (min-max)")
    print(f"{'vpclab diff OLD NEW --json (process)':<44} {med('cli_s'):9.3f}  ({rng('cli_s')})")
    print(f"{'  of which the diff itself':<44} {med('core_s'):9.3f}  ({rng('core_s')})")
    print(f"{'baseline: load both + two full matrices':<44} {med('baseline_s'):9.3f}  ({rng('baseline_s')})")
    print(f"ratio diff / baseline: {med('ratio'):.3f}  (limit: {LIMIT_S:.1f} s end to end: "
          f"{'ok' if med('cli_s') <= LIMIT_S else 'OVER'})")
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "diff_bench.json").write_text(json.dumps({"rows": rows, "same": same, "changes": len(got)}, indent=2))
    if not same:
        missing, extra = set(truth) - set(got), set(got) - set(truth)
        sys.exit(f"diff disagrees with the full matrices: {len(missing)} missing, {len(extra)} extra, e.g. "
                 f"{sorted(missing)[:3]} {sorted(extra)[:3]}")


if __name__ == "__main__":
    main()
