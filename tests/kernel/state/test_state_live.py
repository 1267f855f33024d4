"""A lab's state and teardown on the real kernel, as a careless or hostile user meets them:
- a damaged `state.db` makes every command on the lab exit 4 (StateError naming the lab
  and the file) and change nothing, while `ls` lists the other labs; `down` and `cleanup`
  still remove the damaged lab completely;
- a model naming another lab is refused (it would build a lab no `down` sees);
- /run/vpclab is root's only: a real unprivileged user can open neither a lab's lock nor
  its database, and a command reading a lab tells them it needs root (exit 3);
- `down` names the processes and mounts that keep a namespace alive after it;
- `cleanup NAME` of a lab that never existed says there was nothing to remove.
"""
from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labkit import TOPOLOGIES, VPCLAB, assert_gone, lab_name, lab_namespaces, needs_root, run, run_json

pytestmark = needs_root

RUN = Path("/run/vpclab")
NOBODY = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]


def state(lab) -> Path:
    return RUN / lab / "state.db"


def kernel(lab):
    from vpclab.kernel import inspect

    return inspect.read_lab(lab)


def set_model(lab, change):
    con = sqlite3.connect(state(lab))
    if change is None:
        con.execute("DELETE FROM meta WHERE key = 'model'")
    else:
        m = json.loads(con.execute("SELECT value FROM meta WHERE key = 'model'").fetchone()[0])
        change(m)
        con.execute("UPDATE meta SET value = ? WHERE key = 'model'", (json.dumps(m),))
    con.commit()
    con.close()


def drop_meta(lab):
    con = sqlite3.connect(state(lab))
    con.execute("DROP TABLE meta")
    con.commit()
    con.close()


OTHER = lab_name()  # the name a tampered model claims: no namespace may ever carry it
# Without a model (never written, or its table dropped) `up FILE` writes it again from the file:
# the repair of a first `up` killed before its first commit. Every other command refuses.
UP_REPAIRS = ("meta dropped", "no model")

DAMAGE = {
    "garbage": lambda lab: state(lab).write_bytes(os.urandom(8192)),
    "truncated": lambda lab: state(lab).write_bytes(state(lab).read_bytes()[:3000]),
    "meta dropped": drop_meta,
    "model without vpcs": lambda lab: set_model(lab, lambda m: m.pop("vpcs")),
    "cidr of the wrong type": lambda lab: set_model(lab, lambda m: m["vpcs"][0].update(cidr=[10, 0])),
    "empty model": lambda lab: set_model(lab, lambda m: m.clear()),
    "no model": lambda lab: set_model(lab, None),
    "another lab's name": lambda lab: set_model(lab, lambda m: m.update(name=OTHER)),
}


@pytest.mark.long
def test_a_damaged_lab_exits_4_changes_nothing_and_down_removes_it(mklab):
    lab, path = mklab(TOPOLOGIES / "01-two-vpcs.yaml")
    bystander, _ = mklab(TOPOLOGIES / "02-one-way-route.yaml")
    good = state(lab).read_bytes()
    before = kernel(lab)
    # Every kind of damage meets a read, a live operation and `up`; the other commands take
    # turns (tests/unit/state/test_state.py runs every reader against every kind, without a kernel).
    every = [["status"], ["route", "add", "vpc-a", "--destination", "10.1.5.0/24", "--next-hop", "pcx-ab"]]
    turns = [["matrix"], ["probe", "vpc-a/cvm-1", "vpc-b/cvm-1"], ["peering", "delete", "pcx-ab"],
             ["clock", "advance", "1d"], ["explain", "vpc-a/cvm-1", "vpc-b/cvm-1"], ["route", "list"],
             ["peering", "list"], ["peering", "accept", "pcx-ab"]]
    assert len(turns) >= len(DAMAGE)
    for n, (kind, damage) in enumerate(DAMAGE.items()):
        damage(lab)
        for argv in every + [turns[n], ["up", str(path)]]:
            p = run(*argv, *([] if argv[0] == "up" else ["-l", lab]), "--json")
            assert "Traceback" not in p.stderr, (kind, argv, p.stderr)
            if argv[0] == "up" and kind in UP_REPAIRS:
                assert p.returncode == 0 and json.loads(p.stdout)["actions"] == [], (kind, p.stdout, p.stderr)
                assert run_json("status", "-l", lab)["status"] == "ready"
                continue
            assert p.returncode == 4, (kind, argv, p.stdout, p.stderr)
            err = json.loads(p.stdout)["error"]
            assert err["code"] == "StateError", (kind, argv, err)
            assert f"lab {lab}" in err["message"] and str(state(lab)) in err["message"], err
            assert f"vpclab down {lab}" in err["hint"]
        if kind in ("garbage", "truncated"):
            p = run("events", "-l", lab, "--json")
            assert p.returncode == 4 and json.loads(p.stdout)["error"]["code"] == "StateError", p.stdout
        labs = {l["lab"]: l for l in run_json("ls")["labs"]}
        if kind not in UP_REPAIRS:
            assert labs[lab]["status"] == "damaged" and str(state(lab)) in labs[lab]["error"], kind
        assert labs[bystander]["status"] == "ready" and labs[bystander]["instances"] == 2
        assert kernel(lab) == before, f"{kind}: the kernel changed"
        assert lab_namespaces(OTHER) == [], f"{kind}: a hidden lab {OTHER} was built"
        state(lab).write_bytes(good)
    assert run_json("status", "-l", lab)["status"] == "ready"  # the good state reads again
    DAMAGE["garbage"](lab)
    assert run_json("down", lab)["removed"] is True
    assert_gone(lab)
    assert run_json("probe", "vpc-a/cvm-1", "vpc-b/cvm-1", "-l", bystander)["result"] == "no-return"


