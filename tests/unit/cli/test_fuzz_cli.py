"""Fuzzing the command line: random argv over every command, run in this process.

Each run must end in exit 0 (valid input: help, `validate` of a good file, `down` of a
lab that is not there...) or exit 2 with a cloud or parameter code (`CODE: message`,
or `{"error": {"code": ...}}` with --json), never a traceback, never more than a short
quote of any value, and no namespace of the labs named.

Safety (other labs may run on this host): the state directory is a temporary one, the
controller sees only labs in it (none), every command that takes a lab is given one
of LABS (names that do not exist, or invalid ones), `up` and `test` only get files that
cannot be built, output paths are in the temporary directory, and `os.execvpe` is
replaced by a tripwire. Commands that need root run their real code up to the point
where the lab turns out not to exist. `doctor` is left out (it probes the kernel).

Bounded for CI; VPCLAB_FUZZ_EXAMPLES raises the count.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vpclab.cli import graph as cli_graph, lifecycle as cli_lifecycle
from vpclab.controller import host
from vpclab.state import labs
from vpclab.state.rundir import RunDir
from vpclab.cli.main import cli, main

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = int(os.environ.get("VPCLAB_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

LABS = ["fzq1", "fzq2", "", " ", "fzq1\n", "FZQ", "x" * 300, "-l", "--json", "a/b", "..", "\0"]
REAL_LABS = ("fzq1", "fzq2")  # valid names that must not exist anywhere
GOOD = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "topologies").glob("*.yaml"))
BAD = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "golden").glob("*.yaml"))
STRINGS = ["", " ", "vpc-a", "vpc-b", "vpc-a/cvm-1", "vpc-b/cvm-1", "pcx-ab", "default", "10.0.0.0/16",
           "10.1.0.0/16", "10.0.1.10", "100Mbps", "9" * 400 + "Mbps", "-1Mbps", "8d", "9" * 400 + "d", "1e9s",
           "alice", "bob", "x\n", "a" * 1000, "--", "-", "-l", "--json", "--help", "\0", "é", "0", "65536",
           "icmp", "tcp", "udp", "reachable", "no-return"]
JUNK = ["--bogus", "-x", "--json", "--", "", "-h", "extra", "-l", "--dry-run", "=", "--lab="]
values = st.one_of(st.sampled_from(STRINGS), st.text(max_size=10))
CODE_LINE = re.compile(r"^(.+?:([0-9]+:)? )?[A-Z][A-Za-z]+(\.[A-Za-z]+)*: \S")
MAX_OUTPUT = 60_000  # help texts and JSON graphs are the largest answers
MAX_LINE = 1_000


def commands(group=cli, path=()):
    for name, c in group.commands.items():
        if isinstance(c, click.Group):
            yield from commands(c, path + (name,))
        elif name != "doctor":
            yield path + (name,), c


COMMANDS = sorted(commands(), key=lambda pc: pc[0])


@click.command(add_help_option=False, context_settings={"ignore_unknown_options": True,
                                                        "allow_interspersed_args": False})
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def entry(argv):
    """`vpclab.cli.main.main` for CliRunner; argv[0] is a placeholder so that `--` reaches main untouched."""
    main(list(argv[1:]))


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz-cli")
    for lab in REAL_LABS:
        assert not _namespaces(lab), f"a lab {lab} exists on this host: the fuzz test needs the name free"
    fifo = tmp / "fifo.yaml"
    os.mkfifo(fifo)
    return tmp


@pytest.fixture
def isolated(sandbox, monkeypatch):
    run = sandbox / "run"
    monkeypatch.setattr("vpclab.state.rundir.current", RunDir(run))
    monkeypatch.setattr(labs, "known_labs", labs.known_labs)
    monkeypatch.setattr(host, "running_labs", labs.known_labs)  # never another lab seen in the kernel

    def tripwire(*a, **k):
        raise AssertionError(f"exec ran a command: {a}")

    monkeypatch.setattr(os, "execvpe", tripwire)
    monkeypatch.chdir(ROOT)
    return sandbox


def _namespaces(lab: str):
    if not os.path.isdir("/run/netns"):
        return []
    return [n for n in os.listdir("/run/netns") if n.startswith(f"vpclab-{lab}-")]


def paths(tmp: Path, readable: bool):
    """Topology paths: shipped ones only where nothing is built (`readable`), never for up/test."""
    bad = BAD + ["", "nope.yaml", str(tmp), str(tmp / "fifo.yaml"), "/dev/null", "topologies"]
    return st.sampled_from((GOOD if readable else []) + bad)


def outputs(tmp: Path):
    return st.sampled_from([str(tmp / "g.dot"), str(tmp / "g.svg"), str(tmp / "g.png"), str(tmp / "no/such/g.dot"),
                            str(tmp), str(tmp / "r.xml"), ""])


@st.composite
def argvs(draw, tmp: Path):
    path, command = draw(st.sampled_from(COMMANDS))
    argv = list(path)
    builds = path in (("up",), ("test",))
    for p in command.params:
        if isinstance(p, click.Argument):
            if p.name in ("lab", "labs"):  # down LAB, cleanup LAB...: always named, never "the only lab"
                argv += draw(st.lists(st.sampled_from(LABS), min_size=1, max_size=1 if p.nargs == 1 else 3))
            elif p.name == "file":
                if draw(st.booleans()) or p.required:
                    argv.append(draw(paths(tmp, readable=not builds)))
            elif p.name == "cmd":
                argv += draw(st.lists(st.one_of(st.sampled_from(["--", "", "ls", "-l", "fzq1", "/"]), values),
                                      max_size=4))
            elif draw(st.integers(0, 9)) > 0:  # now and then leave a required argument out
                argv.append(draw(values))
            continue
        opt = draw(st.sampled_from(p.opts))
        if p.name in ("lab", "lab_option"):
            if p.name == "lab" or draw(st.booleans()):
                argv += [opt, draw(st.sampled_from(LABS))]
        elif p.is_flag:
            if draw(st.booleans()):
                argv.append(opt)
        elif draw(st.booleans()):
            if p.name == "file":
                value = draw(paths(tmp, readable=True))
            elif p.name in ("output", "junit_path"):
                value = draw(outputs(tmp))
            elif isinstance(p.type, click.Choice):
                value = draw(st.one_of(st.sampled_from(list(p.type.choices)), values))
            else:
                value = draw(values)
            argv += [opt, value]
    for _ in range(draw(st.integers(0, 2))):  # a stray token anywhere after the command's name
        argv.insert(draw(st.integers(len(path), len(argv))), draw(st.sampled_from(JUNK)))
    return argv


def check(argv, tmp: Path):
    r = CliRunner().invoke(entry, ["vpclab"] + argv)
    out, err = r.stdout, r.stderr
    where = f"vpclab {argv!r}\nstdout: {out[:800]}\nstderr: {err[:800]}"
    assert r.exception is None or isinstance(r.exception, SystemExit), f"{where}\n{r.exception!r}"
    assert "Traceback" not in out + err, where
    assert len(out) + len(err) < MAX_OUTPUT, where
    assert all(len(line) < MAX_LINE for line in (out + err).splitlines()), where
    code = r.exit_code
    if code == 3 and os.geteuid() != 0:
        assert "NotRoot" in err, where
        return
    assert code in (0, 2), where
    if code == 2:
        if "--json" in argv and out.strip().startswith("{"):
            doc = json.loads(out)
            assert re.fullmatch(r"[A-Z][A-Za-z]+(\.[A-Za-z]+)*", doc["error"]["code"]), where
        else:
            assert any(CODE_LINE.match(line) for line in (out + err).splitlines()), where
    for lab in REAL_LABS:
        assert not _namespaces(lab), where


def test_every_command_is_drawn():
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"validate", "up", "down", "cleanup", "peering create", "route add", "exec", "graph"} <= names


@FUZZ
@given(data=st.data())
def test_random_argv(isolated, data):
    check(data.draw(argvs(isolated)), isolated)


@pytest.mark.parametrize("argv", [
    ["down", ""], ["cleanup", "fzq1\n"], ["status", "-l", "x" * 100_000], ["exec", "vpc-a/cvm-1", "--", ""],
    ["peering", "create", "--vpc", "a", "--peer-vpc", "b", "--bandwidth", "9" * 400 + "Mbps", "-l", "fzq1"],
    ["up", "tests/golden/alias-bomb.yaml"], ["graph", "-f", "topologies/01-two-vpcs.yaml", "--json"],
    ["validate", "--json", "tests/golden/long-values.yaml"], ["explain", "a", "b", "--port", "9" * 5000],
])
def test_known_cases(isolated, argv):
    """The cases the fuzzer is meant to keep finding, run every time."""
    check(argv, isolated)


def test_check_can_fail(isolated, monkeypatch):
    """The checks above see a traceback: a command that raises an unexpected error fails them."""
    def boom(*a, **k):
        raise TypeError("boom")

    monkeypatch.setattr(cli_graph, "emit", boom)
    monkeypatch.setattr(cli_lifecycle, "emit", boom)
    with pytest.raises(AssertionError):
        check(["graph", "-f", "topologies/01-two-vpcs.yaml", "--json"], isolated)
    with pytest.raises(AssertionError):
        check(["ls"], isolated)
