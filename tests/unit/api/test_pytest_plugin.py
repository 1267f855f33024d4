"""The pytest plugin without root: collection, ids, errors, and that it stays out of the way."""
from __future__ import annotations

import os
from pathlib import Path

import hypothesis  # noqa: F401 - imported once here, not again by every in-process run below
import pytest

import vpclab.api.lab
import vpclab.topology.load
import vpclab.api.pytest_plugin

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[3]
T01 = (ROOT / "topologies" / "01-two-vpcs.yaml").read_text()


def test_each_expectation_is_an_item_with_its_id(pytester):
    pytester.makefile(".yaml", two=T01)
    r = pytester.runpytest("--vpclab", "two.yaml", "--collect-only", "-q")
    assert r.ret == 0
    ids = [l for l in r.outlines if l.startswith("two.yaml::")]
    # the three `expect:` entries of topologies/01-two-vpcs.yaml, in order
    assert ids == ["two.yaml::vpc-a/cvm-1->vpc-b/cvm-1/icmp", "two.yaml::vpc-b/cvm-1->vpc-a/cvm-1/icmp",
                   "two.yaml::vpc-a/cvm-1->vpc-b/db-1/tcp/3306"]


def test_the_same_question_twice_gets_two_ids(pytester):
    text = T01.replace("  - {from: vpc-b/cvm-1, to: vpc-a/cvm-1}\n",
                       "  - {from: vpc-b/cvm-1, to: vpc-a/cvm-1}\n  - {from: vpc-b/cvm-1, to: vpc-a/cvm-1}\n")
    pytester.makefile(".yaml", two=text)
    r = pytester.runpytest("--vpclab", "two.yaml", "--collect-only", "-q")
    ids = [l for l in r.outlines if l.startswith("two.yaml::")]
    assert len(ids) == 4 and len(set(ids)) == 4


def test_a_file_that_includes_another_collects_both_files_expectations(pytester):
    pytester.makefile(".yaml", net=T01)
    pytester.makefile(".yaml", team="include: [net.yaml]\nlab: team\n"
                                    "expect:\n  - {from: vpc-b/cvm-1, to: vpc-b/db-1, proto: tcp, port: 3306}\n")
    r = pytester.runpytest("--vpclab", "team.yaml", "--collect-only", "-q")
    assert r.ret == 0
    ids = [l for l in r.outlines if l.startswith("team.yaml::")]
    # net.yaml's three expectations first (lists append, included first), then the team's
    assert ids == ["team.yaml::vpc-a/cvm-1->vpc-b/cvm-1/icmp", "team.yaml::vpc-b/cvm-1->vpc-a/cvm-1/icmp",
                   "team.yaml::vpc-a/cvm-1->vpc-b/db-1/tcp/3306", "team.yaml::vpc-b/cvm-1->vpc-b/db-1/tcp/3306"]


def test_an_invalid_topology_is_a_collection_error_with_file_line_code(pytester):
    pytester.makefile(".yaml", bad="lab: x\nvpcs:\n  vpc-a: {region: r, cidr: 10.0.0.0/33}\n")
    r = pytester.runpytest("--vpclab", "bad.yaml")
    assert r.ret == pytest.ExitCode.INTERRUPTED  # errors during collection
    assert any("bad.yaml:3: InvalidParameterValue.Malformed" in l for l in r.outlines), r.outlines


def test_a_missing_file_is_a_usage_error(pytester):
    r = pytester.runpytest("--vpclab", "nope.yaml")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    assert "--vpclab: no such file" in r.stderr.str()


def test_without_the_option_yaml_files_are_not_collected_and_tests_run_as_usual(pytester):
    pytester.makefile(".yaml", two=T01)
    pytester.makepyfile(test_plain="def test_one():\n    assert 1 + 1 == 2\n")
    r = pytester.runpytest("-q")
    r.assert_outcomes(passed=1)
    assert "vpc-a/cvm-1" not in r.stdout.str()


def test_with_explicit_test_paths_both_run(pytester):
    pytester.makefile(".yaml", two=T01)
    pytester.makepyfile(test_plain="def test_one():\n    pass\n")
    r = pytester.runpytest("test_plain.py", "--vpclab", "two.yaml", "--collect-only", "-q")
    assert "test_plain.py::test_one" in r.outlines and "two.yaml::vpc-a/cvm-1->vpc-b/cvm-1/icmp" in r.outlines


def test_the_fixture_is_offered(pytester):
    r = pytester.runpytest("--fixtures")
    assert "vpclab_lab" in r.stdout.str()


@pytest.mark.skipif(os.geteuid() == 0, reason="checks the message a user without root sees")
def test_without_root_every_item_says_why(pytester):
    pytester.makefile(".yaml", two=T01)
    r = pytester.runpytest("--vpclab", "two.yaml")
    r.assert_outcomes(failed=3)
    assert "NotRoot" in r.stdout.str()
