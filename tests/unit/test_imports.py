"""The layering of ARCHITECTURE.md, checked in fresh interpreters.

The pure layers (`vpclab.model.*`, `vpclab.explain.routes`, `vpclab.plan.*`,
`vpclab.errors`) import nothing outside the standard library; `vpclab.topology.load`
adds only `yaml`. And the CLI paths that need no kernel (`--help`, `validate`,
`explain --json`) do not import pyroute2, scapy or rich. Each check runs in a
subprocess so that what other tests imported cannot mask an import.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import json, os, sys, sysconfig
before = set(sys.modules)
{action}
new = sorted(set(sys.modules) - before)
stdlib_dirs = {{os.path.realpath(sysconfig.get_paths()[k]) for k in ("stdlib", "platstdlib")}}
names = getattr(sys, "stdlib_module_names", None)

def is_stdlib(mod):
    top = mod.split(".")[0]
    if names is not None:
        return top in names
    m = sys.modules.get(mod)
    f = getattr(m, "__file__", None)
    if f is None:
        return True  # built in
    f = os.path.realpath(f)
    return any(f.startswith(d + os.sep) for d in stdlib_dirs) and "site-packages" not in f

print(json.dumps({{"new": new, "foreign": sorted({{m for m in new if not is_stdlib(m) and not m.startswith("vpclab")}}),
                   "vpclab": sorted(m for m in new if m == "vpclab" or m.startswith("vpclab."))}}))
"""


def imported_by(action: str) -> dict:
    r = subprocess.run([sys.executable, "-c", PROBE.format(action=action)], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def top(mods):
    return sorted({m.split(".")[0] for m in mods})


PURE = ["vpclab.errors", "vpclab.model.types", "vpclab.model.units", "vpclab.model.rules",
        "vpclab.model.lifecycle", "vpclab.explain.routes", "vpclab.plan.objects", "vpclab.plan.names",
        "vpclab.plan.planner", "vpclab.plan.diff"]
# What each pure module may pull in from vpclab itself (ARCHITECTURE.md "may import").
ALLOWED_INTERNAL = {
    "model": ("vpclab", "vpclab.model", "vpclab.errors"),
    "explain": ("vpclab", "vpclab.model", "vpclab.errors", "vpclab.explain"),
    "plan": ("vpclab", "vpclab.model", "vpclab.errors", "vpclab.plan"),
    "errors": ("vpclab", "vpclab.errors"),
    "loader": ("vpclab", "vpclab.model", "vpclab.errors", "vpclab.topology.load"),
}


def layer(mod: str) -> str:
    return mod.split(".")[1]


@pytest.mark.parametrize("mod", PURE)
def test_pure_layers_import_only_the_standard_library(mod):
    got = imported_by(f"import {mod}")
    assert got["foreign"] == [], f"{mod} imports {top(got['foreign'])}"
    allowed = ALLOWED_INTERNAL[layer(mod)]
    bad = [m for m in got["vpclab"] if not any(m == a or m.startswith(a + ".") for a in allowed)]
    assert bad == [], f"{mod} imports {bad}"


def test_loader_adds_only_yaml():
    got = imported_by("import vpclab.topology.load")
    # libyaml's Cython extension (yaml._yaml) registers its runtime modules too
    foreign = [m for m in top(got["foreign"]) if not (m.startswith("_cython") or m == "cython_runtime")]
    assert "yaml" in foreign and set(foreign) <= {"yaml", "_yaml"}, foreign
    bad = [m for m in got["vpclab"]
           if not any(m == a or m.startswith(a + ".") for a in ALLOWED_INTERNAL["loader"])]
    assert bad == []


def test_nsenter_is_low_level_and_the_probes_stay_off_the_kernel_layer():
    """Entering namespaces is one module every layer may use (kernel, probes, services'
    daemon): it needs the standard library and vpclab's errors only. The probes reach
    namespaces through it, never through the kernel layer (ARCHITECTURE.md)."""
    got = imported_by("import vpclab.kernel.nsenter")
    assert got["foreign"] == [] and set(got["vpclab"]) <= {"vpclab", "vpclab.kernel", "vpclab.kernel.nsenter",
                                                            "vpclab.errors"}
    for mod in ("vpclab.probe.fast", "vpclab.probe.capture", "vpclab.probe.crafted"):
        got = imported_by(f"import {mod}")
        assert not [m for m in got["vpclab"] if m.startswith("vpclab.kernel")
                    and m not in ("vpclab.kernel", "vpclab.kernel.nsenter")], mod


def test_the_probe_sees_heavy_imports():
    """The check itself works: a third-party import (click) shows up as foreign."""
    got = imported_by("import click")
    assert "click" in top(got["foreign"])


HEAVY = {"pyroute2", "scapy", "rich"}

CLI = """
from vpclab.cli.main import main
try:
    main({argv!r})
except SystemExit:
    pass
"""


@pytest.mark.parametrize("argv", [
    ["--help"],
    ["--version"],
    ["validate", "topologies/01-two-vpcs.yaml"],
    ["validate", "tests/golden/several.yaml"],
    ["validate", "topologies/04-cross-region.yaml", "--json"],
    ["explain", "vpc-a/cvm-1", "vpc-b/cvm-1", "-f", "topologies/01-two-vpcs.yaml", "--json"],
    ["peering", "--help"],
], ids=lambda a: " ".join(a))
def test_cli_paths_without_kernel_import_no_heavy_module(argv):
    got = imported_by(CLI.format(argv=argv))
    assert HEAVY.isdisjoint(top(got["foreign"])), top(got["foreign"])
    assert not any(m.startswith("vpclab.kernel") or m.startswith("vpclab.probe") for m in got["vpclab"])


def test_import_vpclab_is_cheap():
    """`import vpclab` (and so the pytest plugin's start-up) imports nothing but itself."""
    got = imported_by("import vpclab")
    assert got["foreign"] == [] and got["vpclab"] == ["vpclab"], got


def test_the_api_and_the_plugin_import_no_heavy_module():
    got = imported_by("from vpclab import Lab; import vpclab.api.pytest_plugin")
    assert HEAVY.isdisjoint(top(got["foreign"])), top(got["foreign"])
    assert not any(m.startswith("vpclab.kernel") or m.startswith("vpclab.probe") for m in got["vpclab"])


@pytest.mark.parametrize("argv", [
    ["diff", "topologies/01-two-vpcs.yaml", "topologies/02-one-way-route.yaml", "--json"],
    ["schema"],
    ["import", "terraform", "tests/fixtures/terraform/full-plan.json"],
], ids=lambda a: " ".join(a[:2]))
def test_regression_tool_paths_import_no_heavy_module(argv):
    got = imported_by(CLI.format(argv=argv))
    assert HEAVY.isdisjoint(top(got["foreign"])), top(got["foreign"])
    assert not any(m.startswith("vpclab.kernel") or m.startswith("vpclab.probe") for m in got["vpclab"])
