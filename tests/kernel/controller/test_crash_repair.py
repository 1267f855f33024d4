"""Crash repair: `up` brings a half-built lab to its plan, and a killed `down` leaves a
leftover that `cleanup` finishes.

The first tests damage a lab the way a killed command leaves it (links still
administratively down, an address or a qdisc missing, sysctls not written) and
check that `up` again repairs all of it. The last one kills `up`, a live operation
and `down` with SIGKILL at random points of their progress, then checks that `up`
repairs the lab (its probes agree with explain) and that `cleanup` leaves nothing;
bench/crash_soak.py runs the same rounds many more times.
"""
from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from labkit import TOPOLOGIES, assert_gone, lab_name, lab_namespaces, needs_root, renamed, run, run_json

pytestmark = [pytest.mark.kernel, needs_root]

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
import crash_soak  # noqa: E402


def _link_index(ipr, ifname):
    return ipr.link_lookup(ifname=ifname)[0]


def test_up_repairs_links_left_down_and_other_half_built_state(mklab):
    """What a killed `up` can leave: ends of veths still down (the kernel
    then drops the routes through them), an address and a qdisc not yet added, the
    namespace sysctls and `lo` not yet set. `up` again repairs every one of them."""
    from vpclab.controller import status
    from vpclab.kernel import netns, rtnl, tc
    from vpclab.plan import names as N

    lab, path = mklab(TOPOLOGIES / "04-cross-region.yaml")
    gz, sg, ops = (N.vpc_ns(lab, v) for v in ("gz-app", "sg-app", "gz-ops"))
    inst = N.instance_ns(lab, "sg-app", "cvm-1")
    xr, local = N.peering_port(lab, "pcx-gz-sg"), N.peering_port(lab, "pcx-gz-local")
    with netns.iproute(sg) as ipr:  # the far end of the cross-region peering: down, no qdisc
        i = _link_index(ipr, xr)
        sock = rtnl.socket_in(sg)
        try:
            sock.request(tc.delete_request(i))
        finally:
            sock.close()
        ipr.link("set", index=i, state="down")
    with netns.iproute(ops) as ipr:  # the far end of the regional peering: down
        ipr.link("set", index=_link_index(ipr, local), state="down")
    with netns.iproute(gz) as ipr:  # an instance's veth at its router: down
        ipr.link("set", index=_link_index(ipr, N.instance_port(lab, "cvm-1")), state="down")
    with netns.iproute(inst) as ipr:  # an instance: its address gone, its link and lo down
        i = _link_index(ipr, N.instance_eth(lab))
        ipr.addr("del", index=i, address="10.20.1.10", prefixlen=24)
        ipr.link("set", index=i, state="down")
        ipr.link("set", index=1, state="down")
    netns.sysctl_write(ops, {netns.FORWARDING: "0"})
    netns.sysctl_write(inst, {"net.ipv6.conf.all.disable_ipv6": "0"})

    model = status.load_model(lab)
    assert crash_soak.kernel_diff(model), "the damage is not visible to the read-back"
    run("up", path, check=0)
    assert crash_soak.kernel_diff(model) == []
    assert netns.sysctl_read(inst, "net.ipv6.conf.all.disable_ipv6") == "1"
    assert crash_soak.probe_disagreements(lab) == []


def test_a_killed_down_leaves_a_leftover_that_cleanup_and_down_finish(mklab, monkeypatch):
    """`down` dies after removing the namespaces and before removing the state (the
    death is simulated by an exception at that point, in process). The lab is then
    `deleting`, not `ready`: `ls` and `status` say so, a live operation refuses, and
    `cleanup LAB` removes it. A second lab killed the same way is finished by `down`."""
    from vpclab.controller import teardown
    from vpclab.state.store import Store

    class Killed(BaseException):
        pass

    def die(self):
        raise Killed()

    labs = [mklab(TOPOLOGIES / "01-two-vpcs.yaml")[0] for _ in range(2)]
    with monkeypatch.context() as m:
        m.setattr(Store, "remove", die)
        for lab in labs:
            with pytest.raises(Killed):
                teardown.down(lab)
    for lab in labs:
        assert lab_namespaces(lab) == []
        rows = {r["lab"]: r for r in run_json("ls")["labs"]}
        assert rows[lab]["status"] == "deleting"
        assert run_json("status", "-l", lab)["status"] == "deleting"
        p = run("route", "add", "vpc-a", "--destination", "10.1.5.0/24", "--next-hop", "pcx-ab", "-l", lab)
        assert p.returncode == 2 and "vpclab down" in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert run_json("cleanup", labs[0])["removed"] == [labs[0]]
    assert_gone(labs[0])
    run("down", labs[1], check=0)
    assert_gone(labs[1])


