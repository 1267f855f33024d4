"""Hostile and careless input (issue "Hardening"): each case once raised a traceback,
hung, blew up in memory, or acted on the wrong lab. Now: exit 2, `CODE: message` or
`FILE:LINE: CODE: message`, no traceback, nothing changed.

No root is needed: commands that would reach the kernel are refused before it, and
the tests that go as far as a lab's state point the store at a temporary directory
and replace the controller's view of the host with one fake lab ("solo") that any
command acting on it would trip over.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vpclab.controller import host, teardown, tools
from vpclab.topology import load as loader
from vpclab.state import labs, store
from vpclab.state.rundir import RunDir
from vpclab.cli.main import main
from vpclab.errors import SHOWN, TopologyInvalid, VpclabError, shown
from vpclab.model import lifecycle, rules
from vpclab.model.types import ACCOUNT_NAME, ITEM_NAME, LAB_NAME, PEERING_NAME, VPC_NAME
from vpclab.model.units import OutOfRange, parse_bandwidth

ROOT = Path(__file__).resolve().parents[3]
T01 = str(ROOT / "topologies" / "01-two-vpcs.yaml")
T04 = str(ROOT / "topologies" / "04-cross-region.yaml")
BASE = "lab: x\nvpcs:\n  vpc-a:\n    region: r\n    cidr: 10.0.0.0/16\n"  # lines 1-5


def run(capsys, *argv):
    """(exit code, stdout, stderr) of `vpclab ARGV`, in this process."""
    with pytest.raises(SystemExit) as e:
        main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return e.value.code, out, err


def problems(text: str):
    with pytest.raises(TopologyInvalid) as e:
        loader.loads(text, "t.yaml")
    return e.value.problems


@pytest.fixture
def solo(monkeypatch, tmp_path):
    """One fake running lab, 'solo', that no command may touch; the store lives in tmp_path."""
    monkeypatch.setattr("vpclab.state.rundir.current", RunDir(tmp_path))
    monkeypatch.setattr(labs, "known_labs", lambda: ["solo"])
    monkeypatch.setattr(host, "running_labs", lambda: ["solo"])
    monkeypatch.setattr(host, "require_root", lambda what: None)

    def touched(*a, **k):
        raise AssertionError(f"a command acted on a lab: {a}")

    monkeypatch.setattr(store.Store, "__init__", touched)
    monkeypatch.setattr(teardown, "remove_objects", touched)


# ---- 1. a region body that is not a mapping ------------------------------------------------------


@pytest.mark.parametrize("body", ["5", '"ab"', "[1]", "true"])
def test_region_body_not_a_mapping(body):
    (p,) = problems(BASE + f"regions:\n  r: {body}\n")
    assert (p.code, p.line) == ("InvalidParameter", 7)
    assert "region r must be a mapping" in p.message


# ---- 2. a bandwidth of hundreds of digits ----------------------------------------------------------


def test_bandwidth_of_400_digits_is_out_of_range():
    with pytest.raises(OutOfRange) as e:
        parse_bandwidth("9" * 400 + "Mbps")
    assert e.value.code == rules.BW_RANGE
    assert len(str(e.value)) < 3 * SHOWN
    assert parse_bandwidth("10Gbps") == 10_000_000 and parse_bandwidth("1.5Kbps") == 2


def test_bandwidth_of_400_digits_in_a_file():
    text = BASE + ("  vpc-b: {region: s, cidr: 10.1.0.0/16}\npeerings:\n"
                   f"  pcx-ab: {{vpc: vpc-a, peer_vpc: vpc-b, bandwidth: {'9' * 400}Mbps}}\n")
    (p,) = problems(text)
    assert (p.code, p.line) == (rules.BW_RANGE, 8)


@pytest.mark.parametrize("argv", [
    ["peering", "create", "--vpc", "vpc-a", "--peer-vpc", "vpc-b"],
    ["peering", "modify", "pcx-ab"],
])
def test_bandwidth_of_400_digits_on_the_command_line(capsys, solo, argv):
    code, out, err = run(capsys, *argv, "--bandwidth", "9" * 400 + "Mbps", "-l", "solo")
    assert code == 2
    assert err.startswith(rules.BW_RANGE + ": ") and len(err) < 400


# ---- 3. alias bombs, deep trees, long values --------------------------------------------------------


def alias_bomb(levels: int = 9) -> str:
    text = 'a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    for i in range(1, levels + 1):
        text += f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n"
    return text


def test_alias_bomb_is_refused_before_it_expands():
    text = alias_bomb()
    assert len(text) < 1700
    (p,) = problems(text)
    assert p.code == "InvalidParameter.YamlTooLarge" and "aliases expand" in p.message


def test_a_few_aliases_are_fine():
    text = (BASE + "    route_tables: &rt {main: {routes: []}}\n"
            "  vpc-b: {region: r, cidr: 10.1.0.0/16, route_tables: *rt}\n")
    lab = loader.loads(text, "t.yaml")
    assert set(lab.vpcs["vpc-b"].route_tables) == {"main", "default"}


def test_recursive_alias_and_deep_nesting():
    (p,) = problems("a: &x [1, *x]\n")
    assert p.code == "InvalidParameter.YamlSyntax" and "recursive" in p.message
    deep = "lab: x\nvpcs:\n" + "".join(" " * (i + 1) + f"k{i}:\n" for i in range(500))
    (p,) = problems(deep)
    assert p.code == "InvalidParameter.YamlTooLarge" and "deeper than" in p.message


def test_a_number_too_long_for_python():
    (p,) = problems("lab: " + "1" * 5000 + "\nvpcs: {}\n")
    assert p.code == "InvalidParameter.YamlSyntax" and len(p.message) < 3 * SHOWN


@pytest.mark.parametrize("text", [
    "lab: {long}\nvpcs: {{}}\n",
    "lab: x\n{long}: 1\nvpcs: {{vpc-a: {{region: r, cidr: 10.0.0.0/16}}}}\n",
    BASE + "    instances: {{i: {{subnet: {long}}}}}\n",
    BASE + "    cidr2: 1\n    subnets: {{s: {{cidr: {long}}}}}\n",
    BASE + "peerings: {{p: {{vpc: {long}, peer_vpc: vpc-a}}}}\n",
    BASE + "expect: [{{from: {long}, to: vpc-a/i}}]\n",
    BASE + "latency: {{{long}: 5ms}}\n",
])
def test_a_huge_value_is_quoted_briefly(capsys, tmp_path, text):
    f = tmp_path / "t.yaml"
    f.write_text(text.format(long="a" * 5_000_000))
    code, out, err = run(capsys, "validate", str(f))
    assert code == 2
    for line in out.splitlines():
        assert len(line) < len(str(f)) + 400, line[:200]


def test_a_huge_lab_name_on_the_command_line(capsys, solo):
    code, out, err = run(capsys, "status", "-l", "z" * 1_000_000)
    assert code == 2 and err.startswith("LabNotFound: ") and len(err) < 400


def test_shown():
    assert shown("abc") == "abc"
    assert shown("x" * 1000).startswith("x" * SHOWN + "...") and len(shown("x" * 1000)) < SHOWN + 30
    assert shown("lab\n") == "lab\\n"
    assert shown("yes", as_repr=True) == "'yes'"
    assert "digits" in shown(10 ** 5000)
    tree = [1]
    for _ in range(40):  # 10**40 leaves if it were expanded
        tree = [tree] * 10
    assert len(shown(tree)) <= 2 * SHOWN + 3


# ---- 4. exec with an empty command; options after INSTANCE ------------------------------------------


@pytest.mark.parametrize("cmd,code_", [(["--", ""], "InvalidParameterValue"), ([""], "InvalidParameterValue"),
                                       (["--", "ls", "a\0b"], "InvalidParameterValue"),
                                       ([], "MissingParameter"), (["--"], "MissingParameter")])
def test_exec_empty_command(capsys, cmd, code_):
    code, out, err = run(capsys, "exec", "vpc-a/cvm-1", *cmd)
    assert code == 2 and err.startswith(code_ + ": ")


@pytest.fixture
def exec_calls(monkeypatch):
    calls = []
    monkeypatch.setattr(tools, "exec_in", lambda ref, argv, lab=None: calls.append((ref, argv, lab)))
    return calls


@pytest.mark.parametrize("argv,want", [
    (["vpc-a/cvm-1", "ls", "-l", "/"], ["ls", "-l", "/"]),
    (["vpc-a/cvm-1", "--", "ls", "-l", "/"], ["ls", "-l", "/"]),
    (["vpc-a/cvm-1", "-l", "two", "--", "ip", "addr"], ["ip", "addr"]),
    (["-l", "two", "vpc-a/cvm-1", "--", "ip", "addr"], ["ip", "addr"]),
    (["vpc-a/cvm-1", "--lab=two", "--", "sh", "-c", "echo -- -l"], ["sh", "-c", "echo -- -l"]),
    (["vpc-a/cvm-1", "sh", "--", "-l"], ["sh", "--", "-l"]),
])
def test_exec_passes_everything_after_instance(capsys, exec_calls, argv, want):
    with pytest.raises(SystemExit) as e:
        main(["exec", *argv])
    assert e.value.code == 0
    lab = "two" if any("two" in a for a in argv) else None
    assert exec_calls == [("vpc-a/cvm-1", want, lab)]


@pytest.mark.parametrize("argv,code_", [
    (["vpc-a/cvm-1", "-x", "--", "ls"], "UnknownParameter"),
    (["vpc-a/cvm-1", "-l", "two"], "UnknownParameter"),
    (["vpc-a/cvm-1", "-l", "", "--", "ls"], "InvalidParameterValue"),
])
def test_exec_refuses_what_is_not_its_option(capsys, exec_calls, argv, code_):
    code, out, err = run(capsys, "exec", *argv)
    assert code == 2 and err.startswith(code_ + ": ") and exec_calls == []


def test_exec_help_documents_the_double_dash(capsys):
    code, out, _ = run(capsys, "exec", "--help")
    assert code == 0
    assert "-- ip addr" in out and "everything after INSTANCE" in out and "passed through" in out


# ---- 12. an explicitly empty lab -------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ["down", ""], ["down", "-l", ""], ["down", "--lab="], ["status", "-l", ""], ["route", "list", "-l", ""],
    ["route", "add", "vpc-a", "--destination", "10.1.0.0/16", "--next-hop", "pcx-ab", "-l", ""],
    ["peering", "delete", "pcx-ab", "-l", ""], ["peering", "list", "--lab", ""], ["matrix", "-l", " "],
    ["cleanup", ""], ["cleanup", "two", ""], ["events", "-l", ""], ["clock", "advance", "1d", "-l", ""],
    ["graph", "-l", ""], ["explain", "a/b", "c/d", "-l", ""], ["status", "-l", "", "--json"],
])
def test_an_empty_lab_is_refused(capsys, solo, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2
    msg = json.loads(out)["error"] if "--json" in argv else {"code": err.split(":")[0], "message": err}
    assert msg["code"] == "InvalidParameterValue" and "is empty" in msg["message"]
    assert "solo" not in out + err


@pytest.mark.parametrize("argv", [["cleanup", ""], ["cleanup", "two", " "], ["cleanup", "", "--json"]])
def test_cleanup_of_an_empty_lab_says_what_leaving_it_out_does(capsys, solo, argv):
    """Issue 19 #16: `cleanup ""` said "leave [LAB]... out when one lab runs"; left out, cleanup
    cleans up after every lab, one running or many."""
    code, out, err = run(capsys, *argv)
    msg = json.loads(out)["error"]["message"] if "--json" in argv else err.splitlines()[0]
    assert code == 2
    assert msg.endswith("LAB is empty: name a lab, or leave LAB out to clean up after every lab"), msg
    assert "[LAB]" not in msg and "when one lab runs" not in msg


@pytest.mark.parametrize("verb", ["start", "reset", "check", "hint"])
@pytest.mark.parametrize("empty", [["-l", ""], ["--lab="], ["-l", " "]])
def test_an_empty_exercise_lab_is_refused(capsys, solo, monkeypatch, verb, empty):
    """Issue 19 #11: `lab reset 10 -l "$UNSET"` once acted on ex10 (and threw the student's work away)."""
    from vpclab.exercises import session

    acted = []
    for name in ("start", "reset", "check", "hint", "live_lab"):
        monkeypatch.setattr(session, name, lambda *a, _n=name, **k: acted.append((_n, a)) or {})
    code, _, err = run(capsys, "lab", verb, "10", *empty)
    assert (code, acted) == (2, [])
    assert err.startswith("InvalidParameterValue: --lab is empty")


