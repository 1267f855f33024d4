"""Property tests over random topologies (hypothesis, bounded and derandomized).

`topologies()` draws VALID topologies: 2-6 VPCs with distinct CIDRs 10.N.0.0/16,
1-2 subnets each, 1-3 instances (cvm, cdb, cmem, clb), random peerings that keep
the rules (one per pair, quota, bandwidth only and always across regions),
random subsets of routes on each side, random regions and accounts. They are
rendered as YAML text (block or flow style) and then:

- they validate; random corruptions of them fail with `TopologyInvalid` only,
  every problem carrying a code and a line >= 1;
- `explain` never crashes over every ordered instance pair, and a reachable
  A -> B means B -> A is reachable or no-return;
- the planner's objects have unique keys and lab-prefixed, short names; the diff
  of a plan against itself is empty and against nothing creates all in ORDER;
- the store round-trips the model.
"""
from __future__ import annotations

import copy
from pathlib import Path

import yaml
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from vpclab import explain as analyze
from vpclab.topology import load as loader
from vpclab.errors import TopologyInvalid
from vpclab.plan import names
from vpclab.plan.diff import category, diff
from vpclab.plan.objects import ORDER
from vpclab.plan.planner import plan
from vpclab.state.store import lab_from_dict, lab_to_dict

REGIONS = ["ap-guangzhou", "ap-singapore", "ap-tokyo"]
ACCOUNTS = ["alice", "bob"]
BANDWIDTHS = ["1Mbps", "50Mbps", "100Mbps", "1500Kbps", "1Gbps", "10Gbps"]

# Bounded and reproducible: the same examples on every run, no database, and no
# shrinking (a failure prints the full example; shrinking could take minutes).
PROPS = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                 phases=[Phase.explicit, Phase.generate],
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

SCHEMA_KEYS = {
    "top": ["lab", "vpcs", "peerings", "regions", "accounts"],
    "vpc": ["region", "cidr", "subnets", "instances", "account", "route_tables"],
    "subnet": ["cidr", "route_table"],
    "instance": ["subnet", "ip", "kind", "port", "backends"],
    "peering": ["vpc", "peer_vpc", "bandwidth", "accepted"],
}


# ---- the strategy ---------------------------------------------------------------------------------


@st.composite
def topology_dicts(draw):
    lab = draw(st.sampled_from(["t", "lab1", "abcdefgh", "x9"]))
    n = draw(st.integers(2, 6))
    octets = draw(st.lists(st.integers(0, 250), min_size=n, max_size=n, unique=True))
    accounts = ACCOUNTS[: draw(st.integers(1, 2))]
    names_ = [draw(st.sampled_from([f"vpc-{i}", f"v{i}", f"a-rather-long-vpc-name-{i}"])) for i in range(n)]
    vpcs, info = {}, {}
    for i, (name, o) in enumerate(zip(names_, octets)):
        region = draw(st.sampled_from(REGIONS))
        account = draw(st.sampled_from(accounts))
        n_sub = draw(st.integers(1, 2))
        subnets = {}
        for k in range(n_sub):
            sname = draw(st.sampled_from([f"s{k}", f"subnet-number-{k}", f"app_{k}"]))
            subnets[sname] = {"cidr": f"10.{o}.{k + 1}.0/24"}
        if n_sub == 2 and draw(st.booleans()):
            subnets[list(subnets)[1]]["route_table"] = "private"
        instances = {}
        n_inst = draw(st.integers(1, 3))
        cvms = []
        for j in range(n_inst):
            iname = draw(st.sampled_from([f"i{j}", f"instance-{j}", f"web_server_{j}"]))
            sname = draw(st.sampled_from(sorted(subnets)))
            k = list(subnets).index(sname)
            body = {"subnet": sname}
            if draw(st.booleans()):
                body["ip"] = f"10.{o}.{k + 1}.{10 + j}"
            kind = draw(st.sampled_from(["cvm", "cvm", "cdb", "cmem", "clb"]))
            if kind == "clb":
                body.update(kind="clb", port=draw(st.sampled_from([80, 443, 8080])),
                            backends=draw(st.lists(st.sampled_from(cvms), unique=True)) if cvms else [])
            elif kind != "cvm":
                body["kind"] = kind
            else:
                cvms.append(iname)
            instances[iname] = body
        vpcs[name] = {"account": account, "region": region, "cidr": f"10.{o}.0.0/16", "subnets": subnets,
                      "instances": instances}
        info[name] = (region, account, o)

    pairs = [(a, b) for i, a in enumerate(names_) for b in names_[i + 1:]]
    chosen = draw(st.lists(st.sampled_from(pairs), min_size=1, max_size=len(pairs), unique=True))
    peerings, routes = {}, {name: {"default": [], "private": []} for name in names_}
    for idx, (a, b) in enumerate(chosen):
        if draw(st.booleans()):
            a, b = b, a
        pname = draw(st.sampled_from([f"pcx-{idx}", f"peering-{idx}-with-a-long-name"]))
        body = {"vpc": a, "peer_vpc": b}
        if info[a][0] != info[b][0]:
            body["bandwidth"] = draw(st.sampled_from(BANDWIDTHS))
        if info[a][1] != info[b][1] and draw(st.booleans()):
            body["accepted"] = False
        peerings[pname] = body
        for side, far in ((a, b), (b, a)):
            o = info[far][2]
            for table in ("default", "private"):
                if draw(st.booleans()):
                    dst = draw(st.sampled_from([f"10.{o}.0.0/16", f"10.{o}.1.0/24", f"10.{o}.0.0/17"]))
                    routes[side][table].append({"destination": dst, "next_hop": pname})
    for name in names_:
        tables = {t: {"routes": rs} for t, rs in routes[name].items() if rs}
        if any(s.get("route_table") == "private" for s in vpcs[name]["subnets"].values()):
            tables.setdefault("private", {"routes": []})
        if tables:
            vpcs[name]["route_tables"] = tables
    return {"lab": lab, "accounts": accounts, "regions": {r: {} for r in REGIONS}, "vpcs": vpcs,
            "peerings": peerings}


