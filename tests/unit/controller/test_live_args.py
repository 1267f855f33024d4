"""The live operations' entry points (controller.peering_*, route_*, clock_advance) refuse an
argument of the wrong type from a Python caller before anything runs: InvalidParameterValue,
never a TypeError from a lookup nor a 500-like StateError when SQLite cannot write the value to
the event log. No root needed: the refusal comes before the root check and the kernel.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from vpclab.controller import events as event_log
from vpclab.controller import operate, status
from vpclab.state.rundir import RunDir
from vpclab.errors import Refused

from uikit import seed  # noqa: E402  (tests/ is on sys.path: tests/conftest.py)

TOPO = Path(__file__).resolve().parents[3] / "topologies"

BAD = [["x"], {"a": 1}, 7, 1.5, True, b"bytes"]


@pytest.fixture
def lab(tmp_path, monkeypatch):
    monkeypatch.setattr("vpclab.state.rundir.current", RunDir(tmp_path))
    return seed(tmp_path, TOPO / "05-cross-account.yaml", name="argcheck")


@pytest.fixture
def no_operate(monkeypatch):
    """A call that got past the argument check would run the operation (as root: on the kernel)."""
    monkeypatch.setattr(operate, "execute", lambda *a, **k: pytest.fail(f"reached operate with {a[1:3]}"))


CALLS = {  # entry point -> (good arguments after lab, their names)
    "peering_create": (("alice-vpc", "bob-vpc", None, None, "alice"),
                       ("vpc", "peer_vpc", "bandwidth_kbps", "name", "account")),
    "peering_event": (("accept", "pcx-alice-bob", "bob"), ("event", "pid", "account")),
    "peering_modify": (("pcx-alice-bob", 100000, "alice"), ("pid", "bandwidth_kbps", "account")),
    "route_add": (("alice-vpc", "10.9.0.0/16", "pcx-alice-bob", "default"),
                  ("vpc", "destination", "next_hop", "table")),
    "route_del": (("alice-vpc", "192.168.0.0/16", "pcx-alice-bob", "default"),
                  ("vpc", "destination", "next_hop", "table")),
    "clock_advance": ((3600.0,), ("seconds",)),
}


@pytest.mark.parametrize("fn", sorted(CALLS))
def test_every_argument_of_the_wrong_type_is_refused_before_the_operation(fn, lab, no_operate):
    good, names = CALLS[fn]
    for i, name in enumerate(names):
        for bad in BAD:
            if name in ("bandwidth_kbps",) and isinstance(bad, int) and not isinstance(bad, bool):
                continue  # an int is a bandwidth
            if name == "seconds" and isinstance(bad, (int, float)) and not isinstance(bad, bool):
                continue  # a number is a duration
            args = list(good)
            args[i] = bad
            with pytest.raises(Refused) as e:
                getattr(operate, fn)(lab, *args)
            assert e.value.code == "InvalidParameterValue", (fn, name, bad)
            assert name in e.value.message, (fn, name, e.value.message)
        with pytest.raises(Refused) as e:  # the lab's name too
            getattr(operate, fn)(["argcheck"], *good)
        assert e.value.code == "InvalidParameterValue"


@pytest.mark.parametrize("seconds", [float("nan"), float("inf"), -float("inf"), True, "8d"])
def test_the_clock_moves_only_by_a_finite_number(seconds, lab, no_operate):
    with pytest.raises(Refused) as e:
        operate.clock_advance(lab, seconds)
    assert e.value.code == "InvalidParameterValue"


def test_an_event_is_one_of_accept_reject_delete(lab, no_operate):
    for event in ("expire", "modify", "", "a" * 100000, ["accept"]):
        with pytest.raises(Refused) as e:
            operate.peering_event(lab, event, "pcx-alice-bob")
        assert e.value.code == "InvalidParameterValue" and len(e.value.message) < 300


def test_a_list_as_the_account_leaves_the_state_as_it_was(lab):
    """The reported case, end to end (no stub): once a StateError "state is damaged"."""
    before = event_log.read(lab)
    with pytest.raises(Refused) as e:
        operate.peering_event(lab, "accept", "pcx-alice-bob", ["x"])
    assert e.value.code == "InvalidParameterValue" and "account" in e.value.message
    assert status.load_model(lab).peerings["pcx-alice-bob"].state == "PENDING"
    assert event_log.read(lab) == before


def test_huge_strings_are_quoted_short(lab, no_operate):
    with pytest.raises(Refused) as e:
        operate.route_add(lab, "alice-vpc", "10.0.0.0/8", ["p" * 100000])
    assert len(e.value.message) < 300
