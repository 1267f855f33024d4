"""Version 2 on real namespaces and real packets: security groups, a network ACL, EIPs, a NAT
gateway and the lab's Internet (tests/kernel/internet.yaml, under a random lab name each).

The verdicts come from the probe engine (plain sockets, captures); the rule that dropped a
packet comes from the nft counters the kernel keeps, read by its RuleRef comment. Where a
test must see the source address the destination saw, it connects a real TCP socket from
the source namespace to a socket listening in the destination namespace.
"""
from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from labkit import ROOT, needs_root, run

pytestmark = [pytest.mark.kernel, needs_root]

from vpclab.kernel import nsenter  # noqa: E402
from vpclab.plan import names as N  # noqa: E402
from vpclab.probe.engine import CapturePoint, ProbeSpec, capture_probe, fast_probe  # noqa: E402

TOPO = Path(__file__).parent.parent / "internet.yaml"
WEB, PRIV, ACL = ("vpc-a", "web-1", "10.0.1.10"), ("vpc-a", "priv-1", "10.0.2.10"), ("vpc-a", "acl-1", "10.0.3.10")
B, C = ("vpc-b", "cvm-1", "10.1.1.10"), ("vpc-c", "cvm-1", "10.2.1.10")
WEB_EIP, C_EIP, NAT_EIP, INTERNET_WEB = "203.0.113.10", "203.0.113.30", "203.0.113.20", "203.0.113.200"


@pytest.fixture(scope="module", autouse=True)
def _nft():
    from vpclab.kernel import nft

    ok, why = nft.available() if ROOT else (True, "")
    if not ok:
        pytest.skip(why)


def ns(lab, inst):
    return N.instance_ns(lab, inst[0], inst[1])


def probe(lab, src, dst_ip, proto="icmp", port=None, timeout=1.0):
    return fast_probe([ProbeSpec(ns(lab, src), src[2], dst_ip, proto, port)], timeout=timeout)[0]


def counters(namespace):
    from vpclab.kernel import nft

    return nft.counters(namespace)


def seen_source(lab, src_ns, dst_ns, dst_bind, dst_ip, port):
    """Connect from `src_ns` to dst_ip:port while `dst_ns` listens on dst_bind:port; the peer
    address the listener saw (None: no connection)."""
    def listener():
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((dst_bind, port))
        s.listen(4)
        s.settimeout(3)
        return s

    def client():
        return socket.socket()

    lst = nsenter.run_in(dst_ns, listener)
    cli = nsenter.run_in(src_ns, client)
    try:
        cli.settimeout(3)
        try:
            cli.connect((dst_ip, port))
        except OSError:
            return None
        conn, addr = lst.accept()
        conn.close()
        return addr[0]
    finally:
        cli.close()
        lst.close()


def test_security_group_allows_tcp80_but_not_icmp_from_the_peer(mklab):
    lab, _ = mklab(TOPO)
    web = ns(lab, WEB)
    before = counters(web)
    assert probe(lab, B, WEB[2], "tcp", 80).replied  # RST from the closed port: the path is open
    out = probe(lab, B, WEB[2])
    assert not out.replied
    after = counters(web)
    drop = "vpclab sg vpc-a/web-1 ingress -"  # no rule matched: the group's default drop
    assert after[drop][0] > before[drop][0]
    assert after["vpclab sg vpc-a/sg-web ingress 0"][0] > before["vpclab sg vpc-a/sg-web ingress 0"][0]
    # the ICMP request did reach the instance's namespace: the group, not the route, dropped it
    cap = capture_probe([ProbeSpec(ns(lab, B), B[2], WEB[2], "icmp")],
                        [[CapturePoint(web, None, "web-1")]], timeout=1.0)[0]
    assert cap.request_seen == ["web-1"] and not cap.replied