def test_an_empty_exercise_lab_is_refused_by_the_session_too(solo):
    """Below the command line as well: an empty name is never read as "the default exNN"."""
    from vpclab.errors import Refused
    from vpclab.exercises import catalog, session

    ex = catalog.find("10", ROOT / "lab")
    for call in (session.start, session.reset):
        with pytest.raises(Refused) as e:
            call(ex, "")
        assert "ex10" not in str(e.value)
    for call in (session.check, session.hint):
        with pytest.raises(VpclabError) as e:
            call(ex, "")
        assert "ex10" not in str(e.value)


# ---- 13. names with a trailing newline ---------------------------------------------------------------


@pytest.mark.parametrize("pattern", [LAB_NAME, VPC_NAME, ITEM_NAME, PEERING_NAME, ACCOUNT_NAME])
def test_name_patterns_end_at_the_end(pattern):
    assert pattern.match("ab1")
    assert not pattern.match("ab1\n")


@pytest.mark.parametrize("text,line", [
    ('lab: "x\\n"\nvpcs: {vpc-a: {region: r, cidr: 10.0.0.0/16}}\n', 1),
    ('lab: x\nvpcs: {"vpc-a\\n": {region: r, cidr: 10.0.0.0/16}}\n', 2),
    (BASE + '    subnets: {"s\\n": {cidr: 10.0.1.0/24}}\n', 6),
    (BASE + '    subnets: {s: {cidr: 10.0.1.0/24}}\n    instances: {"i\\n": {subnet: s}}\n', 7),
    (BASE + '    route_tables: {"t\\n": {}}\n', 6),
    (BASE + '  vpc-b: {region: r, cidr: 10.1.0.0/16}\npeerings: {"p\\n": {vpc: vpc-a, peer_vpc: vpc-b}}\n', 7),
    ('lab: x\naccounts: ["a\\n"]\nvpcs: {vpc-a: {region: r, cidr: 10.0.0.0/16}}\n', 2),
    ('lab: x\nregions: {"r\\n": {}}\nvpcs: {vpc-a: {region: "r\\n", cidr: 10.0.0.0/16}}\n', 2),
])
def test_a_trailing_newline_is_not_a_name(text, line):
    ps = problems(text)
    assert ps[0].code == "InvalidParameterValue" and ps[0].line == line
    assert "\\n" in ps[0].message and "\n" not in ps[0].message


