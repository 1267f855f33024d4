"""An expectation naming an instance that exists but has a bad key: `validate` names the bad key
(issue 21, item 10), not "no such instance"."""
from __future__ import annotations

import pytest

from vpclab.errors import TopologyInvalid
from vpclab.topology import load as loader

TEXT = """\
lab: bad
vpcs:
  vpc-a:
    region: ap-guangzhou
    cidr: 10.0.0.0/16
    subnets: {app: {cidr: 10.0.1.0/24}}
    instances:
      cvm-1: {subnet: app, kind: vm}
      cvm-2: {subnet: app}
      cvm-3: {ip: 10.0.1.9}
expect:
  - {from: vpc-a/cvm-1, to: vpc-a/cvm-2}
  - {from: vpc-a/cvm-2, to: vpc-a/cvm-3}
  - {from: vpc-a/cvm-2, to: vpc-a/cvm-9}
"""


def problems():
    with pytest.raises(TopologyInvalid) as e:
        loader.loads(TEXT, "bad.yaml")
    lines = TEXT.splitlines()
    return {lines[p.line - 1].strip(): p for p in e.value.problems}


def test_the_expectation_names_the_bad_key_not_no_such_instance():
    got = problems()
    kind = got["- {from: vpc-a/cvm-1, to: vpc-a/cvm-2}"]
    assert "no such instance" not in kind.message
    assert "'kind' is invalid" in kind.message and "bad.yaml:8" in kind.message
    subnet = got["- {from: vpc-a/cvm-2, to: vpc-a/cvm-3}"]
    assert "no such instance" not in subnet.message
    assert "no 'subnet'" in subnet.message and "bad.yaml:10" in subnet.message


def test_the_bad_key_itself_is_reported_at_its_line_and_a_missing_instance_stays_missing():
    got = problems()
    assert got["cvm-1: {subnet: app, kind: vm}"].code == "InvalidParameterValue"
    assert "no such instance" in got["- {from: vpc-a/cvm-2, to: vpc-a/cvm-9}"].message
