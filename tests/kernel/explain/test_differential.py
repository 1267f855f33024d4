"""Differential property test: the live packets and `explain` must agree on random labs.

Hypothesis draws small random VALID topologies: 2-5 VPCs (/16 or /20) in two regions
and two accounts, one subnet and 1-2 instances each (the second is sometimes a cdb,
cmem or clb), random peerings (cross-region ones with a bandwidth cap, cross-account
ones sometimes left PENDING), and a random subset of routes on each side (to the
peer's whole CIDR or only its subnet). Some VPCs are twins: they overlap an earlier
VPC (same range, never peered with it) and their instances hold the same addresses,
so one address names two instances, before or after each other in the file (issue 8).

Each lab is built in-process (`build.up`), then every ordered instance pair is
probed with real packets along both batch paths: the one of `test` (`probing.target`
+ `probing.run_many`: ICMP, UDP to the service port or to a closed one, TCP to the
service port or to a closed one) and the one of `matrix` (`probing.MatrixRun`, in
small chunks). Right after the matrix (its retransmissions may still be arriving), one
or more of its pairs, drawn, are probed again with `probing.probe`. Every row and probe
must agree with explain on the verdict AND on the reason (its code and where); none may
carry a `mismatch`; and `seen_source` must be in explain's JSON, in every row and in
every probe, equal in all three, and the address the topology says: null when nothing
arrived (a request the destination's security group dropped did arrive), the NAT
gateway's address or the source's EIP over the Internet, else the source's own (issue 19).
Some examples then apply a peering lifecycle event on the live lab (accept, reject or
delete) and check every pair again. The lab is always torn down.

About half the version-1 labs also get a Cloud Connect Network (issue 23; a probability in
the same examples, not examples of their own): 2..all VPCs attached in a random order (the
order decides conflicts), another account's VPC PENDING, accepted or REJECTED, some
publishing their VPC CIDR; twins' subnets make identical conflicts and a twin's CIDR an
inclusive one; routes the owner disabled, and routes that came in disabled then enabled
(inclusive ones: the rules refuse identical ones); USER_CCN routes; a region-pair cap; the
peerings beside it (members peered with each other or with non-members: no transit either
way). Its event, instead of a peering's in half of the labs that would have one (and in a
quarter of the CCN labs without peerings), is a live `ccn accept|reject|detach|route
enable|route disable` the rules accept.

The labs with filters add security groups, network ACLs, EIPs, the lab's Internet and
NAT-gateway batches: 2-3 instances of one subnet behind one NAT gateway, probed in ONE
matrix batch to the same public destinations (their requests all leave with the
gateway's address), often with an ACL that drops the replies (on their own subnet, or
outbound on the subnet of an EIP they ping: `no-return`). The Internet host is a source too
(TOPOLOGY.md v3): the test path asks it for every instance by name (through its EIP, or
NO_PUBLIC_IP without one) and for a private address, the matrix has its rows to every EIP,
and groups' rules may name its address; it must see the same verdicts, reasons and seen
source (its own address: the EIP's DNAT keeps it) as explain.

The failing topology's YAML (and the events, and the pairs probed after the matrix) are
printed on failure.

CI runs 12 examples of version-1 labs and 6 of labs with filters and the Internet (about
two minutes on 2 cores; each CI run draws new ones). VPCLAB_DIFF_EXAMPLES sets both counts. The big run (60 of each:
about 10 minutes; 200: about 35), without shrinking (each try rebuilds a lab; the first
failing lab is reported as drawn):

    VPCLAB_DIFF_EXAMPLES=200 .venv/bin/python -m pytest -p no:xdist --hypothesis-profile=vpclab-noshrink \
        tests/kernel/explain/test_differential.py
"""
from __future__ import annotations

import ipaddress
import os
import secrets
import string
import sys
import tempfile
from pathlib import Path

import pytest

if sys.platform != "linux" or os.geteuid() != 0:
    pytest.skip("kernel tests need root on Linux (they build network namespaces and send packets)",
                allow_module_level=True)

import yaml  # noqa: E402
from hypothesis import HealthCheck, given, note, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from labkit import assert_gone  # noqa: E402
from vpclab import explain as analyze
from vpclab.controller import build, operate, probing, status, teardown  # noqa: E402

pytestmark = pytest.mark.kernel

EXAMPLES = int(os.environ.get("VPCLAB_DIFF_EXAMPLES", "12"))
# A lab with filters takes ~7 s an example (its matrix, counters, attribution): fewer by default.
FILTER_EXAMPLES = int(os.environ.get("VPCLAB_DIFF_EXAMPLES", "6"))
REGIONS = ["ap-guangzhou", "ap-singapore"]
ACCOUNTS = ["alice", "bob"]
SECOND = {"cvm": "cvm-2", "cdb": "db-1", "cmem": "cache-1", "clb": "lb-1"}
CLOSED_PORT = 9


def unique_lab() -> str:
    """`d` + 7 random [a-z0-9] from the OS: hypothesis reseeds `random`, and xdist workers share seeds."""
    alphabet = string.ascii_lowercase + string.digits
    return "d" + "".join(secrets.choice(alphabet) for _ in range(7))


