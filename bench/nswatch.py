"""Wait until network namespaces are really destroyed (stdlib only: runs on the venv
python and on Debian's /usr/bin/python3, which Mininet needs).

Every teardown in the benchmarks is timed until the kernel is done, the way
vpclab's own `down` waits: with vpclab's sentinel watcher (src/vpclab/kernel/
sentinel.py, standard library only), loaded here by file path so that no vpclab
dependency is needed:

    w = Watcher(); w.add_path("/var/run/netns/NAME"); ... tear down ...; w.wait(); w.close()
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

SENTINEL_PY = Path(__file__).resolve().parent.parent / "src" / "vpclab" / "kernel" / "sentinel.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_sentinel", SENTINEL_PY)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_sentinel = _load()


class Watcher(_sentinel.Watcher):
    def __init__(self, prefix: str = "ubsnt"):
        super().__init__(prefix)
