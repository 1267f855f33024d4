"""A damaged state: whatever happened to `state.db`, a command that reads it exits 4 with a
StateError naming the lab and the file, never a traceback; `ls` still lists every lab.

The state is a real SQLite file written by the real store, then damaged the ways the
adversarial run did (truncated, scrambled, garbage, a dropped table, bad model JSON,
an empty model, a model of another lab). What cannot run here without root is faked:
the store's directory is a temporary one and the effective uid it sees is 0. Only
commands that read the state run here (status, route list, peering list, events, ls,
explain -l); those that go on to the kernel are tests/kernel/state/test_state_live.py.
"""
from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import pytest

from vpclab.topology import load as loader
from vpclab.state import store
from vpclab.state.rundir import RunDir
from vpclab.errors import StateError
from vpclab.model.codec import BadModel, lab_from_dict, lab_to_dict

from test_cli import run  # the CLI in-process: (exit code, stdout, stderr), no traceback

ROOT = Path(__file__).resolve().parents[3]
TOPOLOGIES = sorted((ROOT / "topologies").glob("*.yaml"))
LAB = "two"  # topologies/01-two-vpcs.yaml
OTHER = "hub"  # topologies/03-hub-spokes.yaml


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    """The store in a temporary directory, seen as root (fake: the suite need not run as root)."""
    monkeypatch.setattr("vpclab.state.rundir.current", RunDir(tmp_path / "vpclab"))
    monkeypatch.setattr("os.geteuid", lambda: 0)
    for topo in ("01-two-vpcs.yaml", "03-hub-spokes.yaml"):
        model = loader.load(ROOT / "topologies" / topo)
        with store.Store(model.name).tx() as tx:
            tx.save_model(model)
            tx.set_status("ready")
            tx.event(0.0, None, "up", topo, "ok")
    return tmp_path / "vpclab"


def db(run_dir) -> Path:
    return run_dir / LAB / "state.db"


def set_meta(run_dir, key, text):
    con = sqlite3.connect(db(run_dir))
    if text is None:
        con.execute("DELETE FROM meta WHERE key = ?", (key,))
    else:
        con.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, text))
    con.commit()
    con.close()


def edit_model(run_dir, change):
    con = sqlite3.connect(db(run_dir))
    m = json.loads(con.execute("SELECT value FROM meta WHERE key = 'model'").fetchone()[0])
    con.close()
    change(m)
    set_meta(run_dir, "model", json.dumps(m))


def scramble(path: Path, seed: int, n: int = 300):
    data = bytearray(path.read_bytes())
    r = random.Random(seed)
    for _ in range(n):
        data[r.randrange(100, len(data))] = r.randrange(256)
    path.write_bytes(bytes(data))


def sql(statement):
    def damage(run_dir):
        con = sqlite3.connect(db(run_dir))
        con.execute(statement)
        con.commit()
        con.close()
    return damage


def vpc0(m):
    return m["vpcs"][0]