@st.composite
def topologies(draw):
    """(topology dict without `lab:`, lifecycle events to apply after the first check)."""
    n = draw(st.integers(2, 5))
    octets = draw(st.lists(st.integers(1, 250), min_size=n, max_size=n, unique=True))
    for i in range(1, n):
        if draw(st.integers(0, 3)) == 0:  # a twin of an earlier VPC: same range, same addresses
            octets[i] = octets[draw(st.integers(0, i - 1))]
    names = [f"v{i}" for i in range(n)]
    vpcs, cidr, subnet = {}, {}, {}
    for name, o in zip(names, octets):
        cidr[name] = f"10.{o}.0.0/{draw(st.sampled_from([16, 20]))}"
        subnet[name] = f"10.{o}.1.0/24"
        instances = {"cvm-1": {"subnet": "app", "ip": f"10.{o}.1.10"}}
        second = draw(st.sampled_from([None, "cvm", "cdb", "cmem", "clb"]))
        if second == "clb":
            instances["lb-1"] = {"subnet": "app", "kind": "clb", "port": 80, "backends": ["cvm-1"],
                                 "ip": f"10.{o}.1.20"}
        elif second is not None:
            instances[SECOND[second]] = {"subnet": "app", "kind": second, "ip": f"10.{o}.1.20"}
        vpcs[name] = {"account": draw(st.sampled_from(ACCOUNTS)), "region": draw(st.sampled_from(REGIONS)),
                      "cidr": cidr[name], "subnets": {"app": {"cidr": subnet[name]}},
                      "route_tables": {"default": {"routes": []}}, "instances": instances}
    # overlapping VPCs cannot peer (CLOUD-RULES.md)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:] if subnet[a] != subnet[b]]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs))) if pairs else []
    peerings, peers = {}, {name: [] for name in names}  # VPC -> [(peer, cross-region)]
    for a, b in chosen:
        cross = vpcs[a]["region"] != vpcs[b]["region"]
        # A VPC may peer two twins only over regional peerings (CLOUD-RULES.md, cross-region CIDR rule).
        if any(subnet[o] == subnet[y] and (cross or c) for x, y in ((a, b), (b, a)) for o, c in peers[x]):
            continue
        peers[a].append((b, cross))
        peers[b].append((a, cross))
        if draw(st.booleans()):
            a, b = b, a
        pid = f"pcx-{a}-{b}"
        body = {"vpc": a, "peer_vpc": b}
        if vpcs[a]["region"] != vpcs[b]["region"]:
            body["bandwidth"] = draw(st.sampled_from(["1Mbps", "50Mbps", "1Gbps"]))
        if vpcs[a]["account"] != vpcs[b]["account"]:
            body["accepted"] = draw(st.booleans())
        peerings[pid] = body
        for side, other in ((a, b), (b, a)):
            how = draw(st.sampled_from(["none", "cidr", "subnet"]))
            if how != "none":
                dest = cidr[other] if how == "cidr" else subnet[other]
                routes = vpcs[side]["route_tables"]["default"]["routes"]
                if all(r["destination"] != dest for r in routes):  # a twin's range may be routed already
                    routes.append({"destination": dest, "next_hop": pid})
    ccn = draw(ccn_attachments(vpcs, names)) if draw(st.sampled_from(range(100))) < CCN_PERCENT else None
    for v in vpcs.values():
        if not v["route_tables"]["default"]["routes"]:
            del v["route_tables"]
    doc = {"accounts": ACCOUNTS, "regions": {r: {} for r in REGIONS}, "vpcs": vpcs}
    if peerings:
        doc["peerings"] = peerings
    ccn_event = draw(ccn_overrides(doc, ccn)) if ccn is not None else None
    events = []
    # one event at most (the suite's time): half the labs with peerings get one, as before the
    # CCN, and half of those with a CCN change the CCN instead; a quarter of the labs with a CCN
    # and no peering change the CCN (about 5 % more checks than without CCNs)
    if not peerings and ccn_event is not None and draw(st.sampled_from([False, False, False, True])):
        return doc, [ccn_event]
    if peerings and draw(st.booleans()):
        if ccn_event is not None and draw(st.booleans()):
            return doc, [ccn_event]
        pending_ids = sorted(k for k, p in peerings.items() if p.get("accepted") is False)
        pool = pending_ids if pending_ids and draw(st.booleans()) else sorted(peerings)
        pid = draw(st.sampled_from(pool))
        p = peerings[pid]
        pending = p.get("accepted") is False
        event = draw(st.sampled_from(["accept", "reject", "delete"] if pending else ["delete"]))
        # accept/reject: the accepter's account only; delete: either account
        actor = p["peer_vpc"] if event != "delete" else draw(st.sampled_from([p["vpc"], p["peer_vpc"]]))
        events.append((event, pid, vpcs[actor]["account"]))
    return doc, events


# ---- version 3: a Cloud Connect Network beside the peerings (issue 23) ---------------------------

CCN = "ccn-x"
CCN_PERCENT = 40  # of the labs drawn: the CCN's share of the suite's examples, not examples of its own


