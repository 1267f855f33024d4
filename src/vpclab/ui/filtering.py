"""The version-2 parts of a lab the web view draws: security groups, network ACLs, NAT
gateways, EIPs and the Internet.

`controller.status` does not carry them, so the view reads them from the lab's model
(model/filters.py) and adds them to its copy of the status document:
- each VPC gains `security_groups`, `network_acls` and `nat_gateways` (rules as the state
  codec writes them: proto, ports [lo, hi] or null, peer, action);
- each instance gains `security_groups` (names, in order) and `eip` (or null);
- the document gains `internet`: null, or {"cidr", "hosts": [{"name", "ref", "ip", "ports"}]}.
- a route whose next hop is a NAT gateway of its VPC gets `nat: true` and the state
  `active` (the lifecycle code of version 1 calls any next hop that is not an ACTIVE
  peering a blackhole; a NAT gateway is always there).
A version-1 lab gets empty lists, nulls, and no Internet: it is drawn as before.
Pure: no store, no kernel.
"""
from __future__ import annotations

from ..model.types import Lab


def _rules(rules) -> list:
    return [{"proto": r.proto, "ports": list(r.ports) if r.ports else None, "peer": r.peer, "action": r.action}
            for r in rules]


def add_filtering(status: dict, model: Lab) -> dict:
    """`status` (controller.status's document) with the model's version-2 parts; changed in place."""
    for v in status["vpcs"]:
        vpc = model.vpcs.get(v["name"])
        if vpc is None:
            continue
        v["security_groups"] = [{"name": g.name, "ingress": _rules(g.ingress), "egress": _rules(g.egress),
                                 "members": [i.name for i in vpc.instances.values() if g.name in i.security_groups]}
                                for g in vpc.security_groups.values()]
        v["network_acls"] = [{"name": a.name, "subnets": list(a.subnets), "inbound": _rules(a.inbound),
                              "outbound": _rules(a.outbound)} for a in vpc.network_acls.values()]
        v["nat_gateways"] = [{"name": n.name, "eip": str(n.eip)} for n in vpc.nat_gateways.values()]
        for i in v["instances"]:
            inst = vpc.instances.get(i["name"])
            i["security_groups"] = list(inst.security_groups) if inst is not None else []
            i["eip"] = str(inst.eip) if inst is not None and inst.eip else None
    for r in status.get("routes") or []:
        vpc = model.vpcs.get(r["vpc"])
        if vpc is not None and r["next_hop"] in vpc.nat_gateways:
            r["nat"], r["state"] = True, "active"
    net = model.internet
    status["internet"] = None if net is None else {
        "cidr": str(net.cidr),
        "hosts": [{"name": h.name, "ref": h.ref, "ip": str(h.ip), "ports": list(h.ports)} for h in net.hosts.values()]}
    return status