def test_cleanup_removes_a_damaged_lab(mklab):
    """A damaged lab is not `ready`: `cleanup` removes it, even when its status still says ready."""
    lab, _ = mklab(TOPOLOGIES / "01-two-vpcs.yaml")
    ready, _ = mklab(TOPOLOGIES / "02-one-way-route.yaml")
    DAMAGE["model without vpcs"](lab)
    out = run_json("cleanup", lab, ready)
    assert out["removed"] == [lab] and out["kept"] == [ready]
    assert_gone(lab)
    assert len(lab_namespaces(ready)) == 4


def test_cleanup_of_a_lab_that_never_existed_removes_nothing(mklab):
    ready, _ = mklab(TOPOLOGIES / "02-one-way-route.yaml")
    never = lab_name()
    p = run("cleanup", never, check=0)
    assert "removed" not in p.stdout and f"nothing to remove: {never}" in p.stdout, p.stdout
    out = run_json("cleanup", never, ready)
    assert out["removed"] == [] and out["absent"] == [never] and out["kept"] == [ready]
    assert not (RUN / ".locks" / never).exists() and not (RUN / never).exists()


# ---- root only ------------------------------------------------------------------------------------


def _modes(lab):
    return {str(p): stat.S_IMODE(p.stat().st_mode)
            for p in (RUN, RUN / ".locks", RUN / lab, RUN / ".locks" / lab, state(lab))}