@st.composite
def ccn_attachments(draw, vpcs, names):
    """A CCN of one account joining 2..all VPCs in a random attach order (the order decides
    conflicts): another account's VPC is PENDING, ACTIVE (accepted) or REJECTED; some publish
    their VPC CIDR (containing a twin's subnet: an inclusive conflict; twins' subnets are
    identical ones); sometimes a region-pair cap, and USER_CCN routes in some members' tables."""
    owner = draw(st.sampled_from(ACCOUNTS))
    members = draw(st.permutations(names))[:draw(st.integers(2, len(names)))]
    attachments = []
    for v in members:
        a = {"vpc": v}
        if vpcs[v]["account"] != owner:
            state = draw(st.sampled_from(["accepted", "pending", "pending", "rejected"]))
            if state != "pending":
                a[state] = True
        twin = any(o != v and vpcs[o]["subnets"] == vpcs[v]["subnets"] for o in members)
        if draw(st.integers(0, 1 if twin else 3)) == 0:  # a twin's CIDR contains the other's subnet: inclusive
            a["publish"] = "vpc-cidr"
        attachments.append(a)
    body = {"account": owner, "attachments": attachments}
    if len({vpcs[v]["region"] for v in members}) > 1 and draw(st.booleans()):
        body["bandwidth_limits"] = [{"regions": list(REGIONS), "bandwidth": draw(st.sampled_from(["50Mbps", "1Gbps"]))}]
    for a in attachments:  # USER_CCN: a member's own route toward another VPC's CIDR, next hop the CCN
        if "rejected" in a or draw(st.integers(0, 3)):
            continue
        me = vpcs[a["vpc"]]
        own = ipaddress.ip_network(me["cidr"])
        others = [vpcs[o]["cidr"] for o in names if not ipaddress.ip_network(vpcs[o]["cidr"]).overlaps(own)]
        routes = me.setdefault("route_tables", {"default": {"routes": []}})["default"]["routes"]
        if others:
            dest = draw(st.sampled_from(others))
            if all(r["destination"] != dest for r in routes):
                routes.append({"destination": dest, "next_hop": CCN})
    return body


@st.composite
def ccn_overrides(draw, doc, body):
    """The owner's overrides, drawn from the CCN's real route table (model.ccn.routes of the lab
    loaded so far): some routes disabled, some that came in disabled enabled (an inclusive
    conflict; an identical one the rules refuse, and is left out). Returns one live CCN event
    that the rules accept (accept or reject a PENDING request, enable or disable a route,
    detach a member), as (operation, *arguments)."""
    from vpclab.model import ccn as ccn_model
    from vpclab.topology import load as loader

    doc["ccns"] = {CCN: body}
    lab = loader.loads(yaml.safe_dump({"lab": "gen", **doc}, sort_keys=False), "gen.yaml")
    c = lab.ccns[CCN]
    routes = ccn_model.routes(lab, c)
    off = [r.key for r in routes if not r.enabled]
    on = [k for k in off if draw(st.booleans())]  # identical ones are tried too, and left out below
    disabled = draw(st.lists(st.sampled_from([r.key for r in routes if r.key not in on]), unique=True,
                             max_size=2)) if len(routes) > len(on) else []
    enabled = []
    for key in on:  # one at a time, as the owner would: each must pass the rules then
        c.enabled = enabled + [key]
        if not ccn_model.check_enable(lab, c, key):
            enabled.append(key)
    c.enabled, c.disabled = enabled, disabled
    if enabled:
        body["enabled_routes"] = enabled
    if disabled:
        body["disabled_routes"] = disabled
    choices = []
    for a in c.attachments:
        choices.append(("ccn detach", CCN, a.vpc, c.account))
        if a.state == "PENDING":
            choices += [("ccn accept", CCN, a.vpc, c.account), ("ccn reject", CCN, a.vpc, c.account)]
    for r in ccn_model.routes(lab, c):
        if r.enabled:
            choices.append(("ccn route disable", CCN, r.key, c.account))
        elif not ccn_model.check_enable(lab, c, r.key):
            choices.append(("ccn route enable", CCN, r.key, c.account))
    kind = draw(st.sampled_from(sorted({c[0] for c in choices})))  # each kind alike, then one of that kind
    return draw(st.sampled_from([c for c in choices if c[0] == kind]))


def targets(model):
    """Every ordered instance pair: ICMP, then TCP and UDP to the port the destination serves
    (its service port, or its CLB's port for a backend), else to a closed one."""
    out = []
    insts = model.instances()
    for s in insts:
        for d in insts:
            if s is d:
                continue
            backend_of = [c.port for c in model.vpcs[d.vpc].instances.values() if d.name in c.backends]
            port = d.service_port or (backend_of[0] if backend_of else CLOSED_PORT)
            out.append(probing.target(model, s.ref, d.ref, "icmp", None))
            out.append(probing.target(model, s.ref, d.ref, "tcp", port))
            out.append(probing.target(model, s.ref, d.ref, "udp", port))
    return out


def seen_source_of(model, src_ref: str, v) -> str | None:
    """The source address the destination must see, from the topology and explain's forward
    path (not from explain's `seen_source`): null when nothing arrived, except a request the
    destination's security group dropped on arrival (docs/rules.md); over the Internet, the
    address of the NAT gateway the path names, else the source's EIP; else its own address."""
    fwd, r = v.forward, v.reason
    dropped_on_arrival = (r.code == analyze.SECURITY_GROUP_DENY and r.direction == "ingress"
                          and fwd.path and r.where == fwd.path[-1] == fwd.last_hop)
    if not fwd.delivered and not dropped_on_arrival:
        return None
    host = model.internet.host(src_ref) if model.internet is not None else None
    if host is not None:  # from the Internet: the EIP's DNAT keeps the host's own address
        return str(host.ip)
    src = model.instance(src_ref)
    if "internet" not in fwd.path:
        return str(src.ip)
    gateways = model.vpcs[src.vpc].nat_gateways
    gw = next((gateways[h] for h in fwd.path[:fwd.path.index("internet")] if h in gateways), None)
    return str(gw.eip if gw is not None else src.eip)


