"""`include:` (TOPOLOGY.md version 3, topology/include.py): a generated file kept apart from the
team's file. Each merge rule, each refusal, and that every problem is reported at the file and
line the value was written in, including the rules the model checks after the merge."""
from __future__ import annotations

import json
import os
import pickle
import textwrap

import pytest

from vpclab.errors import TopologyInvalid
from vpclab.model import codec
from vpclab.topology import load as loader

NET = """\
lab: gen
vpcs:
  app:
    region: ap-guangzhou
    cidr: 10.0.0.0/16
    subnets:
      a: {cidr: 10.0.1.0/24}
    route_tables:
      default:
        routes:
          - {destination: 10.1.0.0/16, next_hop: pcx-ab}
    instances:
      app-1: {subnet: a, ip: 10.0.1.10}
  db:
    region: ap-guangzhou
    cidr: 10.1.0.0/16
    subnets:
      d: {cidr: 10.1.1.0/24}
    instances:
      db-1: {subnet: d, kind: cdb}
peerings:
  pcx-ab: {vpc: app, peer_vpc: db, accepted: true}
expect:
  - {from: app/app-1, to: db/db-1, proto: tcp, port: 3306, result: no-return}
"""


def write(d, name, text):
    p = d / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text))
    return p


def problems(path):
    with pytest.raises(TopologyInvalid) as e:
        loader.load(str(path))
    return e.value.problems


def line_of(path, needle, nth=1):
    """The 1-based line of the nth line of `path` containing `needle` (found, not copied)."""
    hits = [i + 1 for i, text in enumerate(open(path).read().splitlines()) if needle in text]
    return hits[nth - 1]


def test_mappings_merge_recursively(tmp_path):
    write(tmp_path, "net.yaml", NET)
    team = write(tmp_path, "team.yaml", """\
        include: [net.yaml]
        lab: team
        vpcs:
          app:
            subnets:
              b: {cidr: 10.0.2.0/24}
            instances:
              app-2: {subnet: b}
        """)
    lab = loader.load(str(team))
    assert set(lab.vpcs) == {"app", "db"}
    assert set(lab.vpcs["app"].subnets) == {"a", "b"}  # the team's subnet beside the generated one
    assert set(lab.vpcs["app"].instances) == {"app-1", "app-2"}
    assert str(lab.vpcs["app"].cidr) == "10.0.0.0/16"  # what only the included file says stays
    assert lab.peerings["pcx-ab"].vpc == "app"


def test_lists_append_included_first(tmp_path):
    write(tmp_path, "net.yaml", NET)
    team = write(tmp_path, "team.yaml", """\
        include: [net.yaml]
        lab: team
        vpcs:
          db:
            route_tables:
              default:
                routes:
                  - {destination: 10.0.0.0/16, next_hop: pcx-ab}
          app:
            route_tables:
              default:
                routes:
                  - {destination: 10.1.1.0/24, next_hop: pcx-ab}
        expect:
          - {from: app/app-1, to: db/db-1, proto: tcp, port: 3306}
        """)
    lab = loader.load(str(team))
    routes = [str(r.destination) for r in lab.vpcs["app"].route_tables["default"].routes]
    assert routes == ["10.1.0.0/16", "10.1.1.0/24"]
    assert [e.result for e in lab.expectations] == ["no-return", "reachable"]
    # each expectation knows where it was written (the plugin and `test` cite it)
    assert [(getattr(e.line, "file", str(team)), int(e.line)) for e in lab.expectations] == [
        (str(tmp_path / "net.yaml"), line_of(tmp_path / "net.yaml", "result: no-return")),
        (str(team), line_of(team, "port: 3306}"))]


