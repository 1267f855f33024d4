"""Suite-wide checks: the root namespace is the same after the tests as before."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from labkit import mklab  # noqa: E402,F401  (a fixture for every test)


def _root_snapshot():
    from pyroute2 import IPRoute

    def rows(items):
        return sorted(tuple(str(x) for x in row) for row in items)

    with IPRoute() as ipr:
        links = rows((l.get("ifname"), l["index"]) for l in ipr.get_links())
        addrs = rows((a["index"], a.get("address"), a["prefixlen"]) for a in ipr.get_addr())
        routes = rows((r.get("table"), r.get("dst"), r["dst_len"], r.get("gateway"), r.get("oif"))
                      for r in ipr.get_routes(table=0))
        rules = rows((r.get("priority"), r.get("table"), r.get("iifname"), r.get("src"))
                     for r in ipr.get_rules())
    return {"links": links, "addresses": addrs, "routes": routes, "rules": rules}


@pytest.fixture(scope="session", autouse=True)
def root_namespace_untouched():
    """Every worker snapshots the root namespace's links, addresses, routes and rules
    at the start and compares at the end: the lab never touches the host."""
    if os.geteuid() != 0:
        yield
        return
    before = _root_snapshot()
    yield
    after = _root_snapshot()
    for key in before:
        assert after[key] == before[key], f"root namespace {key} changed during the tests"


def pytest_configure(config):
    config.addinivalue_line("markers", "long(seconds=10): runs for tens of seconds; started first, the longest "
                                       "first (see below)")


def pytest_collection_modifyitems(session, config, items):
    """Long tests first: the parallel suite hands tests out in collection order, so a long
    test collected late would run alone at the end while the other workers idle (the suite
    once spent its last 7 minutes on the two differential tests). Every worker sorts the
    same collection the same way (a stable sort), as xdist requires."""
    def weight(item):
        mark = item.get_closest_marker("long")
        if mark is None:
            return 0
        return -(mark.args[0] if mark.args else mark.kwargs.get("seconds", 10))

    items.sort(key=weight)
