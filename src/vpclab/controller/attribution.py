"""Which security group or network ACL rule dropped a probe, from the kernel's rule counters.

The lab's nftables rules each carry a counter and a comment naming the model rule
(probe/counters.py). A counter counts every packet that met its rule, the probe's and any
other traffic's alike (a server retransmitting a SYN-ACK, the tail of a matrix), so a rule
is named only on two conditions (docs/kernel-filters.md, "Which rule dropped the probe"):

- its place and direction lie on the way of the lost packet (`on_path`): a group's ingress
  at the instance the packet goes to, its egress at the one it leaves; an ACL's inbound
  rules for a packet entering the subnet, its outbound rules for one leaving it;
- the probe's own packets were dropped there: per-flow counters just before and just after
  the filter chains (counters.Brackets, matching the probe's protocol and ids, nothing
  else) show the lost packet going in and not coming out, and exactly one drop rule there,
  on its way, counted packets meanwhile. Other traffic can then only make two rules
  candidates, never the wrong one alone; the probe is looked at again (`Rounds`).

The reason: SECURITY_GROUP_DENY (the group; when no rule matched, the instance's groups
joined by commas, as explain names them; where = the instance) or NETWORK_ACL_DENY (the
ACL; where = the subnet, `VPC/SUBNET`), with the direction and the rule index (None: no
rule matched). The rule comes from the comment the kernel holds; the model names
namespaces and says which rules lie on the way.
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Tuple

from .. import explain
from ..model.types import Lab
from ..plan import names
from ..probe import counters as nftc
from .targets import capture_points, source_ns


def has_filters(model: Lab) -> bool:
    return any(v.security_groups or v.network_acls for v in model.vpcs.values())


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


# ---- which rule dropped THIS probe: on its path, and counted by its own packets alone ------------

REQUEST, REPLY = "request", "reply"
FOUND, NOT_FILTERED, UNNAMED, AMBIGUOUS = "found", "not-filtered", "unnamed", "ambiguous"


def on_path(model: Lab, t, hit: nftc.Hit, lost: str) -> bool:
    """Whether a rule's place and direction lie on the way of the probe's `lost` packet
    (REQUEST: source -> destination; REPLY: back): a security group's ingress only at the
    instance the packet goes to, its egress only at the one it leaves; a network ACL's
    inbound rules only for a packet entering that subnet, its outbound rules only for one
    leaving it (at that VPC's router)."""
    ref = hit.ref
    sender, receiver = (t.src, t.dst) if lost == REQUEST else (t.dst, t.src)
    if ref.kind == "sg":
        inst = receiver if ref.direction == "ingress" else sender
        return inst is not None and inst.vpc is not None and hit.ns == names.instance_ns(model.name, inst.vpc,
                                                                                            inst.name)
    if ref.kind != "acl" or hit.ns != names.vpc_ns(model.name, ref.vpc):
        return False
    inst = sender if ref.direction == "outbound" else receiver
    if inst is not None and inst.vpc is None:  # an Internet host (a source): in no subnet
        return False
    if inst is not None:
        return (inst.vpc, inst.subnet) == (ref.vpc, ref.subnet)
    # a request to an address no instance holds: the subnet of ref's VPC that holds it
    vpc = model.vpcs.get(ref.vpc)
    sub = vpc.subnets.get(ref.subnet) if vpc is not None and ref.direction == "inbound" and lost == REQUEST \
        else None
    return sub is not None and t.host is None and t.dst_ip in sub.cidr


def drops_at(grown: List[nftc.Hit]) -> Dict[tuple, List[nftc.Hit]]:
    """The drop rules that counted packets, by (namespace, hook)."""
    out: Dict[tuple, List[nftc.Hit]] = {}
    for h in grown:
        if h.verdict == nftc.DROP:
            out.setdefault((h.ns, nftc.hook_of(h.ref)), []).append(h)
    return out


def judge(model: Lab, t, lost: str, fids, drops: Dict[tuple, List[nftc.Hit]], counts) -> tuple:
    """(FOUND, the rule) when this probe's `lost` packet was dropped by a filter and exactly
    one drop rule there, on its way, counted packets meanwhile; else (status, None):
    NOT_FILTERED (no filter dropped it: a route did, or it was not sent), UNNAMED (dropped
    by filters whose counters name no rule on its way), AMBIGUOUS (more than one could
    have: other traffic moved them; look again).
    `fids`: the probe's (request, reply) FlowIds; `counts`: Brackets.read(); `drops`:
    drops_at(the lab's rules whose counters grew meanwhile)."""
    point = drop_point(lost, fids, counts)
    if point is None:
        return NOT_FILTERED, None
    if point is AMBIGUOUS:
        return AMBIGUOUS, None
    cands = [h for h in drops.get(point, ()) if on_path(model, t, h, lost)]
    if len(cands) == 1:
        return FOUND, cands[0]
    return (AMBIGUOUS if cands else UNNAMED), None


def drop_point(lost: str, fids, counts):
    """(namespace, hook) where the probe's `lost` packet went into the filters and not out;
    None: nowhere; AMBIGUOUS: in more than one place."""
    fid = fids[0] if lost == REQUEST else fids[1]
    points = [at for at, (pre, post) in counts.get(fid, {}).items() if pre > post]
    return points[0] if len(points) == 1 else None if not points else AMBIGUOUS


def met_on_path(model: Lab, t, fids, grown: List[nftc.Hit], counts) -> List[nftc.Hit]:
    """The rules whose counters grew in a chain the probe's own packets went through, and
    whose place and direction lie on the way of that packet (the `counters` list). A rule
    elsewhere (another subnet's, the other direction's) is left out, whatever moved it."""
    out = []
    for h in grown:
        at = (h.ns, nftc.hook_of(h.ref))
        for lost, fid in ((REQUEST, fids[0]), (REPLY, fids[1])):
            if counts.get(fid, {}).get(at, (0, 0))[0] > 0 and on_path(model, t, h, lost):
                out.append(h)
                break
    return out


class Watch:
    """The lab's rule counters and a probe's own flow counters (nftc.Brackets) in the namespaces
    on its path that hold vpclab filter rules (as the kernel holds them: the model only names
    namespaces). Use as a context manager; `arm(flows)` before sending, `done()` after."""

    def __init__(self, namespaces: Iterable[str], reader: Optional[nftc.Reader] = None):
        namespaces = list(dict.fromkeys(namespaces))
        if reader is not None and all(ns in reader.ctx for ns in namespaces):
            self.reader = _Within(reader, namespaces)  # its contexts, these namespaces only
        else:
            self.reader = nftc.Reader(namespaces)
        snap = self.reader.read()
        for ns, tables in self.reader.tables.items():  # a killed probe's tables: remove them
            for name in nftc.stale_brackets(tables):
                self.reader.ctx[ns].cmd(f"delete table inet {name}")
        where = {}
        for ns, rules in snap.items():
            hooks = {nftc.hook_of(c.ref) for c in rules.values() if c.ref.kind in ("sg", "acl")}
            if hooks:
                where[ns] = sorted(hooks)
        self.where = where
        self.brackets = nftc.Brackets(self.reader.ctx, where) if where else None
        self.before, self.at = snap, list(where)

    def __enter__(self) -> "Watch":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def arm(self, flows: Dict[str, Iterable[nftc.FlowId]]) -> None:
        """Count these flows (namespace -> flows) from now, and snapshot the lab's counters
        in those namespaces."""
        self.at = [ns for ns in flows if ns in self.where]
        if self.brackets is not None:
            self.brackets.load({ns: flows[ns] for ns in self.at})
        self.before = self.reader.read(self.at)

    def arm_all(self, fids: Iterable[nftc.FlowId]) -> None:
        fids = list(fids)
        self.arm({ns: fids for ns in self.where})

    def done(self):
        """(the lab's rules whose counters grew, the flows' counts), where armed."""
        grown = nftc.grew(self.before, self.reader.read(self.at))
        return grown, (self.brackets.read() if self.brackets is not None else {})

    def close(self) -> None:
        if self.brackets is not None:
            self.brackets.close()


class _Within:
    """A Reader's contexts, reading a subset of its namespaces."""

    def __init__(self, reader: nftc.Reader, namespaces: List[str]):
        self.inner, self.ctx = reader, {ns: reader.ctx[ns] for ns in namespaces}

    def read(self, namespaces: Optional[Iterable[str]] = None) -> nftc.Snapshot:
        return self.inner.read(list(self.ctx) if namespaces is None else namespaces)

    @property
    def tables(self) -> Dict[str, List[str]]:
        return {ns: t for ns, t in self.inner.tables.items() if ns in self.ctx}


def probe_watch(model: Lab, namespaces: Iterable[str]) -> Optional[Watch]:
    """A Watch of one probe's path; None when the lab has no filter (nothing to count)."""
    if not has_filters(model):
        return None
    return Watch(namespaces)


# ---- many probes at once: matrix and test ------------------------------------------------------

ATTRIBUTE_TIMEOUT = 0.05  # a drop happens within microseconds: re-probes wait this long
ATTRIBUTE_ROUNDS = 32  # the least budget of re-probing rounds of one batch
ATTRIBUTE_MAX_ROUNDS = 256  # and the most (a lab whose drops mix many rules in one namespace)
ATTRIBUTE_TRIES = 3  # rounds a lone probe gets when other traffic keeps two rules moving


def filtered_namespaces(model: Lab) -> List[str]:
    """Where the lab's filters sit: instances with groups, routers of VPCs with ACLs."""
    out = [names.instance_ns(model.name, i.vpc, i.name) for i in model.instances() if i.security_groups]
    out += [names.vpc_ns(model.name, v.name) for v in model.vpcs.values() if v.network_acls]
    return out


def path_namespaces(model: Lab, t, verdict) -> List[str]:
    """The source's namespace (an instance's, or the Internet's), every VPC router on the way and the
    destination's."""
    return [source_ns(model.name, t.src)] + [cp.ns for cp in capture_points(model, t, verdict)]


def lost_of(row: dict) -> str:
    return REPLY if row["forward"]["delivered"] else REQUEST


class BatchCounters:
    """The lab's rule counters in every filtered namespace, read around a batch of probes
    (matrix, test): which drop rules moved at all. None of it names a rule by itself."""

    def __init__(self, model: Lab):
        self.reader = nftc.Reader(filtered_namespaces(model))
        self.before = self.reader.read()

    def grown(self) -> List[nftc.Hit]:
        """The rules whose counters grew since the last reading (or since made)."""
        after = self.reader.read()
        out, self.before = nftc.grew(self.before, after), after
        return out


def batch_counters(model: Lab) -> Optional[BatchCounters]:
    """Counters of every filtered namespace, read now; None when the lab has no filter."""
    if not has_filters(model) or nftc.available() is not None or not filtered_namespaces(model):
        return None
    return BatchCounters(model)


class Rounds:
    """Which rule dropped each unanswered probe, by probing again: the questions and answers
    of the rounds; the caller sends each round (controller/probing.py drives the loop):

        rounds = Rounds(model, items, ...)
        while (specs := rounds.next()) is not None:
            fast_probe(specs, timeout=ATTRIBUTE_TIMEOUT, before_send=rounds.arm)
            rounds.record()
        rounds.close()  # then rounds.found: (index, hit) of each probe whose rule was found

    `items`: (index, target, row, spec, verdict, stop) of the probes to explain, `stop` the
    namespace where the row's lost packet was last seen (verdicts.stop_ns). Each round sends
    the probes again on the fast path, their own packets counted on both sides of the filter
    chains (Watch): a probe's lost packet that went into a hook's filters and not out was
    dropped there, and when exactly one drop rule there, on its way (`on_path`), counted
    packets meanwhile, that rule dropped it. Other traffic can only add a second candidate
    (never make a wrong one alone), and the probe is then looked at again with fewer probes
    beside it (the ones that stopped at the same place, in halves) until it stands alone
    ATTRIBUTE_TRIES times. A probe no filter dropped keeps explain's reason.
    `batch` (matrix, test): the counters read around the batch the rows come from. A filter
    drop moves a drop rule on the lost packet's way where it stopped (the captures' last
    point): a probe with none there is no filter's, and is not probed again; the others are
    watched there only. `first` (one probe): index -> (grown, counts, fids) already measured
    by its own packets; `watch`: the open Watch of that measure (the caller closes it).
    """

    def __init__(self, model: Lab, items, watch: Optional[Watch] = None, first: Optional[dict] = None,
                 batch: Optional[BatchCounters] = None):
        self.model, self.watch, self.own = model, watch, False
        self.found: List[Tuple[int, nftc.Hit]] = []
        self.queue: Dict[object, list] = {}  # drop point -> sub-groups (lists of indexes) still to probe
        self.tries: Dict[int, int] = {}
        self.rounds = self.budget = 0
        self.now: List[list] = []  # this round's sub-groups
        self.group: List[int] = []  # and their probes, in the order sent
        self.planned: Dict[int, tuple] = {}
        self.todo: Dict[int, list] = {}
        if not has_filters(model) or nftc.available() is not None:
            return
        todo = self.todo
        drops = drops_at(batch.grown()) if batch is not None else {}
        where = set(watch.where) if watch is not None else set(filtered_namespaces(model))
        for i, t, row, spec, verdict, stop in items:
            if row["result"] not in (explain.NO_RETURN, explain.UNREACHABLE):
                continue
            lost = lost_of(row)
            if first:
                nss = [ns for ns in dict.fromkeys(path_namespaces(model, t, verdict)) if ns in where]
            else:
                moved = [h for (ns, _), hs in drops.items() if ns == stop for h in hs if on_path(model, t, h, lost)]
                if stop not in where or (batch is not None and not moved):
                    continue  # no drop rule on its way moved where it stopped: not a filter's
                nss = [stop]
            todo[i] = [t, lost, spec, verdict, nss]
        if not todo:
            return
        for i, (grown, counts, fids) in (first or {}).items():
            if i in todo:
                t, lost = todo[i][0], todo[i][1]
                status, hit = judge(model, t, lost, fids, drops_at(grown), counts)
                self._settle(i, status, hit, drop_point(lost, fids, counts), True)
        if not first:
            self.queue[None] = [list(todo)]
        self.budget = max(ATTRIBUTE_ROUNDS, min(4 * len(todo), ATTRIBUTE_MAX_ROUNDS))
        if watch is None:
            self.own = True
            self.watch = Watch(list(dict.fromkeys(ns for item in todo.values() for ns in item[4])),
                               reader=batch.reader if batch is not None else None)

    def _settle(self, i: int, status: str, hit, point, alone: bool) -> None:
        if status == FOUND:
            self.found.append((i, hit))
        elif status == AMBIGUOUS:
            self.tries[i] = self.tries.get(i, 0) + (1 if alone else 0)
            if self.tries[i] < ATTRIBUTE_TRIES:
                self.queue.setdefault(point, []).append([i])

    def next(self) -> Optional[list]:
        """The specs to send in the next round, in order; None: nothing left to ask (or the
        budget of rounds is spent)."""
        if not self.queue or self.rounds >= self.budget:
            return None
        self.rounds += 1
        self.now = [subs.pop() for subs in self.queue.values()]  # one sub-group per drop point per round
        self.queue = {pt: subs for pt, subs in self.queue.items() if subs}
        self.group = [i for sub in self.now for i in sub]
        self.planned = {}
        return [self.todo[i][2] for i in self.group]

    def arm(self, probes) -> None:
        """The fast path's before_send hook: watch each probe's lost packet's flow, by the
        keys the probes (in the order of `next()`'s specs) are about to be sent with."""
        flows: Dict[str, list] = {}
        for i, p in zip(self.group, probes):
            if p.req_key is None:
                continue
            fids = nftc.flow_ids(p.req_key, p.rep_key)
            self.planned[i] = (p, p.req_key, fids)
            lost = fids[0] if self.todo[i][1] == REQUEST else fids[1]
            for ns in self.todo[i][4]:  # where it may have been dropped, its lost packet's flow only
                flows.setdefault(ns, []).append(lost)
        self.watch.arm(flows)

    def record(self) -> None:
        """Read what this round's probes met, once they were sent, and settle each."""
        grown, counts = self.watch.done()
        drops = drops_at(grown)
        verdicts = {}
        for i in self.group:
            t, lost = self.todo[i][0], self.todo[i][1]
            got = self.planned.get(i)
            if got is None or got[0].req_key != got[1]:  # its port was taken meanwhile: not watched
                verdicts[i] = (AMBIGUOUS, None, None)
                continue
            status, hit = judge(self.model, t, lost, got[2], drops, counts)
            verdicts[i] = (status, hit, drop_point(lost, got[2], counts))
        for sub in self.now:
            unsure = [i for i in sub if verdicts[i][0] == AMBIGUOUS]
            for i in sub:
                if verdicts[i][0] != AMBIGUOUS:
                    self._settle(i, verdicts[i][0], verdicts[i][1], None, True)
            by_point: Dict[object, list] = {}
            for i in unsure:
                by_point.setdefault(verdicts[i][2], []).append(i)
            for point, idx in by_point.items():
                if len(idx) > 1:
                    half = len(idx) // 2
                    self.queue.setdefault(point, []).extend([idx[half:], idx[:half]])  # the first half next
                else:
                    self._settle(idx[0], AMBIGUOUS, None, point, len(sub) == 1)

    def close(self) -> None:
        """Remove the Watch these rounds opened (not one handed in)."""
        if self.own and self.watch is not None:
            self.watch.close()
