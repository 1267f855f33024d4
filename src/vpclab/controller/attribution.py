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

from typing import Dict, Iterable, List, Optional, Tuple

from .. import explain
from ..model.types import Lab
from ..plan import names
from ..probe import counters as nftc
from ..probe import engine


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
        -> explain.Reason:
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
        return explain.Reason(explain.SECURITY_GROUP_DENY, at, None, detail + f" (counter +{hit.packets})",
                              group=group, direction=ref.direction, rule=ref.index)
    subnet = f"{ref.vpc}/{ref.subnet}" if ref.subnet else ref.vpc
    if ref.index is None:
        detail = f"{what} matched no {ref.direction} rule of network ACL {ref.owner} at subnet {subnet}: dropped"
    else:
        detail = f"{what} was dropped by {ref.direction} {rule} of network ACL {ref.owner} at subnet {subnet}"
    return explain.Reason(explain.NETWORK_ACL_DENY, subnet, None, detail + f" (counter +{hit.packets})",
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


# ---- many probes at once: matrix and test ------------------------------------------------------

ATTRIBUTE_TIMEOUT = 0.05  # a drop happens within microseconds: re-probes wait this long
ATTRIBUTE_ROUNDS = 32  # the least budget of re-probing rounds of one batch
ATTRIBUTE_MAX_ROUNDS = 256  # and the most (a lab whose drops mix many rules in one namespace)


def filtered_namespaces(model: Lab) -> List[str]:
    """Where the lab's filters sit: instances with groups, routers of VPCs with ACLs."""
    out = [names.instance_ns(model.name, i.vpc, i.name) for i in model.instances() if i.security_groups]
    out += [names.vpc_ns(model.name, v.name) for v in model.vpcs.values() if v.network_acls]
    return out


def batch_counters(model: Lab) -> Optional[Counters]:
    """Counters of every filtered namespace, taken now; None when the lab has no filter."""
    if not has_filters(model) or nftc.available() is not None:
        return None
    spots = filtered_namespaces(model)
    return Counters(spots) if spots else None


def attribute(watch: Counters, hits: List[nftc.Hit], pending) -> List[Tuple[int, nftc.Hit]]:
    """Name the dropping rule of each unanswered probe of a batch from the counters: the
    (index, hit) of each probe whose rule was found, in the order they were found.

    `pending`: (index, namespace the probe stopped in, spec) of the diagnosed probes that
    did not reach. Probes are grouped by the namespace they stopped in. A group
    is the rule's when one drop rule alone grew there, by one packet per probe of the group,
    twice in a row (the batch itself counts as the first time): once could be a coincidence,
    some probes having stopped for another reason (a missing route) while a stray packet (a
    SYN-ACK a server retransmits into a drop rule) made up the count. A group that is not
    clean is probed again in halves, counters read around each round, until each half is
    one rule's or has no drop.
    """
    where = set(watch.reader.ctx)
    found: List[Tuple[int, nftc.Hit]] = []
    groups: Dict[str, list] = {}
    for i, ns, spec in pending:
        if ns in where:
            groups.setdefault(ns, []).append((i, spec))
    queue: Dict[str, list] = {}  # namespace -> the sub-groups still to resolve there
    seen: Dict[frozenset, object] = {}  # sub-group -> the rule one clean round named
    for ns, items in groups.items():
        rules = _drop_rules(hits, ns)
        if len(rules) == 1 and rules[0].packets == len(items):
            seen[_key(items)] = rules[0].ref
        if rules:
            queue[ns] = [items]
    rounds = 0
    tries: Dict[frozenset, int] = {}
    # Each probe may need a round of its own, and each answer two: a budget that grows with
    # the largest group (a round is one fast probe of every namespace's sub-group, ~50 ms).
    budget = max(ATTRIBUTE_ROUNDS, min(4 * max((len(s[0]) for s in queue.values()), default=0),
                                       ATTRIBUTE_MAX_ROUNDS))
    while queue and rounds < budget:
        rounds += 1
        now = {ns: subs.pop() for ns, subs in queue.items()}  # one sub-group per namespace per round
        reader = nftc.Reader(list(now))
        before = reader.read()
        engine.fast_probe([spec for items in now.values() for _, spec in items], timeout=ATTRIBUTE_TIMEOUT)
        grown = nftc.grew(before, reader.read())
        for ns, items in now.items():
            rules = _drop_rules(grown, ns)
            key = _key(items)
            tries[key] = tries.get(key, 0) + 1
            if len(rules) == 1 and rules[0].packets == len(items):  # exactly one drop per probe
                if seen.get(key) == rules[0].ref:
                    found += [(i, rules[0]) for i, _ in items]
                    continue
                if key in seen and len(items) > 1:  # clean twice, but not the same rule: split
                    queue[ns] += _halves(items)
                    continue
                seen[key] = rules[0].ref
                if tries[key] < 4:
                    queue[ns].append(items)
            elif len(items) > 1:
                if rules:
                    queue[ns] += _halves(items)
            elif (rules or key in seen) and tries[key] < 4:
                queue[ns].append(items)  # one probe: a stray packet, or its drop; look again
        queue = {ns: subs for ns, subs in queue.items() if subs}
    return found


def _key(items) -> frozenset:
    return frozenset(i for i, _ in items)


def _halves(items: list) -> list:
    """A sub-group split in two, the first half to be probed next (the queue pops its end)."""
    half = len(items) // 2
    return [items[half:], items[:half]]


def _drop_rules(hits: List[nftc.Hit], ns: str) -> List[nftc.Hit]:
    return [h for h in hits if h.ns == ns and h.verdict == nftc.DROP]
