"""Helpers for the web view's browser tests and bench: `vpclab ui` as a real process on a
free 127.0.0.1 port (stopped by its handle), and headless Chromium from Debian's package
driven by Playwright (never a downloaded browser)."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

VPCLAB = str(Path(sys.executable).parent / "vpclab")
CHROMIUM = os.environ.get("VPCLAB_CHROMIUM", "/usr/bin/chromium")


def seed(run_dir: Path, topology: Path, name: str = "uiunit") -> str:
    """A lab's state as `up` leaves it (model, status ready, one event) in the store, with no
    kernel objects: for tests that only read state or are refused before the kernel."""
    import re

    from vpclab.topology import load as loader
    from vpclab.state import rundir, store

    # Never beside real labs: the caller points the store at a temporary directory first.
    assert rundir.current.root == Path(run_dir), f"seed() writes to {rundir.current.root}, not to {run_dir}"
    text = re.sub(r"(?m)^lab:\s*\S+", f"lab: {name}", topology.read_text(), count=1)
    src = run_dir / f"{name}.yaml"
    src.write_text(text)
    model = loader.load(str(src))
    with store.Store(name).tx() as tx:
        tx.save_model(model)
        tx.set_status("ready")
        tx.event(0, None, "up", str(src), "ok")
    return name


def v2_model(name: str = "uiv2"):
    """01-two-vpcs with the version-2 parts, built in Python (the loader of version-2 YAML is
    another branch's work): an Internet with two hosts, an EIP and security groups on
    instances, a network ACL bound to vpc-b's `data` subnet, a NAT gateway in vpc-b."""
    import ipaddress

    from vpclab.topology import load as loader
    from vpclab.model.filters import FilterRule, Internet, InternetHost, NatGateway, NetworkAcl, SecurityGroup

    ip = ipaddress.IPv4Address
    model = loader.load(str(Path(__file__).resolve().parents[1] / "topologies" / "01-two-vpcs.yaml"))
    model.name = name
    a, b = model.vpcs["vpc-a"], model.vpcs["vpc-b"]
    a.security_groups["web"] = SecurityGroup("web", "vpc-a", ingress=[
        FilterRule("tcp", (80, 80), "0.0.0.0/0"), FilterRule("tcp", (443, 443), "0.0.0.0/0"),
        FilterRule("icmp", None, "10.0.0.0/8")], egress=[FilterRule()])
    a.instances["cvm-1"].security_groups = ["web"]
    a.instances["cvm-1"].eip = ip("203.0.113.10")
    b.security_groups["db-only"] = SecurityGroup("db-only", "vpc-b", ingress=[
        FilterRule("tcp", (3306, 3306), "10.0.1.0/24"), FilterRule("tcp", (3306, 3306), "web-clients", "drop")],
        egress=[FilterRule()])
    b.security_groups["web-clients"] = SecurityGroup("web-clients", "vpc-b", ingress=[FilterRule("icmp")],
                                                     egress=[FilterRule()])
    b.instances["db-1"].security_groups = ["db-only"]
    b.instances["cvm-1"].security_groups = ["web-clients"]
    b.network_acls["data-acl"] = NetworkAcl("data-acl", "vpc-b", ["data"], inbound=[
        FilterRule("tcp", (3306, 3306), "10.0.0.0/16"), FilterRule("all", None, "0.0.0.0/0", "drop")],
        outbound=[FilterRule("tcp", (1024, 65535), "10.0.0.0/16")])
    b.nat_gateways["nat-1"] = NatGateway("nat-1", "vpc-b", ip("203.0.113.20"))
    model.internet = Internet(ipaddress.IPv4Network("203.0.113.0/24"), {
        "web": InternetHost("web", ip("203.0.113.80"), [80, 443]),
        "dns": InternetHost("dns", ip("203.0.113.53"), [53])})
    return model


def seed_model(run_dir: Path, model) -> str:
    """A model's state as `up` leaves it in the store, no kernel objects (see seed)."""
    from vpclab.state import rundir, store

    assert rundir.current.root == Path(run_dir), f"seed_model() writes to {rundir.current.root}, not to {run_dir}"
    with store.Store(model.name).tx() as tx:
        tx.save_model(model)
        tx.set_status("ready")
        tx.event(0, None, "up", "(built in Python)", "ok")
    return model.name


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def ui_server(lab: str, run_dir=None):
    """`vpclab ui -l LAB` on a free port; yields (url, process); Ctrl-C (SIGINT) to its PID at the end.
    `run_dir`: the state directory to read (VPCLAB_RUN_DIR), for labs seeded without the kernel."""
    env = dict(os.environ, VPCLAB_RUN_DIR=str(run_dir)) if run_dir is not None else None
    proc = subprocess.Popen([VPCLAB, "ui", "-l", lab, "--port", str(free_port())], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = proc.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            proc.kill()
            raise AssertionError(f"vpclab ui did not start: {url!r} {proc.stderr.read()}")
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.stdout.close()
        proc.stderr.close()


@contextlib.contextmanager
def chromium(viewport=(1400, 820)):
    """A headless Chromium page (the system's browser, driven by Playwright)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}: `apt-get install chromium` (scripts/setup does)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.errors = errors
            # The page asks before a destructive button (confirm): answered `page.dialog_answer`
            # (yes unless a test says no), each question kept in `page.dialogs`.
            page.dialogs, page.dialog_answer = [], True
            page.on("dialog", lambda d: (page.dialogs.append(d.message),
                                         d.accept() if page.dialog_answer else d.dismiss()))
            yield page
        finally:
            browser.close()


def open_view(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=15000)