def test_up_after_a_killed_down_starts_from_the_file(tmp_path):
    """A lab whose `down` was killed is finished off by `up` before it is built again:
    the live changes the user meant to throw away do not come back."""
    from vpclab.controller import status
    from vpclab.state.store import Store

    lab = lab_name()
    path = renamed(TOPOLOGIES / "01-two-vpcs.yaml", lab, tmp_path)
    try:
        run("up", path, check=0)
        run("route", "del", "vpc-b", "--destination", "10.0.0.0/16", "-l", lab, check=0)
        with Store(lab).tx() as tx:  # `down` was killed right after marking the lab
            tx.set_status("deleting")
        dry = run("up", "--dry-run", path, "--json", check=0)
        assert "half removed" in dry.stderr
        other = renamed(TOPOLOGIES / "01-two-vpcs.yaml", lab_name(), tmp_path)  # never built
        fresh = run("up", "--dry-run", other, "--json", check=0)
        assert len(json.loads(dry.stdout)["actions"]) == len(json.loads(fresh.stdout)["actions"])
        p = run("up", path, check=0)
        assert "half removed" in p.stderr
        assert run_json("status", "-l", lab)["status"] == "ready"
        routes = {(r["vpc"], r["destination"]) for r in run_json("route", "list", "-l", lab)["routes"]}
        assert ("vpc-b", "10.0.0.0/16") in routes
        assert crash_soak.kernel_diff(status.load_model(lab)) == []
    finally:
        run("down", lab)
    assert_gone(lab)


KILLED_MID_COMMIT = """
import os, signal, sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA cache_size=1")  # spill to the database file before the commit
con.execute("BEGIN IMMEDIATE")
con.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('junk', ?)", ('"' + "x" * 400000 + '"',))
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_command_killed_mid_commit_leaves_a_state_that_reads_and_repairs(mklab):
    """A command killed while SQLite writes the state leaves a hot journal (the killed
    live operations of crash_soak did). Reading commands (`status`, `ls`) and `up`
    still work: the journal is rolled back, and the lab is as before the command."""
    lab, path = mklab(TOPOLOGIES / "01-two-vpcs.yaml")
    db = Path(f"/run/vpclab/{lab}/state.db")
    p = subprocess.run([sys.executable, "-c", KILLED_MID_COMMIT, str(db)])
    assert p.returncode == -signal.SIGKILL
    assert db.with_name("state.db-journal").exists()
    assert run_json("status", "-l", lab)["status"] == "ready"
    assert lab in {r["lab"] for r in run_json("ls")["labs"]}
    run("up", path, check=0)
    assert run_json("probe", "vpc-a/cvm-1", "vpc-b/cvm-1", "-l", lab)["result"] == "reachable"


@pytest.mark.long
def test_sigkill_at_random_points_then_up_repairs_and_cleanup_removes(tmp_path):
    """A few rounds of crash_soak (kills of `up`, of live operations and of `down`):
    every round ends repaired, with probes that agree with explain, and clean.
    The seed is in the failure message: `bench/crash_soak.py --runs 3 --seed N` replays it."""
    seed = random.randrange(1 << 30)
    rounds = crash_soak.soak(runs=3, seed=seed, work=tmp_path, live=False)  # live: test_crash_live_ops.py
    bad = [r for r in rounds if not r.ok]
    assert not bad, f"seed {seed}: " + "; ".join(r.describe() for r in bad)
    kinds = {r.kind for r in rounds}
    assert kinds == {"up", "op", "down"}, kinds
