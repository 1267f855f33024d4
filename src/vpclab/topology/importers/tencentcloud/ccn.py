"""CCNs of a snapshot -> the topology's `ccns:` key (TOPOLOGY.md version 3).

- `DescribeCcns`: one CCN per CcnId (a CCN is global: every region's file lists it), named from
  `CcnName`, in the account of the folder that lists it; `BandwidthLimitType` says how its
  limits read.
- `DescribeCcnAttachedInstances`: VPC attachments in `AttachedTime` order (the order decides
  route conflicts). `State` ACTIVE, PENDING or REJECTED; across accounts `accepted: true` /
  `accepted: false` / `rejected: true`. `EnableRouteVpcPublish` of the VPC: `publish: vpc-cidr`.
- `DescribeCcnRoutes` (one file per CCN, its id in the file's name): each route's `Enabled`.
  The model decides what a route's state is by default (first attached wins); a route the
  snapshot shows otherwise becomes a `disabled_routes` or `enabled_routes` entry (`overrides`).
- `DescribeCcnRegionBandwidthLimits` (likewise per CCN): `{Region, DstRegion, BandwidthLimit}`.
"""
from __future__ import annotations

from typing import Dict, List, Optional

from ....model import ccn as model  # the model's own rule decides the default route states
from . import names
from .estate import Ctx, network, num, s

STATES = ("ACTIVE", "PENDING", "REJECTED")


def uins(snap, vpcs_of: Dict[int, set]) -> Dict[int, set]:
    """Per DIR, the owner UINs the CCN calls show: a VPC's `InstanceUin`, a listed CCN's `CcnUin`."""
    out: Dict[int, set] = {}
    ccns_of: Dict[int, set] = {}
    for _, acc, c in snap.of("DescribeCcns"):
        ccns_of.setdefault(acc, set()).add(s(c, "CcnId"))
    for _, _, a in snap.of("DescribeCcnAttachedInstances"):
        for acc in set(vpcs_of) | set(ccns_of):
            for uin, mine in ((s(a, "InstanceUin"), s(a, "InstanceId") in vpcs_of.get(acc, ())),
                              (s(a, "CcnUin"), s(a, "CcnId") in ccns_of.get(acc, ()))):
                if mine and uin.isdigit():
                    out.setdefault(acc, set()).add(int(uin))
    return out


def _one_ccn(ctx: Ctx, call: str) -> Dict[str, List[object]]:
    """CCN id -> the items of `call`; a file whose name names no CCN is the only CCN's, if one."""
    out: Dict[str, List[object]] = {}
    for (name, cid), items in ctx.snap.per_ccn.items():
        if name != call:
            continue
        if not cid and len(ctx.ccn) == 1:
            cid = next(iter(ctx.ccn))
        if cid not in ctx.ccn:
            ctx.note(cid or call, f"{call} of " + (f"CCN {cid}, which is not imported" if cid else
                     "no CCN (the file's name holds no single ccn-xxxxxxxx id and the snapshot has several CCNs; "
                     "save it as CCN_ID.json)") + ": not imported")
            continue
        out.setdefault(cid, []).extend(items)
    return out


def ccns(ctx: Ctx, acc_names: List[str], taken) -> None:
    """Build `ctx.out.ccns` (before the routes: a USER_CCN route names its CCN)."""
    rows, seen = [], set()
    for _, acc, c in ctx.snap.of("DescribeCcns"):
        cid = s(c, "CcnId")
        if not cid or cid in seen:
            continue
        seen.add(cid)
        state = s(c, "State").upper()
        if state and state != "AVAILABLE":
            ctx.note(cid, f"state {state} (arrears): imported as AVAILABLE")
        rows.append((cid, c, acc))
    cnames = names.assign([(r[0], s(r[1], "CcnName")) for r in rows], names.PEERING, set(taken))
    for cid, c, acc in sorted(rows, key=lambda r: cnames[r[0]]):
        name = cnames[cid]
        ctx.ccn[cid] = name
        ctx.out.ccns[name] = {"account": acc_names[acc], "attachments": [], "bandwidth_limits": [], "_routes": [],
                              "_inter": s(c, "BandwidthLimitType").upper() != "OUTER_REGION_LIMIT"}
        ctx.out.ids[("ccn", name)] = cid
    _attachments(ctx)
    for cid, items in _one_ccn(ctx, "DescribeCcnRoutes").items():
        body = ctx.out.ccns[ctx.ccn[cid]]
        for r in items:
            rid, vid, net = s(r, "RouteId"), s(r, "InstanceId"), network(s(r, "DestinationCidrBlock"))
            if s(r, "InstanceType").upper() != "VPC" or vid not in ctx.vpc or net is None:
                ctx.note(rid or cid, f"route to {s(r, 'DestinationCidrBlock') or '?'} via "
                                     f"{s(r, 'InstanceType') or '?'} {vid or '?'}: not a route of an imported VPC "
                                     "(not imported)")
                continue
            enabled = getattr(r, "Enabled", None)
            if isinstance(enabled, bool):
                body["_routes"].append((f"{net}@{ctx.vpc[vid]}", enabled, rid))
    _limits(ctx)