def test_acl_without_a_reply_rule_is_no_return_by_packets(mklab):
    lab, _ = mklab(TOPO)
    dst = ns(lab, ACL)
    router = N.vpc_ns(lab, "vpc-a")
    before = counters(router)
    out = capture_probe([ProbeSpec(ns(lab, WEB), WEB[2], ACL[2], "icmp")], [[CapturePoint(dst, None, "acl-1")]],
                        timeout=1.0)[0]
    assert out.request_seen == ["acl-1"], "the inbound rule lets the request in"
    assert "acl-1" in out.reply_seen and not out.replied, "the reply leaves acl-1 and dies at the boundary"
    after = counters(router)
    key = "vpclab acl vpc-a/acl-in-only outbound - acl"
    assert after[key][0] > before[key][0]
    assert after["vpclab acl vpc-a/acl-in-only inbound 0 acl"][0] > before["vpclab acl vpc-a/acl-in-only inbound 0 acl"][0]
    # TCP out of the subnet is allowed by its outbound rule (the request's inbound side is not: no-reply)
    assert not probe(lab, WEB, ACL[2], "tcp", 22).replied


def test_unpeered_vpcs_reach_each_other_over_eips_and_see_the_senders_eip(mklab):
    lab, _ = mklab(TOPO)
    assert not probe(lab, C, WEB[2]).replied  # no peering: the private address is unreachable
    assert probe(lab, C, WEB_EIP, "tcp", 80).replied
    assert probe(lab, WEB, C_EIP).replied
    # the listener sees the sender's EIP, in both directions
    assert seen_source(lab, ns(lab, C), ns(lab, WEB), WEB[2], WEB_EIP, 80) == C_EIP
    assert seen_source(lab, ns(lab, WEB), ns(lab, C), C[2], C_EIP, 8080) == WEB_EIP
    # and over the peering the private address
    assert seen_source(lab, ns(lab, B), ns(lab, WEB), WEB[2], WEB[2], 80) == B[2]


def test_private_instance_reaches_the_internet_only_through_a_nat_gateway(mklab):
    lab, _ = mklab(TOPO)
    internet = N.internet_ns(lab)
    assert not probe(lab, PRIV, INTERNET_WEB, "tcp", 80).replied
    assert probe(lab, C, INTERNET_WEB, "tcp", 80).replied  # the Internet host is there (EIP source)
    run("route", "add", "vpc-a", "--lab", lab, "--destination", "0.0.0.0/0", "--next-hop", "nat-1",
        "--table", "private", check=0)
    assert probe(lab, PRIV, INTERNET_WEB, "tcp", 80).replied
    assert seen_source(lab, ns(lab, PRIV), internet, INTERNET_WEB, INTERNET_WEB, 8081) == NAT_EIP
    # the EIP instance keeps its own address: its subnet's table does not route to the NAT gateway
    assert seen_source(lab, ns(lab, WEB), internet, INTERNET_WEB, INTERNET_WEB, 8082) == WEB_EIP
    run("route", "del", "vpc-a", "--lab", lab, "--destination", "0.0.0.0/0", "--table", "private", check=0)
    assert not probe(lab, PRIV, INTERNET_WEB, "tcp", 80).replied


def test_a_peer_vpc_cannot_use_the_nat_gateway_through_the_peering(mklab):
    """The cloud's rules refuse a route to a public range over a peering, so the test adds one by
    hand in vpc-b's router (the lab's own namespace): vpc-a's router must still drop what arrives."""
    from vpclab.kernel import netns
    from vpclab.plan.numbers import link_addresses, table_ids

    lab, _ = mklab(TOPO)
    run("route", "add", "vpc-a", "--lab", lab, "--destination", "0.0.0.0/0", "--next-hop", "nat-1",
        "--table", "private", check=0)
    b_router, a_router = N.vpc_ns(lab, "vpc-b"), N.vpc_ns(lab, "vpc-a")
    port = N.peering_port(lab, "pcx-ab")
    from vpclab.controller import status

    model = status.load_model(lab)
    req, _ = link_addresses(model.peerings["pcx-ab"])
    with netns.iproute(b_router) as ipr:
        ipr.route("add", dst="203.0.113.0/24", gateway=req, oif=ipr.link_lookup(ifname=port)[0],
                  table=table_ids(model.vpcs["vpc-b"])["default"])
    out = capture_probe([ProbeSpec(ns(lab, B), B[2], INTERNET_WEB, "tcp", 80)],
                        [[CapturePoint(a_router, port, "vpc-a"), CapturePoint(N.internet_ns(lab), None, "internet")]],
                        timeout=1.0)[0]
    assert out.request_seen == ["vpc-a"], "it reaches vpc-a's router over the peering, and no further"
    assert not out.replied
    assert probe(lab, PRIV, INTERNET_WEB, "tcp", 80).replied  # while vpc-a's own subnet uses the gateway


