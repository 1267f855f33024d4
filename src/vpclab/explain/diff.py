"""`vpclab diff`: static differential reachability between two models.

Every ordered instance pair is asked ICMP and TCP on each port the destination
listens on (cdb 3306, cmem 11211, a CLB's port, and a CLB's port at its
backends), the questions `matrix` asks. Re-explaining all of them twice costs
seconds at scale, so the two models are first compared object by object, and
only the pairs a difference can reach are explained in both:

- an instance whose subnet, table, address, kind or listeners changed, or a VPC
  whose CIDR, subnets or region changed: every pair it is part of (and every
  pair whose address lies in that VPC's old or new CIDR);
- a route added, removed or re-pointed in VPC V's table T: the pairs whose
  source uses T in V and whose destination lies in the route's prefix (the
  request), and the pairs whose destination uses T in V and whose source lies
  in it (the reply);
- a peering whose state, ends or regions changed: every route through it, on
  both sides, in either model, as if that route had changed;
- a CCN change (an attachment or its state, a route enabled or disabled): as a route of
  each table it delivers into (`ccndiff.changed_prefixes`); the cause names the CCN route
  or attachment;
- a security group, network ACL or EIP change: the instances it reaches, and only the
  way it judges (a group's ingress rules what arrives, its egress rules what is sent:
  `filterdiff.touched`); a NAT gateway or the Internet changing: the whole VPC (all).

`explain` reads nothing else, so no other pair can change its verdict. Each
change names the route or peering state that made the difference, or the group or
ACL and the exact rule (index and text) that decides in each version (`causes`).
"""
from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Set, Tuple

from ..model import listeners
from ..model.types import Instance, Lab, Route
from . import ccndiff, filtered, filterdiff, questions, routes
from .answer import explain
from .verdict import REACHABLE, Verdict

Key = Tuple[str, str, str, Optional[int]]  # src, dst, proto, port


def ports(lab: Lab, inst: Instance) -> List[int]:
    """Every TCP port `inst` listens on: `listen:`, its own service, and the port of each CLB it backs."""
    return listeners.ports(lab, inst, "tcp")


def pair_questions(lab: Lab, src: Instance, dst: Instance) -> List[Tuple[str, Optional[int]]]:
    """ICMP, each TCP port dst listens on, and each UDP port of its `listen:`."""
    udp = sorted(port for proto, port in dst.listen if proto == "udp")
    return [("icmp", None)] + [("tcp", p) for p in ports(lab, dst)] + [("udp", p) for p in udp]


def _table(lab: Lab, inst: Instance) -> str:
    return lab.vpcs[inst.vpc].subnets[inst.subnet].route_table


def _inst_sig(lab: Lab, i: Instance):
    s = lab.vpcs[i.vpc].subnets.get(i.subnet)
    return (i.subnet, s.cidr if s else None, s.route_table if s else None, i.ip, i.kind, i.port, tuple(ports(lab, i)),
            tuple(sorted(i.listen)))


def _vpc_sig(lab: Lab, name: str):
    v = lab.vpcs.get(name)
    if v is None:
        return None
    return (v.cidr, v.region, tuple(sorted((s.name, s.cidr) for s in v.subnets.values())))


def _peering_sig(lab: Lab, name: str):
    p = lab.peerings.get(name)
    if p is None:
        return None
    return (p.vpc, p.peer_vpc, p.state, lab.is_cross_region(p))


def _routes(lab: Lab, vpc: str, table: str) -> Set[Tuple[ipaddress.IPv4Network, str]]:
    v = lab.vpcs.get(vpc)
    t = v.route_tables.get(table) if v else None
    return {(r.destination, r.next_hop) for r in t.routes} if t else set()


@dataclass
class Dirt:
    """What differs between two models, in the terms `explain` reads."""

    instances: Set[str] = field(default_factory=set)  # refs
    vpcs: Set[str] = field(default_factory=set)
    peerings: Set[str] = field(default_factory=set)
    prefixes: Dict[Tuple[str, str], Set[ipaddress.IPv4Network]] = field(default_factory=dict)  # (vpc, table)
    filtered: Dict[str, Set[str]] = field(default_factory=dict)  # ref -> "in"/"out" a filter change touches
    own_filters: Set[str] = field(default_factory=set)  # VPCs whose own groups, ACLs, NAT gateways or EIPs differ
    eip_owners: Dict[str, List[str]] = field(default_factory=dict)  # an EIP -> its instances in either model


