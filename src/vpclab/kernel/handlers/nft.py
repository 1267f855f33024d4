"""nftables rulesets: the table `inet vpclab` of one namespace (plan.objects.Ruleset).

create and change alike replace the whole table in ONE libnftables transaction
(add table, delete table, add table, its chains, its rules: atomic, so a packet
meets the old ruleset or the new one, never half of either); in a namespace the same
apply created (no table there yet) the table is only added; delete removes the
table (add + delete in one transaction: gone already is fine). Each namespace's
transaction is sent after the object stage, when its links exist (rules name
interfaces by name anyway). Read back: the table's chains and rules, counters
without their values, so a table deleted or edited by hand reads back changed.

A lab without filters never loads libnftables: nothing is sent, and the read-back
looks only where the binding is installed.
"""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List

from ...plan.nftjson import canonical
from ...plan.objects import NFT_FAMILY, NFT_TABLE, NftChain, Ruleset
from .. import nft
from .base import Handler

BASE = {"family": NFT_FAMILY, "table": NFT_TABLE}


def commands(rs: Ruleset, fresh: bool = False) -> List[dict]:
    """The one transaction that makes `rs` the namespace's table, whatever it held.
    `fresh`: the namespace was created by this apply and holds no table; the table is
    only added (add + delete + add costs libnftables 2 more tables and the kernel a
    table destroyed: ~0.3 ms of CPU, and ~12 ms of wall when its context is freed)."""
    out = [{"add": {"table": nft.TABLE}}]
    if not fresh:
        out += [{"delete": {"table": nft.TABLE}}, {"add": {"table": nft.TABLE}}]
    for c in rs.chains:
        chain = dict(BASE, name=c.name)
        if c.hook:
            chain.update(type=c.type, hook=c.hook, prio=c.prio, policy=c.policy)
        out.append({"add": {"chain": chain}})
    for c in rs.chains:
        for expr, comment in c.rules:
            r = dict(BASE, chain=c.name, expr=json.loads(expr))
            if comment:
                r["comment"] = comment
            out.append({"add": {"rule": r}})
    return out


def commands_text(rs: Ruleset, fresh: bool = False) -> str:
    """`commands(rs, fresh)` as the JSON text libnftables reads, the rules' expressions pasted
    in as the canonical text the plan keeps (no decoding and encoding again per rule)."""
    head = [json.dumps(c) for c in commands(Ruleset(rs.ns, tuple(NftChain(c.name, (), c.hook, c.type, c.prio,
                                                                          c.policy) for c in rs.chains)), fresh)]
    base = json.dumps(BASE)[1:-1]
    rules = []
    for c in rs.chains:
        chain = json.dumps(c.name)
        for expr, comment in c.rules:
            extra = f',"comment":{json.dumps(comment)}' if comment else ""
            rules.append(f'{{"add":{{"rule":{{{base},"chain":{chain},"expr":{expr}{extra}}}}}}}')
    return '{"nftables":[' + ",".join(head + rules) + "]}"


DELETE = [{"add": {"table": nft.TABLE}}, {"delete": {"table": nft.TABLE}}]


def parse(ns: str, listing: list) -> Ruleset:
    """A table listing (libnftables JSON objects) as a Ruleset."""
    chains: Dict[str, dict] = {}
    rules: Dict[str, list] = {}
    for o in listing:
        if "chain" in o:
            c = o["chain"]
            chains[c["name"]] = c
            rules.setdefault(c["name"], [])
        elif "rule" in o:
            r = o["rule"]
            rules.setdefault(r["chain"], []).append((canonical(r.get("expr", [])), r.get("comment")))
    out = []
    for name in sorted(rules):
        c = chains.get(name, {})
        out.append(NftChain(name, tuple(rules[name]), c.get("hook"), c.get("type"), c.get("prio"), c.get("policy")))
    return Ruleset(ns, tuple(out))


WORKERS = 8  # threads sending transactions alongside the netlink stages: a first table in a namespace
# waits on the kernel (~10 ms wall, ~1 ms CPU), and libnftables runs without the GIL
MARK = "nft"  # a file in the lab's run directory: this lab has had nftables tables (the read-back looks)


def _mark(s) -> None:
    ctx = s.ctx
    if ctx is not None and getattr(ctx, "run_dir", None) is not None:
        try:
            (Path(ctx.run_dir) / MARK).touch()
        except OSError:
            pass


class NftHandler(Handler):
    kind = "nft"

    def _replace(self, a, fresh: bool = False) -> None:
        nft.transact(a.obj.ns, commands_text(a.obj, fresh), what=a.obj.describe())

    def prepare(self, s, actions) -> None:
        """Every namespace exists: send the tables from WORKERS threads while the engine
        goes on with links, addresses and routes (rules name interfaces, they need none)."""
        if not actions:
            return
        nft.require()  # no binding: refuse here, not from a worker after the rest is built
        _mark(s)  # before the first table: a run killed after it still gets its tables read back
        born = set(s.fresh)  # created by this apply (the namespace stage just ran): no table yet
        pool = ThreadPoolExecutor(max_workers=min(WORKERS, len(actions)), thread_name_prefix="vpclab-nft")
        futures = [pool.submit(self._replace, a, a.op == "create" and a.obj.ns in born) for a in actions]
        s.state[self.kind] = (pool, futures, {id(a) for a in actions})

    def create(self, s, a) -> None:
        started = s.state.get(self.kind)
        if started is None or id(a) not in started[2]:
            _mark(s)
            self._replace(a)  # not started early (no prepare): now
        s.result.done += 1

    def delete(self, s, a) -> None:
        if not s.live(a.obj.ns):
            s.skip()
            return
        nft.transact(a.obj.ns, DELETE, what=a.obj.describe())
        s.result.done += 1

    def finish(self, s) -> None:
        self.close(s, cancel=False)

    def close(self, s, cancel: bool = True) -> None:
        started = s.state.pop(self.kind, None)
        if started is None:
            return
        pool, futures, _ = started
        pool.shutdown(wait=True, cancel_futures=cancel)
        if not cancel:
            for f in futures:
                f.result()  # the first refusal, raised here

    def read_lab(self, views, ctx):
        if not views or not nft.available()[0]:
            return
        run_dir = getattr(ctx, "run_dir", None) if ctx is not None else None
        if run_dir is not None and not (Path(run_dir) / MARK).exists():
            return  # this lab never had a table: a version-1 lab pays nothing for the read-back
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            for v, listing in zip(views, pool.map(lambda v: nft.table(v.ns), views)):
                if listing is not None:
                    yield parse(v.ns, listing)


HANDLER = NftHandler()