def render(d, flow: bool) -> str:
    return yaml.safe_dump(d, sort_keys=False, default_flow_style=None if flow else False, width=100)


@st.composite
def topologies(draw):
    d = draw(topology_dicts())
    return d, render(d, draw(st.booleans()))


def load_ok(t: str):
    return loader.loads(t, "p.yaml")


# ---- validity --------------------------------------------------------------------------------------


@PROPS
@given(topologies())
def test_random_valid_topologies_validate(dt):
    d, t = dt
    lab = load_ok(t)
    assert set(lab.vpcs) == set(d["vpcs"])
    assert set(lab.peerings) == set(d["peerings"])
    for inst in lab.instances():
        s = lab.vpcs[inst.vpc].subnets[inst.subnet]
        assert inst.ip in s.cidr and inst.ip not in (s.cidr.network_address, s.gateway, s.cidr.broadcast_address)
    for v in lab.vpcs.values():
        ips = [i.ip for i in v.instances.values()]
        assert len(ips) == len(set(ips))


# ---- corruptions -----------------------------------------------------------------------------------


def _mappings_of(d, kind):
    if kind == "top":
        return [d]
    if kind == "vpc":
        return list(d["vpcs"].values())
    if kind == "subnet":
        return [s for v in d["vpcs"].values() for s in v["subnets"].values()]
    if kind == "instance":
        return [i for v in d["vpcs"].values() for i in v["instances"].values()]
    return list(d["peerings"].values())


