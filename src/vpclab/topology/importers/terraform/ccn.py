"""CCN resources of a plan -> the topology's `ccns:` key (TOPOLOGY.md version 3).

- `tencentcloud_ccn`: one CCN, named from its address; its account is its provider
  configuration's (accounts.py), or the UIN an attachment's `ccn_uin` names;
  `bandwidth_limit_type` (the cloud's default OUTER_REGION_LIMIT) decides how its limits read.
- `tencentcloud_ccn_attachment` (and `_v2`, the same arguments): `instance_type` VPC only,
  `instance_id` a VPC of the plan. In attach order: a state's `attached_time`, else the
  address order (a plan does not say which attachment Terraform makes first; noted when it
  decides a route conflict's winner). Another account's VPC is PENDING unless a
  `tencentcloud_ccn_instances_accept_attach` names it (ACTIVE) or `_reject_attach` (REJECTED);
  a state's `state` attribute says it outright.
- `tencentcloud_ccn_bandwidth_limit`: `region` + `dst_region` is a region pair's cap
  (INTER_REGION_LIMIT), `region` alone that region's outbound total (OUTER_REGION_LIMIT);
  `bandwidth_limit` in Mbps.
"""
from __future__ import annotations

import ipaddress
from typing import Any, Dict, List, Optional, Tuple

from .plan import CCN, CCN_ACCEPT, CCN_ATTACH, CCN_ATTACH_V2, CCN_LIMIT, CCN_REJECT, VPC, Note, Res

ATTACH_TYPES = (CCN_ATTACH, CCN_ATTACH_V2)
STATES = {"ACTIVE": "accepted", "PENDING": "pending", "REJECTED": "rejected"}


def _ccn_of(conv, r: Res) -> Optional[Res]:
    t, _, why = conv.rv.target(r, "ccn_id")
    if t is None or t.type != CCN or t.vpclab is None:
        conv.notes.append(Note(r.address, "unresolved: " + (why or f"ccn_id points at {t.address}, not a {CCN} of "
                                                                   "the plan") + " (not imported)"))
        return None
    return t


def name_ccns(conv) -> None:
    """Give each CCN its name (routes with next_type USER_CCN name it before `convert` runs)."""
    for r in conv.by_type.get(CCN, []):
        r.vpclab = conv.names[r]


def answered(conv) -> Dict[Tuple[int, int], Dict[str, str]]:
    """(id(CCN), id(VPC)) -> {"accepted"|"rejected": the operation's address}."""
    out: Dict[Tuple[int, int], Dict[str, str]] = {}
    for op, what in ((CCN_ACCEPT, "accepted"), (CCN_REJECT, "rejected")):
        for r in conv.by_type.get(op, []):
            c = _ccn_of(conv, r)
            blocks = r.values.get("instances")
            if c is None or not isinstance(blocks, list):
                continue
            for i in range(len(blocks)):
                v, _, why = conv.rv.target(r, "instance_id", ("instances", i))
                if v is None or v.type != VPC:
                    conv.notes.append(Note(r.address, f"unresolved: instances[{i}]: {why or 'not a VPC of the plan'} "
                                                      "(not imported)"))
                    continue
                out.setdefault((id(c), id(v)), {})[what] = r.address
    return out