def _attachments(ctx: Ctx) -> None:
    publish = {s(v, "VpcId"): getattr(v, "EnableRouteVpcPublish", None) is True
               for _, _, v in ctx.snap.of("DescribeVpcs")}
    rows, seen = [], set()
    for _, _, a in ctx.snap.of("DescribeCcnAttachedInstances"):
        cid, vid, state = s(a, "CcnId"), s(a, "InstanceId"), s(a, "State").upper()
        where = f"{cid or '?'} attachment {vid or '?'}"
        if (cid, vid) in seen:
            continue  # both accounts' folders list it
        seen.add((cid, vid))
        if cid not in ctx.ccn:
            ctx.note(where, f"CCN {cid or '?'} is not in the snapshot (give its owner's folder too): not imported")
        elif s(a, "InstanceType").upper() != "VPC":
            ctx.note(where, f"instance type {s(a, 'InstanceType') or '?'}: vpclab attaches VPCs only (not imported)")
        elif vid not in ctx.vpc:
            ctx.note(where, "the VPC is not in the snapshot (give its account's folder too): not imported")
        elif state not in STATES:
            ctx.note(where, f"state {state or '?'}: not imported (only ACTIVE, PENDING and REJECTED attachments are)")
        else:
            rows.append((s(a, "AttachedTime"), vid, cid, state, a))
    for when, vid, cid, state, a in sorted(rows, key=lambda r: (r[0], r[1])):
        body = ctx.out.ccns[ctx.ccn[cid]]
        region = s(a, "InstanceRegion")
        if region and region != ctx.region[vid]:
            ctx.note(f"{cid} attachment {vid}", f"InstanceRegion {region}, but the VPC's files are of "
                                                f"{ctx.region[vid]}: kept {ctx.region[vid]}")
        item: Dict[str, object] = {"vpc": ctx.vpc[vid]}
        if publish.get(vid):
            item["publish"] = "vpc-cidr"
        if ctx.account[vid] != body["account"]:
            if state == "REJECTED":
                item["rejected"] = True
            else:
                item["accepted"] = state == "ACTIVE"
        elif state != "ACTIVE":
            ctx.note(f"{cid} attachment {vid}", f"{state} within the CCN's own account (vpclab attaches it ACTIVE at "
                                                "once): not imported")
            continue
        body["attachments"].append(item)
        ctx.out.ids[("ccn-attach", ctx.ccn[cid], ctx.vpc[vid])] = f"{cid}/{vid}"


def _limits(ctx: Ctx) -> None:
    regions = set(ctx.region.values())
    for cid, items in _one_ccn(ctx, "DescribeCcnRegionBandwidthLimits").items():
        body = ctx.out.ccns[ctx.ccn[cid]]
        seen: Dict[str, int] = {}
        for lim in items:
            src, dst, mbps = s(lim, "Region"), s(lim, "DstRegion"), num(lim, "BandwidthLimit")
            pair = body["_inter"]
            key = "/".join(sorted((src, dst))) if pair else src
            where = f"{cid} limit {key or '?'}"
            if not mbps or mbps <= 0:
                continue  # no cap set: the 1Gbps default
            if (pair and not dst) or [r for r in ((src, dst) if pair else (src,)) if r not in regions]:
                ctx.note(where, f"{mbps}Mbps: a region no imported VPC is in, or no DstRegion on an inter-region "
                                "CCN: not imported")
                continue
            if key in seen:
                if seen[key] != mbps:
                    ctx.note(where, f"{mbps}Mbps one way, {seen[key]}Mbps the other: vpclab caps a pair at one rate; "
                                    f"kept {seen[key]}Mbps")
                continue
            seen[key] = mbps
            item = {"regions": sorted((src, dst))} if pair else {"region": src}
            item["bandwidth"] = f"{mbps}Mbps"
            body["bandwidth_limits"].append(item)


def overrides(out, lab) -> bool:
    """Set each CCN's `disabled_routes` / `enabled_routes` where the snapshot's route state differs
    from the model's default (`lab`: the topology loaded without them). True if any was set."""
    changed = False
    for name, body in out.ccns.items():
        c = lab.ccns.get(name)
        if c is None:
            continue
        default = {r.key: r.enabled for r in model.routes(lab, c)}
        for key, enabled, rid in body.get("_routes", []):
            if key not in default or default[key] == enabled:
                continue
            body.setdefault("enabled_routes" if enabled else "disabled_routes", []).append(key)
            changed = True
    return changed


def route_hop(ctx: Ctx, vid: str, gateway: str, hop: str) -> Optional[str]:
    """A VPC route table's route to a CCN: the CCN's name (USER_CCN), "" for a route the CCN
    delivered (`GatewayType` CCN: the model delivers it again), None when the CCN is not imported."""
    if hop not in ctx.ccn:
        return None
    return ctx.ccn[hop] if gateway == "USER_CCN" else ""


def unused(ctx: Ctx) -> None:
    for cid, name in ctx.ccn.items():
        if not ctx.out.ccns[name]["attachments"]:
            ctx.note(cid, "no VPC attachment in the snapshot (save DescribeCcnAttachedInstances): imported empty")