def test_peering_name_with_a_newline_is_refused_live():
    lab = loader.load(T01)
    with pytest.raises(Exception) as e:
        lifecycle.create(lab, "vpc-a", "vpc-b", name="pcx\n")
    assert getattr(e.value, "code", None) == "InvalidParameterValue"


@pytest.mark.parametrize("argv", [["down", "lab\n"], ["cleanup", "lab\n"], ["down", "-l", "lab\n"]])
def test_down_a_name_with_a_newline_is_refused(capsys, monkeypatch, tmp_path, argv):
    monkeypatch.setattr("vpclab.state.rundir.current", RunDir(tmp_path))
    monkeypatch.setattr(host, "require_root", lambda what: None)
    code, out, err = run(capsys, *argv)
    assert code == 2 and "is not a lab name" in err and "lab\\n" in err
    assert list(tmp_path.iterdir()) == []


# ---- 17. graph --json ---------------------------------------------------------------------------------


def test_graph_json_describes_the_graph(capsys):
    code, out, _ = run(capsys, "graph", "-f", T04, "--json")
    assert code == 0
    doc = json.loads(out)
    lab = loader.load(T04)
    ids = {n["id"]: n for n in doc["nodes"]}
    assert doc["lab"] == lab.name
    assert {n["id"] for n in doc["nodes"] if n["kind"] == "vpc"} == set(lab.vpcs)
    assert {n["id"] for n in doc["nodes"] if n["kind"] == "instance"} == {i.ref for i in lab.instances()}
    assert sum(n["kind"] == "subnet" for n in doc["nodes"]) == sum(len(v.subnets) for v in lab.vpcs.values())
    assert {n["name"] for n in doc["nodes"] if n["kind"] == "region"} == {v.region for v in lab.vpcs.values()}
    peerings = {e["id"]: e for e in doc["edges"] if e["kind"] == "peering"}
    assert set(peerings) == set(lab.peerings)
    for p in lab.peerings.values():
        assert (peerings[p.name]["from"], peerings[p.name]["to"], peerings[p.name]["state"]) == (p.vpc, p.peer_vpc,
                                                                                                  p.state)
    for e in doc["edges"]:
        assert e["from"] in ids and e["to"] in ids
    for i in lab.instances():
        assert ids[i.ref]["ip"] == str(i.ip)