def disagreements(model, rows, what="packets"):
    """Rows (or probes) that disagree with explain, recomputed here, not taken from the row: the
    verdict, the reason (code and where) and `seen_source` (present everywhere, equal, and the
    address the topology says)."""
    bad = []
    for r in rows:
        v = analyze.explain(model, r["src"], r["dst"], r["proto"], r["port"])
        want = v.to_json()  # what `explain --json` prints
        got_reason = r["reason"] or {}
        problems = []
        if "mismatch" in r:
            problems.append(f"mismatch: {r['mismatch']}")
        if r["result"] != v.result:
            problems.append(f"{what} say {r['result']}, explain {v.result}")
        if (got_reason.get("code"), got_reason.get("where")) != (v.reason.code, v.reason.where):
            problems.append(f"{what} give the reason {got_reason.get('code')} at {got_reason.get('where')} "
                            f"(rule {got_reason.get('rule')}, {r.get('reason_from') or 'explain'}: "
                            f"{got_reason.get('detail')}), explain {v.reason.code} at {v.reason.where} "
                            f"(rule {v.reason.rule})")
        if "seen_source" not in want:
            problems.append("explain --json has no seen_source")
        if "seen_source" not in r:
            problems.append(f"no seen_source in the document ({what})")
        elif r["seen_source"] != want.get("seen_source"):
            problems.append(f"{what} saw the request come from {r['seen_source']}"
                            f"{' (from explain)' if r.get('seen_source_from') else ''}, explain says "
                            f"{want.get('seen_source')}")
        topo = seen_source_of(model, r["src"], v)
        if v.seen_source != topo:
            problems.append(f"explain's seen_source is {v.seen_source}, its path {v.forward.path} says {topo}")
        if problems:
            bad.append(f"{r['src']} -> {r['dst']} {r['proto']}/{r['port']}: {'; '.join(problems)} "
                       f"(observed: {r['observed']})")
    return bad


def probes_after_matrix(lab: str, model, rows, pick) -> list:
    """Probe again, at once, the matrix rows `pick` chooses (the matrix's late replies and
    retransmissions may still be arriving): each probe is a document of its own."""
    chosen = pick(rows)
    note(f"probed right after the matrix: {[(r['src'], r['dst'], r['proto'], r['port']) for r in chosen]}")
    return [probing.probe(r["src"], r["dst"], r["proto"], r["port"], lab=lab) for r in chosen]


def check_after_matrix(lab: str, model, mrows, pick, when: str) -> None:
    probes = probes_after_matrix(lab, model, mrows, pick)
    bad = disagreements(model, probes, "the probe's packets")
    assert not bad, f"{when}, probe right after the matrix: {len(bad)} of {len(probes)} disagree:\n" + "\n".join(bad)
    # the same pair, the matrix row and the probe: one seen source (explain's, checked above)
    rows = {(r["src"], r["dst"], r["proto"], r["port"]): r for r in mrows}
    for p in probes:
        row = rows[(p["src"], p["dst"], p["proto"], p["port"])]
        assert (p["result"], p["seen_source"]) == (row["result"], row["seen_source"]), (p, row)


def check_agreement(lab: str, when: str, pick) -> None:
    model = status.load_model(lab)
    rows = probing.run_many(model, targets(model))  # the batch path of `test`
    bad = disagreements(model, rows)
    assert not bad, f"{when}, test path: {len(bad)} of {len(rows)} probes disagree:\n" + "\n".join(bad)
    run = probing.MatrixRun(lab, chunk=7)  # the batch path of `matrix`, several chunks
    rows = list(run.rows())
    n = len(model.instances())
    assert len({(r["src"], r["dst"], r["proto"]) for r in rows}) == len(rows) >= n * (n - 1)
    bad = disagreements(model, rows)
    assert not bad, f"{when}, matrix: {len(bad)} of {len(rows)} rows disagree:\n" + "\n".join(bad)
    assert run.mismatches == 0 and sum(run.summary.values()) == len(rows)
    if pick is not None:
        check_after_matrix(lab, model, rows, pick, when)


def picker(data):
    """The pair to probe right after a matrix (a probe takes ~0.7 s: one): mostly one of the
    rows that are not reachable (their reasons are read from the packets), else any row."""
    def pick(rows):
        unanswered = [r for r in rows if r["result"] != analyze.REACHABLE]
        if unanswered and data.draw(st.integers(0, 3), label="any row?"):
            return [data.draw(st.sampled_from(unanswered), label="an unanswered row")]
        return [data.draw(st.sampled_from(rows), label="any row")]
    return pick


