"""`matrix --by-class`: the matrix's questions grouped into classes whose verdict must be equal,
one representative probed per class, a random sample of the rest probed too, the others
inferred from their class's representative, and said to be.

Two questions are in one class when everything the model says about them is equal but the
names and addresses of their ends:
- the same kind of question (an instance's private address, its EIP, an Internet host), the
  same protocol and port;
- sources alike: the same VPC, subnet (so route table and ACL), kind, security groups,
  listeners and services, EIP or none; and the same for destinations;
- no address told apart: every prefix the lab names (a route's destination, a filter rule's
  peer) longer than the subnet holding the address, and every other holder of the address
  (an overlapping VPC), are part of the end's identity. A prefix no longer than the subnet
  holds all of the subnet or none of it, so it cannot tell two of its addresses apart.

One coarsening keeps big estates in reach: a private destination in another VPC that the
source's route table has no route for (and that is not inside the source's own VPC) is
dropped at the source whatever it is; such destinations fall in one class per source group,
told apart only by what a filter at the source could see of them (the filter-rule prefixes
holding the address, and the destination's groups, which an egress rule may name).

Nothing inferred passes for measured: a row answered by packets carries `"probed": true`;
any other carries `"probed": false` and `inferred_from`, the representative's question.
The sample (`sample`, 1% by default, drawn with `seed`) is probed like the representatives
and compared with explain (as every probed row is) AND with its representative: a sampled
pair whose verdict differs from its class's is a `class_mismatch`, a bug in the classing.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import random
import time
from collections import defaultdict
from typing import Dict, Iterator, List, Optional, Tuple

from .. import explain
from ..errors import Refused
from ..explain.routes import lookup
from ..model import ccn as ccn_model
from ..model.filters import _network
from ..model.types import RESULTS, Instance, Lab
from ..state import labs
from . import events, probing, settle, verdicts
from .host import require_root
from .targets import HostSource, Target, host_targets, matrix_targets

DEFAULT_SAMPLE = 0.01
IDENTITY = ("name", "ip", "eip", "line")  # an instance's fields that name it rather than describe it


def _frozen(v):
    if isinstance(v, (list, tuple)):
        return tuple(_frozen(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _frozen(x)) for k, x in v.items()))
    return v


class Prefixes:
    """Every prefix the lab names, by length, for 'which of them hold this address'."""

    def __init__(self, model: Lab):
        self.routes: Dict[int, set] = defaultdict(set)
        self.rules: Dict[int, set] = defaultdict(set)
        self.holders: Dict[ipaddress.IPv4Address, List[str]] = defaultdict(list)
        for v in model.vpcs.values():
            for t in v.route_tables.values():
                for r in t.routes:
                    self.routes[r.destination.prefixlen].add(r.destination)
            # another VPC's CIDR or subnet inside this one's subnet (overlapping VPCs) tells its addresses apart
            self.routes[v.cidr.prefixlen].add(v.cidr)
            for sub in v.subnets.values():
                self.routes[sub.cidr.prefixlen].add(sub.cidr)
            filters = list(v.security_groups.values()) + list(v.network_acls.values())
            for f in filters:
                for d in ("ingress", "egress") if hasattr(f, "ingress") else ("inbound", "outbound"):
                    for rule in f.rules(d):
                        n = _network(rule.peer)
                        if n is not None:
                            self.rules[n.prefixlen].add(n)
            for i in v.instances.values():
                if i.ip is not None:
                    self.holders[i.ip].append(i.ref)
                if i.eip is not None:
                    self.holders[i.eip].append(f"{i.ref} (EIP)")
            for g in v.nat_gateways.values():
                self.holders[g.eip].append(f"{v.name}/{g.name}")
        if model.internet is not None:
            for h in model.internet.hosts.values():
                self.holders[h.ip].append(h.ref)

    @staticmethod
    def _holding(table: Dict[int, set], ip, longer_than: int = -1) -> Tuple:
        out = []
        for length, nets in table.items():
            if length > longer_than:
                n = ipaddress.IPv4Network((int(ip) >> (32 - length) << (32 - length), length)) if length else \
                    ipaddress.IPv4Network("0.0.0.0/0")
                if n in nets:
                    out.append(n)
        return tuple(sorted(out))

    def specific(self, ip, prefixlen: int) -> Tuple:
        """The prefixes longer than `prefixlen` holding `ip`, and its other holders."""
        return (self._holding(self.routes, ip, prefixlen) + self._holding(self.rules, ip, prefixlen),
                tuple(sorted(self.holders.get(ip, ()))) if len(self.holders.get(ip, ())) > 1 else ())

    def filtered(self, ip) -> Tuple:
        """The filter-rule prefixes (any length) holding `ip`."""
        return self._holding(self.rules, ip)


def end_key(model: Lab, pre: Prefixes, i: Instance) -> tuple:
    """What the model says about instance `i` as one end of a question, its name and addresses aside."""
    sub = model.vpcs[i.vpc].subnets[i.subnet]
    fields = tuple((f.name, _frozen(getattr(i, f.name))) for f in dataclasses.fields(i) if f.name not in IDENTITY)
    eip = None
    if i.eip is not None:
        net = model.internet.cidr.prefixlen if model.internet is not None else 0
        eip = pre.specific(i.eip, net)
    return fields, pre.specific(i.ip, sub.cidr.prefixlen), eip is not None, eip


def _kind(t: Target) -> str:
    if t.host is not None:
        return "host"
    return "eip" if t.public else "private"


class Klass:
    """One class: its representative question, how many questions it holds, and how to draw them:
    every source of `srcs` to every destination template of `dsts` whose destination is not the
    source itself and whose group is not in `skip` (the groups routed for these sources, when
    the class is the unrouted rest)."""

    __slots__ = ("id", "key", "rep", "members", "srcs", "dsts", "skip", "row", "sampled")

    def __init__(self, cid: int, key, srcs: List, dsts: List[Target], members: int, skip=frozenset()):
        self.id, self.key, self.srcs, self.dsts, self.members, self.skip = cid, key, srcs, dsts, members, skip
        self.rep: Optional[Target] = None
        self.row: Optional[dict] = None
        self.sampled: List[dict] = []

    def ok(self, src, t: Target) -> bool:
        return t.dst is not src and (not self.skip or t.group not in self.skip)

    def questions(self) -> Iterator[Target]:
        for s in self.srcs:
            for t in self.dsts:
                if self.ok(s, t):
                    yield _question(s, t)


def _question(src, tmpl: Target) -> Target:
    return Target(src, tmpl.dst_ref, tmpl.dst_ip, tmpl.dst, tmpl.proto, tmpl.port, host=tmpl.host)


class _Nobody:
    """A source no destination is (for listing each destination's questions once)."""
    eip = None
    ref = ""


def classes(model: Lab) -> List[Klass]:
    """Every question `matrix` asks, grouped into classes (see the module's docstring), without
    walking the pairs: sources and destinations are grouped first, and only the destination
    groups a source group's route table reaches (or its own VPC holds) are met one by one; the
    unrouted rest is counted."""
    pre = Prefixes(model)
    insts = model.instances()
    hosts = list(model.internet.hosts.values()) if model.internet is not None else []
    keys = {id(i): end_key(model, pre, i) for i in insts}
    sgroups: Dict[tuple, List[Instance]] = defaultdict(list)
    for i in insts:
        sgroups[keys[id(i)]].append(i)
    # destination groups: one template question per member (as matrix_targets asks it)
    dgroups: Dict[tuple, List[Target]] = defaultdict(list)
    nobody = _Nobody()
    for d in insts:
        for t in matrix_targets(nobody, [d]):
            dgroups[(_kind(t), t.proto, t.port, keys[id(d)])].append(t)
    unrouted: Dict[tuple, List[Target]] = defaultdict(list)  # (proto, port, what a filter sees) -> templates
    unrouted_key: Dict[tuple, tuple] = {}
    private = []  # (first address, last address, group key, vpc) of the private groups
    for g, ts in dgroups.items():
        for t in ts:
            t.group = g  # the destination group a template is of (Klass.ok)
        if g[0] == "private":
            d = ts[0].dst
            ck = (g[1], g[2], pre.filtered(d.ip), tuple(d.security_groups))
            unrouted_key[g] = ck
            unrouted[ck] += ts
            sub = model.vpcs[d.vpc].subnets[d.subnet].cidr
            private.append((int(sub.network_address), int(sub.broadcast_address), g, d.vpc))
    out: List[Klass] = []

    def add(key, srcs, dsts, members, skip=frozenset()) -> None:
        if members > 0:
            out.append(Klass(len(out), key, srcs, dsts, members, skip))

    for skey, members in sgroups.items():
        first = members[0]
        vpc = model.vpcs[first.vpc]
        table = vpc.subnets[first.subnet].route_table
        t_routes = vpc.route_tables.get(table)
        spans = [(int(vpc.cidr.network_address), int(vpc.cidr.broadcast_address))] + [
            (int(r.destination.network_address), int(r.destination.broadcast_address))
            for r in (t_routes.routes if t_routes is not None else ())]
        routed = set()
        on_ccn = ccn_model.ccn_of(model, vpc.name, ccn_model.ATTACH_STATES)  # version 3: its CCN's VPCs are
        mates = {a.vpc for a in on_ccn[0].attachments} if on_ccn else set()  # told apart (reasons differ)
        for lo, hi, g, gvpc in private:
            if gvpc != vpc.name and gvpc not in mates and not any(lo <= b and a <= hi for a, b in spans):
                continue
            ip = dgroups[g][0].dst_ip
            if gvpc == vpc.name or gvpc in mates or ip in vpc.cidr or lookup(vpc, table, ip, model) is not None:
                routed.add(g)
        for g, ts in dgroups.items():
            if g[0] == "private" and g not in routed:
                continue
            own = sum(1 for t in ts if t.dst in members) if g[3] == skey else 0
            add((g[0], g[1], g[2], skey, g[3]), members, ts, len(members) * len(ts) - own)
        for ck, ts in unrouted.items():
            n = len(ts) - sum(len(dgroups[g]) for g in routed if unrouted_key[g] == ck)
            add(("private", ck[0], ck[1], skey, ("unrouted",) + ck[2:]), members, ts, len(members) * n,
                skip=frozenset(routed))
        for t in matrix_targets(nobody, [], hosts):
            add(("host", t.proto, t.port, skey, t.host.name), members, [t], len(members))
    for h in hosts:
        src = HostSource(h)
        by: Dict[tuple, List[Target]] = defaultdict(list)
        for t in host_targets(h, insts):
            by[(t.proto, t.port, keys[id(t.dst)])].append(t)
        for (proto, port, dkey), ts in by.items():
            add(("from-host", proto, port, h.name, dkey), [src], ts, len(ts))
    for k in out:
        k.rep = next(k.questions())
    return out


def _sample(k: Klass, rate: float, rng: random.Random) -> List[Target]:
    """About `rate` of the class's other questions, drawn at random."""
    want = (k.members - 1) * rate
    n = int(want) + (1 if rng.random() < want - int(want) else 0)
    out, seen = [], {(k.rep.src.ref, k.rep.dst_ref)}
    for _ in range(n * 8):
        if len(out) >= n:
            break
        src, tmpl = rng.choice(k.srcs), rng.choice(k.dsts)
        if not k.ok(src, tmpl) or (src.ref, tmpl.dst_ref) in seen:
            continue
        seen.add((src.ref, tmpl.dst_ref))
        out.append(_question(src, tmpl))
    return out


def _same(a: dict, b: dict) -> bool:
    """Whether two rows' verdicts agree. An inconclusive row (the packets could not tell, e.g.
    the machine's neighbour table was full) agrees and disagrees with nothing: it is no
    evidence that the classing is wrong (issue 24: counted so at 1,000 instances)."""
    if verdicts.INCONCLUSIVE in (a["result"], b["result"]):
        return True
    ra, rb = a.get("reason") or {}, b.get("reason") or {}
    return a["result"] == b["result"] and ra.get("code") == rb.get("code")


def question_text(row: dict) -> str:
    what = row["proto"] + (f"/{row['port']}" if row.get("port") else "")
    return f"{row['src']} -> {row['dst']} {what}"


class ClassRun:
    """`matrix --by-class`: classes, their representatives and sample probed, the rest inferred."""

    def __init__(self, lab: Optional[str] = None, sample: float = DEFAULT_SAMPLE, seed: Optional[int] = None,
                 progress=None, actor: Optional[str] = None):
        require_root("matrix")
        if not 0.0 <= sample <= 1.0:
            raise Refused(f"--sample must be a fraction from 0 to 1, not {sample}", code="InvalidParameterValue")
        self.lab = labs.resolve_lab(lab)
        self.model = settle.load_model(self.lab)
        self.sample, self.progress, self.actor = sample, progress, actor
        self.seed = seed if seed is not None else random.SystemRandom().randrange(1 << 31)
        self.classes: List[Klass] = []
        self.summary: Dict[str, int] = {}
        self.pairs = self.probed = self.mismatches = self.class_mismatches = 0
        self.seconds = 0.0

    def run(self) -> "ClassRun":
        t0 = time.monotonic()
        rng = random.Random(self.seed)
        with explain.frozen(self.model):
            self.classes = classes(self.model)
            asked = [(k, k.rep, True) for k in self.classes]
            for k in self.classes:
                asked += [(k, t, False) for t in _sample(k, self.sample, rng)]
            rows: List[dict] = []
            for start in range(0, len(asked), probing.MATRIX_CHUNK):
                chunk = asked[start:start + probing.MATRIX_CHUNK]
                rows += probing.run_many(self.model, [t for _, t, _ in chunk])
                if self.progress:
                    self.progress(len(rows), len(asked), "probing")
        for (k, _, rep), row in zip(asked, rows):
            row["probed"], row["class"] = True, k.id
            if rep:
                k.row = row
            else:
                row["representative"] = question_text(k.row)
                if not _same(row, k.row):
                    row["class_mismatch"] = (f"its class's representative {question_text(k.row)} is "
                                             f"{k.row['result']}, this pair {row['result']}: the classing has a bug")
                    self.class_mismatches += 1
                k.sampled.append(row)
        self.probed = len(rows)
        self.mismatches = sum("mismatch" in r for r in rows)
        self.summary = {r: 0 for r in RESULTS + (verdicts.INCONCLUSIVE,)}
        for k in self.classes:
            self.summary[k.row["result"]] += k.members - len(k.sampled)
            for r in k.sampled:
                self.summary[r["result"]] += 1
        self.pairs = sum(k.members for k in self.classes)
        self.seconds = round(time.monotonic() - t0, 3)
        extra = [f"{self.mismatches} disagree with explain" if self.mismatches else "",
                 f"{self.class_mismatches} disagree with their class" if self.class_mismatches else ""]
        events.log(self.lab, "matrix --by-class", f"{self.pairs} pairs in {len(self.classes)} classes, "
                   f"{self.probed} probed", events.counts_summary(self.summary), "; ".join(e for e in extra if e),
                   lab_time=self.model.clock, actor=self.actor)
        return self

    def rows(self) -> Iterator[dict]:
        """Every question's row: the probed ones as probed, the others inferred (and said to be)."""
        for k in self.classes:
            yield k.row
            yield from k.sampled
            probed = {(k.row["src"], k.row["dst"])} | {(r["src"], r["dst"]) for r in k.sampled}
            reason = k.row.get("reason") or {}
            base = {"result": k.row["result"], "reason": {"code": reason.get("code"), "where": reason.get("where")},
                    "probed": False, "class": k.id, "inferred_from": question_text(k.row)}
            for t in k.questions():
                if (t.src.ref, t.dst_ref) not in probed:
                    yield {"src": t.src.ref, "dst": t.dst_ref, "proto": t.proto, "port": t.port, **base}

    def document(self) -> dict:
        return {"lab": self.lab, "by_class": True, "seed": self.seed, "sample": self.sample,
                "classes": [{"class": k.id, "members": k.members, "result": k.row["result"],
                             "representative": k.row, "sampled": k.sampled} for k in self.classes],
                "summary": self.summary, "pairs": self.pairs, "probed": self.probed,
                "inferred": self.pairs - self.probed, "mismatches": self.mismatches,
                "class_mismatches": self.class_mismatches, "seconds": self.seconds}