def test_graph_json_with_output_writes_the_diagram(capsys, tmp_path):
    out_file = tmp_path / "g.dot"
    code, out, _ = run(capsys, "graph", "-f", T01, "-o", str(out_file), "--json")
    assert code == 0
    assert json.loads(out)["output"] == str(out_file)
    assert out_file.read_text().startswith('graph "vpclab-two"')


def test_graph_an_instance_named_like_a_subnet_is_its_own_node(capsys, tmp_path):
    f = tmp_path / "t.yaml"
    f.write_text(BASE + "    subnets: {app: {cidr: 10.0.1.0/24}}\n    instances: {app: {subnet: app}}\n")
    code, out, _ = run(capsys, "graph", "-f", str(f), "--json")
    kinds = sorted(n["kind"] for n in json.loads(out)["nodes"])
    assert kinds == ["instance", "region", "subnet", "vpc"]


# ---- smaller ----------------------------------------------------------------------------------------


def test_duplicate_accounts_are_found():
    ps = problems("lab: x\naccounts: [a, b, a, c, b]\nvpcs: {vpc-a: {region: r, cidr: 10.0.0.0/16, account: a}}\n")
    assert [(p.code, p.message) for p in ps] == [("InvalidParameter.DuplicateKey", "account 'a' is listed twice"),
                                                ("InvalidParameter.DuplicateKey", "account 'b' is listed twice")]