def test_the_including_files_scalars_win(tmp_path):
    write(tmp_path, "net.yaml", NET)
    team = write(tmp_path, "team.yaml", """\
        include: [net.yaml]
        lab: team
        vpcs:
          db:
            instances:
              db-1: {ip: 10.1.1.20}
        peerings:
          pcx-ab: {accepted: ~}
        """)  # null sets nothing: the included `accepted: true` stays
    lab = loader.load(str(team))
    assert lab.name == "team"
    assert str(lab.vpcs["db"].instances["db-1"].ip) == "10.1.1.20"
    assert lab.vpcs["db"].instances["db-1"].kind == "cdb"  # the keys it does not set stay


def test_conflicting_included_files_are_refused_citing_both_places(tmp_path):
    net = write(tmp_path, "net.yaml", NET)
    other = write(tmp_path, "gen/other.yaml", """\
        vpcs:
          app:
            region: ap-shanghai
        """)
    team = write(tmp_path, "team.yaml", "include: [net.yaml, gen/other.yaml]\nlab: team\n")
    (p,) = problems(team)
    assert p.code == "InvalidParameterValue.Duplicate"
    assert f"{net}:{line_of(net, 'region: ap-guangzhou')}" in p.message
    assert f"{other}:{line_of(other, 'region: ap-shanghai')}" in p.message
    assert (p.file, p.line) == (str(other), line_of(other, "region: ap-shanghai"))
    # the including file decides: no conflict left
    write(tmp_path, "team.yaml", "include: [net.yaml, gen/other.yaml]\nlab: team\n"
                                 "vpcs:\n  app:\n    region: ap-guangzhou\n")
    assert loader.load(str(team)).vpcs["app"].region == "ap-guangzhou"


def test_a_mapping_in_one_included_file_and_a_list_in_the_other_is_a_conflict(tmp_path):
    write(tmp_path, "net.yaml", NET)
    write(tmp_path, "other.yaml", "peerings: []\n")
    team = write(tmp_path, "team.yaml", "include: [net.yaml, other.yaml]\nlab: team\n")
    (p,) = problems(team)
    assert p.code == "InvalidParameterValue.Duplicate" and "a mapping" in p.message and "a list" in p.message


def test_an_include_cycle_is_refused_with_the_chain(tmp_path):
    write(tmp_path, "net.yaml", "include: [team.yaml]\n" + NET)
    team = write(tmp_path, "team.yaml", "include: [net.yaml]\nlab: team\n")
    (p,) = problems(team)
    assert p.code == "InvalidParameter.Include"
    assert "cycle" in p.message and f"{team} -> {tmp_path / 'net.yaml'} -> {team}" in p.message
    assert (p.file, p.line) == (str(tmp_path / "net.yaml"), 1)


def test_a_missing_file_is_refused_at_the_include(tmp_path):
    team = write(tmp_path, "team.yaml", "lab: team\ninclude:\n  - net.yaml\n")
    (p,) = problems(team)
    assert p.code == "InvalidParameter.Include" and "no such file" in p.message
    assert (p.file, p.line) == (str(team), 3)


def test_a_path_that_is_not_a_regular_file_is_refused(tmp_path):
    os.mkfifo(tmp_path / "fifo.yaml")
    (tmp_path / "dir.yaml").mkdir()
    team = write(tmp_path, "team.yaml", "include: [fifo.yaml, dir.yaml]\nlab: team\n")
    ps = problems(team)  # returns at once: a FIFO is never opened
    assert [p.code for p in ps] == ["InvalidParameter.Include"] * 2
    assert "a FIFO" in ps[0].message and "a directory" in ps[1].message


def test_nesting_deeper_than_8_is_refused(tmp_path):
    for i in range(1, 10):
        write(tmp_path, f"f{i}.yaml", f"include: [f{i + 1}.yaml]\n" if i < 9 else NET)
    ok = write(tmp_path, "f1.yaml", "include: [f2.yaml]\n")
    write(tmp_path, "f2.yaml", "include: [f3.yaml]\n")
    (p,) = problems(write(tmp_path, "top.yaml", "include: [f1.yaml]\nlab: team\n"))  # 9 deep
    assert p.code == "InvalidParameter.Include" and "deeper than 8" in p.message
    assert loader.load(str(ok)).name == "gen"  # 8 deep is fine


