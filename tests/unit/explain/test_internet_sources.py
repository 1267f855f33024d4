"""`explain` from an Internet host (TOPOLOGY.md v3, "Internet hosts as sources"), and `expect:`
entries that start there.

Worked out by hand from TOPOLOGY.md / CLOUD-RULES.md: the Internet reaches an instance only
through its EIP (DNAT to the private address, then the subnet's ACL inbound and the instance's
security groups, which see the host's own address); the reply leaves through the same EIP (the
subnet's ACL outbound, stateless); a private address is not routed on the Internet.
"""
from __future__ import annotations

import copy

import pytest

from topobuild import codes, load, problems, topo, vpc
from vpclab import explain as analyze
from vpclab.controller import explaining
from vpclab.errors import Refused
from vpclab.model import rules

WEB, HOST_IP = "internet/client", "203.0.113.200"
A, B = "vpc-a/web-1", "vpc-a/priv-1"
OPEN_443 = {"proto": "tcp", "port": 443, "source": "0.0.0.0/0", "action": "accept"}
ALL_OUT = [{"proto": "all", "destination": "0.0.0.0/0", "action": "accept"}]


def lab_doc(ingress=(OPEN_443,), acl=None, expect=None) -> dict:
    """vpc-a: web-1 (EIP 203.0.113.10, group sg-web) and priv-1 (no EIP); one Internet host."""
    a = vpc(0, instances={"web-1": {"subnet": "app", "ip": "10.0.1.10", "eip": "203.0.113.10",
                                    "security_groups": ["sg-web"]},
                          "priv-1": {"subnet": "app", "ip": "10.0.1.11"}})
    a["security_groups"] = {"sg-web": {"ingress": list(ingress), "egress": ALL_OUT}}
    if acl is not None:
        a["network_acls"] = {"acl-app": dict(acl, subnets=["app"])}
    t = topo({"vpc-a": a}, expect=expect)
    t["internet"] = {"hosts": {"client": {"ip": HOST_IP, "ports": [443]},
                               "other": {"ip": "203.0.113.201", "ports": []}}}
    return t


def ex(lab, src, dst, proto="icmp", port=None) -> dict:
    return analyze.explain(lab, src, dst, proto, port).to_json()


def test_an_instance_named_from_the_internet_is_reached_through_its_eip():
    doc = ex(load(lab_doc()), WEB, A, "tcp", 443)
    assert doc["result"] == "reachable"
    assert doc["dst"] == A  # named as asked
    assert doc["forward"]["path"] == [WEB, "internet", "vpc-a", A]
    assert doc["return"]["path"] == [A, "vpc-a", "internet", WEB]  # back out through the EIP
    assert doc["seen_source"] == HOST_IP  # DNAT only: the instance sees the host's own address
    # the same question asked at the EIP gives the same answer
    by_eip = ex(load(lab_doc()), WEB, "203.0.113.10", "tcp", 443)
    assert (by_eip["result"], by_eip["seen_source"], by_eip["forward"]["path"]) == \
        ("reachable", HOST_IP, [WEB, "internet", "vpc-a", A])


def test_an_instance_without_an_eip_is_not_reachable_from_the_internet():
    doc = ex(load(lab_doc()), WEB, B)
    assert doc["result"] == "unreachable"
    r = doc["reason"]
    assert (r["code"], r["where"]) == ("NO_PUBLIC_IP", "internet")
    assert B in r["detail"] and "no EIP" in r["detail"] and "10.0.1.11" in r["detail"]
    assert doc["forward"] == {"delivered": False, "last_hop": "internet", "path": [WEB, "internet"]}
    assert doc["seen_source"] is None


def test_a_private_address_from_the_internet_is_unreachable_and_says_why():
    doc = ex(load(lab_doc()), WEB, "10.0.1.10", "tcp", 443)
    assert doc["result"] == "unreachable"
    assert (doc["reason"]["code"], doc["reason"]["where"]) == ("NO_ROUTE", "internet")
    assert "private address" in doc["reason"]["detail"]


