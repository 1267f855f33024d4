"""A live operation killed between its state write and its kernel apply (issue 19, item 10).

The kill is exact, never a race: the test hook VPCLAB_TEST_HOOK=state-written:kill
(controller.py) makes the operation SIGKILL itself right after the transaction of its
model edit, before its kernel apply; `state-written:stop` SIGSTOPs it there and the test
kills it. Before the fix such a lab said `ready` and listed the change while the kernel
lacked it, and a probe disagreed with explain. Now the state says `applying` until the
kernel holds the change, and the first command that reads the lab (status, ls, probe,
explain, route or peering list, or the next live operation) finishes it before it
answers. Every live operation goes through the one mechanism (controller.operate), so
each is killed here once, on one lab.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from labkit import VPCLAB, needs_root, run, run_json

pytestmark = [pytest.mark.kernel, needs_root]

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
import crash_soak  # noqa: E402
from crash_soak import GROUP, PEER, SITE, WEB  # noqa: E402

HOOK = "VPCLAB_TEST_HOOK"


@pytest.fixture(autouse=True)
def _nft():
    from vpclab.kernel import nft

    ok, why = nft.available()
    if not ok:
        pytest.skip(why)


def killed(lab, *argv, how="kill"):
    """Run live operation ARGV with the hook: it dies by SIGKILL right after its state write."""
    p = subprocess.run([VPCLAB, *argv, "-l", lab], env=dict(os.environ, **{HOOK: f"state-written:{how}"}),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == -signal.SIGKILL, (argv, p.returncode, p.stderr)


def raw(lab):
    """(model, status, pending, the kernel was brought to this very model) as stored, not settled."""
    from vpclab.state.store import Store

    tx = Store(lab).read()
    try:  # the store's keys: controller.PENDING and controller.APPLIED
        return tx.model(), tx.status, tx.get("pending"), tx.text("model") == tx.text("applied")
    finally:
        tx.close()


def kernel_holds_what_state_says(lab):
    """The invariant at every moment: a `ready` state's model is what the kernel holds, and the
    group's rules in nftables are those the state lists. (`applying` says the kernel may lack
    the last operation.) Returns the stored status."""
    model, st, _, _ = raw(lab)
    if st == "applying":
        return st
    assert st == "ready", st
    assert crash_soak.kernel_diff(model) == [], f"state says ready, the kernel lacks: {crash_soak.kernel_diff(model)}"
    if "sg-web" in model.vpcs["vpc-a"].instances["cvm-1"].security_groups:
        listed = len(model.vpcs["vpc-a"].security_groups["sg-web"].ingress)
        assert crash_soak.group_rules_in_kernel(lab) == set(range(listed))
    return st


def first_command(lab, what, argv):
    """Run the first command after the kill; check what it says against the kernel."""
    if what == "status":
        doc = run_json("status", "-l", lab)
        assert doc["status"] == "ready" and "pending" not in doc, doc["status"]
        a = next(v for v in doc["vpcs"] if v["name"] == "vpc-a")
        if "sg-web" in next(i for i in a["instances"] if i["name"] == "cvm-1")["security_groups"]:
            listed = next(g for g in a["security_groups"] if g["name"] == "sg-web")["ingress"]
            assert crash_soak.group_rules_in_kernel(lab) == set(range(len(listed)))  # what status lists is there
    elif what == "ls":
        assert {r["lab"]: r["status"] for r in run_json("ls")["labs"]}[lab] == "ready"
    elif what == "probe":
        from vpclab import explain as analyze

        doc = run_json("probe", PEER, SITE, "--proto", "tcp", "--port", "80", "-l", lab, check=None)
        want = analyze.explain(raw(lab)[0], PEER, SITE, "tcp", 80).result
        assert doc["result"] == want and not doc.get("mismatch"), doc
        eip = raw(lab)[0].vpcs["vpc-b"].instances["cvm-1"].eip
        assert doc["result"] == ("reachable" if eip else "unreachable"), (eip, doc)
    elif what == "explain":
        run("explain", WEB, PEER, "-l", lab, "--json", check=0)
    elif what in ("route list", "peering list"):
        run(*what.split(), "-l", lab, "--json", check=0)
    else:
        assert what == "next"  # the next live operation is the first command


# (the operation, the first command after its kill); "next": the next operation is
SEQUENCE = [
    (["sg", "rule", "add", GROUP, "--direction", "ingress", "--proto", "tcp", "--port", "8080",
      "--source", "10.1.0.0/16", "--action", "accept"], "status"),
    (["eip", "associate", PEER, "203.0.113.11"], "probe"),
    (["peering", "accept", "pcx-ac", "--as", "bob"], "ls"),
    (["route", "add", "vpc-c", "--destination", "10.0.0.0/16", "--next-hop", "pcx-ac"], "explain"),
    (["peering", "modify", "pcx-ad", "--bandwidth", "10Mbps"], "peering list"),
    (["sg", "rule", "del", GROUP, "--direction", "ingress", "--index", "0"], "next"),
    (["acl", "rule", "add", "vpc-a/acl-app", "--direction", "inbound", "--index", "0", "--proto", "icmp",
      "--source", "10.9.0.0/16", "--action", "drop"], "route list"),
    (["acl", "rule", "del", "vpc-a/acl-app", "--direction", "inbound", "--index", "0"], "status"),
    (["acl", "unbind", "vpc-a/acl-app", "app"], "ls"),
    (["acl", "bind", "vpc-a/acl-app", "app"], "next"),
    (["sg", "detach", WEB, "sg-web"], "status"),
    (["sg", "attach", WEB, "sg-web"], "explain"),
    (["eip", "disassociate", PEER], "probe"),
    (["route", "del", "vpc-c", "--destination", "10.0.0.0/16"], "status"),
    (["peering", "create", "--vpc", "vpc-b", "--peer-vpc", "vpc-c", "--name", "pcx-bc"], "ls"),
    (["peering", "reject", "pcx-bc", "--as", "bob"], "next"),
    (["clock", "advance", "1h"], "status"),
    (["peering", "delete", "pcx-ac"], "status"),
]


def action_of(argv):
    return " ".join(argv[:3] if argv[:2] in (["sg", "rule"], ["acl", "rule"]) else argv[:2])


@pytest.mark.long
def test_every_live_operation_killed_after_its_state_write_is_finished_by_the_next_command(mklab):
    lab, _ = mklab(crash_soak.filters_topology("placeholder"))
    events_before = len(run_json("events", "-l", lab)["events"])
    unchecked = []  # operations whose first command is the next operation
    for argv, first in SEQUENCE:
        killed(lab, *argv)
        # at once, before any command: the state does not claim what the kernel lacks
        assert kernel_holds_what_state_says(lab) == "applying", argv
        _, _, pending, applied = raw(lab)
        assert pending["action"] == action_of(argv) and not applied
        unchecked.append(action_of(argv))
        first_command(lab, first, argv)
        if first == "next":
            continue
        # after it: settled, the kernel holds the change, and the log says how
        assert kernel_holds_what_state_says(lab) == "ready", argv
        model, _, pending, applied = raw(lab)
        assert applied and pending is None
        evs = run_json("events", "-l", lab)["events"][events_before:]
        repairs = [e["target"] for e in evs if e["action"] == "repair"]
        for action in unchecked:
            assert any(t.startswith(action) for t in repairs), (action, repairs)
        unchecked = []
    assert not unchecked
    # every operation rolled forward: its change is in the state, and (checked above) the kernel
    model = raw(lab)[0]
    assert model.peerings["pcx-ac"].state == "DELETED" or "pcx-ac" not in model.peerings
    assert model.peerings["pcx-ad"].bandwidth_mbps == 10
    assert [r.ports for r in model.vpcs["vpc-a"].security_groups["sg-web"].ingress] == [(8080, 8080)]
    assert model.vpcs["vpc-b"].instances["cvm-1"].eip is None
    assert model.clock == 3600


def _blocked_on_flock(pid):
    """pid waits for a flock (a `->` line of /proc/locks names it)."""
    for line in Path("/proc/locks").read_text().splitlines():
        parts = line.split()
        if len(parts) > 5 and parts[1] == "->" and parts[2] == "FLOCK" and parts[5] == str(pid):
            return True
    return False


def test_a_reader_waits_for_an_operation_stopped_after_its_state_write_and_finishes_it(mklab):
    """`status` started while `sg rule add` is stopped between its state write and its apply
    does not answer (it waits for the lab's lock); once the operation is killed, it finishes
    it and shows the rule, which the kernel then has, and a probe of it agrees with explain."""
    import time

    lab, _ = mklab(crash_soak.filters_topology("placeholder"))
    op = subprocess.Popen([VPCLAB, "sg", "rule", "add", GROUP, "--direction", "ingress", "--proto", "tcp",
                           "--port", "9090", "--source", "10.1.0.0/16", "--action", "accept", "-l", lab],
                          env=dict(os.environ, **{HOOK: "state-written:stop"}),
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    reader = None
    try:
        _, st = os.waitpid(op.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(st), st
        assert raw(lab)[1] == "applying"
        reader = subprocess.Popen([VPCLAB, "status", "-l", lab, "--json"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not _blocked_on_flock(reader.pid) and reader.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert reader.poll() is None, reader.communicate()  # it did not answer while the op held the lab
        assert _blocked_on_flock(reader.pid)
    finally:
        op.kill()
        op.wait()
    out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err
    doc = json.loads(out)
    a = next(v for v in doc["vpcs"] if v["name"] == "vpc-a")
    listed = next(g for g in a["security_groups"] if g["name"] == "sg-web")["ingress"]
    assert doc["status"] == "ready" and [r["port"] for r in listed] == ["80", "9090"]
    assert crash_soak.group_rules_in_kernel(lab) == {0, 1}
    assert kernel_holds_what_state_says(lab) == "ready"
    p = run_json("probe", PEER, WEB, "--proto", "tcp", "--port", "9090", "-l", lab, check=None)
    assert p["result"] == "reachable" and not p.get("mismatch"), p


def test_a_lab_whose_repair_fails_shows_itself_before_the_operation(mklab, monkeypatch):
    """When the kernel refuses the repair, `status` and `ls` say `applying`, name the operation
    and show the lab as the kernel holds it (without the rule); readers of the model fail
    with the kernel's error; `cleanup` keeps the lab. The next command finishes it."""
    from vpclab.controller import build, status, teardown
    from vpclab.errors import KernelRefused

    lab, _ = mklab(crash_soak.filters_topology("placeholder"))
    killed(lab, "sg", "rule", "add", GROUP, "--direction", "ingress", "--proto", "icmp",
           "--source", "10.1.0.0/16", "--action", "accept")

    def refuse(*a, **kw):
        raise KernelRefused("test: the kernel refuses the repair")

    with monkeypatch.context() as m:
        m.setattr(build, "reconcile", refuse)
        doc = status.status(lab)
        assert doc["status"] == "applying"
        assert doc["pending"] == {"action": "sg rule add", "target": GROUP}
        a = next(v for v in doc["vpcs"] if v["name"] == "vpc-a")
        listed = next(g for g in a["security_groups"] if g["name"] == "sg-web")["ingress"]
        assert [r["proto"] for r in listed] == ["tcp"] and crash_soak.group_rules_in_kernel(lab) == {0}
        assert {r["lab"]: r["status"] for r in status.ls()}[lab] == "applying"
        with pytest.raises(KernelRefused):
            status.load_model(lab)
        assert teardown.cleanup([lab])["kept"] == [lab]
    doc = run_json("status", "-l", lab)
    a = next(v for v in doc["vpcs"] if v["name"] == "vpc-a")
    listed = next(g for g in a["security_groups"] if g["name"] == "sg-web")["ingress"]
    assert doc["status"] == "ready" and [r["proto"] for r in listed] == ["tcp", "icmp"]
    assert kernel_holds_what_state_says(lab) == "ready"


def test_crash_soak_kills_sg_rule_add_and_eip_associate_and_the_state_tells_the_truth(tmp_path):
    """One round of bench/crash_soak.py's filters-lab kills: `sg rule add` and `eip associate`,
    each by the hook and at a random moment; at every moment after, the state agrees with the
    kernel. The seed is in the failure message (`crash_soak.py --live-only --runs 1 --seed N`)."""
    import random

    seed = random.randrange(1 << 30)
    kills = crash_soak.soak(runs=1, seed=seed, work=tmp_path, classic=False)
    assert [(k.kind, k.how) for k in kills] == [("sg rule add", "hook"), ("eip associate", "hook"),
                                                ("sg rule add", "random"), ("eip associate", "random")]
    bad = [k.describe() for k in kills if not k.ok]
    assert not bad, f"seed {seed}: " + "; ".join(bad)
    assert all(k.window for k in kills if k.how == "hook")  # the hook lands in the window every time
