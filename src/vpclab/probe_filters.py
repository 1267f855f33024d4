"""Which security group or network ACL rule dropped a probe, from the kernel's rule counters.

`Counters` snapshots the nftables counters of the namespaces on a probe's path before
and after it (probe/counters.py); the vpclab rules whose counters grew are the rules the
probe's packets met, and one with a drop verdict names the reason:
SECURITY_GROUP_DENY (the group; when no rule matched, the instance's groups joined by
commas, as explain names them; where = the instance) or NETWORK_ACL_DENY (the ACL; where = the subnet, `VPC/SUBNET`),
with the direction and the rule index (None: no rule matched). The rule comes from the
comment the kernel holds; the model is used only to name namespaces.
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional

from . import analyze
from .model.types import Lab
from .plan import names
from .probe import counters as nftc


def has_filters(model: Lab) -> bool:
    return any(v.security_groups or v.network_acls for v in model.vpcs.values())


class Counters:
    """Counter snapshots around one probe (or one batch) in a set of namespaces."""

    def __init__(self, namespaces: Iterable[str]):
        self.reader = nftc.Reader(namespaces)
        self.before = self.reader.read()
        self.hits: List[nftc.Hit] = []

    def done(self) -> List[nftc.Hit]:
        self.hits = nftc.grew(self.before, self.reader.read())
        return self.hits


def instance_of_ns(model: Lab) -> Dict[str, str]:
    return {names.instance_ns(model.name, i.vpc, i.name): i.ref for i in model.instances()}


def reason(model: Lab, hit: nftc.Hit, what: str = "the packet", ns_refs: Optional[Dict[str, str]] = None) \
        -> analyze.Reason:
    """The reason a dropping rule's counter gives. `what`: "the request" or "the reply"."""
    ref = hit.ref
    rule = "no rule matched" if ref.index is None else f"rule {ref.index}"
    if ref.kind == "sg":
        at = (ns_refs or instance_of_ns(model)).get(hit.ns, hit.ns)
        group = ref.owner if ref.index is not None else None
        if group is None:
            # the instance's default drop: named by its groups, as explain names them
            inst = model.instance(at)
            group = ",".join(inst.security_groups) if inst is not None and inst.security_groups else None
            detail = f"{what} matched no {ref.direction} rule of {at}'s security groups: dropped"
        else:
            detail = f"{what} was dropped by {ref.direction} {rule} of security group {group} at {at}"
        return analyze.Reason(analyze.SECURITY_GROUP_DENY, at, None, detail + f" (counter +{hit.packets})",
                              group=group, direction=ref.direction, rule=ref.index)
    subnet = f"{ref.vpc}/{ref.subnet}" if ref.subnet else ref.vpc
    if ref.index is None:
        detail = f"{what} matched no {ref.direction} rule of network ACL {ref.owner} at subnet {subnet}: dropped"
    else:
        detail = f"{what} was dropped by {ref.direction} {rule} of network ACL {ref.owner} at subnet {subnet}"
    return analyze.Reason(analyze.NETWORK_ACL_DENY, subnet, None, detail + f" (counter +{hit.packets})",
                          acl=ref.owner, direction=ref.direction, rule=ref.index)


def met(hits: List[nftc.Hit], ns_refs: Dict[str, str], lab: str) -> List[dict]:
    """The `counters` list of `probe --json`: every vpclab rule the probe's packets met."""
    prefix = names.lab_prefix(lab)
    out = []
    for h in hits:
        at = ns_refs.get(h.ns) or (h.ns[len(prefix):] if h.ns.startswith(prefix) else h.ns)
        out.append({"at": at, "rule": h.ref.comment(), "kind": h.ref.kind, "direction": h.ref.direction,
                    "index": h.ref.index, "verdict": h.verdict, "packets": h.packets})
    return out


def dropping(hits: List[nftc.Hit], prefer_ns: Iterable[str] = ()) -> Optional[nftc.Hit]:
    """The drop that stopped the probe: one in a preferred namespace (where the packets stopped) first."""
    d = nftc.drops(hits)
    if not d:
        return None
    pref = list(prefer_ns)
    for ns in pref:
        for h in d:
            if h.ns == ns:
                return h
    return d[0]