@pytest.mark.long(100)
@settings(max_examples=EXAMPLES, deadline=None, derandomize=False, print_blob=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(topologies(), st.data())
def test_live_verdicts_equal_explain(case, data):
    doc, events = case
    lab = unique_lab()
    text = yaml.safe_dump({"lab": lab, **doc}, sort_keys=False)
    note(f"topology:\n{text}")
    note(f"events after the first check: {events}")
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"{lab}.yaml"
        path.write_text(text)
        try:
            build.up(str(path))
            # a probe right after the matrix in a third of the labs (the suite's time)
            probe = data.draw(st.integers(0, 2), label="probe after the matrix?") == 0
            check_agreement(lab, "after up", picker(data) if probe else None)
            for event, *args in events:
                if event.startswith("ccn "):  # version 3: (operation, CCN, VPC or route, account)
                    operate.run(lab, event, *args)
                    check_agreement(lab, f"after `{event} {' '.join(args[:-1])} --as {args[-1]}`", None)
                    continue
                pid, account = args
                operate.peering_event(lab, event, pid, account)
                check_agreement(lab, f"after `peering {event} {pid} --as {account}`", None)
        finally:
            teardown.down(lab)
    assert_gone(lab)


def case_labels(case) -> set:
    """What a drawn case holds, in the words test_generator_covers_the_interesting_cases wants."""
    doc, events = case
    seen = set()
    peerings = doc.get("peerings", {}).values()
    seen.update(i.get("kind", "cvm") for v in doc["vpcs"].values() for i in v["instances"].values())
    seen.update(f"event:{e[0]}" for e in events)
    if any("bandwidth" in p for p in peerings):
        seen.add("cross-region")
    if any(p.get("accepted") is False for p in peerings):
        seen.add("pending")
    if len(doc["vpcs"]) == 5 and len(peerings) >= 4:
        seen.add("five vpcs, four peerings")
    routes = [r for v in doc["vpcs"].values() for t in v.get("route_tables", {}).values() for r in t["routes"]]
    if any(r["destination"].endswith("/24") for r in routes):
        seen.add("route to a subnet")
    ips = [i["ip"] for v in doc["vpcs"].values() for i in v["instances"].values()]
    shared = {ip for ip in ips if ips.count(ip) > 1}
    if shared:
        seen.add("address held in two VPCs")
        holders = {v for v, body in doc["vpcs"].items()
                   if any(i["ip"] in shared for i in body["instances"].values())}
        if any(p["vpc"] in holders or p["peer_vpc"] in holders for p in peerings):
            seen.add("shared address, peered holder")
    if "ccns" in doc:
        seen.update(ccn_cases(doc))
    return seen


def test_generator_covers_the_interesting_cases():
    """The strategy does produce what the property needs (drawn only; nothing is built).

    600 draws first; a case they missed is then searched for on its own (hypothesis.find), so
    the test says whether the strategy CAN draw it, not whether one run happened to (it once
    failed in the parallel suite only: the draws of one run are not the same in every process)."""
    from hypothesis import Phase, find
    from hypothesis.errors import NoSuchExample

    seen = set()

    @settings(max_examples=600, database=None, deadline=None, derandomize=True)
    @given(topologies())
    def draw(case):
        seen.update(case_labels(case))

    draw()
    want = {"cvm", "cdb", "cmem", "clb", "cross-region", "pending", "five vpcs, four peerings", "route to a subnet",
            "event:accept", "event:reject", "event:delete", "address held in two VPCs",
            "shared address, peered holder"}
    want |= {"ccn", "ccn: PENDING (cross-account)", "ccn: REJECTED", "ccn: accepted", "ccn: identical conflict",
             "ccn: inclusive conflict", "ccn: disabled by the owner", "ccn: inclusive route enabled",
             "ccn: delivered route disabled in a table", "ccn: member peered with a non-member",
             "ccn: two members peered", "ccn: USER_CCN route", "ccn: cross-region", "ccn: region-pair cap"}
    never = []
    for label in sorted(want - seen):
        try:
            find(topologies(), lambda case, label=label: label in case_labels(case),
                 settings=settings(max_examples=3000, database=None, deadline=None, phases=[Phase.generate]))
        except NoSuchExample:
            never.append(label)
    assert not never, f"never drawn: {never}"
    ccn_events = {e for e in seen if e.startswith("event:ccn ")}  # accept, reject, detach, route enable/disable
    assert len(ccn_events) >= 4, f"CCN events drawn: {sorted(ccn_events)}"


def ccn_cases(doc) -> set:
    """What a drawn CCN holds, from the model of the drawn topology (test_generator_covers_...)."""
    from vpclab.model import ccn as ccn_model
    from vpclab.topology import load as loader

    lab = loader.loads(yaml.safe_dump({"lab": "gen", **doc}, sort_keys=False), "gen.yaml")
    c = lab.ccns[CCN]
    out = {"ccn"} | {f"ccn: {s}" for a in c.attachments for s in
                     {"PENDING": ["PENDING (cross-account)"], "REJECTED": ["REJECTED"]}.get(a.state, [])}
    owner = c.account
    if any(a.state == "ACTIVE" and lab.vpcs[a.vpc].account != owner for a in c.attachments):
        out.add("ccn: accepted")
    for r in ccn_model.routes(lab, c):
        if "identical to" in r.why:
            out.add("ccn: identical conflict")
        if "inside" in r.why or "containing" in r.why:
            out.add("ccn: inclusive conflict")
        if r.why == "disabled by the CCN's owner":
            out.add("ccn: disabled by the owner")
        if r.key in c.enabled and r.enabled:
            out.add("ccn: inclusive route enabled")
    members = {a.vpc for a in c.attachments if a.state == "ACTIVE"}
    for v in lab.vpcs.values():
        for t in v.route_tables:
            if any(not d.enabled for d in ccn_model.delivered(lab, v, t)):
                out.add("ccn: delivered route disabled in a table")
            if any(r.next_hop == CCN for r in v.route_tables[t].routes):
                out.add("ccn: USER_CCN route")
    for p in lab.peerings.values():
        ends = {p.vpc, p.peer_vpc} & members
        out.add("ccn: two members peered" if len(ends) == 2 else "ccn: member peered with a non-member" if ends
                else "ccn")
    if len({lab.vpcs[m].region for m in members}) > 1:
        out.add("ccn: cross-region")
    if c.limits:
        out.add("ccn: region-pair cap")
    return out


# ---- version 2: security groups, network ACLs, EIPs and the lab's Internet -------------------------

INTERNET_CIDR = "203.0.113.0/24"
HOST_IP = "203.0.113.200"
RULE_PORTS = [None, 80, 3306, 9, "1024-65535", "32768-60999", "50000-65535"]  # the last two: part of the reply ports


@st.composite
def filter_rules(draw, peers, max_rules=3):
    """An ordered list of rules, no two alike (a group refuses duplicates)."""
    out, seen = [], set()
    for _ in range(draw(st.integers(0, max_rules))):
        proto = draw(st.sampled_from(["icmp", "tcp", "udp", "all"]))
        rule = {"proto": proto}
        port = draw(st.sampled_from(RULE_PORTS)) if proto in ("tcp", "udp") else None
        if port is not None:
            rule["port"] = port
        rule["peer"] = draw(st.sampled_from(peers))
        rule["action"] = draw(st.sampled_from(["accept", "accept", "drop"]))
        key = (proto, port, rule["peer"])
        if key not in seen:
            seen.add(key)
            out.append(rule)
    return out


def with_peer_key(rules, key):
    return [{**{k: v for k, v in r.items() if k != "peer"}, key: r["peer"]} for r in rules]


@st.composite
def filtered_topologies(draw):
    """2-4 VPCs (one region and account), random peerings and routes, and the version-2
    pieces: the lab's Internet with one host (tcp/80), EIPs, security groups (rules that
    name CIDRs, the peer's range, the Internet or a group of the VPC) attached to some
    instances, and network ACLs (often without a rule for the replies) on some subnets.
    With the Internet, often a NAT-gateway batch in one VPC (nat_batch)."""
    n = draw(st.integers(2, 4))
    octets = draw(st.lists(st.integers(1, 250), min_size=n, max_size=n, unique=True))
    names = [f"v{i}" for i in range(n)]
    internet = draw(st.booleans()) or draw(st.booleans())
    eips = iter(f"203.0.113.{10 + k}" for k in range(64))
    nat_vpc = draw(st.sampled_from(names)) if internet and draw(st.booleans()) else None
    vpcs = {}
    for name, o in zip(names, octets):
        cidr = f"10.{o}.0.0/16"
        peers = ["0.0.0.0/0", "10.0.0.0/8", cidr, f"10.{o}.1.0/24"] + [f"10.{p}.0.0/16" for p in octets if p != o]
        if internet:
            peers += [INTERNET_CIDR, f"{HOST_IP}/32"]  # the Internet host is a source too
        instances = {"cvm-1": {"subnet": "app", "ip": f"10.{o}.1.10"}}
        second = draw(st.sampled_from([None, "cvm", "cdb"]))
        if second == "cvm":
            instances["cvm-2"] = {"subnet": draw(st.sampled_from(["app", "data"])), "ip": f"10.{o}.2.20"}
        elif second == "cdb":
            instances["db-1"] = {"subnet": "data", "kind": "cdb", "ip": f"10.{o}.2.20"}
        for inst in instances.values():
            if inst["subnet"] == "app" and inst["ip"].endswith(".2.20"):
                inst["ip"] = f"10.{o}.1.20"
            if internet and draw(st.integers(0, 2)) == 0:
                inst["eip"] = next(eips)
        body = {"region": REGIONS[0], "cidr": cidr,
                "subnets": {"app": {"cidr": f"10.{o}.1.0/24"}, "data": {"cidr": f"10.{o}.2.0/24"}},
                "route_tables": {"default": {"routes": []}}, "instances": instances}
        groups = {}
        for g in range(draw(st.integers(0, 2))):
            gname = f"sg-{g}"
            ingress = draw(filter_rules(peers + [f"sg-{k}" for k in range(g + 1)]))
            egress = ([{"proto": "all", "peer": "0.0.0.0/0", "action": "accept"}] if draw(st.booleans())
                      else draw(filter_rules(peers, 2)))
            groups[gname] = {"ingress": with_peer_key(ingress, "source"), "egress": with_peer_key(egress, "destination")}
        if groups:
            body["security_groups"] = groups
            for inst in instances.values():
                chosen = draw(st.lists(st.sampled_from(sorted(groups)), unique=True, max_size=len(groups)))
                if chosen:
                    inst["security_groups"] = chosen
        if draw(st.integers(0, 2)) == 0:
            body["network_acls"] = {"acl-1": {
                "subnets": draw(st.sampled_from([["app"], ["data"], ["app", "data"]])),
                "inbound": with_peer_key(draw(filter_rules(peers)), "source"),
                "outbound": with_peer_key(draw(filter_rules(peers)), "destination")}}
        if name == nat_vpc:
            draw(nat_batch(body, o, eips))
        vpcs[name] = body
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs))) if pairs else []
    peerings = {}
    for a, b in chosen:
        pid = f"pcx-{a}-{b}"
        peerings[pid] = {"vpc": a, "peer_vpc": b}
        for side, other in ((a, b), (b, a)):
            if draw(st.integers(0, 3)):  # mostly routed, sometimes not
                vpcs[side]["route_tables"]["default"]["routes"].append(
                    {"destination": vpcs[other]["cidr"], "next_hop": pid})
    for v in vpcs.values():
        if not v["route_tables"]["default"]["routes"]:
            del v["route_tables"]["default"]  # the implicit default table, empty
        if not v["route_tables"]:
            del v["route_tables"]
    doc = {"regions": {REGIONS[0]: {}}, "vpcs": vpcs}
    if internet:
        doc["internet"] = {"cidr": INTERNET_CIDR, "hosts": {"web": {"ip": HOST_IP, "ports": [80]}}}
    if peerings:
        doc["peerings"] = peerings
    return doc