def test_subnet_overlaps_are_each_reported_once_in_file_order():
    subnets = {"a": "10.0.0.0/16", "b": "10.0.1.0/24", "c": "10.0.2.0/24", "d": "10.0.1.0/24", "e": "10.0.1.0/25"}
    text = BASE.replace("10.0.0.0/16", "10.0.0.0/8") + \
        "    subnets:\n" + "".join(f"      {n}: {{cidr: {c}}}\n" for n, c in subnets.items())
    got = [p.message for p in problems(text) if p.code == rules.SUBNET_CONFLICT]
    # Each pair that overlaps, named by the later subnet, the earlier ones in file order.
    want = [f"subnet vpc-a/{s} {subnets[s]} overlaps subnet {t} {subnets[t]}"
            for s, t in (("b", "a"), ("c", "a"), ("d", "a"), ("d", "b"), ("e", "a"), ("e", "b"), ("e", "d"))]
    assert got == want


def test_addresses_are_assigned_in_order_around_the_taken_ones():
    text = BASE + ("    subnets: {s: {cidr: 10.0.1.0/28}, t: {cidr: 10.0.2.0/28}}\n    instances:\n"
                   "      a: {subnet: s}\n      b: {subnet: s, ip: 10.0.1.3}\n      c: {subnet: t}\n"
                   "      d: {subnet: s}\n      e: {subnet: s}\n")
    lab = loader.loads(text, "t.yaml")
    got = {i.name: str(i.ip) for i in lab.instances()}
    assert got == {"a": "10.0.1.2", "b": "10.0.1.3", "c": "10.0.2.2", "d": "10.0.1.4", "e": "10.0.1.5"}
    full = BASE + "    subnets: {s: {cidr: 10.0.1.0/28}}\n    instances:\n" + "".join(
        f"      i{n}: {{subnet: s}}\n" for n in range(14))  # 13 free addresses: .2 to .14
    assert [(p.code, p.line) for p in problems(full)] == [(rules.SUBNET_FULL, 21)]