def test_a_real_unprivileged_user_can_open_neither_the_lock_nor_the_state(mklab):
    lab, _ = mklab(TOPOLOGIES / "01-two-vpcs.yaml")
    want = {str(RUN): 0o700, str(RUN / ".locks"): 0o700, str(RUN / lab): 0o700, str(RUN / ".locks" / lab): 0o600,
            str(state(lab)): 0o600}
    assert _modes(lab) == want
    # As nobody: open the lock (to flock it) and the database (to hold a read transaction).
    probe = (
        "import json, os, sqlite3, sys\n"
        "out = {}\n"
        "for name, path in (('lock', sys.argv[1]), ('db', sys.argv[2]), ('dir', sys.argv[3])):\n"
        "    try:\n"
        "        os.close(os.open(path, os.O_RDONLY))\n"
        "        out[name] = 'opened'\n"
        "    except OSError as e:\n"
        "        out[name] = e.errno\n"
        "try:\n"
        "    sqlite3.connect(f'file:{sys.argv[2]}?mode=ro', uri=True).execute('BEGIN; SELECT * FROM meta')\n"
        "    out['sqlite'] = 'opened'\n"
        "except sqlite3.Error as e:\n"
        "    out['sqlite'] = str(e)\n"
        "print(json.dumps(out))\n")
    p = subprocess.run(NOBODY + ["/usr/bin/python3", "-c", probe, str(RUN / ".locks" / lab), str(state(lab)),
                                 str(RUN)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    assert got["lock"] == got["db"] == got["dir"] == 13, got  # EACCES
    assert got["sqlite"] == "unable to open database file", got

    def as_nobody(*argv):
        return subprocess.run(NOBODY + [VPCLAB, *argv], capture_output=True, text=True, timeout=60)

    for argv in (["status", "-l", lab], ["ls"], ["events"], ["route", "list"], ["explain", "vpc-a/cvm-1",
                                                                                "vpc-b/cvm-1", "-l", lab]):
        p = as_nobody(*argv, "--json")
        assert p.returncode == 3, (argv, p.stdout, p.stderr)
        err = json.loads(p.stdout)["error"]
        assert err["code"] == "NotRoot" and "root" in err["message"], err
    shipped = str(TOPOLOGIES / "01-two-vpcs.yaml")  # readable by nobody, unlike the test's copy
    for argv in (["validate", shipped], ["explain", "vpc-a/cvm-1", "vpc-b/cvm-1", "-f", shipped],
                 ["doctor"], ["--help"], ["up", "--dry-run", shipped]):
        p = as_nobody(*argv)
        assert p.returncode == 0 and "Traceback" not in p.stderr, (argv, p.stdout, p.stderr)

    # Modes left loose (a lab made before this rule) are tightened when root opens them.
    for p in (RUN, RUN / lab):
        os.chmod(p, 0o755)
    for p in (RUN / ".locks" / lab, state(lab)):
        os.chmod(p, 0o644)
    run("ls", check=0)
    assert stat.S_IMODE(RUN.stat().st_mode) == 0o700
    run("route", "add", "vpc-a", "--destination", "10.1.5.0/24", "--next-hop", "pcx-ab", "-l", lab, check=0)
    assert _modes(lab) == want


# ---- down and what keeps a namespace alive ----------------------------------------------------------


def _wait_running(command, pid, netns_path, timeout=10.0):
    """Until process `pid` runs `command` inside the namespace at `netns_path`."""
    want = f"net:[{os.stat(netns_path).st_ino}]"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == command and os.readlink(f"/proc/{pid}/ns/net") == want:
                    return
        except OSError:
            pass
        time.sleep(0.02)
    raise AssertionError(f"process {pid} did not start {command} in {netns_path}")


def _gone(pid, timeout=5.0):
    deadline = time.monotonic() + timeout
    while os.path.exists(f"/proc/{pid}/ns/net") and time.monotonic() < deadline:
        time.sleep(0.02)
    return not os.path.exists(f"/proc/{pid}/ns/net")


def test_down_names_what_keeps_a_namespace_alive(mklab, tmp_path):
    """Processes this test starts keep the lab's namespaces alive: one inside a router's
    namespace (as `ip netns exec ... bash` would be), one holding an fd on an instance's
    namespace file, and a bind mount of another. `down` removes the lab's names and state,
    exits 0, and names each of them on stderr and in --json; a process `vpclab exec` started
    is the lab's own, ended by `down`, and not named."""
    lab, _ = mklab(TOPOLOGIES / "01-two-vpcs.yaml")
    ns = {n.rpartition(f"vpclab-{lab}-")[2]: f"/run/netns/{n}" for n in lab_namespaces(lab)}
    procs = []
    mount = tmp_path / "held-ns"
    mount.touch()
    try:
        inside = subprocess.Popen(["nsenter", f"--net={ns['vpc-a']}", "sleep", "60"])
        fd_holder = subprocess.Popen([sys.executable, "-c", "import os, sys, time\n"
                                      f"fd = os.open({ns['vpc-b.cvm-1']!r}, os.O_RDONLY)\n"
                                      "print(fd, flush=True)\ntime.sleep(60)"], stdout=subprocess.PIPE, text=True)
        own = subprocess.Popen([VPCLAB, "exec", "vpc-a/cvm-1", "-l", lab, "--", "sleep", "60"])
        procs = [inside, fd_holder, own]
        fd = int(fd_holder.stdout.readline())
        subprocess.run(["mount", "--bind", ns["vpc-b"], str(mount)], check=True)
        for proc, where in ((inside, ns["vpc-a"]), (own, ns["vpc-a.cvm-1"])):
            _wait_running("sleep", proc.pid, where)
        p = run("down", lab, "--json", check=0)
        doc = json.loads(p.stdout)
        held = {(h["pid"], h["namespace"], h["how"]) for h in doc["held_by"]}
        assert held == {(inside.pid, f"vpclab-{lab}-vpc-a", "inside"),
                        (fd_holder.pid, f"vpclab-{lab}-vpc-b.cvm-1", f"fd {fd} on"),
                        (None, f"vpclab-{lab}-vpc-b", f"bind mount at {mount} of")}, doc["held_by"]
        for pid in (inside.pid, fd_holder.pid):
            assert str(pid) in p.stderr
        assert "warning:" in p.stderr and str(mount) in p.stderr
        assert _gone(own.pid), "the process `vpclab exec` started outlived down"
        assert lab_namespaces(lab) == [] and not state(lab).exists()
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        subprocess.run(["umount", str(mount)], capture_output=True)
    assert_gone(lab)
