"""Diff benchmark (issue 11): `vpclab diff OLD NEW` of two versions of the scale topology
(200 instances: 39,800 ordered pairs, ICMP each; no service instances), end to end as a
process, against the naive baseline measured in the same run: load both files and explain
every question twice (two full explain matrices), then compare.

    .venv/bin/python bench/diff_bench.py [--reps N]

NEW differs from OLD in one peering and 5 routes: peering pcx-10-11 is removed (with the
two routes through it, which the cloud rules require to go too), and 5 other routes are
removed. The pairs `diff` reports are checked against the two full matrices: the same
(src, dst, proto, port) set and the same old and new verdicts. No root needed.

A second scenario (issue 21), `--only rule`: two imported versions of a 1,000-resource plan
(bench/import_bench.py's: 83 VPCs, 166 instances with a security group each, 83 EIPs, 82
peerings) that differ in one rule (spoke s040's first ingress rule: port 443 -> 8443), each
turned into a topology by `vpclab import terraform`. Goal: `vpclab diff` at most 1 s end to
end; the same baseline (two full explain matrices); every change must name that group and rule.
"""
from __future__ import annotations

import argparse
import json
import os
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


def imported_versions(tmp: Path):
    """Two plans one rule apart, each imported by `vpclab import terraform` (not timed)."""
    import copy

    from import_bench import plan

    old = plan(83)
    new = copy.deepcopy(old)
    rule = next(r for r in new["planned_values"]["root_module"]["resources"]
                if r["address"] == RULE_SET)["values"]["ingress"][0]
    assert rule["port"] == "443", rule
    rule["port"] = "8443"
    out = []
    for name, doc in (("old", old), ("new", new)):
        (tmp / f"{name}.json").write_text(json.dumps(doc))
        p = subprocess.run([VPCLAB, "import", "terraform", str(tmp / f"{name}.json"), "-o", str(tmp / f"{name}.yaml"),
                            "--lab", "bdiff"], capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(p.stderr[-2000:])
        out.append(tmp / f"{name}.yaml")
    return out[0], out[1], len(old["planned_values"]["root_module"]["resources"])


RULE_SET = 'tencentcloud_security_group_rule_set.spoke["s040"]'


def rule_scenario(reps: int) -> bool:
    po, pn, resources = imported_versions(Path(tempfile.mkdtemp()))
    rows = []
    for rep in range(reps):
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
    # every change names the group and the rule (index and text) in both versions
    named = all(any(x["kind"] == "security_group" and x["group"] == "spoke-s040"
                    and {x["old"]["text"], x["new"]["text"]} & {"tcp/443 from 10.0.0.0/8 accept",
                                                                "tcp/8443 from 10.0.0.0/8 accept"}
                    for x in c["causes"]) for c in doc["changes"])
    med = lambda k: statistics.median(r[k] for r in rows)
    rng = lambda k: f"{min(r[k] for r in rows):.3f}-{max(r[k] for r in rows):.3f}"
    print(f"imported plan: {resources} resources, {questions} ordered pairs; NEW: one rule of {RULE_SET} "
          f"(tcp 443 -> 8443)")
    print(f"changes: {len(got)} ({doc['gained']} gained, {doc['lost']} lost, {doc['changed']} other); "
          f"re-explained {doc['explained']} of {doc['compared']} questions")
    print(f"checked against two full explain matrices: {'same pairs and verdicts' if same else 'DIFFERENT'}; "
          f"every change names group spoke-s040 and the rule: {'yes' if named else 'NO'}")
    print("e.g. " + (doc["changes"][0]["causes"][0]["detail"] if doc["changes"] else "(no change)"))
    print(f"{'what':<44} {'median s':>9}  (min-max)")
    print(f"{'vpclab diff OLD NEW --json (process)':<44} {med('cli_s'):9.3f}  ({rng('cli_s')})")
    print(f"{'  of which the diff itself':<44} {med('core_s'):9.3f}  ({rng('core_s')})")
    print(f"{'baseline: load both + two full matrices':<44} {med('baseline_s'):9.3f}  ({rng('baseline_s')})")
    print(f"ratio diff / baseline: {med('ratio'):.3f}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} "
          f"cores  (goal: at most {LIMIT_S:.1f} s end to end: {'met' if med('cli_s') <= LIMIT_S else 'NOT met'})")
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "diff_bench_rule.json").write_text(json.dumps({"rows": rows, "same": same, "named": named,
                                                          "changes": len(got)}, indent=2))
    return same and named


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", choices=("routes", "rule"), help="one scenario (default: both)")
    args = ap.parse_args()
    if args.only != "routes":
        ok = rule_scenario(args.reps)
        if args.only == "rule":
            sys.exit(0 if ok else "the rule scenario's diff disagrees with the full matrices or names no rule")
        print()
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