# Each kind of damage, as the adversarial run made them, by what it breaks: the whole file,
# the model (every reader but `events`), the status (`status`, `ls`) or the event log.
FILE = {
    "empty file": lambda d: db(d).write_bytes(b""),
    "truncated to 100 bytes": lambda d: db(d).write_bytes(db(d).read_bytes()[:100]),
    "truncated to 4 KB": lambda d: db(d).write_bytes(db(d).read_bytes()[:4096]),
    "scrambled": lambda d: scramble(db(d), 1),
    "scrambled again": lambda d: scramble(db(d), 2),
    "garbage": lambda d: db(d).write_bytes(random.Random(3).randbytes(8192)),
    "text": lambda d: db(d).write_text("this is not a database\n" * 100),
    "a directory": lambda d: (db(d).unlink(), db(d).mkdir()),
}
MODEL = {
    "meta dropped": sql("DROP TABLE meta"),
    "model not JSON": lambda d: set_meta(d, "model", "{not json"),
    "model null": lambda d: set_meta(d, "model", "null"),
    "model empty": lambda d: set_meta(d, "model", "{}"),
    "model a list": lambda d: set_meta(d, "model", "[1, 2]"),
    "model absent": lambda d: set_meta(d, "model", None),
    "model bytes": sql("UPDATE meta SET value = x'80ff00' WHERE key = 'model'"),
    "missing vpcs": lambda d: edit_model(d, lambda m: m.pop("vpcs")),
    "missing cidr": lambda d: edit_model(d, lambda m: vpc0(m).pop("cidr")),
    "cidr a number": lambda d: edit_model(d, lambda m: vpc0(m).update(cidr=5)),
    "cidr not a network": lambda d: edit_model(d, lambda m: vpc0(m).update(cidr="10.0.0.1/16")),
    "vpcs a mapping": lambda d: edit_model(d, lambda m: m.update(vpcs={"a": 1})),
    "instances null": lambda d: edit_model(d, lambda m: vpc0(m).update(instances=None)),
    "instance ip a list": lambda d: edit_model(d, lambda m: vpc0(m)["instances"][0].update(ip=[1])),
    "clock a string": lambda d: edit_model(d, lambda m: m.update(clock="0")),
    "clock NaN": lambda d: edit_model(d, lambda m: m.update(clock=float("nan"))),
    "peering of no VPC": lambda d: edit_model(d, lambda m: m["peerings"][0].update(vpc="vpc-z")),
    "peering state": lambda d: edit_model(d, lambda m: m["peerings"][0].update(state="HAPPY")),
    "subnet of no table": lambda d: edit_model(d, lambda m: vpc0(m)["subnets"][0].update(route_table="t9")),
    "instance of no subnet": lambda d: edit_model(d, lambda m: vpc0(m)["instances"][0].update(subnet="s9")),
    "VPC name a path": lambda d: edit_model(d, lambda m: vpc0(m).update(name="../../etc")),
    "VPC twice": lambda d: edit_model(d, lambda m: m["vpcs"].append(vpc0(m))),
    "another lab's name": lambda d: edit_model(d, lambda m: m.update(name="other")),
}
STATUS = {"status a number": lambda d: set_meta(d, "status", "5"),
          "status a list": lambda d: set_meta(d, "status", "[]")}
EVENTS = {"events dropped": sql("DROP TABLE events"),
          "events scrambled": sql("UPDATE events SET lab_time = 'soon'"),
          "events text": sql("UPDATE events SET actor = x'80ff'")}
DAMAGE = {**FILE, **MODEL, **STATUS, **EVENTS}

READERS = [["status"], ["route", "list"], ["peering", "list"], ["explain", "vpc-a/cvm-1", "vpc-b/cvm-1"],
           ["events"]]


def breaks(kind, argv) -> bool:
    """Whether damage `kind` must make command `argv` fail."""
    if kind in FILE:
        return True
    if kind in MODEL:
        return argv != ["events"]
    if kind in STATUS:
        return argv == ["status"]
    return argv == ["events"]


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_a_damaged_state_is_a_state_error_naming_lab_and_file(run_dir, capsys, kind):
    DAMAGE[kind](run_dir)
    for argv in READERS:
        code, out, err = run(capsys, *argv, "-l", LAB, "--json")
        if not breaks(kind, argv):
            assert code == 0, (argv, out, err)
            continue
        assert code == 4, (argv, out, err)
        e = json.loads(out)["error"]
        assert e["code"] == "StateError"
        assert f"lab {LAB}" in e["message"] and str(db(run_dir)) in e["message"], e["message"]
        assert f"vpclab down {LAB}" in e["hint"]
    # `ls` lists every lab, the damaged one as damaged.
    code, out, err = run(capsys, "ls", "--json")
    assert code == 0, err
    labs = {l["lab"]: l for l in json.loads(out)["labs"]}
    assert labs[OTHER]["status"] == "ready" and labs[OTHER]["vpcs"] == 4
    if kind in EVENTS:
        assert labs[LAB]["status"] == "ready"
    else:
        assert labs[LAB]["status"] == "damaged"
        assert str(db(run_dir)) in labs[LAB]["error"]
        code, out, err = run(capsys, "ls")
        assert code == 0 and "damaged" in out and str(db(run_dir)) in err