def _root_snapshot():
    from pyroute2 import IPRoute

    from vpclab.kernel import nft

    with IPRoute() as ipr:
        addrs = sorted((a["index"], a.get_attr("IFA_ADDRESS"), a["prefixlen"]) for a in ipr.get_addr())
        routes = sorted(json.dumps([r["table"], r.get_attr("RTA_DST"), r["dst_len"], r.get_attr("RTA_OIF"),
                                    r.get_attr("RTA_GATEWAY"), r["type"]]) for r in ipr.get_routes(family=socket.AF_INET))
        rules = sorted(json.dumps([r.get_attr("FRA_PRIORITY"), r.get_attr("FRA_TABLE"), r["src_len"]])
                       for r in ipr.get_rules(family=socket.AF_INET))
        links = sorted((l["index"], l.get_attr("IFLA_IFNAME")) for l in ipr.get_links())
    ctx = nft._module().Nftables()  # the host's own ruleset: only listed, never changed
    ctx.set_json_output(True)
    _, text, _ = ctx.cmd("list ruleset")
    ruleset = [o for o in json.loads(text)["nftables"] if "metainfo" not in o] if text else []
    return {"addrs": addrs, "routes": routes, "rules": rules, "links": links, "nft": json.dumps(ruleset, sort_keys=True)}


def test_the_root_namespace_is_unchanged_and_nothing_routes_to_the_labs_internet(mklab):
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    before = _root_snapshot()
    lab, _ = mklab(TOPO)
    time.sleep(0.2)
    during = _root_snapshot()
    for what in ("addrs", "routes", "rules", "links", "nft"):
        assert during[what] == before[what], what
    # a route lookup from the host for the lab's public range never names a lab device (no packet sent)
    with IPRoute() as ipr:
        names = {l["index"]: l.get_attr("IFLA_IFNAME") for l in ipr.get_links()}
        for dst in (INTERNET_WEB, WEB_EIP, NAT_EIP):
            try:
                found = ipr.route("get", dst=dst)
            except NetlinkError:
                continue  # unreachable from the host: fine
            for r in found:
                dev = names.get(r.get_attr("RTA_OIF"), "")
                assert not dev.startswith(f"{lab}-"), (dst, dev)
    # the Internet namespace has no link but those to the lab's own routers
    from vpclab.kernel import netns

    with netns.iproute(N.internet_ns(lab)) as ipr:
        devs = sorted(l.get_attr("IFLA_IFNAME") for l in ipr.get_links())
    assert devs == sorted(["lo", N.internet_port(lab, "vpc-a"), N.internet_port(lab, "vpc-c")])
    run("down", lab, check=0)
    after = _root_snapshot()
    for what in ("addrs", "routes", "rules", "nft"):
        assert after[what] == before[what], what


def test_a_deleted_table_is_read_back_and_repaired_by_up(mklab):
    from vpclab.controller import build, status
    from vpclab.kernel import nft
    from vpclab.kernel.handlers.nft import DELETE
    from vpclab.plan import diff

    lab, path = mklab(TOPO)
    web = ns(lab, WEB)
    assert not probe(lab, B, WEB[2]).replied
    nft.transact(web, DELETE, what="test: delete by hand")
    assert probe(lab, B, WEB[2]).replied, "without its table the instance is not filtered"
    model = status.load_model(lab)
    acts = diff.diff(build.desired(model).objects, build.actual(lab, None))
    assert [(a.op, a.obj.key) for a in acts if a.obj.key[0] == "nft"] == [("create", ("nft", web))]
    run("up", path, check=0)
    assert not probe(lab, B, WEB[2]).replied
    acts = diff.diff(build.desired(model).objects, build.actual(lab, None))
    assert [a for a in acts if a.obj.key[0] != "service"] == []