@st.composite
def corrupted(draw):
    d, _ = draw(topologies())
    d = copy.deepcopy(d)
    how = draw(st.sampled_from(["overlap", "misspell", "wrong-type", "quota", "truncate", "bandwidth"]))
    flow = draw(st.booleans())
    expect = None
    if how == "overlap":
        p = d["peerings"][draw(st.sampled_from(sorted(d["peerings"])))]
        d["vpcs"][p["peer_vpc"]]["cidr"] = d["vpcs"][p["vpc"]]["cidr"]
        expect = "UnsupportedOperation.VpcPeerCidrConflict"
    elif how == "misspell":
        kind = draw(st.sampled_from(sorted(SCHEMA_KEYS)))
        m = draw(st.sampled_from(_mappings_of(d, kind)))
        keys = [k for k in m if k in SCHEMA_KEYS[kind]]
        key = draw(st.sampled_from(keys))
        typo = draw(st.sampled_from([key + "s", key[:-1], key.upper(), key.replace("_", "-") + "x", "x" + key]))
        m[typo] = m.pop(key)
        expect = "UnknownParameter"
    elif how == "wrong-type":
        kind = draw(st.sampled_from(["top", "vpc", "subnet", "instance", "peering", "route_tables", "routes"]))
        bad = draw(st.sampled_from([["a", "b"], "text", 42, True, {"k": "v"}]))
        if kind == "route_tables":
            targets = [t for v in d["vpcs"].values() for t in v.get("route_tables", {}).values()]
            if not targets:
                kind = "vpc"
            else:
                draw(st.sampled_from(targets))["routes"] = bad if not isinstance(bad, list) else {"a": 1}
        if kind == "routes":
            targets = [r for v in d["vpcs"].values() for t in v.get("route_tables", {}).values()
                       for r in t["routes"]]
            if not targets:
                kind = "vpc"
            else:
                r = draw(st.sampled_from(targets))
                r[draw(st.sampled_from(["destination", "next_hop"]))] = ["x"]
        if kind in ("top", "vpc", "subnet", "instance", "peering"):
            m = draw(st.sampled_from(_mappings_of(d, kind)))
            structured = [k for k, v in m.items() if isinstance(v, (dict, list))] if kind != "top" else \
                ["vpcs", "peerings"]
            key = draw(st.sampled_from(structured or sorted(m)))
            old = m[key]
            m[key] = ["x", "y"] if isinstance(old, dict) else ({"x": 1} if isinstance(old, list) else ["x"])
    elif how == "quota":
        hub = next(iter(d["vpcs"]))
        used = {int(v["cidr"].split(".")[1]) for v in d["vpcs"].values()}
        free = [o for o in range(251, 256)] + [o for o in range(0, 251) if o not in used]
        for k in range(11):
            name = f"q{k}"
            d["vpcs"][name] = {"region": d["vpcs"][hub]["region"], "account": d["vpcs"][hub]["account"],
                               "cidr": f"10.{free[k]}.0.0/16"}
            d["peerings"][f"pcx-q{k}"] = {"vpc": hub, "peer_vpc": name}
        expect = "LimitExceeded.VpcPeerTotalLimitExceeded"
    elif how == "bandwidth":
        p = d["peerings"][draw(st.sampled_from(sorted(d["peerings"])))]
        cross = d["vpcs"][p["vpc"]]["region"] != d["vpcs"][p["peer_vpc"]]["region"]
        if cross:
            bad = draw(st.sampled_from([None, "0Mbps", "999Kbps", "20Gbps", "fast", "10 Mbit", 100]))
            if bad is None:
                del p["bandwidth"]
            else:
                p["bandwidth"] = bad
        else:
            p["bandwidth"] = draw(st.sampled_from(["100Mbps", "5Gbps"]))
    t = render(d, flow)
    if how == "truncate":
        cut = draw(st.integers(0, len(t)))
        t = t[:cut] + draw(st.sampled_from(["\n{unclosed: [1, 2\n", "\n\t- tab: 1\n", "\n: : :\n",
                                            "\nkey: 'unterminated\n", "\n- [a, b\n", "\n  x: *nope\n"]))
    return how, expect, t


ROUTES_NOT_A_LIST = """lab: t
vpcs:
  vpc-a:
    region: ap-guangzhou
    cidr: 10.0.0.0/16
    route_tables:
      default:
        routes: %s
  vpc-b: {region: ap-guangzhou, cidr: 10.1.0.0/16}
peerings:
  pcx-ab: {vpc: vpc-a, peer_vpc: vpc-b}
"""


@PROPS
@given(corrupted())
@example(("wrong-type", None, ROUTES_NOT_A_LIST % "{destination: 10.1.0.0/16, next_hop: pcx-ab}"))
@example(("wrong-type", None, ROUTES_NOT_A_LIST % "42"))
@example(("wrong-type", None, ROUTES_NOT_A_LIST % "true"))
def test_corrupted_topologies_are_refused_with_lines_and_codes(case):
    how, expect, t = case
    try:
        loader.loads(t, "c.yaml")
    except TopologyInvalid as e:
        assert e.problems
        for p in e.problems:
            assert isinstance(p.line, int) and p.line >= 1, (p, t)
            assert p.code and isinstance(p.code, str), (p, t)
            assert p.file == "c.yaml"
        got = [p.code for p in e.problems]
        if expect is not None:
            assert expect in got, (how, got, t)
        n = len(t.splitlines()) + 1
        assert all(p.line <= n for p in e.problems), (how, [p.line for p in e.problems], n)
    else:
        raise AssertionError(f"{how}: a corrupted topology was accepted:\n{t}")


# ---- explain ----------------------------------------------------------------------------------------


@PROPS
@given(topologies())
def test_explain_never_crashes_and_is_symmetric(dt):
    _, t = dt
    lab = load_ok(t)
    refs = [i.ref for i in lab.instances()]
    verdicts = {}
    for a in refs:
        for b in refs:
            if a == b:
                continue
            for proto, port in (("icmp", None), ("tcp", 80), ("udp", 3306)):
                v = analyze.explain(lab, a, b, proto, port)
                doc = v.to_json()
                assert doc["result"] in ("reachable", "no-return", "unreachable")
                assert (doc["reason"]["code"] is None) == (doc["result"] == "reachable")
                assert doc["forward"]["path"][0] == a
                if doc["result"] != "unreachable":
                    assert doc["forward"]["delivered"] and doc["forward"]["last_hop"] == b
                if doc["result"] == "reachable":
                    assert doc["return"]["delivered"] and doc["return"]["path"][-1] == a
                verdicts[(a, b, proto)] = doc["result"]
    for (a, b, proto), result in verdicts.items():
        if proto == "icmp" and result == "reachable":
            assert verdicts[(b, a, "icmp")] in ("reachable", "no-return"), (a, b, t)