ACCEPT_ALL = {"proto": "all", "peer": "0.0.0.0/0", "action": "accept"}
REPLY_PORTS = {"proto": "tcp", "port": "1024-65535", "peer": "0.0.0.0/0", "action": "accept"}


@st.composite
def nat_batch(draw, body, o, eips):
    """2-3 instances of a subnet `priv` of the VPC `body` behind its NAT gateway nat-1 (a table
    of their own, or the VPC's default table, which takes app and data through it too), in one
    matrix batch with the same public destinations (the Internet host, every EIP). Their
    replies are often dropped by an ACL: inbound on priv (the rules lack ICMP, or the reply
    ports), or outbound on app, whose cvm-1 then has an EIP they ping (ICMP replies match no
    rule: `no-return`, issue 19 #4)."""
    body["subnets"]["priv"] = {"cidr": f"10.{o}.3.0/24"}
    body["nat_gateways"] = {"nat-1": {"eip": next(eips)}}
    route = {"destination": "0.0.0.0/0", "next_hop": "nat-1"}
    if draw(st.booleans()):
        body["subnets"]["priv"]["route_table"] = "nat"
        body["route_tables"]["nat"] = {"routes": [route]}
    else:
        body["route_tables"]["default"]["routes"].append(route)
    jobs = {f"job-{k}": {"subnet": "priv", "ip": f"10.{o}.3.{10 + k}"} for k in range(1, draw(st.integers(2, 3)) + 1)}
    groups = sorted(body.get("security_groups", {}))
    shared = draw(st.lists(st.sampled_from(groups), unique=True, max_size=len(groups))) if groups else []
    for inst in jobs.values():  # a subnet's instances alike: the same groups
        if shared:
            inst["security_groups"] = shared
    body["instances"].update(jobs)
    drop = draw(st.sampled_from(["none", "priv inbound", "app outbound"]))
    acls = body.setdefault("network_acls", {})
    if drop == "priv inbound":
        inbound = draw(st.sampled_from([[], [REPLY_PORTS], [{"proto": "tcp", "port": 80, "peer": "0.0.0.0/0",
                                                             "action": "accept"}]]))
        acls["acl-nat"] = {"subnets": ["priv"], "inbound": with_peer_key(inbound, "source"),
                           "outbound": with_peer_key([ACCEPT_ALL], "destination")}
    elif drop == "app outbound":
        body["instances"]["cvm-1"].setdefault("eip", next(eips))
        acls.pop("acl-1", None)
        acls["acl-1"] = {"subnets": ["app"], "inbound": with_peer_key([ACCEPT_ALL], "source"),
                         "outbound": with_peer_key([REPLY_PORTS], "destination")}
    if not acls:
        del body["network_acls"]


