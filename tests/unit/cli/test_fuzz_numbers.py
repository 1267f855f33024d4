"""Every command-line option that takes a number, fuzzed (issue 19 #12): a value is either taken
and handed on, or refused with exit 2 and `CODE: message` -- never a traceback. A `--port` of
5,000 digits once crashed `sg rule add`, `sg rule del` and `acl rule add` (ValueError: Exceeds
the limit (4300 digits)); '²' crashed the same commands and `lab check`, because str.isdigit()
takes it and int() does not. Every such number now goes through one bounded parser,
`model.units.parse_whole` (and `loads_json` for JSON documents).

No root, no kernel: the state lives in a temporary directory with one seeded version-2 lab, and
every call past the argument parsing ends at a tripwire (`Reached`): the live operations run
their model edit on a copy (the rule's port is parsed there) and go no further; probes, the web
view, `up` and the exercises are never started.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from vpclab.cli.main import main
from vpclab.controller import build, host, operate, probing, static
from vpclab.state import labs
from vpclab.state.rundir import RunDir
from vpclab.errors import Refused
from vpclab.exercises import session
from vpclab.model import units

from uikit import seed_model, v2_model  # noqa: E402  (tests/ is on sys.path: tests/conftest.py)

ROOT = Path(__file__).resolve().parents[3]
T01 = str(ROOT / "topologies" / "01-two-vpcs.yaml")
LAB = "fzn1"
CODE_LINE = re.compile(r"^(.+?:([0-9]+:)? )?[A-Z][A-Za-z]+(\.[A-Za-z]+)*: \S")
HUGE = "9" * 5000


class Reached(Exception):
    """The value was taken: the command got past its arguments to what it runs."""


@pytest.fixture
def lab(tmp_path, monkeypatch):
    monkeypatch.setattr("vpclab.state.rundir.current", RunDir(tmp_path))
    monkeypatch.setattr(host, "running_labs", labs.known_labs)
    monkeypatch.setattr(host, "require_root", lambda what: None)
    seed_model(tmp_path, v2_model(LAB))

    def execute(lab, op, args, progress=None):
        op.edit(static.model_for(lab), *args.values())  # the model edit alone (it parses the rule), on a copy
        raise Reached(op.name)

    def reached(*a, **k):
        raise Reached(a)

    monkeypatch.setattr(operate, "execute", execute)
    monkeypatch.setattr(build, "up", reached)
    monkeypatch.setattr(probing, "probe", reached)
    for name in ("start", "reset", "check", "hint"):
        monkeypatch.setattr(session, name, reached)
    from vpclab.ui import guard, server

    monkeypatch.setattr(server, "serve", reached)
    return LAB


RULE = ["--proto", "tcp", "--action", "accept"]


def SG(verb):
    return ["sg", "rule", verb, "vpc-a/web", "--direction", "ingress", "-l", LAB]


def ACL(verb):
    return ["acl", "rule", verb, "vpc-b/data-acl", "--direction", "inbound", "-l", LAB]


# Each command with the place of its number: X is the value drawn.
COMMANDS = {
    "sg rule add --port": SG("add") + RULE + ["--source", "10.0.0.0/8", "--port", "X"],
    "sg rule del --port": SG("del") + RULE + ["--source", "0.0.0.0/0", "--port", "X"],
    "sg rule add --index": SG("add") + RULE + ["--source", "10.0.0.0/8", "--port", "80", "--index", "X"],
    "sg rule del --index": SG("del") + ["--index", "X"],
    "acl rule add --port": ACL("add") + RULE + ["--source", "10.0.0.0/8", "--port", "X"],
    "acl rule del --port": ACL("del") + RULE + ["--source", "10.0.0.0/16", "--port", "X"],
    "acl rule add --index": ACL("add") + RULE + ["--source", "10.0.0.0/8", "--index", "X"],
    "acl rule del --index": ACL("del") + ["--index", "X"],
    "explain --port": ["explain", "vpc-a/cvm-1", "vpc-b/cvm-1", "-f", T01, "--proto", "tcp", "--port", "X"],
    "graph --port": ["graph", "-f", T01, "--probe", "vpc-a/cvm-1", "vpc-b/cvm-1", "--proto", "tcp", "--port", "X"],
    "probe --port": ["probe", "vpc-a/cvm-1", "vpc-b/cvm-1", "--proto", "udp", "--port", "X", "-l", LAB],
    "ui --port": ["ui", "-l", LAB, "--port", "X"],
    "lab start NN": ["lab", "start", "X"],
    "lab reset NN": ["lab", "reset", "X"],
    "lab check NN": ["lab", "check", "X"],
    "lab hint NN": ["lab", "hint", "X"],
    "clock advance": ["clock", "advance", "Xh", "-l", LAB],
    "peering modify --bandwidth": ["peering", "modify", "pcx-ab", "--bandwidth", "XMbps", "-l", LAB],
    "up --window": ["up", T01, "--window", "Xs"],
}
SHAPES = ["0", "1", "80", "65535", "65536", "-1", "+80", " 80 ", "80 ", "1-1024", "1024-1", "80-", "-80", "1e3",
          "0x50", "1_000", "8.5", "", " ", "all", "nan", "inf", "²", "٣", "８０", "1²", "10" * 10, "1" + "0" * 20,
          HUGE, "9" * 4301, "1-" + HUGE, HUGE + "-1", HUGE + "." + HUGE]
numbers = st.one_of(
    st.sampled_from(SHAPES),
    st.integers(-10, 10 ** 25).map(str),
    st.integers(4000, 6000).map(lambda n: "9" * n),
    st.text(alphabet="0123456789-+. _eEx²٣８", max_size=30),
    st.tuples(st.integers(0, 70000), st.integers(0, 70000)).map(lambda t: f"{t[0]}-{t[1]}"),
)


def run(argv):
    """(exit code, stdout, stderr), or "reached" when the value was taken; any other exception
    (a ValueError from int(), say) propagates and fails the test."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    out, err = io.StringIO(), io.StringIO()
    try:
        with redirect_stdout(out), redirect_stderr(err):
            main(argv)
    except Reached:
        return "reached", out.getvalue(), err.getvalue()
    except SystemExit as e:
        return e.code, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def check(name: str, value: str):
    argv = [a.replace("X", value) for a in COMMANDS[name]]
    code, out, err = run(argv)
    where = f"{name} {value[:60]!r}{'...' if len(value) > 60 else ''}: {code}\n{out[-400:]}\n{err[-400:]}"
    assert "Traceback" not in out + err, where
    if code in ("reached", 0) or (code == 1 and name.startswith(("explain", "graph"))):
        return code
    assert code == 2, where
    assert all(len(line) < 1000 for line in (out + err).splitlines()), where  # a value is quoted short
    assert any(CODE_LINE.match(line) for line in (out + err).splitlines()), where
    return code


