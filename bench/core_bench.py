"""Core benchmark (issue 2): validate + 1,000 explain queries on the scale topology,
and the start-up time of `vpclab --help` / `vpclab validate`.

Baselines in the same run: a bare `yaml.safe_load` of the same file (the parse
floor any loader pays), and a bare interpreter that only imports click.

    .venv/bin/python bench/core_bench.py
"""
from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from scale_topology import scale_yaml  # noqa: E402

import yaml  # noqa: E402

from vpclab import explain as analyze
from vpclab.topology import load as loader  # noqa: E402

REPS = 5


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main():
    text = scale_yaml()
    path = Path(tempfile.mkdtemp()) / "scale.yaml"
    path.write_text(text)
    lab = loader.load(path)
    insts = [i.ref for i in lab.instances()]
    rng = random.Random(7)
    pairs = [(rng.choice(insts), rng.choice(insts)) for _ in range(1000)]

    def core():
        m = loader.load(path)
        for s, d in pairs:
            analyze.explain(m, s, d)

    core_t = [timed(core) for _ in range(REPS)]
    yaml_t = [timed(lambda: yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))) for _ in range(REPS)]
    exe = str(Path(sys.executable).parent / "vpclab")
    env = dict(os.environ)

    def run(*argv):
        return timed(lambda: subprocess.run(argv, stdout=subprocess.DEVNULL, check=True, env=env))

    help_t = [run(exe, "--help") for _ in range(REPS)]
    val_t = [run(exe, "validate", str(path)) for _ in range(REPS)]
    base_t = [run(sys.executable, "-c", "import click") for _ in range(REPS)]
    med = statistics.median
    print(f"scale topology: {len(lab.vpcs)} VPCs, {len(insts)} instances, {len(lab.peerings)} peerings")
    print(f"validate + 1000 explain (in-process): {med(core_t):.3f} s   (goal < 1 s)")
    print(f"  baseline yaml.safe_load alone:      {med(yaml_t):.3f} s   ratio {med(core_t) / med(yaml_t):.1f}x")
    print(f"vpclab --help:                        {med(help_t):.3f} s   (goal < 0.3 s)")
    print(f"vpclab validate scale.yaml:           {med(val_t):.3f} s   (goal < 0.3 s)")
    print(f"  baseline python -c 'import click':  {med(base_t):.3f} s   ratio --help {med(help_t) / med(base_t):.2f}x")
    heavy = subprocess.run([sys.executable, "-c", "import sys; from vpclab.cli import main; from vpclab.controller import static; from vpclab.topology import load;"
                            "print(sorted(m for m in ('pyroute2','scapy','rich') if m in sys.modules))"],
                           capture_output=True, text=True).stdout.strip()
    print(f"heavy modules imported at start-up: {heavy}")


if __name__ == "__main__":
    main()
