"""`vpclab diff`, version 2: the questions filters and the Internet add.

A version-1 diff asks, for each pair of instances, ICMP and the destination's TCP
service ports. With security groups, ACLs, EIPs or an Internet, a change can also move:
- the verdict toward a public destination (an Internet host, an instance's EIP);
- a TCP or UDP port that only a filter rule names (`tcp 80` in a group).
So, when either model uses version 2, every common instance is also asked about every
public destination of either model, and about every port the rules of either model name
(the low end of each range), over TCP and UDP. A version-1 diff asks nothing more.
"""
from __future__ import annotations

from typing import List, Optional, Set, Tuple

from ..model.types import Lab
from . import filtered
from .answer import explain
from .verdict import Verdict

Key = Tuple[str, str, str, Optional[int]]


def _rule_ports(lab: Lab) -> Set[Tuple[str, int]]:
    out = set()
    for v in lab.vpcs.values():
        owners = list(v.security_groups.values()) + list(v.network_acls.values())
        for o in owners:
            for direction in (("ingress", "egress") if hasattr(o, "ingress") else ("inbound", "outbound")):
                for r in o.rules(direction):
                    if r.ports is not None:
                        for proto in (("tcp", "udp") if r.proto == "all" else (r.proto,)):
                            if proto in ("tcp", "udp"):
                                out.add((proto, r.ports[0]))
    if lab.internet is not None:
        out |= {("tcp", p) for h in lab.internet.hosts.values() for p in h.ports}
    return out


def extra_keys(old: Lab, new: Lab, pairs, may_change=None) -> List[Key]:
    """The version-2 questions: none unless either model uses groups, ACLs, EIPs or the Internet.
    `may_change(src, public)`: whether a difference can reach that question (`diff` prunes with
    it; None: ask every one, as the reference `full` does)."""
    if not (filtered.in_use(old) or filtered.in_use(new)):
        return []
    ports = sorted(_rule_ports(old) | _rule_ports(new))
    common = sorted({i.ref for i in old.instances()} & {i.ref for i in new.instances()})
    public = sorted(set(filtered.public_destinations(old)) | set(filtered.public_destinations(new)))
    out: List[Key] = []
    for s, d in sorted(pairs):
        out += [(s, d, proto, port) for proto, port in ports]
    for s in common:
        for d in public:
            if may_change is None or may_change(s, d):
                out += [(s, d, "icmp", None)] + [(s, d, proto, port) for proto, port in ports]
    # an Internet host of both models as the source (version 3): to every common instance
    hosts = sorted(set(_host_refs(old)) & set(_host_refs(new)))
    for h in hosts:
        for d in common:
            out += [(h, d, "icmp", None)] + [(h, d, proto, port) for proto, port in ports]
    return out


def _host_refs(lab: Lab) -> List[str]:
    return [h.ref for h in lab.internet.hosts.values()] if lab.internet is not None else []


def verdicts(old: Lab, new: Lab, key) -> Tuple[Verdict, Verdict]:
    """Both labs' verdicts on `key` (src, dst, proto, port), each asking about `dst` as it can."""
    s, dst, proto, port = key
    return (explain(old, s, dest_in(old, new, dst), proto, port),
            explain(new, s, dest_in(new, old, dst), proto, port))


def dest_in(lab: Lab, other: Lab, dst: str) -> str:
    """`dst` as `lab` can be asked about it: an Internet host that only `other` has (added or
    removed by the change) is asked about by its address, which in `lab` is nobody's."""
    if filtered.is_host_ref(lab, dst):
        return dst
    host = other.internet.host(dst) if other.internet else None
    return str(host.ip) if host is not None else dst


def internet_cause(old: Lab, new: Lab, refs) -> List[dict]:
    """A cause for a change toward an Internet host (or a public address) that the change to
    the lab's Internet touched: its range, or that host added, removed or changed."""
    def hosts(lab):
        n = lab.internet
        return {} if n is None else {h.name: (str(h.ip), tuple(h.ports)) for h in n.hosts.values()}

    def cidr(lab):
        return str(lab.internet.cidr) if lab.internet is not None else "none"

    a, b = hosts(old), hosts(new)
    touched = {h for h in set(a) | set(b) if a.get(h) != b.get(h)}
    addresses = {x[0] for h in touched for x in (a.get(h), b.get(h)) if x is not None}
    mine = {r[len(filtered.INTERNET_PREFIX):] for r in refs if r.startswith(filtered.INTERNET_PREFIX)}
    what = []
    if cidr(old) != cidr(new) and (mine or any(_is_address(r) for r in refs)):
        what.append(f"cidr {cidr(old)} -> {cidr(new)}")
    for h in sorted(touched):
        if h in mine or any(r in addresses for r in refs):
            what.append(f"host {h} " + ("added" if h not in a else "removed" if h not in b else "changed"))
    return [{"kind": "internet", "where": "internet", "detail": "internet: " + ", ".join(what)}] if what else []


def _is_address(ref: str) -> bool:
    return ref[:1].isdigit()