@pytest.mark.parametrize("name", sorted(COMMANDS))
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(value=numbers)
@example(value=HUGE)
@example(value="²")
def test_every_number_option_takes_or_refuses(lab, name, value):
    check(name, value)


@pytest.mark.parametrize("name", ["sg rule add --port", "sg rule del --port", "acl rule add --port"])
def test_a_port_of_5000_digits_is_refused_with_the_files_code(lab, name):
    """The issue's three commands: refused as the same value in a file is, InvalidParameterValue.Range."""
    code, _, err = run([a.replace("X", HUGE) for a in COMMANDS[name]])
    assert code == 2 and err.startswith("InvalidParameterValue.Range: port "), err[:300]
    assert len(err) < 400


def test_a_good_number_is_still_taken(lab):
    """The fuzz above would pass if every value were refused: the ordinary ones are taken."""
    good = {"acl rule del --port": "3306"}  # the ACL's rule tcp/3306 from 10.0.0.0/16 accept
    assert {name: check(name, good.get(name, "80")) for name in COMMANDS if "--port" in name} == dict.fromkeys(
        (n for n in COMMANDS if "--port" in n), "reached") | {"explain --port": 0, "graph --port": 0}
    assert check("sg rule add --index", "0") == "reached" and check("acl rule del --index", "0") == "reached"
    assert check("lab check NN", "3") == "reached" and check("lab check NN", " 03 ") == "reached"