def test_events_of_a_damaged_database_are_a_state_error(run_dir, capsys):
    """The issue's first reproducer: sqlite3.DatabaseError from `events`."""
    scramble(db(run_dir), 7, 2000)
    code, out, err = run(capsys, "events", "-l", LAB)
    assert code == 4
    assert err.startswith(f"StateError: the state of lab {LAB} ({db(run_dir)}) is damaged")


def test_a_model_of_another_lab_is_refused(run_dir):
    """A model naming lab `other` in the directory of `two` would build vpclab-other-* namespaces
    that neither `down two` nor `ls` would ever see."""
    edit_model(run_dir, lambda m: m.update(name="other"))
    tx = store.Store(LAB).read()
    try:
        with pytest.raises(StateError, match="of lab 'other', not two"):
            tx.model()
        with pytest.raises(StateError):
            tx.model(required=False)
    finally:
        tx.close()
    with pytest.raises(StateError, match="of lab 'other', not two"):
        with store.Store(LAB).tx() as tx:
            tx.model(required=False)


def test_an_empty_model_is_a_state_error_for_live_operations(run_dir):
    """A live operation on a state without a model met `AttributeError: 'NoneType'`; the
    operation's change reads the model in its transaction, so that is where it must stop."""
    for text in (None, "null", "{}"):
        set_meta(run_dir, "model", text)
        with pytest.raises(StateError, match=f"lab {LAB} .*{db(run_dir)}"):
            with store.Store(LAB).tx() as tx:
                tx.model()


# ---- the codec ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", TOPOLOGIES, ids=lambda p: p.name)
def test_the_strict_decoder_reads_back_every_shipped_topology(path):
    lab = loader.load(path)
    d = json.loads(json.dumps(lab_to_dict(lab)))
    assert lab_to_dict(lab_from_dict(d)) == d


def _paths(d, prefix=()):
    """Every (path, value) in a JSON tree."""
    yield prefix, d
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            yield from _paths(v, prefix + (i,))


WRONG = [None, True, -1, 2.5, "x", "../x", [], {}, [1], {"a": 1}, float("inf")]


def _one_change_each(d):
    """`d` with one value replaced by each of WRONG, or one key dropped, for every place in it."""
    for path, _ in _paths(d):
        if not path:
            continue
        for wrong in WRONG + [KeyError]:
            copy = json.loads(json.dumps(d))
            parent = copy
            for k in path[:-1]:
                parent = parent[k]
            if wrong is KeyError:
                if not isinstance(parent, dict):
                    continue
                del parent[path[-1]]
            else:
                parent[path[-1]] = wrong
            yield path, wrong, copy


@pytest.mark.parametrize("path", TOPOLOGIES, ids=lambda p: p.name)
def test_any_one_wrong_value_or_missing_key_decodes_or_raises_bad_model(path):
    """Replace each value of a real model in turn by a value of another type, or drop each
    key: the decoder either accepts it (some values are free: a source path, a region's
    body) or raises BadModel; never KeyError, TypeError, AttributeError. What it accepts,
    every reader can use (status, route and peering lists, explain of every pair, the
    planner behind `up`)."""
    from vpclab import explain as analyze
    from vpclab.controller import status
    from vpclab.plan.planner import plan

    refused = 0
    for where, wrong, d in _one_change_each(lab_to_dict(loader.load(path))):
        try:
            lab = lab_from_dict(d)
        except BadModel:
            refused += 1
            continue
        status.route_rows(lab)
        status.peering_rows(lab)
        plan(lab)
        for s in lab.instances():
            for t in lab.instances():
                if s is not t:
                    analyze.explain(lab, s.ref, t.ref)
    assert refused > 500


# ---- version 2: the loader's rules hold in the state too (issue 19 #15) -----------------------------

INET = "inet"  # topologies/06-internet-vs-peering.yaml


def _vpc(m, name):
    return next(v for v in m["vpcs"] if v["name"] == name)


