"""The command line (CLI.md) on the paths that need no root: version, help, validate, explain.

Driven through `vpclab.cli.main.main(argv)`, the real entry point and the one place
errors become exit codes, with pytest's capsys; CliRunner where the click group
alone is meant.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import vpclab
from vpclab.cli.main import cli, main

ROOT = Path(__file__).resolve().parents[3]
T01 = str(ROOT / "topologies" / "01-two-vpcs.yaml")
T02 = str(ROOT / "topologies" / "02-one-way-route.yaml")


def run(capsys, *argv):
    """(exit code, stdout, stderr) of `vpclab ARGV`."""
    with pytest.raises(SystemExit) as e:
        main(list(argv))
    out, err = capsys.readouterr()
    code = e.value.code if isinstance(e.value.code, int) else (0 if e.value.code is None else 1)
    assert "Traceback" not in out + err
    return code, out, err


def one_json(text: str) -> dict:
    """stdout must hold exactly one JSON document and nothing else."""
    doc, end = json.JSONDecoder().raw_decode(text.strip())
    assert end == len(text.strip()), f"more than one document on stdout: {text!r}"
    return doc


# ---- version and help --------------------------------------------------------------------------------


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out.strip() == f"vpclab, version {vpclab.__version__}"


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_shows_examples(capsys, flag):
    code, out, _ = run(capsys, flag)
    assert code == 0
    assert "Examples:" in out
    assert "vpclab validate topologies/01-two-vpcs.yaml" in out
    assert "vpclab explain " in out
    for command in ("validate", "explain", "up", "down", "peering", "route", "clock"):
        assert f"  {command} " in out


@pytest.mark.parametrize("command", ["validate", "explain", "peering", "route", "up"])
def test_command_help_shows_an_example(capsys, command):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert "Example" in out and f"vpclab {command}" in out


def test_python_dash_m():
    r = subprocess.run([sys.executable, "-m", "vpclab", "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == f"vpclab, version {vpclab.__version__}"


# ---- validate --------------------------------------------------------------------------------------------


def test_validate_ok(capsys):
    code, out, _ = run(capsys, "validate", T01)
    assert code == 0
    assert out == f"{T01}: ok: lab two, 2 VPCs, 3 instances, 1 peering, 3 expectations\n"


def test_validate_ok_json(capsys):
    code, out, _ = run(capsys, "validate", T01, "--json")
    assert code == 0
    assert one_json(out) == {"file": T01, "valid": True, "lab": "two", "vpcs": 2, "instances": 3, "peerings": 1,
                             "expectations": 3}


def test_validate_invalid_exits_2_with_file_line_code(capsys, tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("lab: bad\nvpcs:\n  vpc-a: {region: r, cidr: 127.0.0.0/16}\n")
    code, out, err = run(capsys, "validate", str(f))
    assert code == 2
    assert out == f"{f}:3: InvalidParameterValue.VpcCidrReserved: VPC vpc-a: CIDR 127.0.0.0/16 is inside reserved " \
                  f"127.0.0.0/8\n"


def test_validate_invalid_json(capsys, tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("lab: bad\nvpcs:\n  vpc-a: {region: r, cidr: 127.0.0.0/16, colour: red}\n")
    code, out, _ = run(capsys, "validate", str(f), "--json")
    assert code == 2
    doc = one_json(out)
    assert set(doc) == {"error"}
    assert {"code", "message", "hint"} <= set(doc["error"])
    assert [(p["line"], p["code"]) for p in doc["error"]["problems"]] == \
        [(3, "UnknownParameter"), (3, "InvalidParameterValue.VpcCidrReserved")]


def test_validate_missing_file_is_a_clean_error(capsys, tmp_path):
    missing = str(tmp_path / "nope.yaml")
    code, out, err = run(capsys, "validate", missing)
    assert code == 2
    assert "ResourceNotFound" in out + err and missing in out + err
    code, out, _ = run(capsys, "validate", missing, "--json")
    assert code == 2
    assert one_json(out)["error"]["code"] == "ResourceNotFound"


def test_validate_a_directory_is_a_clean_error(capsys, tmp_path):
    code, out, err = run(capsys, "validate", str(tmp_path))
    assert code == 2
    assert "directory" in err


def test_validate_needs_a_file(capsys):
    code, out, err = run(capsys, "validate")
    assert code == 2
    assert "FILE" in err


# ---- explain ----------------------------------------------------------------------------------------------


def test_explain_json_is_one_document(capsys):
    code, out, _ = run(capsys, "explain", "vpc-a/cvm-1", "vpc-b/db-1", "--proto", "tcp", "--port", "3306", "-f", T01,
                       "--json")
    assert code == 0
    doc = one_json(out)
    assert set(doc) == {"src", "dst", "proto", "port", "result", "forward", "return", "reason", "rtt_ms",
                        "seen_source"}  # always there (issue 19): the source's address, no NAT in version 1
    assert (doc["src"], doc["dst"], doc["proto"], doc["port"], doc["result"], doc["seen_source"]) == \
        ("vpc-a/cvm-1", "vpc-b/db-1", "tcp", 3306, "reachable", "10.0.1.10")
    assert doc["forward"]["path"] == ["vpc-a/cvm-1", "vpc-a", "pcx-ab", "vpc-b", "vpc-b/db-1"]
    assert doc["reason"] == {"code": None, "where": None, "table": None, "detail": None}


def test_explain_json_no_return(capsys):
    code, out, _ = run(capsys, "explain", "vpc-a/cvm-1", "vpc-b/cvm-1", "-f", T02, "--json")
    assert code == 0  # explain reports; it does not judge
    doc = one_json(out)
    assert doc["result"] == "no-return"
    assert doc["reason"]["code"] == "NO_ROUTE" and doc["reason"]["where"] == "vpc-b"


def test_explain_human(capsys):
    code, out, _ = run(capsys, "explain", "vpc-a/cvm-1", "vpc-b/cvm-1", "-f", T02)
    assert code == 0
    assert "no-return" in out and "NO_ROUTE" in out
    assert "vpc-a/cvm-1 -> vpc-a -> pcx-ab -> vpc-b -> vpc-b/cvm-1" in out


def test_explain_to_an_address(capsys):
    code, out, _ = run(capsys, "explain", "vpc-a/cvm-1", "10.1.1.10", "-f", T01, "--json")
    assert code == 0 and one_json(out)["result"] == "reachable"


@pytest.mark.parametrize("which,args", [
    ("source", ["vpc-a/cvm1", "vpc-b/cvm-1"]),
    ("destination", ["vpc-a/cvm-1", "vpc-b/cvm-2"]),
])
def test_explain_unknown_instance_did_you_mean(capsys, which, args):
    code, out, err = run(capsys, "explain", *args, "-f", T01)
    assert code == 2
    assert out == ""
    assert which in err and "did you mean 'vpc-" in err


def test_explain_unknown_instance_json_error(capsys):
    code, out, err = run(capsys, "explain", "vpc-a/cvm1", "vpc-b/cvm-1", "-f", T01, "--json")
    assert code == 2
    doc = one_json(out)
    assert set(doc) == {"error"} and set(doc["error"]) >= {"code", "message", "hint"}
    assert doc["error"]["hint"] == "did you mean 'vpc-a/cvm-1'?"
    assert "vpc-a/cvm1" in doc["error"]["message"]


def test_explain_missing_file_is_a_clean_error(capsys, tmp_path):
    code, out, err = run(capsys, "explain", "a/b", "c/d", "-f", str(tmp_path / "nope.yaml"))
    assert code == 2
    assert "ResourceNotFound" in err


def test_explain_invalid_topology_is_refused(capsys):
    code, out, err = run(capsys, "explain", "vpc-a/cvm-1", "vpc-b/cvm-1", "-f", str(ROOT / "tests/golden/routes.yaml"))
    assert code == 2
    assert "InvalidParameterValue.Duplicate" in err


@pytest.mark.parametrize("args,code_", [
    (["--proto", "tcp"], "MissingParameter"),
    (["--port", "80"], "InvalidParameter"),
])
def test_explain_proto_and_port_go_together(capsys, args, code_):
    code, out, err = run(capsys, "explain", "vpc-a/cvm-1", "vpc-b/cvm-1", "-f", T01, *args, "--json")
    assert code == 2
    assert one_json(out)["error"]["code"] == code_


@pytest.mark.parametrize("argv", [
    ["explain", "vpc-a/cvm-1", "--json"],  # missing DST
    ["explain", "a", "b", "--proto", "sctp", "--json"],
    ["explain", "a", "b", "--port", "70000", "--json"],
    ["frobnicate", "--json"],
])
def test_usage_errors_in_json(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2
    doc = one_json(out)
    assert set(doc) == {"error"} and set(doc["error"]) >= {"code", "message", "hint"}


def test_usage_error_human(capsys):
    code, out, err = run(capsys, "frobnicate")
    assert code == 2 and out == ""
    assert "No such command" in err


# ---- the click group with CliRunner -------------------------------------------------------------------------


def test_cli_runner_validate():
    r = CliRunner().invoke(cli, ["validate", T01])
    assert r.exit_code == 0 and r.stdout.startswith(T01 + ": ok: lab two")
    r = CliRunner().invoke(cli, ["validate", str(ROOT / "tests/golden/quota.yaml")])
    assert r.exit_code == 2 and "LimitExceeded.VpcPeerTotalLimitExceeded" in r.stdout


# ---- matrix output, streamed (the probing itself needs root: tests/kernel) ----------------------


class FakeMatrixRun:
    """Stands in for probing.MatrixRun: the same attributes, rows made up here, no packets."""

    def __init__(self, n_pairs: int):
        self.lab, self.instances = "demo", ["a/cvm-1", "b/cvm-1"]
        self.public = []  # no EIP nor Internet host
        self.summary = {"reachable": 0, "no-return": 0, "unreachable": 0}
        self.mismatches = self.pairs = 0
        self.seconds = 0.0
        self.n = n_pairs

    def rows(self):
        for i in range(self.n):
            result = ("reachable", "no-return", "unreachable")[i % 3]
            r = {"src": self.instances[i % 2], "dst": self.instances[1 - i % 2], "proto": "icmp", "port": None,
                 "result": result, "reason": {"code": None if i % 3 == 0 else "NO_ROUTE", "where": "b",
                                              "table": "default", "detail": "x"}}
            if i == 4:
                r["mismatch"] = "made up"
            self.summary[result] += 1
            self.mismatches += "mismatch" in r
            self.pairs += 1
            yield r
        self.seconds = 1.5

    def document(self, pairs=None):
        from vpclab.controller.probing import MatrixRun

        return MatrixRun.document(self, pairs)


@pytest.mark.parametrize("n", [0, 1, 7])
def test_matrix_json_is_written_row_by_row_as_one_document(n, capsys):
    from vpclab.cli.render.matrix import stream_matrix_json

    stream_matrix_json(FakeMatrixRun(n))
    doc = one_json(capsys.readouterr().out)
    want = FakeMatrixRun(n)
    pairs = list(want.rows())
    assert doc == {"lab": "demo", "instances": ["a/cvm-1", "b/cvm-1"], "pairs": pairs, "summary": want.summary,
                   "mismatches": want.mismatches, "seconds": 1.5}
    assert list(doc) == ["lab", "instances", "pairs", "summary", "mismatches", "seconds"]


def test_matrix_view_keeps_only_what_it_prints(capsys):
    from vpclab.cli.render.matrix import MatrixView

    run = FakeMatrixRun(100)
    view = MatrixView(run)
    for r in run.rows():
        view.add(r)
    assert len(view.bad) == MatrixView.WHY_MAX and view.n_bad == 66 and len(view.mismatched) == 1
    view.render()
    out = capsys.readouterr().out
    assert "100 probes in 1.50 s" in out and "34 reachable" in out and "1 mismatches" in out
    assert "MISMATCH a/cvm-1 -> b/cvm-1 icmp: made up" in out
    counts = [line.split() for line in out.splitlines() if "NO_ROUTE" in line]
    assert [c for c in counts if c[0] == "no-return"][0][-1] == "33"


def test_no_command_summary_is_cut_off_in_a_listing():
    """`vpclab --help` and each group's --help list one line per command: none ends in '...'."""
    import click

    from vpclab.cli.main import cli as root

    def groups(cmd, path):
        yield path, cmd
        for name, sub in getattr(cmd, "commands", {}).items():
            if isinstance(sub, click.Group):
                yield from groups(sub, path + [name])

    cut = []
    for path, group in groups(root, []):
        out = CliRunner().invoke(root, path + ["--help"], terminal_width=80).output
        listing = out.split("Commands:", 1)[1] if "Commands:" in out else ""
        cut += [" ".join(path) + ": " + line.strip() for line in listing.splitlines() if line.rstrip().endswith("...")]
    assert cut == []
