"""`vpclab sg rule list` and `vpclab acl rule list`: the ordered rules of a lab's security groups
and network ACLs, each with its index (what `--index` of `rule add|del` takes), its text, and
its counter: the packets and bytes the kernel's nftables rule standing for it has counted.

The counters are read as `probe` reads them (probe/counters.py): every nftables rule vpclab
installs for a model rule carries a counter and a comment naming it (`vpclab sg VPC/GROUP
ingress 0`). A security group's rules sit in each instance that carries it (the counter shown
is their sum, `at` lists each instance's); a network ACL's in its VPC's router, once per
bound subnet (summed, `at` per subnet). The drop at the end of each direction ("no rule
matched") is listed as a row with index null: for an ACL its own, for a group the drop of
the instances that carry it (their groups together decide, so it counts for all of them).
Counters count every packet since the rule was installed (a live edit that reinstalls a
chain starts its rules from 0); nothing here resets them.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from ..errors import EnvironmentProblem, KernelRefused
from ..kernel import netns
from ..model import filter_ops
from ..model.filter_rules import PEER_KEY, rule_text
from ..model.filters import ACL_DIRECTIONS, SG_DIRECTIONS
from ..model.types import Lab
from ..plan import names
from ..probe import counters as nftc
from ..state import labs
from . import host, settle

KINDS = {"sg": ("security group", "security_groups", SG_DIRECTIONS),
         "acl": ("network ACL", "network_acls", ACL_DIRECTIONS)}
Key = Tuple[str, str, str, Optional[int]]  # (vpc, owner, direction, index)


def rule_list(kind: str, ref: Optional[str] = None, lab: Optional[str] = None) -> dict:
    """The `sg|acl rule list --json` document: every group (ACL) of the lab, or the one `ref`
    (VPC/NAME) names, with its rules in order and their counters."""
    host.require_root(f"{kind} rule list")
    name = labs.resolve_lab(lab)
    model = settle.load_model(name)
    what, table, _ = KINDS[kind]
    if ref is not None:
        v, owner = (filter_ops.find_group if kind == "sg" else filter_ops.find_acl)(model, ref)
        owners = [(v, owner)]
    else:
        owners = [(v, o) for v in model.vpcs.values() for o in getattr(v, table).values()]
    counted, why = read_counters(model, kind, owners)  # None: not readable (`why`)
    items = [(group_doc if kind == "sg" else acl_doc)(model, v, o, counted) for v, o in owners]
    return {"lab": name, "kind": kind, "counters": why is None, "counters_missing": why,
            ("groups" if kind == "sg" else "acls"): items}


def _namespaces(model: Lab, kind: str, owners) -> Dict[str, str]:
    """namespace -> what it is (an instance's ref, a VPC's name) for the rules of `owners`."""
    out: Dict[str, str] = {}
    for v, o in owners:
        if kind == "sg":
            for i in v.instances.values():
                if o.name in i.security_groups:
                    out[names.instance_ns(model.name, v.name, i.name)] = i.ref
        elif o.subnets:
            out[names.vpc_ns(model.name, v.name)] = v.name
    return out


Counted = Optional[Dict[Key, Dict[str, Tuple[int, int]]]]  # None: the counters could not be read


def read_counters(model: Lab, kind: str, owners) -> Tuple[Counted, Optional[str]]:
    """{(vpc, owner, direction, index): {where: (packets, bytes)}} from the kernel, and None; or
    (None, why not) when the counters cannot be read (no libnftables binding, a namespace gone)."""
    spaces = _namespaces(model, kind, owners)
    missing = [ns for ns in spaces if not netns.exists(ns)]
    if missing:
        return None, f"namespace {missing[0]} is missing: `vpclab up FILE` rebuilds the lab"
    if not spaces:
        return {}, None
    try:
        snap = nftc.Reader(spaces).read()
    except (EnvironmentProblem, KernelRefused) as e:
        return None, e.message
    out: Dict[Key, Dict[str, Tuple[int, int]]] = {}
    for ns, rules in snap.items():
        for c in rules.values():
            r = c.ref
            if r.kind != kind:
                continue
            where = r.subnet if kind == "acl" else spaces[ns]
            at = out.setdefault((r.vpc, r.owner, r.direction, r.index), {})
            p, b = at.get(where, (0, 0))
            at[where] = (p + c.packets, b + c.bytes)
    return out, None


def _counter(counted, key: Key, places: List[str]) -> Optional[dict]:
    """A rule's counter summed over `places` (instances, subnets), each one's beside it; None when
    the counters could not be read or the rule is installed nowhere (a group no instance carries)."""
    if counted is None or not places:
        return None
    at = counted.get(key) or {}
    return {"packets": sum(p for p, _ in at.values()), "bytes": sum(b for _, b in at.values()),
            "at": {w: {"packets": at.get(w, (0, 0))[0], "bytes": at.get(w, (0, 0))[1]} for w in places}}


def _rows(kind: str, v, o, counted, places: List[str], default_of) -> List[dict]:
    rows = []
    for direction in KINDS[kind][2]:
        for i, r in enumerate(o.rules(direction)):
            rows.append({"direction": direction, "index": i, "proto": r.proto,
                         "port": r.port_text() if r.ports is not None else "all",
                         PEER_KEY[direction]: r.peer, "action": r.action, "text": rule_text(r, direction),
                         "counter": _counter(counted, (v.name, o.name, direction, i), places)})
        rows.append({"direction": direction, "index": None, "proto": "all", "port": "all",
                     PEER_KEY[direction]: "0.0.0.0/0", "action": "drop", "text": "no rule matched: drop",
                     "counter": default_of(direction)})
    return rows


def group_doc(model: Lab, v, g, counted) -> dict:
    insts = [i for i in v.instances.values() if g.name in i.security_groups]
    places = [i.ref for i in insts]

    def default_of(direction: str) -> Optional[dict]:
        if counted is None:
            return None
        at = {}  # each instance's own "no rule matched" drop (plan/filters.py), by instance
        for i in insts:
            at.update(counted.get((v.name, i.name, direction, None)) or {})
        return _counter({"-": at}, "-", places)

    return {"vpc": v.name, "name": g.name, "ref": f"{v.name}/{g.name}", "instances": places,
            "rules": _rows("sg", v, g, counted, places, default_of)}


def acl_doc(model: Lab, v, a, counted) -> dict:
    places = list(a.subnets)

    def default_of(direction: str) -> Optional[dict]:
        return _counter(counted, (v.name, a.name, direction, None), places)

    return {"vpc": v.name, "name": a.name, "ref": f"{v.name}/{a.name}", "subnets": places,
            "rules": _rows("acl", v, a, counted, places, default_of)}
