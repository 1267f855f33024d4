"""What one lab may listen on (issue 19 #13): an Internet host with 10,000 ports validated, then
`up` failed with "Too many open files" (each port is a TCP and a UDP socket of the lab's one
service daemon) and left the lab `building`. Now `validate` refuses more than MAX_HOST_PORTS
ports on one host or instance and more than MAX_LISTENERS in the lab, at the file's line, with
LimitExceeded.Listener; and the daemon has a file budget it checks before it binds anything."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from vpclab.topology import load as loader
from vpclab.errors import EnvironmentProblem, Refused, TopologyInvalid
from vpclab.model import filter_rules
from vpclab.model.filters import MAX_HOST_PORTS, MAX_LISTENERS
from vpclab.plan import filters as plan_filters
from vpclab.plan import planner
from vpclab.plan.objects import Service
from vpclab.kernel.services import daemon, spec, supervisor

ROOT = Path(__file__).resolve().parents[3]
LIMIT = "LimitExceeded.Listener"


def topology(hosts, cdbs: int = 0) -> str:
    """A lab with an instance holding an EIP, `cdbs` cdb instances, and Internet hosts
    (name -> list of ports) on lines the test can find."""
    text = ("lab: lim\nvpcs:\n  vpc-a:\n    region: r\n    cidr: 10.0.0.0/16\n"
            "    subnets: {s: {cidr: 10.0.0.0/20}}\n    instances:\n      c: {subnet: s, eip: 203.0.113.10}\n")
    text += "".join(f"      db{n}: {{subnet: s, kind: cdb}}\n" for n in range(cdbs))
    text += "internet:\n  cidr: 203.0.0.0/16\n  hosts:\n"
    for i, (name, ports) in enumerate(hosts.items()):
        text += f"    {name}:\n      ip: 203.0.{1 + i // 250}.{1 + i % 250}\n      ports: [{', '.join(map(str, ports))}]\n"
    return text


def problems(text: str):
    with pytest.raises(TopologyInvalid) as e:
        loader.loads(text, "t.yaml")
    return e.value.problems


def line_of(text: str, needle: str, after: int = 0) -> int:
    lines = text.splitlines()
    return next(n for n, t in enumerate(lines, 1) if n > after and needle in t)


@pytest.mark.parametrize("n", [MAX_HOST_PORTS + 1, 10_000])
def test_a_host_with_too_many_ports_is_refused_at_its_ports_line(n):
    text = topology({"web": range(1, n + 1)})
    (p,) = problems(text)  # one problem, not one per port (nor a second for the lab's total)
    assert (p.code, p.line) == (LIMIT, line_of(text, "ports: [1, 2, 3"))
    assert f"Internet host web: {n} ports" in p.message and f"at most {MAX_HOST_PORTS}" in p.message


def test_a_host_at_the_limit_is_taken():
    lab = loader.loads(topology({"web": range(1, MAX_HOST_PORTS + 1)}), "t.yaml")
    assert len(lab.internet.hosts["web"].ports) == MAX_HOST_PORTS


def test_the_labs_listeners_are_limited_in_total():
    per = MAX_HOST_PORTS
    hosts = {f"h{n}": range(1, per + 1) for n in range(MAX_LISTENERS // per)}
    assert len(loader.loads(topology(hosts), "t.yaml").internet.hosts) == MAX_LISTENERS // per  # exactly the limit
    hosts["h-last"] = [7]  # one port more: listener MAX_LISTENERS + 1
    text = topology(hosts)
    (p,) = problems(text)
    assert (p.code, p.line) == (LIMIT, line_of(text, "h-last:"))
    assert f"{MAX_LISTENERS + 1} listeners" in p.message and f"at most {MAX_LISTENERS}" in p.message
    assert "internet/h-last port 7" in p.message


def test_the_count_is_the_plans():
    """filter_rules.listeners counts what the plan serves (planner.services and the Internet's
    services), so the limit is on what the daemon binds."""
    for path in sorted((ROOT / "topologies").glob("*.yaml")) + [None]:
        lab = loader.load(path) if path else loader.loads(topology({"web": [80, 443], "dns": [53]}, cdbs=3))
        planned = planner.services(lab)
        if lab.internet is not None:
            planned += [o for o in plan_filters._internet(lab, lab.internet, []) if isinstance(o, Service)]
        assert len(filter_rules.listeners(lab)) == len({s.key for s in planned}), path


def test_the_service_list_is_limited_before_the_daemon_starts():
    services = [Service("vpclab-lim-internet", f"internet/h{n // 100}", "listener", f"203.0.{n // 250}.{1 + n % 250}",
                        1 + n % 100) for n in range(MAX_LISTENERS + 1)]
    with pytest.raises(Refused) as e:
        spec.validate("lim", services)
    assert e.value.code == LIMIT


def test_the_daemons_file_budget(monkeypatch, tmp_path):
    """A hard limit below the daemon's budget is refused by the supervisor, before it spawns
    anything (the daemon would fail half-way through binding), with what it needs and has."""
    import resource

    assert spec.fd_budget(MAX_LISTENERS) <= 4096  # the limit fits the smallest usual hard limit
    monkeypatch.setattr(resource, "getrlimit", lambda what: (64, 100))
    raised = []
    monkeypatch.setattr(resource, "setrlimit", lambda what, v: raised.append(v))
    monkeypatch.setattr(supervisor.sys, "executable", "/nonexistent/python-tripwire")  # a spawn raises OSError
    monkeypatch.setattr(supervisor, "_children", {})
    svc = [Service("vpclab-lim-internet", "internet/web", "listener", "203.0.113.80", 80)]
    with pytest.raises(EnvironmentProblem) as e:
        supervisor._start("lim", svc, tmp_path)
    assert e.value.code == "ResourceLimit" and not (tmp_path / spec.SPEC_FILE).exists()
    assert f"need {spec.fd_budget(1)} open files" in e.value.message and "limit is 100" in e.value.message
    assert not raised  # the supervisor never changes its own limit
    # The daemon itself: soft raised to hard when that is enough, refused otherwise.
    assert spec.fd_limit(1, raise_soft=True) and raised == [(100, 100)]
    monkeypatch.setattr(resource, "getrlimit", lambda what: (1024, 4096))
    raised.clear()
    assert spec.fd_limit(MAX_LISTENERS, raise_soft=True) == "" and raised == [(4096, 4096)]


def test_the_daemon_refuses_beyond_its_budget_before_binding(monkeypatch, tmp_path):
    import json
    import resource

    monkeypatch.setattr(resource, "getrlimit", lambda what: (64, 100))
    monkeypatch.setattr(resource, "setrlimit", lambda what, v: None)
    monkeypatch.setattr(daemon, "_bind", lambda svc: pytest.fail("bound a socket beyond the budget"))
    path = tmp_path / spec.SPEC_FILE
    path.write_text(json.dumps({"lab": "lim", "services": [spec.to_dict(
        Service("vpclab-lim-internet", "internet/web", "listener", "203.0.113.80", 80))]}))
    r, w = os.pipe()
    try:
        assert daemon._daemon("lim", path, w) == 1
        said = os.read(r, 4096).decode()
    finally:
        os.close(r)
    assert said.startswith("error 1 listener(s) need") and "limit is 100" in said