def filtered_targets(model):
    """Every ordered instance pair (ICMP, TCP and UDP to a port the rules name), each instance's
    EIP from every other instance, and the Internet host (ICMP, tcp/80); and from the Internet
    host (TOPOLOGY.md v3) to every instance by name (its EIP, or none: NO_PUBLIC_IP), ICMP and
    TCP, and to one private address (NO_ROUTE at the Internet)."""
    out = []
    insts = model.instances()
    if model.internet is not None:
        for d in insts:
            out += [probing.target(model, "internet/web", d.ref, "icmp", None),
                    probing.target(model, "internet/web", d.ref, "tcp", d.service_port or 80)]
        out.append(probing.target(model, "internet/web", str(insts[-1].ip), "icmp", None))
    for s in insts:
        for d in insts:
            if s is d:
                continue
            port = d.service_port or 80
            out += [probing.target(model, s.ref, d.ref, "icmp", None), probing.target(model, s.ref, d.ref, "tcp", port),
                    probing.target(model, s.ref, d.ref, "udp", port)]
            if d.eip is not None and d.eip != s.eip:
                out += [probing.target(model, s.ref, str(d.eip), "icmp", None),
                        probing.target(model, s.ref, str(d.eip), "tcp", port)]
        if model.internet is not None:
            out += [probing.target(model, s.ref, "internet/web", "icmp", None),
                    probing.target(model, s.ref, "internet/web", "tcp", 80)]
    return out


def filtered_disagreements(model, rows):
    return disagreements(model, rows)


def behind_nat(model) -> list:
    """The instances whose subnet's route table sends traffic to a NAT gateway (from the topology)."""
    out = []
    for i in model.instances():
        vpc = model.vpcs[i.vpc]
        table = vpc.route_tables.get(vpc.subnets[i.subnet].route_table)
        if table is not None and any(r.next_hop in vpc.nat_gateways for r in table.routes):
            out.append(i)
    return out


def filtered_picker(data, model):
    """The pairs to probe right after the matrix: picker's, and one from behind a NAT gateway."""
    nat = {i.ref for i in behind_nat(model)}
    gateways = {str(g.eip) for v in model.vpcs.values() for g in v.nat_gateways.values()}
    plain = picker(data)

    def pick(rows):
        out = plain(rows)
        natted = [r for r in rows if r["src"] in nat and r.get("seen_source") in gateways]
        if natted:
            out.append(data.draw(st.sampled_from(natted), label="a row from behind the NAT gateway"))
        return out
    return pick


