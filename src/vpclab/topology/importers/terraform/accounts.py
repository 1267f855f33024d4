"""Which account each VPC of a plan belongs to.

A VPC is in its provider configuration's account. What the plan says about accounts:

- a provider configuration's `assume_role.role_arn` (`qcs::cam::uin/100000000001:roleName/...`)
  names its account's UIN;
- a `data.tencentcloud_user_info` read with a provider configuration has its `owner_uin`;
- a peering's `destination_uin` is the account of its destination VPC (a known value, or a
  reference to such a data source);
- an accept or reject operation runs in the destination VPC's account.

These join provider configurations into accounts (union-find). An account with a known UIN is
named `uin-<UIN>`; one without is named after its provider configuration's alias (`default`
for the unaliased one), and when the plan holds more than one account, a note says that this
one could not be told apart from the others for certain.
"""
from __future__ import annotations

import re
from typing import Dict, List, Optional

from ....errors import shown
from .plan import ACCEPT, CCN, CCN_ATTACH, CCN_ATTACH_V2, PEER, REJECT, USER_INFO, VPC, Note, Res, Resolver

_UIN = re.compile(r"uin/([0-9]{1,20})")


def _uin(value) -> Optional[str]:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        value = str(value)
    return value if isinstance(value, str) and re.fullmatch(r"[0-9]{1,20}", value) else None


class Accounts:
    def __init__(self, rv: Resolver, by_type: Dict[str, List[Res]], notes: List[Note]):
        self.rv, self.notes = rv, notes
        self.parent: Dict[str, str] = {}
        self.uin: Dict[str, str] = {}  # root -> UIN
        for r in by_type.get(VPC, []) + by_type.get(USER_INFO, []) + by_type.get(CCN, []):
            self._node(self.key(r))
        for key in sorted(self.parent):
            arn = self._assume_role(key)
            if arn:
                self._give(key, arn, f"provider {key}", "its assume_role")
        for r in by_type.get(USER_INFO, []):
            u = _uin(r.values.get("owner_uin"))
            if u:
                self._give(self.key(r), u, r.address, "owner_uin")
        for p in by_type.get(PEER, []):
            b = rv.target(p, "destination_vpc_id")[0]
            if b is None or b.type != VPC:
                continue
            u = _uin(p.values.get("destination_uin"))
            if u:
                self._give(self.key(b), u, p.address, "destination_uin")
            else:
                info = self._user_info(p, by_type)
                if info is not None:
                    self._join(self.key(b), self.key(info), p.address, f"destination_uin ({info.address})")
        for a in by_type.get(CCN_ATTACH, []) + by_type.get(CCN_ATTACH_V2, []):  # ccn_uin: the CCN's account
            c, u = rv.target(a, "ccn_id")[0], _uin(a.values.get("ccn_uin"))
            if c is not None and c.type == CCN and u:
                self._give(self.key(c), u, a.address, "ccn_uin")
        for op in by_type.get(ACCEPT, []) + by_type.get(REJECT, []):
            p = rv.target(op, "peering_connection_id")[0]
            b = rv.target(p, "destination_vpc_id")[0] if p is not None and p.type == PEER else None
            if b is not None and b.type == VPC and rv.config.resource(op.calls, op.type, op.name):
                self._join(self.key(b), self.key(op), op.address, "it runs in the destination VPC's account")
        for k in sorted(self.parent):  # a state's VPC nothing tells apart: the default provider's account
            if k.startswith("vpc:") and self._root(k) not in self.uin:
                self._join(k, "tencentcloud", k[4:], "no provider configuration in a state")

    # ---- the union-find over provider configurations and UINs --------------------------------

    def key(self, r: Res) -> str:
        if r.type in (VPC, CCN) and not self.rv.config.resource(r.calls, r.type, r.name):
            return f"vpc:{r.address}"  # a state has no configuration: the VPC's own, joined to the default below
        key = self.rv.config.provider_key(r.calls, r.type, r.name)
        return key if key in self.rv.config.providers else key.split(":")[-1]

    def _node(self, key: str) -> str:
        self.parent.setdefault(key, key)
        return key

    def _root(self, key: str) -> str:
        self._node(key)
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def _give(self, key: str, uin: str, address: str, how: str) -> None:
        root = self._root(key)
        had = self.uin.get(root)
        if had and had != uin:
            self.notes.append(Note(address, f"partial: {how} says account {uin}, but provider {key} is already "
                                            f"account {had}; kept {had}"))
            return
        self.uin[root] = uin
        for k in list(self.parent):  # another configuration with that UIN: the same account
            other = self._root(k)
            if other != root and self.uin.get(other) == uin:
                self._join(k, key, address, how)

    def _join(self, a: str, b: str, address: str, how: str) -> None:
        ra, rb = self._root(a), self._root(b)
        if ra == rb:
            return
        ua, ub = self.uin.get(ra), self.uin.get(rb)
        if ua and ub and ua != ub:
            self.notes.append(Note(address, f"partial: {how} joins account {ua} (provider {a}) and account {ub} "
                                            f"(provider {b}); kept apart"))
            return
        low, high = sorted((ra, rb))
        self.parent[high] = low
        if ua or ub:
            self.uin[low] = ua or ub

    # ---- what the plan says ----------------------------------------------------------------

    def _assume_role(self, key: str) -> Optional[str]:
        exprs = self.rv.config.provider(key).get("expressions")
        roles = exprs.get("assume_role") if isinstance(exprs, dict) else None
        for role in roles if isinstance(roles, list) else [roles]:
            arn = role.get("role_arn") if isinstance(role, dict) else None
            value = arn.get("constant_value") if isinstance(arn, dict) else None
            m = _UIN.search(value) if isinstance(value, str) else None
            if m:
                return m.group(1)
        return None

    def _user_info(self, p: Res, by_type) -> Optional[Res]:
        expr = self.rv.config.expression(p, "destination_uin") or {}
        refs = expr.get("references") if isinstance(expr.get("references"), list) else []
        for ref in refs:
            m = re.match(r"data\.tencentcloud_user_info\.([A-Za-z0-9_-]+)", ref) if isinstance(ref, str) else None
            for r in by_type.get(USER_INFO, []) if m else []:
                if r.name == m.group(1) and r.module == p.module:
                    return r
        return None

    # ---- the answer -------------------------------------------------------------------------

    def names(self) -> Dict[str, str]:
        """provider configuration key -> account name."""
        roots: Dict[str, List[str]] = {}
        for k in sorted(self.parent):
            roots.setdefault(self._root(k), []).append(k)
        out: Dict[str, str] = {}
        taken: set = set()
        for root, keys in roots.items():
            if root in self.uin:
                name = f"uin-{self.uin[root]}"
            else:
                alias = keys[0].split(":")[-1]
                name = alias.split(".", 1)[1] if "." in alias else "default"
                name = re.sub(r"[^A-Za-z0-9_.@-]", "-", name)[:64] or "default"
                while name in taken:
                    name = (name + "-x")[-64:]
                if len(roots) > 1:
                    self.notes.append(Note(f"provider {shown(keys[0], 80)}", f"partial: its account is not in the "
                                           f"plan (no assume_role with a uin, no data.tencentcloud_user_info read "
                                           f"with it, no peering's destination_uin for its VPCs); its VPCs are "
                                           f"put in account {name}, apart from the others"))
            taken.add(name)
            for k in keys:
                out[k] = name
        return out

    def of(self, r: Res, names: Dict[str, str]) -> str:
        return names.get(self.key(r)) or names.get(self._root(self.key(r)), "default")