def test_the_security_group_applies_on_the_way_in_and_sees_the_host_address():
    lab = load(lab_doc())
    ssh = ex(lab, WEB, A, "tcp", 22)
    assert ssh["result"] == "unreachable"
    r = ssh["reason"]
    assert (r["code"], r["where"], r["group"], r["direction"], r["rule"]) == \
        ("SECURITY_GROUP_DENY", A, "sg-web", "ingress", None)
    assert ssh["seen_source"] == HOST_IP and HOST_IP in r["detail"]
    # a rule for private sources only does not admit the Internet host
    private_only = load(lab_doc([{"proto": "tcp", "port": 443, "source": "10.0.0.0/8", "action": "accept"}]))
    assert ex(private_only, WEB, A, "tcp", 443)["reason"]["code"] == "SECURITY_GROUP_DENY"
    # and one naming the host's address does
    exact = load(lab_doc([{"proto": "tcp", "port": 443, "source": f"{HOST_IP}/32", "action": "accept"}]))
    assert ex(exact, WEB, A, "tcp", 443)["result"] == "reachable"


def test_the_subnet_acl_applies_inbound_and_the_reply_outbound():
    deny_in = {"inbound": [{"proto": "all", "source": "203.0.113.0/24", "action": "drop"}],
               "outbound": ALL_OUT}
    doc = ex(load(lab_doc(acl=deny_in)), WEB, A, "tcp", 443)
    r = doc["reason"]
    assert (doc["result"], r["code"], r["where"], r["acl"], r["direction"], r["rule"]) == \
        ("unreachable", "NETWORK_ACL_DENY", "vpc-a/app", "acl-app", "inbound", 0)
    # stateless: without a rule for the reply (to the host's ephemeral port) it is lost leaving the subnet
    no_reply = {"inbound": [{"proto": "all", "source": "0.0.0.0/0", "action": "accept"}],
                "outbound": [{"proto": "tcp", "port": "1-1023", "destination": "0.0.0.0/0", "action": "accept"}]}
    doc = ex(load(lab_doc(acl=no_reply)), WEB, A, "tcp", 443)
    r = doc["reason"]
    assert (doc["result"], r["code"], r["acl"], r["direction"]) == ("no-return", "NETWORK_ACL_DENY", "acl-app",
                                                                     "outbound")
    assert doc["return"]["path"] == [A, "vpc-a"]


def test_two_internet_hosts_are_refused_as_a_question():
    lab = load(lab_doc())
    for dst in ("internet/other", "203.0.113.201"):
        v = rules.check_probe_ends(lab, WEB, dst)
        assert [x.code for x in v] == ["InvalidParameterValue"] and "both are hosts" in v[0].message


def test_explain_from_a_file_takes_an_internet_source(tmp_path):
    from topobuild import text

    path = tmp_path / "t.yaml"
    path.write_text(text(lab_doc()))
    v = explaining.explain(WEB, A, "tcp", 443, file=str(path))
    assert (v.result, v.dst, v.seen_source) == ("reachable", A, HOST_IP)
    with pytest.raises(Refused) as e:
        explaining.explain(WEB, "internet/other", file=str(path))
    assert e.value.code == "InvalidParameterValue"


# ---- `expect:` from an Internet host ---------------------------------------------------------------


def test_an_expectation_may_start_at_an_internet_host():
    exp = [{"from": WEB, "to": A, "proto": "tcp", "port": 443},
           {"from": WEB, "to": B, "result": "unreachable"}]
    lab = load(lab_doc(expect=exp))
    assert [(e.src, e.dst, e.result) for e in lab.expectations] == [(WEB, A, "reachable"), (WEB, B, "unreachable")]
    for e in lab.expectations:
        assert analyze.explain(lab, e.src, e.dst, e.proto, e.port).result == e.result


def test_an_expectation_from_an_unknown_host_or_a_public_address_is_refused():
    bad = lab_doc(expect=[{"from": "internet/nobody", "to": A}])
    assert codes(bad) == ["ResourceNotFound"]
    assert "no such Internet host" in problems(bad)[0].message
    addr = lab_doc(expect=[{"from": HOST_IP, "to": A}])
    ps = problems(addr)
    assert [p.code for p in ps] == ["InvalidParameterValue"] and "public address" in ps[0].message
    both = lab_doc(expect=[{"from": WEB, "to": "internet/other"}])
    assert codes(copy.deepcopy(both)) == ["InvalidParameterValue"]


def test_a_stored_model_keeps_an_expectation_from_an_internet_host():
    from vpclab.model import codec

    lab = load(lab_doc(expect=[{"from": WEB, "to": A, "proto": "tcp", "port": 443}]))
    back = codec.lab_from_dict(codec.lab_to_dict(lab))
    assert [(e.src, e.dst) for e in back.expectations] == [(WEB, A)]