@pytest.mark.parametrize("make,kind", [
    (lambda p: os.mkfifo(p), "a FIFO"),
    (lambda p: os.mkdir(p), "a directory"),  # click's Path(dir_okay=False) says so first
])
def test_a_file_that_is_not_regular_is_refused_without_waiting(tmp_path, make, kind):
    path = tmp_path / "topo.yaml"
    make(path)
    for cmd in ("validate", "up"):
        # A subprocess with a timeout: reading a FIFO used to wait for a writer forever.
        r = subprocess.run([sys.executable, "-m", "vpclab", cmd, str(path)], capture_output=True, text=True,
                           timeout=60, env=dict(os.environ, VPCLAB_RUN_DIR=str(tmp_path / "run")))
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr
        text = r.stdout + r.stderr
        assert kind.split()[-1] in text
        assert f"{path}: InvalidParameter: " in text or "InvalidParameterValue: Invalid value for 'FILE'" in text


def test_missing_file_is_cited_without_a_line(capsys, tmp_path):
    code, out, _ = run(capsys, "validate", str(tmp_path / "nope.yaml"))
    assert code == 2
    assert out.strip() == f"{tmp_path / 'nope.yaml'}: ResourceNotFound: no such file"
    code, out, _ = run(capsys, "validate", str(tmp_path / "nope.yaml"), "--json")
    assert json.loads(out)["error"]["problems"][0]["line"] is None


def test_unreadable_file_is_cited_without_a_line(capsys, tmp_path):
    f = tmp_path / "latin1.yaml"
    f.write_bytes(b"lab: caf\xe9\n")
    code, out, _ = run(capsys, "validate", str(f))
    assert code == 2 and out.startswith(f"{f}: InvalidParameter: cannot read the file")


def test_usage_errors_carry_a_parameter_code(capsys):
    code, out, err = run(capsys, "explain", "vpc-a/cvm-1")
    assert code == 2 and "MissingParameter: Missing argument 'DST'" in err and "Usage: vpclab explain" in err
    code, out, err = run(capsys, "explain", "a", "b", "--port", "x" * 100_000)
    assert code == 2 and "InvalidParameterValue: " in err and len(err) < 1000
    code, out, err = run(capsys, "status", "--bogus")
    assert code == 2 and "UnknownParameter: No such option" in err
