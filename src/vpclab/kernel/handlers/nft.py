"""nftables rulesets: the table `inet vpclab` of one namespace (plan.objects.Ruleset).

create and change alike replace the whole table in ONE libnftables transaction
(add table, delete table, add table, its chains, its rules: atomic, so a packet
meets the old ruleset or the new one, never half of either); delete removes the
table (add + delete in one transaction: gone already is fine). Each namespace's
transaction is sent after the object stage, when its links exist (rules name
interfaces by name anyway). Read back: the table's chains and rules, counters
without their values, so a table deleted or edited by hand reads back changed.

A lab without filters never loads libnftables: nothing is sent, and the read-back
looks only where the binding is installed.
"""
from __future__ import annotations

import json
from typing import Dict, List

from ...plan.nftjson import canonical
from ...plan.objects import NFT_FAMILY, NFT_TABLE, NftChain, Ruleset
from .. import nft
from .base import Handler

BASE = {"family": NFT_FAMILY, "table": NFT_TABLE}


def commands(rs: Ruleset) -> List[dict]:
    """The one transaction that makes `rs` the namespace's table, whatever it held."""
    out = [{"add": {"table": nft.TABLE}}, {"delete": {"table": nft.TABLE}}, {"add": {"table": nft.TABLE}}]
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


class NftHandler(Handler):
    kind = "nft"

    def create(self, s, a) -> None:
        s.state.setdefault(self.kind, []).append(a)

    def delete(self, s, a) -> None:
        if not s.live(a.obj.ns):
            s.skip()
            return
        nft.transact(a.obj.ns, DELETE, what=a.obj.describe())
        s.result.done += 1

    def after(self, s) -> None:
        for a in s.state.pop(self.kind, []):
            nft.transact(a.obj.ns, commands(a.obj), what=a.obj.describe())
            s.result.done += 1

    def read_lab(self, views, ctx):
        if not nft.available()[0]:
            return
        for v in views:
            listing = nft.table(v.ns)
            if listing is not None:
                yield parse(v.ns, listing)


HANDLER = NftHandler()