def convert(conv, out, accounts, account_names) -> None:
    """Fill `out.ccns` (name -> body) from the plan's CCN resources."""
    notes, rv = conv.notes, conv.rv
    ccns: Dict[int, Res] = {}
    for r in conv.by_type.get(CCN, []):
        account = accounts.of(r, account_names)
        if account not in out.accounts:
            out.accounts.append(account)
        mode = str(r.values.get("bandwidth_limit_type") or "").upper()
        out.ccns[r.vpclab] = {"account": account, "attachments": [], "bandwidth_limits": [],
                              "_mode": mode if mode in ("INTER_REGION_LIMIT", "OUTER_REGION_LIMIT") else ""}
        out.where[("ccn", r.vpclab)] = r.address
        ccns[id(r)] = r
    ops = answered(conv)
    rows: List[Tuple[Any, int, Res, dict]] = []  # (attach time, position, resource, attachment)
    for n, r in enumerate(r for t in ATTACH_TYPES for r in conv.by_type.get(t, [])):
        kind = str(r.values.get("instance_type") or "").upper()
        if kind != "VPC":
            notes.append(Note(r.address, f"instance_type {kind or 'unknown'}: vpclab attaches VPCs only "
                                         "(not imported)"))
            continue
        c = _ccn_of(conv, r)
        v, _, why = rv.target(r, "instance_id")
        if c is None:
            continue
        if v is None or v.type != VPC or v.vpclab is None:
            notes.append(Note(r.address, "unresolved: instance_id " + (why or "is not an imported VPC of the plan")
                                         + " (not imported)"))
            continue
        body = out.ccns[c.vpclab]
        vpc = out.vpcs[v.vpclab]
        region = r.values.get("instance_region")
        if isinstance(region, str) and region and region != vpc["region"]:
            notes.append(Note(r.address, f"partial: instance_region {region}, but {v.vpclab} is in {vpc['region']} "
                                         "(its provider's region): kept the VPC's"))
        item: Dict[str, Any] = {"vpc": v.vpclab}
        if vpc["account"] != body["account"]:
            state = str(r.values.get("state") or "").upper()
            done = ops.get((id(c), id(v)), {})
            if state in STATES:
                how = STATES[state]
            elif state:
                notes.append(Note(r.address, f"state {state}: not imported (only ACTIVE, PENDING and REJECTED "
                                             "attachments are)"))
                continue
            elif len(done) == 2:
                how = "pending"
                notes.append(Note(r.address, f"partial: both accepted ({done['accepted']}) and rejected "
                                             f"({done['rejected']}); imported as PENDING"))
            else:
                how = next(iter(done), "pending")
                if not done:
                    notes.append(Note(r.address, f"partial: {v.vpclab} is in account {vpc['account']}, the CCN in "
                                                 f"{body['account']}, and no {CCN_ACCEPT} names it: PENDING "
                                                 f"(`vpclab ccn accept {c.vpclab} {v.vpclab}` makes it ACTIVE)"))
            if how == "rejected":
                item["rejected"] = True
            else:
                item["accepted"] = how == "accepted"
        else:
            for what, addr in ops.get((id(c), id(v)), {}).items():
                notes.append(Note(addr, f"partial: {v.vpclab} is in the CCN's own account ({body['account']}), "
                                        f"ACTIVE at once: nothing to be {what} (ignored)"))
        if any(a["vpc"] == v.vpclab for a in body["attachments"]):
            notes.append(Note(r.address, f"{v.vpclab} is attached to {c.vpclab} twice: the second is not imported"))
            continue
        when = r.values.get("attached_time")
        rows.append((when if isinstance(when, str) and when else None, n, r, item))
        body["attachments"].append(item)
        out.where[("ccn-attach", c.vpclab, v.vpclab)] = r.address
    _order(conv, out, rows)
    _limits(conv, out)
    for body in out.ccns.values():
        body.pop("_mode")


def _order(conv, out, rows) -> None:
    """Attachments in attach order: by `attached_time` when every one has it (a state), else in
    address order, noted where that order decides which of two overlapping routes wins."""
    timed = all(t is not None for t, _, _, _ in rows)
    rows.sort(key=lambda x: (x[0] or "", x[1]) if timed else x[1])
    by_vpc = {id(item): r for _, _, r, item in rows}
    for name, body in out.ccns.items():
        body["attachments"].sort(key=lambda item: next(i for i, x in enumerate(rows) if x[3] is item))
        if timed or len(body["attachments"]) < 2:
            continue
        seen: List[Tuple[ipaddress.IPv4Network, str]] = []
        for item in body["attachments"]:
            v = out.vpcs[item["vpc"]]
            mine = [ipaddress.IPv4Network(s["cidr"], strict=False) for s in v["subnets"].values()]
            clash = next(((d, w) for d, w in seen for m in mine if d.overlaps(m)), None)
            if clash is not None:
                conv.notes.append(Note(by_vpc[id(item)].address, f"partial: a plan does not say which attachment is "
                                       f"made first; {item['vpc']} is put after {clash[1]} (address order), so its "
                                       f"route overlapping {clash[0]} comes in disabled"))
            seen += [(m, item["vpc"]) for m in mine]


def _limits(conv, out) -> None:
    regions = {v["region"] for v in out.vpcs.values()}
    for r in conv.by_type.get(CCN_LIMIT, []):
        c = _ccn_of(conv, r)
        if c is None:
            continue
        body = out.ccns[c.vpclab]
        src, dst, mbps = r.values.get("region"), r.values.get("dst_region"), r.values.get("bandwidth_limit")
        if not isinstance(mbps, int) or isinstance(mbps, bool) or mbps <= 0:
            notes = "unknown before apply" if mbps is None else f"{mbps!r}"
            conv.notes.append(Note(r.address, f"bandwidth_limit {notes}: no cap to carry (not imported; the CCN "
                                              "keeps its 1Gbps default)"))
            continue
        if not isinstance(src, str) or not src or (dst is not None and not isinstance(dst, str)):
            conv.notes.append(Note(r.address, "unresolved: region is unknown (not imported)"))
            continue
        pair = bool(dst)
        mode = body["_mode"]
        if mode and pair != (mode == "INTER_REGION_LIMIT"):
            conv.notes.append(Note(r.address, f"{'dst_region' if pair else 'no dst_region'} on a CCN whose "
                                              f"bandwidth_limit_type is {mode}: not imported"))
            continue
        missing = [x for x in ((src, dst) if pair else (src,)) if x not in regions]
        if missing:
            conv.notes.append(Note(r.address, f"region {missing[0]}: no imported VPC is there (not imported)"))
            continue
        if not mode:
            body["_mode"] = "INTER_REGION_LIMIT" if pair else "OUTER_REGION_LIMIT"
        item = {"regions": [src, dst]} if pair else {"region": src}
        item["bandwidth"] = f"{mbps}Mbps"
        body["bandwidth_limits"].append(item)
        out.where[("ccn-limit", c.vpclab, len(body["bandwidth_limits"]) - 1)] = r.address
