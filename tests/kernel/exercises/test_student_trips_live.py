"""What a new student tripped on (issue 12), on real labs driven through the CLI.

One cross-account lab (alice requests, bob accepts) carries most checks in the order
a student meets them; `down` of a typo gets a lab of its own, named by the test so
that its typo is known to be close to it and to no other helper's lab.
"""
from __future__ import annotations

import json
import random
import signal
import socket
import string
import subprocess
import time

import pytest

from labkit import VPCLAB, TOPOLOGIES, XACCT, assert_gone, needs_root, renamed, run, run_json

pytestmark = [pytest.mark.kernel, needs_root]


def test_a_student_walks_through_a_cross_account_peering(mklab, tmp_path):
    lab, path = mklab(XACCT, up=False)
    # `up` with a relative path; `ls` from elsewhere still shows where the file is.
    p = subprocess.run([VPCLAB, "up", path.name], cwd=path.parent, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    other = tmp_path / "elsewhere"
    other.mkdir()
    p = subprocess.run([VPCLAB, "ls", "--json"], cwd=other, capture_output=True, text=True, timeout=60)
    mine = [l for l in json.loads(p.stdout)["labs"] if l["lab"] == lab]
    assert mine[0]["source"] == str(path.resolve())

    # create across accounts: stdout is the bare id, stderr says who must accept.
    p = run("peering", "create", "--vpc", "alice-vpc", "--peer-vpc", "bob-vpc", "-l", lab, check=0)
    pid = p.stdout.strip()
    assert p.stdout == f"{pid}\n" and pid.startswith("pcx-")
    assert "PENDING: bob must accept" in p.stderr

    # route add through it succeeds, warning that it is a blackhole until ACTIVE.
    p = run("route", "add", "alice-vpc", "--destination", "192.168.0.0/16", "--next-hop", pid, "-l", lab, check=0)
    assert f"blackhole until {pid} is ACTIVE" in p.stderr
    run("route", "add", "bob-vpc", "--destination", "172.16.0.0/16", "--next-hop", pid, "-l", lab, check=0)

    # accept without --as acts as bob (the accepter), and the log says so.
    assert run("peering", "accept", pid, "-l", lab, check=0).stdout.strip() == f"{pid} ACTIVE"
    last = run_json("events", "-l", lab)["events"][-1]
    assert (last["actor"], last["action"], last["result"]) == ("bob", "peering accept", "ok")
    p = run("route", "add", "alice-vpc", "--destination", "192.168.1.0/24", "--next-hop", pid, "-l", lab, check=0)
    assert "blackhole" not in p.stderr  # ACTIVE now: no warning

    # status names the interfaces and rules that `ip rule` shows in each router.
    st = run_json("status", "-l", lab)
    peer = next(r for r in st["peerings"] if r["id"] == pid)
    for vpc in ("alice-vpc", "bob-vpc"):
        rules = run("exec", "-l", lab, vpc, "--", "ip", "rule", "show", check=0).stdout
        assert f"{peer['rule_priority']}:\t{peer['rule']} " in rules, (peer["rule"], rules)
        addrs = run("exec", "-l", lab, vpc, "--", "ip", "-o", "addr", "show", "dev", peer["interface"], check=0).stdout
        assert peer["addresses"][vpc] in addrs
        sub = next(v for v in st["vpcs"] if v["name"] == vpc)["subnets"][0]
        assert f"{sub['rule_priority']}:\t{sub['rule']} " in rules
        routes = run("exec", "-l", lab, vpc, "--", "ip", "route", "show", "table", "main", check=0).stdout
        for ifname in sub["interfaces"]:
            assert f"dev {ifname}" in routes
    human = run("status", "-l", lab, check=0).stdout
    assert peer["interface"] in human and "Kernel names" in human

    # exec: the instance's own hostname, the host's untouched.
    host = socket.gethostname()
    assert run("exec", "-l", lab, "alice-vpc/cvm-1", "--", "hostname", check=0).stdout.strip() == "cvm-1.alice-vpc"
    assert run("exec", "-l", lab, "bob-vpc", "--", "hostname", check=0).stdout.strip() == "bob-vpc"
    assert socket.gethostname() == host


def test_events_follow_streams_a_live_change_and_exits_0_on_ctrl_c(mklab):
    lab, _ = mklab(TOPOLOGIES / "01-two-vpcs.yaml")
    f = subprocess.Popen([VPCLAB, "events", "--follow", "-l", lab], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        first = f.stdout.readline()  # the log so far: `up` started
        assert " up " in first, first
        t0 = time.monotonic()
        run("clock", "advance", "36h", "-l", lab, check=0)
        while True:
            line = f.stdout.readline()
            assert line, "the follower ended before the change was seen"
            if "clock advance" in line:
                break
        assert "1d12h" in line and "ok" in line
        assert time.monotonic() - t0 < 10
    finally:
        f.send_signal(signal.SIGINT)
        out, err = f.communicate(timeout=20)
    assert f.returncode == 0, err
    assert "Traceback" not in err and "stopped following" in err


def test_events_follow_json_lines_end_when_the_lab_is_removed(mklab):
    lab, _ = mklab(TOPOLOGIES / "01-two-vpcs.yaml")
    f = subprocess.Popen([VPCLAB, "events", "--follow", "--json", "-l", lab], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert json.loads(f.stdout.readline())["action"] == "up"
        run("down", lab, check=0)
        out, err = f.communicate(timeout=20)
    finally:
        if f.poll() is None:
            f.kill()
            f.wait()
    assert f.returncode == 0 and "was removed" in err
    assert all(json.loads(l) for l in out.splitlines())


def test_down_of_a_typo_is_refused_and_down_stays_idempotent(tmp_path):
    # Letters only (a numbered series is not taken for a typo), and a swap of two letters.
    name = "q" + "".join(random.choices(string.ascii_lowercase, k=7))
    typo = name[0] + name[2] + name[1] + name[3:]
    if typo == name:
        typo = name[:-1] + ("a" if name[-1] != "a" else "b")
    path = renamed(TOPOLOGIES / "01-two-vpcs.yaml", name, tmp_path)
    try:
        run("up", path, check=0)
        p = run("down", typo, check=2)
        assert "LabNotFound" in p.stderr and f"did you mean '{name}'" in p.stderr
        assert any(l["lab"] == name for l in run_json("ls")["labs"])  # still running
        assert run_json("down", typo, check=2)["error"]["code"] == "LabNotFound"
        assert run("down", name, check=0).stdout.strip() == f"lab {name} is down"
        # really removed: a second `down` (a CI script's cleanup) is fine, and so is the typo now.
        p = run("down", name, check=0)
        assert p.stdout.strip() == f"lab {name} is already down (nothing to remove)"
        assert run_json("down", name)["already_down"] is True
        run("down", typo, check=0)
    finally:
        run("down", name)
        assert_gone(name)
    # A name close to no running lab (never run): `down` is a harmless no-op.
    never = "z" + "".join(random.choices(string.ascii_lowercase, k=7))
    assert run_json("down", never)["already_down"] is True


def test_graph_probe_on_a_lab_draws_a_real_probe(mklab, tmp_path):
    lab, _ = mklab(TOPOLOGIES / "02-one-way-route.yaml")
    doc = run_json("graph", "-l", lab, "--probe", "vpc-a/cvm-1", "vpc-b/cvm-1")
    assert doc["probe"]["result"] == "no-return" and doc["probe"]["return"]["last_hop"] == "vpc-b"
    dot = run("graph", "-l", lab, "--probe", "vpc-a/cvm-1", "vpc-b/cvm-1", check=0).stdout
    assert '"vpc-b" -- "probe:stop"' in dot and "the reply stopped here" in dot
    run("route", "add", "vpc-b", "--destination", "10.0.0.0/16", "--next-hop", "pcx-ab", "-l", lab, check=0)
    fixed = run("graph", "-l", lab, "--probe", "vpc-a/cvm-1", "vpc-b/cvm-1", check=0).stdout
    assert "probe:stop" not in fixed and "no route back" not in fixed and ">reachable<" in fixed