@pytest.mark.parametrize("value,message", [
    ("80", None), (80, None), ("65535", None), (" 80", "not a whole"), (HUGE, "5000 digits"),
    ("9" * 21, "21 digits"), ("²", "not a whole"),
    ("٣", "not a whole"), ("-1", "not a whole"), (True, "not a whole"), (8.0, "not a whole"), ("0x50", "not a whole"),
    ("65536", "outside 1..65535"), ("0", "outside 1..65535"),
])
def test_the_one_parser(value, message):
    if message is None:
        assert units.parse_whole(value, "port", 1, 65535) == int(str(value).strip())
        return
    with pytest.raises(units.NumberError) as e:
        units.parse_whole(value, "port", 1, 65535)
    assert message in str(e.value) and len(str(e.value)) < 200


@pytest.mark.parametrize("text", ['{"a": ' + HUGE + "}", '{"a": -' + HUGE + "}", "[1e999]", "[" + HUGE + ".5]"])
def test_json_numbers_are_bounded(text):
    with pytest.raises(units.NumberError) as e:
        units.loads_json(text)
    assert len(str(e.value)) < 200
    assert units.loads_json('{"a": [-5, 1.5e3, 18446744073709551615]}') == {"a": [-5, 1500.0, 2 ** 64 - 1]}


def test_a_plan_with_a_5000_digit_number_is_refused_at_its_line(tmp_path):
    plan = {"format_version": "1.0", "planned_values": {"root_module": {"resources": [
        {"address": "tencentcloud_vpc.a", "type": "tencentcloud_vpc", "name": "a",
         "values": {"cidr_block": "10.0.0.0/16", "name": "a", "tags": 7}}]}}}
    text = json.dumps(plan, indent=1).replace('"tags": 7', '"tags": ' + HUGE)
    p = tmp_path / "plan.json"
    p.write_text(text)
    code, _, err = run(["import", "terraform", str(p)])
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "tags" in t)
    assert code == 2 and err.startswith(f"InvalidParameter.JsonSyntax: {p}:{line}: "), err[:300]
    assert "too long" in err and len(err) < 500


def test_the_web_view_body_numbers_are_bounded():
    """The web view reads its JSON bodies with the same parser: a 5,000-digit port is named."""
    import asyncio

    from vpclab.ui import guard, server

    class Request:
        async def json(self, loads=json.loads):
            return loads('{"src": "vpc-a/cvm-1", "dst": "vpc-b/cvm-1", "port": ' + HUGE + "}")

    with pytest.raises(Refused) as e:
        asyncio.run(guard.body(Request()))
    assert e.value.code == "InvalidParameter" and "too long" in e.value.message
    with pytest.raises(Refused) as e:
        guard.whole(HUGE, "after")
    assert e.value.code == "InvalidParameterValue" and "5000 digits" in e.value.message


def test_a_price_of_400_digits_is_refused_at_its_line(tmp_path):
    """YAML reads a 400-digit price as an int, which no float holds: refused, not an OverflowError."""
    p = tmp_path / "p.yaml"
    p.write_text("lab: x\nregions: {r1: {}, r2: {}}\nvpcs:\n  vpc-a: {region: r1, cidr: 10.0.0.0/16}\n"
                 "  vpc-b: {region: r2, cidr: 10.1.0.0/16}\nbilling:\n  prices:\n    r1/r2: " + "9" * 400 + "\n")
    code, out, err = run(["validate", str(p)])  # validate lists the problems on stdout
    assert code == 2 and out.startswith(f"{p}:8: InvalidParameterValue: price of r1/r2 must be a number"), out[:300]
    assert units.finite(10 ** 300) and not units.finite(10 ** 400) and not units.finite(float("nan"))
