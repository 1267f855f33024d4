"""State read benchmark: what checking a lab's state on every read costs.

Every command reads the model from `state.db` and decodes it with the strict decoder
(model/codec.py: types, names, references). Measured on the scale topology (50 VPCs)
and a five times larger one (250 VPCs), in-process, no root:
- baseline: `json.loads` of the stored text alone (the floor any read pays);
- checked: `json.loads` + `lab_from_dict`, as `Tx.model()` does.

    .venv/bin/python bench/state_bench.py
"""
from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from scale_topology import scale_yaml  # noqa: E402

from vpclab.topology import load as loader  # noqa: E402
from vpclab.model.codec import lab_from_dict, lab_to_dict  # noqa: E402

REPS = 15


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main():
    print(f"{'VPCs':>5} {'instances':>9} {'state KB':>8} {'json.loads ms':>14} {'checked ms':>11} {'ratio':>6}")
    for vpcs in (50, 250):
        path = Path(tempfile.mkdtemp()) / "scale.yaml"
        path.write_text(scale_yaml(vpcs=vpcs, regions=5))
        lab = loader.load(path)
        text = json.dumps(lab_to_dict(lab))
        floor, checked, ratios = [], [], []
        for _ in range(REPS):  # interleaved, ratio per repetition
            a = timed(lambda: json.loads(text))
            b = timed(lambda: lab_from_dict(json.loads(text)))
            floor.append(a)
            checked.append(b)
            ratios.append(b / a)
        print(f"{vpcs:>5} {len(lab.instances()):>9} {len(text) / 1024:>8.0f} {statistics.median(floor) * 1e3:>14.2f} "
              f"{statistics.median(checked) * 1e3:>11.2f} {statistics.median(ratios):>5.1f}x")


if __name__ == "__main__":
    main()