def dirt(old: Lab, new: Lab) -> Dirt:
    d = Dirt()
    for name in set(old.vpcs) | set(new.vpcs):
        if _vpc_sig(old, name) != _vpc_sig(new, name):
            d.vpcs.add(name)
    for name in set(old.peerings) | set(new.peerings):
        if _peering_sig(old, name) != _peering_sig(new, name):
            d.peerings.add(name)
    internet = filterdiff.internet_changed(old, new)
    dirty = filtered.dirty_vpcs(old, new)  # version 2: groups, ACLs, EIPs, NAT gateways, the Internet
    d.own_filters = filtered.filter_changed_vpcs(old, new) if internet else set(dirty)
    for lab in (old, new):
        for i in lab.instances():
            if i.eip is not None and i.ref not in d.eip_owners.setdefault(str(i.eip), []):
                d.eip_owners[str(i.eip)].append(i.ref)
    for name in dirty:
        refs = None if internet else filterdiff.touched(old, new, name)
        if refs is None:
            d.vpcs.add(name)
        else:
            d.filtered.update(refs)  # only the instances (and ways) a group, ACL or EIP change reaches
    oi = {i.ref: i for i in old.instances()}
    for i in new.instances():
        if i.ref in oi and _inst_sig(old, oi[i.ref]) != _inst_sig(new, i):
            d.instances.add(i.ref)
    for name in set(old.vpcs) & set(new.vpcs):
        for t in set(old.vpcs[name].route_tables) | set(new.vpcs[name].route_tables):
            a, b = _routes(old, name, t), _routes(new, name, t)
            changed = {dst for dst, _ in a ^ b} | {dst for dst, hop in a | b if hop in d.peerings}
            if changed:
                d.prefixes[(name, t)] = changed
    for key, nets in ccndiff.changed_prefixes(old, new).items():  # version 3: what a CCN delivers changed
        d.prefixes.setdefault(key, set()).update(nets)
    return d


def candidates(old: Lab, new: Lab, d: Dirt) -> Set[Tuple[str, str]]:
    """(src, dst) refs of the instances in both models whose verdicts a difference can reach."""
    oi = {i.ref for i in old.instances()}
    common = [i for i in new.instances() if i.ref in oi]
    out: Set[Tuple[str, str]] = set()
    cidrs = [m.vpcs[v].cidr for v in d.vpcs for m in (old, new) if v in m.vpcs]
    whole = {i.ref for i in common if i.ref in d.instances or i.vpc in d.vpcs
             or any(i.ip in c for c in cidrs)}  # not dirty: the same address in both models
    refs = [i.ref for i in common]
    for w in whole:
        out.update((w, r) for r in refs if r != w)
        out.update((r, w) for r in refs if r != w)
    for w, ways in d.filtered.items():  # a filter change: what it sends ("out"), what arrives at it ("in")
        if w in refs and w not in whole:
            out.update((w, r) for r in refs if r != w and "out" in ways)
            out.update((r, w) for r in refs if r != w and "in" in ways)
    for (vpc, table), nets in d.prefixes.items():
        users = [i.ref for i in common if i.vpc == vpc and _table(new, i) == table]
        inside = [i.ref for i in common if any(i.ip in n for n in nets)]
        for u in users:
            for x in inside:
                if u != x:
                    out.add((u, x))  # u's request to x leaves by this table
                    out.add((x, u))  # u's reply to x leaves by this table
    return out


# ---- why a verdict changed -------------------------------------------------------------------


def _route_text(r: Optional[Route]) -> str:
    return f"{r.destination} via {r.next_hop}" if r else "no route"


def _peer_state(lab: Lab, name: str) -> str:
    p = lab.peerings.get(name)
    return p.state if p else "absent"


def _leg_causes(old: Lab, new: Lab, frm: str, to: str, leg: str) -> List[dict]:
    """What changed in the route the instance `frm` uses towards `to`'s address."""
    out = []
    fo, fn, to_o, to_n = old.instance(frm), new.instance(frm), old.instance(to), new.instance(to)
    if None in (fo, fn, to_o, to_n):  # a public end (an EIP, an Internet host): no route of its own here
        return out
    vpc = new.vpcs[fn.vpc]
    table = _table(new, fn)
    if to_n.ip in vpc.cidr:
        return out
    ro = (routes.lookup(old.vpcs[fo.vpc], _table(old, fo), to_o.ip, old) if to_o.ip not in old.vpcs[fo.vpc].cidr
          else None)
    rn = routes.lookup(vpc, table, to_n.ip, new)  # a CCN's delivered routes too (version 3)
    where = f"{fn.vpc}/{table}"
    if (ro and (ro.destination, ro.next_hop)) != (rn and (rn.destination, rn.next_hop)):
        if ro is None:
            detail = f"route {_route_text(rn)} added to {where}"
        elif rn is None:
            detail = f"route {_route_text(ro)} removed from {where}"
        else:
            detail = f"{where} now sends {to_n.ip} by {_route_text(rn)} (was {_route_text(ro)})"
        out.append({"kind": "route", "leg": leg, "where": where,
                    "old": _route_text(ro), "new": _route_text(rn), "detail": detail})
    hops = {r.next_hop for r in (ro, rn) if r is not None}
    for hop in sorted(hops):
        so, sn = _peer_state(old, hop), _peer_state(new, hop)
        if so != sn or _peering_sig(old, hop) != _peering_sig(new, hop):
            what = f"peering {hop} is {sn} (was {so})" if so != sn else f"peering {hop} changed ends or regions"
            out.append({"kind": "peering", "leg": leg, "where": hop, "old": so, "new": sn,
                        "detail": f"{what}; {where} routes {to_n.ip} through it"})
    return out + ccndiff.leg_causes(old, new, (fo, fn), (to_o, to_n), leg)  # an attachment, a CCN route