def test_problems_in_an_included_file_are_reported_at_its_lines(tmp_path):
    net = write(tmp_path, "net.yaml", NET.replace("db-1: {subnet: d, kind: cdb}", "db-1: {subnet: d, kind: vm}")
                .replace("      a: {cidr: 10.0.1.0/24}", "      a: {cidr: 10.0.1.0/24}\n      b: {cidr: 10.0.1.0/25}"))
    team = write(tmp_path, "team.yaml", """\
        include: [net.yaml]
        lab: team
        vpcs:
          app:
            instances:
              app-2: {subnet: a, colour: red}
        """)
    got = {(p.file, p.line, p.code) for p in problems(team)}
    assert got >= {
        (str(net), line_of(net, "kind: vm"), "InvalidParameterValue"),  # the loader's check
        (str(net), line_of(net, "b: {cidr: 10.0.1.0/25}"), "InvalidParameterValue.SubnetConflict"),  # a rule's
        (str(team), line_of(team, "colour"), "UnknownParameter"),
    }


def test_yaml_syntax_in_an_included_file_is_reported_there(tmp_path):
    net = write(tmp_path, "net.yaml", "lab: gen\nvpcs: {app: [\n")
    team = write(tmp_path, "team.yaml", "include: [net.yaml]\nlab: team\n")
    (p,) = problems(team)
    assert p.code == "InvalidParameter.YamlSyntax" and p.file == str(net)


def test_a_file_without_include_is_read_as_before(tmp_path):
    lab = loader.load(str(write(tmp_path, "net.yaml", NET)))
    assert all(type(e.line) is int for e in lab.expectations)


def test_the_merged_model_stores_and_pickles(tmp_path):
    write(tmp_path, "net.yaml", NET)
    team = write(tmp_path, "team.yaml", "include: [net.yaml]\nlab: team\n")
    lab = loader.load(str(team))
    again = pickle.loads(pickle.dumps(lab))
    assert again.expectations[0].line.file == str(tmp_path / "net.yaml")
    assert json.loads(json.dumps(codec.lab_to_dict(lab)))["name"] == "team"


def test_validate_diff_and_explain_read_the_merged_file(tmp_path, capsys):
    from vpclab.cli.main import main

    write(tmp_path, "net.yaml", NET)
    old = write(tmp_path, "old.yaml", "include: [net.yaml]\nlab: team\n")
    new = write(tmp_path, "new.yaml", """\
        include: [net.yaml]
        lab: team
        vpcs:
          db:
            route_tables:
              default:
                routes:
                  - {destination: 10.0.0.0/16, next_hop: pcx-ab}
        """)
    for argv, code in ((["validate", str(old)], 0), (["explain", "-f", str(new), "app/app-1", "db/db-1"], 0)):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == code, capsys.readouterr()
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["diff", str(old), str(new), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert {(c["src"], c["dst"], c["change"]) for c in doc["changes"]} >= {("app/app-1", "db/db-1", "gained")}
    # the generated file's expectation (no-return) is broken by the team's new route
    assert [(x["from"], x["expected"], x["new"]) for x in doc["expectations"]["broken"]] == [
        ("app/app-1", "no-return", "reachable")]
    assert e.value.code == 1
    # ... and is cited where it was written: net.yaml, not the file given on the command line
    net = tmp_path / "net.yaml"
    assert [(x["file"], x["line"]) for x in doc["expectations"]["broken"]] == [
        (str(net), line_of(net, "result: no-return"))]
    with pytest.raises(SystemExit):
        main(["diff", str(old), str(new)])
    assert f"BROKEN {net}:{line_of(net, 'result: no-return')}: expect app/app-1" in capsys.readouterr().out