# ---- plan and diff -----------------------------------------------------------------------------------

IFNAME_FIELDS = ("ifname", "peer_ifname", "dev", "iif")
NS_FIELDS = ("ns", "peer_ns")


@PROPS
@given(topologies(), st.booleans())
def test_planner_names_and_keys(dt, netem):
    _, t = dt
    lab = load_ok(t)
    p = plan(lab, netem=netem)
    keys = [o.key for o in p.objects]
    assert len(keys) == len(set(keys)), [k for k in keys if keys.count(k) > 1]
    prefix = names.lab_prefix(lab.name)
    assert prefix == f"vpclab-{lab.name}-"
    for o in p.objects:
        for f in IFNAME_FIELDS:
            v = getattr(o, f, None)
            if v is not None and not (v == "lo" and category(o) == "address"):  # a router's gateways
                assert len(v) <= 15 and v.startswith(f"{lab.name}-"), (o, f, v)
        for f in NS_FIELDS:
            v = getattr(o, f, None)
            if v is not None:
                assert v.startswith(prefix) and names.lab_of_ns(v) == lab.name, (o, f, v)
        if category(o) == "netns":
            assert o.name.startswith(prefix) and names.lab_of_ns(o.name) == lab.name
    # every instance and VPC has its namespace
    nss = set(p.namespaces())
    assert {names.vpc_ns(lab.name, v) for v in lab.vpcs} <= nss
    assert {names.instance_ns(lab.name, i.vpc, i.name) for i in lab.instances()} <= nss
    # interface names are unique within each namespace
    per_ns = {}
    for o in p.objects:
        if category(o) == "veth":
            per_ns.setdefault(o.ns, []).append(o.ifname)
            per_ns.setdefault(o.peer_ns, []).append(o.peer_ifname)
    for ns, ifs in per_ns.items():
        assert len(ifs) == len(set(ifs)), (ns, ifs)
    # every object's category (the first element of its key) is one diff knows how to order
    cats = {category(o) for o in p.objects}
    assert cats <= set(ORDER), cats - set(ORDER)


def test_service_objects_are_of_category_service():
    """diff, Plan.by_kind and the controller tell services apart by their category `service`."""
    lab = loader.load(Path(__file__).resolve().parents[3] / "topologies" / "01-two-vpcs.yaml")
    p = plan(lab)
    svcs = [o for o in p.objects if type(o).__name__ == "Service"]
    assert len(svcs) == 1  # the cdb's listener
    assert [category(o) for o in svcs] == ["service"]
    assert p.by_kind("service") == svcs
    acts = diff(p.objects, [])  # must not raise
    assert acts[-1].obj is svcs[0]


@PROPS
@given(topologies())
def test_diff_against_itself_and_against_nothing(dt):
    _, t = dt
    lab = load_ok(t)
    objs = plan(lab).objects
    assert diff(objs, objs) == []
    assert diff(objs, list(objs)) == []
    acts = diff(objs, [])
    assert [a.op for a in acts] == ["create"] * len(objs)
    assert sorted(map(repr, (a.obj for a in acts))) == sorted(map(repr, objs))
    rank = [ORDER.index(category(a.obj)) for a in acts]
    assert rank == sorted(rank)
    # within a category, the planner's order is kept
    for cat in ORDER:
        assert [a.obj for a in acts if category(a.obj) == cat] == [o for o in objs if category(o) == cat]
    # and removing everything deletes in the reverse order (namespaces last)
    gone = diff([], objs)
    assert all(a.op == "delete" for a in gone)
    ranks = [ORDER.index(category(a.obj)) for a in gone]
    assert ranks == sorted(ranks, reverse=True)


# ---- store -------------------------------------------------------------------------------------------


@PROPS
@given(topologies())
def test_store_round_trip(dt):
    import json

    _, t = dt
    lab = load_ok(t)
    d = lab_to_dict(lab)
    assert json.loads(json.dumps(d)) == d  # it really is JSON
    back = lab_from_dict(json.loads(json.dumps(d)))
    assert lab_to_dict(back) == d
    assert back == lab
