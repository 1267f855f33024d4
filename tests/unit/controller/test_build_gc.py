"""`up` runs with Python's cyclic garbage collector paused (issue 24 item 5: its collections
walked the tens of thousands of objects a build holds, 10-20% of the build's own CPU at 50
VPCs), and gives it back as it found it, on an error too."""
from __future__ import annotations

import gc

import pytest

from vpclab.controller import build


def test_up_pauses_the_collector_and_restores_it(monkeypatch):
    seen = []

    def fake_up(*args, **kwargs):
        seen.append(gc.isenabled())
        if len(seen) == 2:
            raise RuntimeError("boom")
        return "report"

    monkeypatch.setattr(build, "_up", fake_up)
    assert gc.isenabled()
    assert build.up("lab.yaml", mark=object()) == "report"
    assert seen == [False] and gc.isenabled()
    with pytest.raises(RuntimeError):
        build.up("lab.yaml", mark=object())
    assert gc.isenabled()
    gc.disable()
    try:
        build.up("lab.yaml", mark=object())
        assert not gc.isenabled()  # left off, as the caller had it
    finally:
        gc.enable()
