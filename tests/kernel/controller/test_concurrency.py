"""Many `vpclab` commands on one lab at the same time.

Every command that changes a lab takes the lab's lock, writes the model in one
transaction and applies the difference before letting go (controller.operate). So
commands started together must behave as if run one after another: each succeeds or
is refused for a cloud rule (exit 0 or 2, never 4), no successful change is lost, the
final state is exactly what replaying the commands serially in the order of the event
log gives (and every refusal is the one that order explains), and the kernel matches
the final state (an empty diff).
"""
from __future__ import annotations

import copy
import json
import subprocess

import pytest

from labkit import VPCLAB, needs_root, run_json
from vpclab.state.store import lab_to_dict

pytestmark = [pytest.mark.kernel, needs_root]

# Six VPCs of one account (creates are ACTIVE at once, so each one builds a link),
# one subnet each, an instance in v0..v3, and one peering from the file (v4 <-> v5).
SIX = """\
lab: placeholder
regions: {ap-guangzhou: {}}
vpcs:
""" + "".join(
    f"  v{i}: {{region: ap-guangzhou, cidr: 10.{i}.0.0/16, subnets: {{s: {{cidr: 10.{i}.1.0/24}}}}"
    + (f", instances: {{cvm-1: {{subnet: s, ip: 10.{i}.1.10}}}}" if i < 4 else "") + "}\n"
    for i in range(6)) + """\
peerings:
  pcx-45: {vpc: v4, peer_vpc: v5}
"""


def _create(name, vpc, peer):
    return (["peering", "create", "--vpc", vpc, "--peer-vpc", peer, "--name", name],
            ("peering create", name), lambda m, lc: lc.create(m, vpc, peer, None, name, None))


def _route(vpc, dst, hop):
    return (["route", "add", vpc, "--destination", dst, "--next-hop", hop],
            ("route add", f"{vpc}/default {dst}"), lambda m, lc: lc.add_route(m, vpc, dst, hop, "default"))


