"""`vpclab doctor`'s tools (issue 22): `ping` and `nc` are found when they are there (netcat-openbsd
installs `nc.openbsd` behind the `nc` alternative; `sudo` may run vpclab with a short PATH), and
a missing tool's row says how to install it. No root: the kernel checks are left out."""
from __future__ import annotations

import os
import shutil
import stat

import pytest

from vpclab.kernel import features

SCRIPTS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "scripts", "setup")


@pytest.fixture
def not_root(monkeypatch):
    monkeypatch.setattr(features, "is_root", lambda: False)  # no kernel probing here


def _bin(tmp_path, *names):
    d = tmp_path / "bin"
    d.mkdir()
    for n in names:
        f = d / n
        f.write_text("#!/bin/sh\n")
        f.chmod(f.stat().st_mode | stat.S_IXUSR)
    return lambda name: shutil.which(name, path=str(d))


def _tools(rows):
    return {name: (ok, why) for name, ok, why in rows if name in ("ping", "nc", "iperf3", "tcpdump", "tshark")}


def test_ping_and_nc_are_found_when_they_are_there(tmp_path, not_root):
    # what iputils-ping and netcat-openbsd install (nc is an alternative pointing at nc.openbsd)
    tools = _tools(features.detect(_bin(tmp_path, "ping", "nc.openbsd")))
    assert tools["ping"][0] is True and tools["nc"][0] is True


def test_a_missing_tool_says_how_to_install_it(tmp_path, not_root):
    tools = _tools(features.detect(_bin(tmp_path)))
    assert not tools["ping"][0] and "apt-get install iputils-ping" in tools["ping"][1]
    assert not tools["nc"][0] and "apt-get install netcat-openbsd" in tools["nc"][1]
    assert "apt-get install tshark" in tools["tshark"][1]


def test_a_tool_is_found_outside_a_short_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # e.g. a sudo without /usr/bin
    assert features.find_tool("sh") in ("/usr/bin/sh", "/bin/sh")


def test_setup_installs_ping_and_nc():
    text = open(SCRIPTS).read()
    assert "iputils-ping" in text and "netcat-openbsd" in text
