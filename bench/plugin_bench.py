"""pytest plugin benchmark (issue 11): `pytest --vpclab FILE -n 2` against `vpclab test FILE`
on the scale topology with 200 expectations, both end to end as processes, interleaved.

    sudo .venv/bin/python bench/plugin_bench.py [--reps N] [--workers 2]

The 200 expectations: each of the 200 instances probes (ICMP) one instance 4 VPCs
further on the ring (unreachable: the ring peers only the next two VPCs), or, every
other one, the instance in the next VPC (reachable). Each side builds the lab, probes the
200 expectations and removes the lab. Under xdist the plugin's main process builds the lab
(a unique name) while the workers start, and the worker that gets the file's items probes
them in one batch; the lab is removed at the end of the session. pytest runs with `-p
no:hypothesispytest -p no:cacheprovider`: hypothesis is a dev dependency of this repo, not
of a CI runner, and its plugin imports hypothesis (~1 s) at the end of every session.
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

BIN = Path(sys.executable).parent
LAB = "bplug"
LIMIT = 1.5


def topology() -> dict:
    doc = scale(lab=LAB)
    n = len(doc["vpcs"])
    expect = []
    for i in range(n):
        for k in range(1, 5):
            far = (i + 1) % n if k % 2 else (i + 4) % n
            expect.append({"from": f"vpc-{i:02d}/cvm-{k}", "to": f"vpc-{far:02d}/cvm-{k}",
                           "result": "reachable" if k % 2 else "unreachable"})
    doc["expect"] = expect
    return doc


def timed(argv, cwd):
    t = time.perf_counter()
    p = subprocess.run(argv, capture_output=True, text=True, cwd=cwd)
    return time.perf_counter() - t, p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    path = tmp / "scale200.yaml"
    doc = topology()
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert len(doc["expect"]) == 200
    rows = []
    for rep in range(args.reps):
        t_cli, p = timed([str(BIN / "vpclab"), "test", str(path), "--junit", str(tmp / "cli.xml")], tmp)
        if p.returncode != 0:
            sys.exit(f"vpclab test failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
        t_py, p = timed([str(BIN / "python"), "-m", "pytest", "--vpclab", str(path), "-n", str(args.workers), "-q",
                         "-p", "no:hypothesispytest", "-p", "no:cacheprovider", "--junitxml", str(tmp / "py.xml")],
                        tmp)
        if p.returncode != 0 or "200 passed" not in p.stdout:
            sys.exit(f"pytest --vpclab failed:\n{p.stdout[-3000:]}\n{p.stderr[-2000:]}")
        rows.append({"vpclab_test_s": t_cli, "pytest_s": t_py, "ratio": t_py / t_cli})
    med = lambda k: statistics.median(r[k] for r in rows)
    rng = lambda k: f"{min(r[k] for r in rows):.2f}-{max(r[k] for r in rows):.2f}"
    cases = (tmp / "py.xml").read_text().count("<testcase ")
    print(f"scale topology, 200 expectations; pytest -n {args.workers}: {cases} JUnit test cases")
    print(f"{'what':<40} {'median s':>9}  (min-max)")
    print(f"{'vpclab test FILE (baseline)':<40} {med('vpclab_test_s'):9.2f}  ({rng('vpclab_test_s')})")
    print(f"{f'pytest --vpclab FILE -n {args.workers}':<40} {med('pytest_s'):9.2f}  ({rng('pytest_s')})")
    print(f"ratio pytest / vpclab test: {med('ratio'):.2f} (limit {LIMIT}: {'ok' if med('ratio') <= LIMIT else 'OVER'})")
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "plugin_bench.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