def check_classes(lab: str, model, mrows, data) -> None:
    """`matrix --by-class` (controller/classes.py): the packets of every pair of a class agree
    (the full matrix just measured them all); and, in a third of the labs, a by-class run with
    a random sample agrees with explain and with the classes."""
    from vpclab.controller import classes

    verdict_of = {(r["src"], r["dst"], r["proto"], r["port"]): (r["result"], (r["reason"] or {}).get("code"))
                  for r in mrows}
    for k in classes.classes(model):
        got = {verdict_of[(q.src.ref, q.dst_ref, q.proto, q.port)] for q in k.questions()}
        assert len(got) == 1, f"class {k.id} (representative {k.rep.src.ref} -> {k.rep.dst_ref}): packets say {got}"
    if data.draw(st.integers(0, 2), label="a by-class run?") == 0:
        run = classes.ClassRun(lab, sample=0.3, seed=data.draw(st.integers(0, 1 << 16), label="seed")).run()
        assert run.mismatches == 0 and run.class_mismatches == 0, run.document()
        assert sum(1 for r in run.rows() if r["probed"]) == run.probed
        assert run.pairs == len(mrows)


def check_filtered_agreement(lab: str, data) -> int:
    model = status.load_model(lab)
    rows = probing.run_many(model, filtered_targets(model))
    bad = filtered_disagreements(model, rows)
    assert not bad, f"test path: {len(bad)} of {len(rows)} probes disagree:\n" + "\n".join(bad)
    # a NAT-gateway batch goes in ONE matrix batch (its requests share the gateway's address);
    # otherwise several small chunks
    run = probing.MatrixRun(lab, chunk=probing.MATRIX_CHUNK if len(behind_nat(model)) > 1 else 5)
    mrows = list(run.rows())
    bad = filtered_disagreements(model, mrows)
    assert not bad, f"matrix: {len(bad)} of {len(mrows)} rows disagree:\n" + "\n".join(bad)
    check_after_matrix(lab, model, mrows, filtered_picker(data, model), "after up")
    check_classes(lab, model, mrows, data)
    # every unanswered pair is diagnosed: a reason, from the counters when a filter dropped it
    for r in rows + mrows:
        if r["result"] != "reachable":
            assert r["reason"]["code"], r
    return len(rows) + len(mrows)


@pytest.mark.long(70)
@settings(max_examples=FILTER_EXAMPLES, deadline=None, derandomize=False, print_blob=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(filtered_topologies(), st.data())
def test_live_verdicts_equal_explain_with_filters(doc, data):
    from vpclab.probe import counters

    if counters.available() is not None:
        pytest.skip(f"filters need libnftables' Python binding: {counters.available()}")
    lab = unique_lab()
    text = yaml.safe_dump({"lab": lab, **doc}, sort_keys=False)
    note(f"topology:\n{text}")
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"{lab}.yaml"
        path.write_text(text)
        try:
            build.up(str(path))
            check_filtered_agreement(lab, data)
        finally:
            teardown.down(lab)
    assert_gone(lab)


def test_filtered_generator_draws_valid_topologies_with_every_piece():
    """Each drawn topology loads (no CLOUD-RULES violation), and the pieces the property needs appear."""
    from vpclab.topology import load as loader

    seen = set()

    @settings(max_examples=150, database=None, deadline=None, derandomize=True)
    @given(filtered_topologies())
    def draw(doc):
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "t.yaml"
            path.write_text(yaml.safe_dump({"lab": "gen", **doc}, sort_keys=False))
            lab = loader.load(path)
        for v in lab.vpcs.values():
            if v.security_groups:
                seen.add("group")
            if any(r.action == "drop" for g in v.security_groups.values() for r in g.ingress):
                seen.add("drop rule")
            if any(r.peer_network is None for g in v.security_groups.values() for r in g.ingress):
                seen.add("group as peer")
            if v.network_acls:
                seen.add("acl")
            if any(not a.outbound for a in v.network_acls.values()):
                seen.add("acl without outbound rules")
            if any(i.eip for i in v.instances.values()):
                seen.add("eip")
            jobs = [i for i in v.instances.values() if i.subnet == "priv"]
            if v.nat_gateways and len(jobs) >= 2:
                seen.add("NAT batch")
                own = v.subnets["priv"].route_table != "default"
                seen.add("NAT: a table of its own" if own else "NAT: the default table")
                acl = next((a for a in v.network_acls.values() if "priv" in a.subnets), None)
                if acl is not None and not any(r.proto in ("icmp", "all") for r in acl.inbound):
                    seen.add("NAT: replies dropped on the way in")
                app = next((a for a in v.network_acls.values() if "app" in a.subnets), None)
                if app is not None and v.instances["cvm-1"].eip and not any(
                        r.proto in ("icmp", "all") for r in app.outbound):
                    seen.add("NAT: replies dropped by the EIP's subnet")
        if lab.internet is not None:
            seen.add("internet")
            if any(i.eip for i in lab.instances()):
                seen.add("internet host to an EIP")  # the host's rows (matrix and filtered_targets)
            if any(r.peer_network is not None and r.peer_network.prefixlen == 32
                   for v in lab.vpcs.values() for g in v.security_groups.values() for r in g.ingress):
                seen.add("a rule naming the Internet host")

    draw()
    want = {"group", "drop rule", "group as peer", "acl", "acl without outbound rules", "eip", "internet",
            "NAT batch", "NAT: a table of its own", "NAT: the default table", "NAT: replies dropped on the way in",
            "NAT: replies dropped by the EIP's subnet", "internet host to an EIP", "a rule naming the Internet host"}
    assert want <= seen, f"never drawn: {sorted(want - seen)}"