def test_a_live_group_change_replaces_one_namespaces_table_in_one_transaction(mklab):
    from vpclab.controller import operate
    from vpclab.kernel import nft
    from vpclab.model.filters import FilterRule

    lab, _ = mklab(TOPO)
    assert not probe(lab, B, WEB[2]).replied
    nft.TRANSACTIONS.clear()

    def allow_icmp(m):
        m.vpcs["vpc-a"].security_groups["sg-web"].ingress.insert(0, FilterRule("icmp", None, "10.1.0.0/16", "accept"))

    operate.execute(lab, operate.Operation("sg rule add", (), allow_icmp, lambda a: "vpc-a/sg-web"), {})
    assert dict(nft.TRANSACTIONS) == {ns(lab, WEB): 1}
    assert probe(lab, B, WEB[2]).replied
    assert counters(ns(lab, WEB))["vpclab sg vpc-a/sg-web ingress 0"][0] >= 1


def test_doctor_tries_nftables_in_a_throwaway_namespace():
    from vpclab.kernel import features

    got = {name: (ok, why) for name, ok, why in features.detect()}
    assert got["nftables"][0] is True  # this module runs only where the binding loads
    assert "security groups" in got["nftables"][1]


def test_a_version1_lab_has_no_table_and_its_read_back_lists_none(mklab):
    from labkit import TOPOLOGIES, lab_namespaces

    from vpclab.kernel import nft
    from vpclab.kernel.handlers.nft import MARK

    lab, _ = mklab(TOPOLOGIES / "01-two-vpcs.yaml")
    spaces = lab_namespaces(lab)
    assert spaces and all(nft.tables(n) == [] for n in spaces)
    assert not (Path("/run/vpclab") / lab / MARK).exists()
    lab2, _ = mklab(TOPO)
    assert (Path("/run/vpclab") / lab2 / MARK).exists()
    assert nft.tables(N.instance_ns(lab2, "vpc-a", "web-1")) == [("inet", "vpclab")]
    assert nft.tables(N.instance_ns(lab2, "vpc-a", "priv-1")) == []  # no groups: not filtered


def test_between_two_bound_subnets_both_acls_decide(mklab):
    """A live bind of the ACL to web-1's subnet too (one transaction, in vpc-a's router). TCP
    from app to acl passes app's outbound rule 0 (an accept returns) and then dies at acl's
    inbound drop: both subnets' ACLs were met, in that order."""
    from vpclab.controller import operate
    from vpclab.kernel import nft

    lab, _ = mklab(TOPO)
    router = N.vpc_ns(lab, "vpc-a")
    nft.TRANSACTIONS.clear()
    operate.execute(lab, operate.Operation("acl bind", (), lambda m: m.vpcs["vpc-a"].network_acls["acl-in-only"]
                                           .subnets.append("app"), lambda a: "vpc-a/acl-in-only"), {})
    assert dict(nft.TRANSACTIONS) == {router: 1}
    before = counters(router)
    assert not probe(lab, WEB, ACL[2], "tcp", 22).replied
    after = counters(router)
    grew = {k for k in after if after[k][0] > before.get(k, (0, 0))[0]}
    assert {"vpclab acl vpc-a/acl-in-only outbound 0 app", "vpclab acl vpc-a/acl-in-only inbound - acl"} <= grew
    assert not any(k.startswith("vpclab acl") and k.endswith(" acl") and " outbound " in k for k in grew)
    before = after
    assert not probe(lab, WEB, ACL[2]).replied  # ICMP cannot even leave app (its outbound allows tcp only)
    after = counters(router)
    key = "vpclab acl vpc-a/acl-in-only outbound - app"
    assert after[key][0] > before[key][0]
    assert after["vpclab acl vpc-a/acl-in-only inbound 0 acl"][0] == before["vpclab acl vpc-a/acl-in-only inbound 0 acl"][0]
