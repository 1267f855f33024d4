"""What the guides say the tool says, asked of the tool (issue 22: guides contradicted it).

Each claim below is a sentence of a guide (`lab/NN-*/guide.md`, lab/README.md's "Reading
`ip rule`" section): a verdict with its reason code (and where), or a refusal with its cloud
code. It is checked against the tool's real answer, from the model alone: the guide's
topology loaded as `explain -f` and `validate` load it, and the live operation's own model
edit (model/lifecycle.py, as `vpclab peering ...` and `route ...` run it) for a refusal.
Every code a guide names must be covered by a claim of that guide, so a guide that starts
naming a code nobody checked fails here.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from vpclab.errors import Refused, TopologyInvalid
from vpclab.explain import explain
from vpclab.model import lifecycle
from vpclab.model.types import Route
from vpclab.topology import load as loader

ROOT = Path(__file__).resolve().parents[3]
CODE = re.compile(r"\b(NO_ROUTE|NOT_TRANSITIVE|CLB_CROSS_REGION|NETWORK_ACL_DENY|SECURITY_GROUP_DENY|NO_PUBLIC_IP|"
                  r"PEERING_NOT_ACTIVE|NO_LISTENER|BLACKHOLE_ROUTE|INCONCLUSIVE|"
                  r"CCN_ROUTE_DISABLED|CCN_ATTACHMENT_NOT_ACTIVE|"
                  r"(?:InvalidParameterValue|InvalidParameter|UnsupportedOperation|LimitExceeded|MissingParameter|"
                  r"ResourceNotFound)(?:\.[A-Za-z]+)?)\b")
MBPS = 1000  # kbps


def model(path: str):
    return loader.load(str(ROOT / path))


def verdict(lab, src, dst, proto="icmp", port=None):
    """(result, code, where, table) of explain, and the verdict."""
    v = explain(lab, src, dst, proto, port)
    r = v.reason
    return (v.result, r.code if r else None, r.where if r and r.code else None, r.table if r and r.code else None), v


def refused(edit) -> str:
    with pytest.raises(Refused) as e:
        edit()
    return e.value.code


def forced_route(lab, vpc, destination, next_hop):
    """A route the cloud would refuse, put in the model anyway ("even if it did", lab 04)."""
    import ipaddress

    lab.vpcs[vpc].route_tables["default"].routes.append(Route(ipaddress.ip_network(destination), next_hop))


# ---- the claims, by guide ----------------------------------------------------------------------
# Each returns the codes it checked (so the completeness test knows what a guide's claims cover).

def g01():
    lab = model("lab/01-isolation/start.yaml")
    assert verdict(lab, "dev/cvm-1", "prod/cvm-1")[0][0] == "reachable"  # "dev reaches prod"
    got, v = verdict(lab, "prod/cvm-1", "tools/cvm-1")
    assert got == ("unreachable", "NO_ROUTE", "prod", "default"), got  # section 1
    assert "not transitive" in v.reason.detail and "tools is a peer of dev" in v.reason.detail, v.reason.detail
    forced_route(lab, "prod", "10.3.0.0/16", "pcx-dev-prod")  # into dev over one peering, out over another
    got, _ = verdict(lab, "prod/cvm-1", "tools/cvm-1")
    assert got[:3] == ("unreachable", "NOT_TRANSITIVE", "dev"), got
    lab = model("lab/01-isolation/start.yaml")
    lifecycle.del_route(lab, "prod", "10.1.0.0/16")  # the question's `route del prod` alone
    got, _ = verdict(lab, "dev/cvm-1", "prod/cvm-1")
    assert got == ("no-return", "NO_ROUTE", "prod", "default"), got  # the answer
    return {"NO_ROUTE", "NOT_TRANSITIVE"}


def g03():
    lab = model("topologies/02-one-way-route.yaml")
    got, _ = verdict(lab, "vpc-a/cvm-1", "vpc-b/cvm-1")
    assert got == ("no-return", "NO_ROUTE", "vpc-b", "default"), got  # section 1, the pcap comment, answer 1
    assert verdict(lab, "vpc-b/cvm-1", "vpc-a/cvm-1")[0][0] == "unreachable"
    return {"NO_ROUTE"}


def g04():
    lab = model("topologies/03-hub-spokes.yaml")
    got, v = verdict(lab, "spoke-1/cvm-1", "spoke-2/cvm-1")
    assert got == ("unreachable", "NO_ROUTE", "spoke-1", "default"), got
    assert "spoke-2 is a peer of hub" in v.reason.detail and "not transitive" in v.reason.detail, v.reason.detail
    refused(lambda: lifecycle.add_route(lab, "spoke-1", "10.2.0.0/16", "pcx-hub-s1"))  # "# exit 2"
    forced_route(lab, "spoke-1", "10.2.0.0/16", "pcx-hub-s1")  # "even if it did"
    got, _ = verdict(lab, "spoke-1/cvm-1", "spoke-2/cvm-1")
    assert got[:3] == ("unreachable", "NOT_TRANSITIVE", "hub"), got
    assert verdict(lab, "spoke-1/cvm-1", "hub/db-1", "tcp", 3306)[0][0] == "reachable"
    return {"NO_ROUTE", "NOT_TRANSITIVE"}


def g05():
    lab = model("topologies/04-cross-region.yaml")
    assert verdict(lab, "gz-ops/cvm-1", "gz-app/lb-1", "tcp", 80)[0][0] == "reachable"
    got, _ = verdict(lab, "sg-app/cvm-1", "gz-app/lb-1", "tcp", 80)
    assert got[:2] == ("unreachable", "CLB_CROSS_REGION"), got
    refused(lambda: lifecycle.modify(lab, "pcx-gz-local", 20 * MBPS))  # "# exit 2"
    return {"CLB_CROSS_REGION"}


def g06():
    lab = model("topologies/05-cross-account.yaml")
    got, _ = verdict(lab, "alice-vpc/cvm-1", "bob-vpc/cvm-1")
    assert got[:3] == ("unreachable", "PEERING_NOT_ACTIVE", "alice-vpc"), got  # "in the sender's own router"
    assert refused(lambda: lifecycle.apply_event(lab, "pcx-alice-bob", "accept", "alice")) == \
        "UnsupportedOperation.VpcPeerPurviewError"
    lifecycle.apply_event(lab, "pcx-alice-bob", "accept", "bob")
    assert verdict(lab, "alice-vpc/cvm-1", "bob-vpc/cvm-1")[0][0] == "reachable"
    lifecycle.apply_event(lab, "pcx-alice-bob", "delete", "bob")
    assert verdict(lab, "alice-vpc/cvm-1", "bob-vpc/cvm-1")[0][0] == "unreachable"
    lifecycle.create(lab, "alice-vpc", "bob-vpc", name="pcx-again", account="alice")
    lifecycle.advance_clock(lab, 8 * 86400)
    assert lab.peerings["pcx-again"].state == "EXPIRED"
    assert refused(lambda: lifecycle.apply_event(lab, "pcx-again", "accept", "bob")) == \
        "UnsupportedOperation.VpcPeerInvalidStateChange"
    return {"PEERING_NOT_ACTIVE", "UnsupportedOperation.VpcPeerPurviewError",
            "UnsupportedOperation.VpcPeerInvalidStateChange"}


def g07():
    lab = model("lab/07-quotas/start.yaml")
    assert refused(lambda: lifecycle.create(lab, "hub", "analytics", name="pcx-hub-an")) == \
        "LimitExceeded.VpcPeerTotalLimitExceeded"
    assert refused(lambda: lifecycle.apply_event(lab, "pcx-hub-legacy", "reject", "corp")) == \
        "UnsupportedOperation.VpcPeerPurviewError"  # as hub's owner
    lifecycle.apply_event(lab, "pcx-hub-legacy", "delete", "corp")
    lifecycle.create(lab, "hub", "analytics", name="pcx-hub-an")
    assert refused(lambda: lifecycle.create(lab, "analytics", "hub")) == "UnsupportedOperation.VpcPeerAlreadyExist"
    assert refused(lambda: lifecycle.create(lab, "hub", "dr-sg", 50 * MBPS)) == \
        "UnsupportedOperation.VpcPeerCidrConflict"
    return {"LimitExceeded.VpcPeerTotalLimitExceeded", "UnsupportedOperation.VpcPeerPurviewError",
            "UnsupportedOperation.VpcPeerAlreadyExist", "UnsupportedOperation.VpcPeerCidrConflict"}


def g08():
    lab = model("lab/08-clb/start.yaml")
    got, _ = verdict(lab, "sg-app/cvm-1", "gz-app/lb-1", "tcp", 80)
    assert got[:2] == ("unreachable", "CLB_CROSS_REGION"), got
    text = (ROOT / "lab/08-clb/start.yaml").read_text()
    assert "backends: [cvm-1, cvm-2]" in text
    with pytest.raises(TopologyInvalid) as e:  # section 2's copy
        loader.loads(text.replace("backends: [cvm-1, cvm-2]", "backends: [cvm-1, cvm-2, gz-ops/cvm-1]"), "copy.yaml")
    assert [p.code for p in e.value.problems] == ["UnsupportedOperation.ClbCrossVpcBinding"]
    lifecycle.add_route(lab, "sg-app", "10.10.0.0/16", "pcx-gz-sg")  # question 2
    got, _ = verdict(lab, "sg-app/cvm-1", "gz-app/lb-1", "tcp", 80)
    assert got[:2] == ("unreachable", "CLB_CROSS_REGION"), got
    assert verdict(lab, "sg-app/cvm-1", "gz-app/cvm-1")[0][0] == "reachable"  # "only the backends answer"
    return {"CLB_CROSS_REGION", "UnsupportedOperation.ClbCrossVpcBinding"}


def g09():
    lab = model("topologies/06-internet-vs-peering.yaml")
    got, v = verdict(lab, "vpc-a/web-a", "vpc-b/cvm-b")
    assert got[0] == "reachable" and v.seen_source == "10.0.1.10", v
    assert verdict(lab, "vpc-a/web-a", "vpc-c/cvm-c")[0][0] == "unreachable"
    got, v = verdict(lab, "vpc-a/web-a", "203.0.113.30")
    assert got[0] == "reachable" and v.seen_source == "203.0.113.10", v
    got, _ = verdict(lab, "vpc-c/lone-c", "internet/web", "tcp", 80)
    assert got[:2] == ("unreachable", "NO_PUBLIC_IP"), got
    return {"NO_PUBLIC_IP"}


def g10():
    lab = model("topologies/07-security-groups.yaml")
    assert verdict(lab, "vpc-b/cvm-b", "vpc-a/web-1", "tcp", 80)[1].note is None  # web-1 listens on tcp/80
    got, v = verdict(lab, "vpc-b/cvm-b", "vpc-a/web-1")
    assert got[:3] == ("unreachable", "SECURITY_GROUP_DENY", "vpc-a/web-1"), got
    assert (v.reason.group, v.reason.direction, v.reason.rule) == ("sg-web", "ingress", None)  # no rule matched
    got, v = verdict(lab, "vpc-a/web-1", "vpc-a/db-1")
    assert got[:2] == ("no-return", "NETWORK_ACL_DENY") and v.reason.direction == "outbound", got
    assert verdict(lab, "vpc-a/web-1", "vpc-a/db-1", "tcp", 3306)[0][0] == "reachable"
    lab = model("lab/10-filters/start.yaml")  # the exercise: answer 2
    got, v = verdict(lab, "vpc-a/cvm-a", "vpc-b/web-1", "tcp", 80)
    assert got[:3] == ("no-return", "NETWORK_ACL_DENY", "vpc-b/web"), got
    assert (v.reason.acl, v.reason.direction, v.reason.rule) == ("acl-web", "outbound", None), v.reason
    assert v.note is None, v.note  # web-1 listens: the SYN-ACK is what the ACL drops
    return {"NETWORK_ACL_DENY", "SECURITY_GROUP_DENY"}


def g11():
    from vpclab.model import ccn_ops

    lab = model("lab/11-peering-or-ccn/start.yaml")
    got, v = verdict(lab, "spoke-1/cvm-1", "spoke-3/cvm-1")
    assert got == ("unreachable", "NO_ROUTE", "spoke-1", "default"), got  # section 1
    assert "not transitive" in v.reason.detail, v.reason.detail
    assert refused(lambda: lifecycle.add_route(lab, "spoke-1", "10.3.0.0/16", "pcx-hub-s1")) == \
        "InvalidParameterValue.CidrNotInPeerVpc"
    assert refused(lambda: lifecycle.create(lab, "spoke-1", "spoke-3", name="pcx-s1-s3")) == \
        "LimitExceeded.VpcPeerTotalLimitExceeded"
    c = ccn_ops.create(lab, "ccn-spokes")  # section 2
    assert c.account == "corp"
    assert [ccn_ops.attach(lab, "ccn-spokes", v).state for v in ("spoke-1", "spoke-2")] == ["ACTIVE", "ACTIVE"]
    assert verdict(lab, "spoke-1/cvm-1", "spoke-2/cvm-1")[0][0] == "reachable"
    assert verdict(lab, "spoke-2/cvm-1", "spoke-1/cvm-1")[0][0] == "reachable"
    got, _ = verdict(lab, "spoke-3/cvm-1", "spoke-1/cvm-1")
    assert got == ("unreachable", "NO_ROUTE", "spoke-3", "default"), got  # question 1
    assert ccn_ops.attach(lab, "ccn-spokes", "spoke-3", "logistics").state == "PENDING"  # the exercise's note
    got, _ = verdict(lab, "spoke-1/cvm-1", "spoke-3/cvm-1")
    assert got[:2] == ("unreachable", "CCN_ATTACHMENT_NOT_ACTIVE"), got
    assert refused(lambda: ccn_ops.accept(lab, "ccn-spokes", "spoke-3", "logistics")) == "UnauthorizedOperation"
    ccn_ops.accept(lab, "ccn-spokes", "spoke-3", "corp")  # answer 2
    assert verdict(lab, "spoke-3/cvm-1", "spoke-1/cvm-1")[0][0] == "reachable"
    return {"NO_ROUTE", "InvalidParameterValue.CidrNotInPeerVpc", "LimitExceeded.VpcPeerTotalLimitExceeded",
            "CCN_ATTACHMENT_NOT_ACTIVE"}


def g12():
    from vpclab.model import ccn_ops

    lab = model("lab/12-route-conflicts/start.yaml")
    assert verdict(lab, "ops/cvm-1", "prod/cvm-1")[0][0] == "reachable"
    got, v = verdict(lab, "ops/cvm-1", "analytics/cvm-1")
    assert got[:3] == ("unreachable", "CCN_ROUTE_DISABLED", "ccn-core"), got  # section 1
    assert "10.8.1.0/24@analytics" in v.reason.detail and "prod" in v.reason.detail, v.reason.detail
    got, _ = verdict(lab, "analytics/cvm-1", "ops/cvm-1")
    assert got[:2] == ("no-return", "CCN_ROUTE_DISABLED"), got  # answer 2
    assert refused(lambda: ccn_ops.enable_route(lab, "ccn-core", "10.8.0.0/20@staging")) == \
        "UnsupportedOperation.CcnRouteCidrOverlap"
    ccn_ops.enable_route(lab, "ccn-core", "10.8.1.0/24@analytics")  # inclusive: allowed (the table)
    for src, dst in (("ops", "analytics"), ("analytics", "ops"), ("ops", "prod"), ("prod", "ops")):
        assert verdict(lab, f"{src}/cvm-1", f"{dst}/cvm-1")[0][0] == "reachable", (src, dst)
    return {"CCN_ROUTE_DISABLED", "UnsupportedOperation.CcnRouteCidrOverlap"}


def readme():
    lab = model("topologies/02-one-way-route.yaml")
    got, _ = verdict(lab, "vpc-a/cvm-1", "vpc-b/cvm-1")
    assert got[:3] == ("no-return", "NO_ROUTE", "vpc-b"), got
    return {"NO_ROUTE"}


def readme_section() -> str:
    text = (ROOT / "lab" / "README.md").read_text()
    return text.split("## Reading `ip rule` and `ip route` in a lab")[1].split("\n## ")[0]


CLAIMS = {"01-isolation": g01, "02-first-peering": lambda: set(), "03-return-route": g03, "04-no-transit": g04,
          "05-cross-region": g05, "06-cross-account": g06, "07-quotas": g07, "08-clb": g08,
          "09-internet-vs-peering": g09, "10-filters": g10, "11-peering-or-ccn": g11, "12-route-conflicts": g12,
          "README.md": readme}


def guide_text(name: str) -> str:
    return readme_section() if name == "README.md" else (ROOT / "lab" / name / "guide.md").read_text()


def test_every_guide_has_its_claims():
    assert set(CLAIMS) - {"README.md"} == {p.parent.name for p in (ROOT / "lab").glob("[0-9][0-9]-*/guide.md")}


@pytest.mark.parametrize("name", list(CLAIMS))
def test_what_a_guide_says_the_tool_says(name):
    checked = CLAIMS[name]()
    named = set(CODE.findall(guide_text(name)))
    assert named <= checked, f"{name} names {sorted(named - checked)}, which no claim checks against the tool"
    assert checked <= named, f"{name}: claims check {sorted(checked - named)}, which the guide does not name"


def test_the_readme_counts_and_lists_every_lab():
    labs = sorted(p.parent.name for p in (ROOT / "lab").glob("[0-9][0-9]-*/guide.md"))
    text = (ROOT / "README.md").read_text()
    words = {8: "Eight", 9: "Nine", 10: "Ten", 11: "Eleven", 12: "Twelve"}
    assert f"{words[len(labs)]} numbered labs" in text
    listed = re.findall(r"^\d+\. \[[^\]]+\]\(lab/([0-9][0-9]-[\w-]+)/guide\.md\)", text, re.M)
    assert listed == labs


def test_the_line_a_listener_answers_with_is_what_lab_05_quotes_and_no_command():
    from vpclab.kernel.services.daemon import _Bound
    from vpclab.plan.objects import Service

    line = _Bound(Service("ns", "gz-app/cvm-1", "listener", "10.10.1.10", 80), 0, None, None).line("tcp").decode()
    assert not line.startswith("vpclab ")  # it read like a command to type (issue 22)
    assert f"`{line.strip()}`" in (ROOT / "lab/05-cross-region/guide.md").read_text()


def test_every_server_an_exercise_or_a_guide_asks_on_a_port_listens():
    """A check item or a guide command to a TCP/UDP port is about a server: it listens there
    (`listen:`, a cdb, a clb, an Internet host's ports), or a real client would get `Connection
    refused` whatever the student fixes (lab 10's web-1 had no listener: issue 22)."""
    from vpclab.exercises import catalog
    from vpclab.model import listeners

    def listens(lab, ref, proto, port):
        inst = lab.instance(ref)
        if inst is not None:
            return listeners.listens(lab, inst, proto, port)
        host = lab.internet.host(ref) if lab.internet is not None else None
        return host is not None and port in host.ports

    closed = []
    for ex in catalog.all_exercises(ROOT / "lab"):
        lab = loader.load(str(ex.start))
        for i in ex.items:
            s = i.spec
            if i.kind == "probe" and s.get("proto", "icmp") != "icmp" and not listens(lab, s["to"], s["proto"], s["port"]):
                closed.append(f"{ex.slug} {i.id}: {s['to']} {s['proto']}/{s['port']}")
    topo = re.compile(r"(?:topologies/[\w.-]+|lab/\d\d-[\w-]+/start)\.yaml")
    for guide in sorted((ROOT / "lab").glob("[0-9][0-9]-*/guide.md")):
        text = guide.read_text()
        for line in re.findall(r"^vpclab (?:probe|explain) .*--port .*$", text, re.M):
            words = line.split("#")[0].split()
            file = words[words.index("-f") + 1] if "-f" in words else topo.search(text).group(0)
            lab = loader.load(str(ROOT / file))
            proto, port = words[words.index("--proto") + 1], int(words[words.index("--port") + 1])
            if not listens(lab, words[3], proto, port):
                closed.append(f"{guide.parent.name}: {line}")
    assert closed == []