def _start_all(lab, commands):
    """Start every command at once (our own children); wait for all; (exit code, stdout) each."""
    procs = [subprocess.Popen([VPCLAB, *argv, "-l", lab, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for argv, _, _ in commands]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        out.append((p.returncode, stdout, stderr))
    return out


def _replay_in_log_order(lab, initial, commands):
    """Replay the commands on the initial model in the order the event log records them;
    each must do there what it did live. Returns the replayed model."""
    from vpclab.controller import events as event_log
    from vpclab.errors import Refused
    from vpclab.model import lifecycle

    by_event = {key: change for _, key, change in commands}
    model = copy.deepcopy(initial)
    seen = []
    for e in event_log.read(lab):
        key = (e["action"], e["target"])
        if e["action"] == "up" or key not in by_event:
            continue
        seen.append(key)
        if e["result"] == "ok":
            by_event[key](model, lifecycle)
        else:
            code = e["result"].removeprefix("refused: ")
            with pytest.raises(Refused) as info:
                by_event[key](model, lifecycle)
            assert info.value.code == code, f"{key}: refused live with {code}, serially with {info.value.code}"
    assert sorted(seen) == sorted(by_event), "some command left no event"
    return model


def _check(lab, commands, results):
    from vpclab.controller import build, status
    from vpclab.controller import events as event_log
    from vpclab.plan import diff as plandiff
    from vpclab.state.store import Store

    for (argv, _, _), (rc, stdout, stderr) in zip(commands, results):
        assert rc in (0, 2), f"vpclab {' '.join(argv)}: exit {rc}\n{stdout}{stderr}"
        doc = json.loads(stdout)
        if rc == 2:
            assert "." in doc["error"]["code"], doc  # a cloud rule's code, e.g. InvalidParameterValue.X
    final = status.load_model(lab)
    # None lost: every success is in the final state.
    routes = {(r["vpc"], r["destination"], r["next_hop"]) for r in status.route_rows(final)}
    for (argv, key, _), (rc, _, _) in zip(commands, results):
        if rc == 0 and argv[0] == "peering":
            assert argv[-1] in final.peerings, f"{argv}: lost"
        elif rc == 0:
            assert (argv[2], argv[4], argv[6]) in routes, f"{argv}: lost"
    assert not any(e["result"].startswith("refused") for e in event_log.read(lab)
                   if (e["action"], e["target"]) not in {k for _, k, _ in commands})
    # The kernel holds exactly what the final state needs.
    assert plandiff.diff(build.desired(final).objects, build.actual(lab, Store(lab).dir)) == []
    return final


def test_parallel_route_adds_all_land(mklab):
    """Ten `route add`s at once on existing peerings, distinct destinations: all succeed,
    all ten are in the state and in the kernel."""
    from vpclab.controller import status

    lab, _ = mklab(SIX)
    commands = [_route("v4", f"10.5.{k}.0/24", "pcx-45") for k in range(5)] + \
               [_route("v5", f"10.4.{k}.0/24", "pcx-45") for k in range(5)]
    initial = status.load_model(lab)
    results = _start_all(lab, commands)
    assert [rc for rc, _, _ in results] == [0] * 10, results
    final = _check(lab, commands, results)
    assert len(status.route_rows(final)) == 10
    assert lab_to_dict(_replay_in_log_order(lab, initial, commands)) == lab_to_dict(final)
    from vpclab.kernel import inspect

    via_peering = {(o.ns, o.dst) for o in inspect.read_lab(lab)
                   if o.key[0] == "route" and o.table == 100 and o.type == "unicast" and o.via}
    assert len(via_peering) == 10


def test_parallel_creates_and_routes_serialize(mklab):
    """Twelve commands at once: creates that race for the same pair (exactly one wins),
    creates of distinct pairs, and route adds whose next hop may not exist yet (refused
    RouteNextHopInvalid when they ran first). The result equals the serial order of the
    event log, and the kernel matches it."""
    from vpclab.controller import status

    lab, _ = mklab(SIX)
    commands = [
        _create("pcx-01", "v0", "v1"),
        _create("pcx-10", "v1", "v0"),  # the same pair the other way round: one of the two loses
        _create("pcx-02", "v0", "v2"),
        _create("pcx-03", "v0", "v3"),
        _create("pcx-23", "v2", "v3"),
        _route("v0", "10.1.0.0/16", "pcx-01"),
        _route("v1", "10.0.0.0/16", "pcx-01"),
        _route("v0", "10.2.0.0/16", "pcx-02"),
        _route("v2", "10.0.0.0/16", "pcx-02"),
        _route("v2", "10.3.0.0/16", "pcx-23"),
        _route("v3", "10.2.0.0/16", "pcx-23"),
        _route("v4", "10.5.0.0/16", "pcx-45"),
    ]
    initial = status.load_model(lab)
    results = _start_all(lab, commands)
    final = _check(lab, commands, results)
    rc = {" ".join(argv): r for (argv, _, _), (r, _, _) in zip(commands, results)}
    won = [n for n in ("pcx-01", "pcx-10") if n in final.peerings]
    assert len(won) == 1, won
    lost = "pcx-10" if won == ["pcx-01"] else "pcx-01"
    lost_out = dict(zip([c[0][-1] for c in commands[:2]], results[:2]))[lost]
    assert json.loads(lost_out[1])["error"]["code"] == "UnsupportedOperation.VpcPeerAlreadyExist"
    for name in ("pcx-02", "pcx-03", "pcx-23"):
        assert final.peerings[name].state == "ACTIVE"
    assert rc["route add v4 --destination 10.5.0.0/16 --next-hop pcx-45"] == 0
    for (argv, _, _), (code, stdout, _) in zip(commands, results):
        if code == 2 and argv[0] == "route":
            assert json.loads(stdout)["error"]["code"] == "InvalidParameterValue.RouteNextHopInvalid", stdout
    assert lab_to_dict(_replay_in_log_order(lab, initial, commands)) == lab_to_dict(final)

    # The links work: v0 reaches v2 when both of its routes landed.
    if {("v0", "10.2.0.0/16"), ("v2", "10.0.0.0/16")} <= {(r["vpc"], r["destination"])
                                                         for r in status.route_rows(final)}:
        got = run_json("probe", "v0/cvm-1", "v2/cvm-1", "-l", lab)
        assert got["result"] == "reachable", got
    print("exit codes:", {k: v for k, v in rc.items()})