def _instance(m, ref):
    vpc, name = ref.split("/")
    return next(i for i in _vpc(m, vpc)["instances"] if i["name"] == name)


V2_DAMAGE = {  # what the adversary wrote into state.db, and the code of the rule it breaks
    "an EIP of 8.8.8.8": (lambda m: _instance(m, "vpc-a/web-a").update(eip="8.8.8.8"),
                          "InvalidParameterValue.AddressIpNotInRange"),
    "an Internet of 0.0.0.0/0": (lambda m: m["internet"].update(cidr="0.0.0.0/0"), "InvalidParameterValue.Conflict"),
    "a host with 2,999 ports": (lambda m: m["internet"]["hosts"][0].update(ports=list(range(1, 3000))),
                                "LimitExceeded.Listener"),
    "a NAT gateway outside the Internet": (lambda m: _vpc(m, "vpc-a")["nat_gateways"][0].update(eip="10.9.9.9"),
                                           "InvalidParameterValue.AddressIpNotInRange"),
    "two EIPs on one address": (lambda m: _instance(m, "vpc-c/cvm-c").update(eip="203.0.113.10"),
                                "InvalidParameterValue.Duplicate"),
    "a NAT gateway named like a VPC": (lambda m: _vpc(m, "vpc-a")["nat_gateways"][0].update(name="vpc-b"),
                                       "InvalidParameterValue.Duplicate"),
}


@pytest.fixture
def inet(run_dir, monkeypatch):
    """Lab `inet` (version 2) in the temporary store, and a tripwire on every way to the kernel."""
    from vpclab.controller import build
    from vpclab.kernel import engine
    from vpclab.state import builds

    model = loader.load(ROOT / "topologies" / "06-internet-vs-peering.yaml")
    with store.Store(model.name).tx() as tx:
        tx.save_model(model)
        tx.set_status("ready")
    def tripwire(*a, **k):
        pytest.fail("a command with a damaged state reached the kernel")

    for owner, name in ((build, "reconcile"), (engine, "apply"), (builds, "building")):
        monkeypatch.setattr(owner, name, tripwire)
    return run_dir / INET / "state.db"


def _edit(path, change):
    con = sqlite3.connect(path)
    m = json.loads(con.execute("SELECT value FROM meta WHERE key = 'model'").fetchone()[0])
    change(m)
    con.execute("UPDATE meta SET value = ? WHERE key = 'model'", (json.dumps(m),))
    con.commit()
    con.close()


@pytest.mark.parametrize("kind", sorted(V2_DAMAGE))
def test_a_version_2_state_that_breaks_a_rule_is_damaged(inet, capsys, kind):
    change, code = V2_DAMAGE[kind]
    _edit(inet, change)
    before = inet.read_bytes()
    for argv in (["status"], ["explain", "vpc-a/web-a", "internet/web"], ["eip", "associate", "vpc-b/cvm-b"],
                 ["sg", "rule", "add", "vpc-a/sg-web", "--direction", "ingress", "--source", "10.0.0.0/8",
                  "--action", "accept"]):
        rc, out, err = run(capsys, *argv, "-l", INET, "--json")
        assert rc == 4, (kind, argv, out, err)
        e = json.loads(out)["error"]
        assert e["code"] == "StateError" and str(inet) in e["message"] and code in e["message"], (argv, e)
    assert inet.read_bytes() == before  # nothing was written: `eip associate` handed out no 0.0.0.1


def test_the_decoder_runs_the_loaders_rules_not_its_own():
    """One set of rules: the codec's refusal is filter_rules.validate's first violation."""
    from vpclab.model import filter_rules

    model = loader.load(ROOT / "topologies" / "06-internet-vs-peering.yaml")
    d = json.loads(json.dumps(lab_to_dict(model)))
    d["internet"]["cidr"] = "0.0.0.0/0"
    with pytest.raises(BadModel) as e:
        lab_from_dict(d)
    model.internet.cidr = __import__("ipaddress").IPv4Network("0.0.0.0/0")
    first = filter_rules.validate(model)[0]
    assert str(e.value).startswith(f"model: {first.code}: {first.message}")