def _changes(before: dict, after: dict) -> str:
    """'kind cvm -> cdb, ip 10.0.1.2 -> 10.0.1.5' for the keys whose values differ."""
    return ", ".join(f"{k} {_text(before.get(k))} -> {_text(after.get(k))}"
                     for k in before if before.get(k) != after.get(k)) or "changed"


def _text(v) -> str:
    if isinstance(v, (list, tuple, set)):
        return "[" + ", ".join(str(x) for x in v) + "]"
    return "none" if v is None else str(v)


def _instance_view(lab: Lab, ref: str) -> dict:
    i = lab.instance(ref)
    return {"subnet": i.subnet, "table": _table(lab, i), "ip": i.ip, "kind": i.kind, "ports": ports(lab, i)}


def _vpc_view(lab: Lab, name: str) -> dict:
    v = lab.vpcs[name]
    return {"cidr": v.cidr, "region": v.region, "subnets": sorted(f"{s.name} {s.cidr}" for s in v.subnets.values())}


def causes(old: Lab, new: Lab, src: str, dst: str, d: Dirt, vo: Optional[Verdict] = None,
           vn: Optional[Verdict] = None) -> List[dict]:
    """Routes and peering states on the way first, then the group or ACL rule that decides now
    (from both verdicts' reasons), then changed instances and VPCs."""
    out = _leg_causes(old, new, src, dst, "request") + _leg_causes(old, new, dst, src, "reply")
    if vo is not None and vn is not None:
        out += filterdiff.causes(old, new, vo, vn)
    for ref in (src, dst):
        if ref in d.instances:
            out.append({"kind": "instance", "where": ref,
                        "detail": f"{ref}: {_changes(_instance_view(old, ref), _instance_view(new, ref))}"})
    named = {c["where"].partition("/")[0] for c in out if c["kind"] in ("security_group", "network_acl")}
    only_internet = []  # VPCs dirty only because the lab's Internet changed: not their filters
    owners = [o for ref in (src, dst) for o in d.eip_owners.get(ref, ())]  # an EIP end: its owner's VPC is on the path
    for ref in dict.fromkeys([src, dst] + owners):
        v = ref.partition("/")[0]
        if v in d.vpcs:
            what = _changes(_vpc_view(old, v), _vpc_view(new, v))
            if what == "changed" and v in named:
                continue  # its filters changed, and the rule that decides is named above
            if what == "changed":
                what = "its security groups, network ACLs, NAT gateways or EIPs changed"
                if v not in d.own_filters:
                    only_internet.append({"kind": "vpc", "where": v, "detail": f"{v}: {what}"})
                    continue
            out.append({"kind": "vpc", "where": v, "detail": f"{v}: {what}"})
    out += questions.internet_cause(old, new, (src, dst))
    if not out:
        out = only_internet  # never a change without a cause
    seen, uniq = set(), []
    for c in out:
        if c["detail"] not in seen:
            seen.add(c["detail"])
            uniq.append(c)
    return uniq


# ---- the comparison ------------------------------------------------------------------------


def _side(v: Verdict) -> dict:
    return {"result": v.result, "reason": v.reason.to_json(), "forward": v.forward.path, "return": v.ret.path}


def change_kind(old_result: str, new_result: str) -> str:
    if new_result == REACHABLE:
        return "gained"
    if old_result == REACHABLE:
        return "lost"
    return "changed"


def _public_may_change(old: Lab, new: Lab, d: Dirt):
    """Whether a difference can reach a question from the instance `src` to a public destination
    (an Internet host, an EIP): the path runs through src's VPC, the Internet and, for an EIP, its
    owner's VPC only (traffic that came over a peering never goes to the Internet). So: src, its
    VPC or a route table of that VPC changed, or the EIP's owner or its VPC did; a change of the
    Internet makes every VPC dirty (filtered.dirty_vpcs)."""
    routed = {vpc for vpc, _ in d.prefixes}
    owners = {}
    for lab in (old, new):
        for i in lab.instances():
            if i.eip is not None:
                owners.setdefault(str(i.eip), set()).add((i.ref, i.vpc))

    def touched(ref: str, vpc: str, way: str) -> bool:
        return ref in d.instances or way in d.filtered.get(ref, ()) or vpc in d.vpcs or vpc in routed

    def may_change(src: str, dst: str) -> bool:
        i = new.instance(src) or old.instance(src)
        if i is None or touched(src, i.vpc, "out"):
            return True
        return any(touched(ref, vpc, "in") for ref, vpc in owners.get(dst, ()))

    return may_change


def _keys(old: Lab, new: Lab, pairs: Iterable[Tuple[str, str]]) -> List[Key]:
    """The questions of each pair in either model (a port that stopped listening is asked too)."""
    out = []
    for s, d in sorted(pairs):
        asked = set(pair_questions(new, new.instance(s), new.instance(d)))
        asked |= set(pair_questions(old, old.instance(s), old.instance(d)))
        out += [(s, d, proto, port) for proto, port in sorted(asked, key=lambda q: (q[0] != "icmp", q))]
    return out


def total_questions(lab: Lab, refs: Set[str]) -> int:
    insts = [i for i in lab.instances() if i.ref in refs]
    n = len(insts)
    return n * (n - 1) + (n - 1) * sum(len(pair_questions(lab, i, i)) - 1 for i in insts)


def diff(old: Lab, new: Lab, old_name: str = "old", new_name: str = "new") -> dict:
    """Every (src, dst, proto, port) whose verdict differs, with both sides and the causes."""
    t0 = time.monotonic()
    d = dirt(old, new)
    pairs = candidates(old, new, d)
    keys = _keys(old, new, pairs)
    have = set(keys)
    keys += [k for k in questions.extra_keys(old, new, pairs, _public_may_change(old, new, d)) if k not in have]
    changes = []
    for key in keys:
        s, dst, proto, port = key
        vo, vn = questions.verdicts(old, new, key)
        if vo.result != vn.result:
            changes.append({"src": s, "dst": dst, "proto": proto, "port": port,
                            "change": change_kind(vo.result, vn.result),
                            "old": _side(vo), "new": _side(vn), "causes": causes(old, new, s, dst, d, vo, vn)})
    o_refs, n_refs = {i.ref for i in old.instances()}, {i.ref for i in new.instances()}
    counts = {k: sum(1 for c in changes if c["change"] == k) for k in ("gained", "lost", "changed")}
    exp = expectations(old, new)
    return {"old": old_name, "new": new_name, **counts, "changes": changes,
            "instances": {"added": sorted(n_refs - o_refs), "removed": sorted(o_refs - n_refs)},
            "compared": total_questions(new, o_refs & n_refs), "explained": len(keys),
            "expectations": exp, "seconds": round(time.monotonic() - t0, 4)}


def expectations(old: Lab, new: Lab) -> dict:
    """NEW's `expect:` list against both models: which the change breaks, fixes, or leaves failing."""
    out = {"broken": [], "fixed": [], "failing": []}
    for e in new.expectations:
        vn = explain(new, e.src, e.dst, e.proto, e.port)
        try:
            vo = explain(old, e.src, e.dst, e.proto, e.port).result
        except KeyError:  # not in the old model
            vo = None
        # `file`: where it was written, when NEW includes it from another file (`include:`)
        row = {"from": e.src, "to": e.dst, "proto": e.proto, "port": e.port, "line": int(e.line),
               "file": getattr(e.line, "file", None),
               "expected": e.result, "old": vo, "new": vn.result, "reason": vn.reason.to_json()}
        if vn.result != e.result:
            # broken by the change (or a new instance's expectation that fails); else it failed before too
            out["broken" if vo == e.result or vo is None else "failing"].append(row)
        elif vo != e.result:
            out["fixed"].append(row)
    return out


def full(old: Lab, new: Lab) -> Dict[Key, Tuple[str, str]]:
    """The reference `diff` is checked against (tests, bench/diff_bench.py): every question of
    the instances in both models explained in both, no pruning. {key: (old, new) results}."""
    common = {i.ref for i in old.instances()} & {i.ref for i in new.instances()}
    out = {}
    for s in new.instances():
        for d in new.instances():
            if s is d or s.ref not in common or d.ref not in common:
                continue
            for proto, port in sorted(set(pair_questions(new, s, d)) | set(pair_questions(old, old.instance(s.ref),
                                                                                 old.instance(d.ref)))):
                a = explain(old, s.ref, d.ref, proto, port).result
                b = explain(new, s.ref, d.ref, proto, port).result
                if a != b:
                    out[(s.ref, d.ref, proto, port)] = (a, b)
    pairs = [(s, d) for s in sorted(common) for d in sorted(common) if s != d]
    for key in questions.extra_keys(old, new, pairs):
        vo, vn = questions.verdicts(old, new, key)
        if vo.result != vn.result:
            out[key] = (vo.result, vn.result)
    return out

