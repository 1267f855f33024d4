"""From the merged snapshot to the topology: VPCs, subnets, route tables and routes, peerings,
instances and accounts (filters, EIPs and NAT gateways: `filters.py`). Every object that
cannot be carried is noted with its id and why."""
from __future__ import annotations

import ipaddress
from typing import Dict, List, Tuple

from ...keys import SCHEMA
from . import ccn, filters, names
from .estate import DEFAULT_ACCOUNT, Ctx, Out, network, num, s, seq
from .snapshot import Note, Snapshot


def accounts(snap: Snapshot) -> List[str]:
    """Per DIR, its account: `uin-<owner uin>` where a peering shows it, else the folder's name
    (`default` for a single folder)."""
    vpcs_of: Dict[int, set] = {}
    for _, acc, v in snap.of("DescribeVpcs"):
        vpcs_of.setdefault(acc, set()).add(s(v, "VpcId"))
    uins: Dict[int, set] = {}
    for _, acc, p in snap.of("DescribeVpcPeeringConnections"):
        mine = vpcs_of.get(acc, set())
        for vpc_attr, uin_attr in (("SourceVpcId", "SourceUin"), ("PeerVpcId", "DestinationUin"),
                                   ("DestinationVpcId", "DestinationUin")):
            uin = num(p, uin_attr)
            if s(p, vpc_attr) in mine and uin:
                uins.setdefault(acc, set()).add(uin)
    for acc, found in ccn.uins(snap, vpcs_of).items():
        uins.setdefault(acc, set()).update(found)
    out = []
    for acc, folder in enumerate(snap.accounts):
        found = sorted(uins.get(acc, ()))
        if found:
            out.append(f"uin-{found[0]}")
        else:
            out.append(DEFAULT_ACCOUNT if len(snap.accounts) == 1 else
                       names.slug(folder, ("a-z0-9_.@-", 64, False)) or f"account-{acc + 1}")
    return out


def convert(snap: Snapshot) -> Tuple[Out, List[Note]]:
    ctx = Ctx(snap, Out(), list(snap.notes))
    acc_names = accounts(snap)
    _vpcs(ctx, acc_names)
    _subnets_and_tables(ctx)
    _peerings(ctx)
    nats = filters.nat_gateways(ctx)  # before the routes that name them
    ccn.ccns(ctx, acc_names, set(ctx.out.peerings) | {n for _, n in ctx.nat.values()} | set(ctx.out.vpcs))
    _routes(ctx)
    _instances(ctx)
    filters.security_groups(ctx)
    filters.network_acls(ctx)
    filters.addresses(ctx, nats)
    ccn.unused(ctx)
    used = {v["account"] for v in ctx.out.vpcs.values()}
    ctx.out.accounts = sorted(used) or [DEFAULT_ACCOUNT]
    ctx.out.regions = sorted({v["region"] for v in ctx.out.vpcs.values()})
    return ctx.out, ctx.notes


def _vpcs(ctx: Ctx, acc_names: List[str]) -> None:
    rows = []
    for region, acc, v in ctx.snap.of("DescribeVpcs"):
        vid, cidr = s(v, "VpcId"), network(s(v, "CidrBlock"))
        if not vid:
            ctx.note("DescribeVpcs", "a VPC without a VpcId: not imported")
            continue
        if cidr is None:
            ctx.note(vid, f"no IPv4 CidrBlock ({s(v, 'CidrBlock') or 'none'}): not imported")
            continue
        if seq(v, "AssistantCidrSet"):
            ctx.note(vid, "secondary CIDRs (AssistantCidrSet): not imported, only the primary "
                          f"{cidr} (the topology has one CIDR per VPC)")
        rows.append((vid, s(v, "VpcName"), region, acc, cidr))
    vnames = names.assign([(r[0], r[1]) for r in rows], names.VPC_LIKE, {"internet"})
    for vid, _, region, acc, cidr in sorted(rows, key=lambda r: vnames[r[0]]):
        name = vnames[vid]
        ctx.vpc[vid], ctx.vpc_cidr[vid] = name, cidr
        ctx.account[vid], ctx.region[vid] = acc_names[acc], region
        ctx.out.vpcs[name] = {"account": acc_names[acc], "region": region, "cidr": str(cidr), "subnets": {},
                              "route_tables": {}, "instances": {}, "security_groups": {}, "network_acls": {},
                              "nat_gateways": {}}
        ctx.out.ids[("vpc", name)] = vid


def _subnets_and_tables(ctx: Ctx) -> None:
    tables: Dict[str, list] = {}
    for _, _, t in ctx.snap.of("DescribeRouteTables"):
        tid, vid = s(t, "RouteTableId"), s(t, "VpcId")
        if vid not in ctx.vpc:
            ctx.note(tid or "DescribeRouteTables", f"route table of VPC {vid or '?'}, which is not imported: "
                                                   "not imported")
            continue
        tables.setdefault(vid, []).append(t)
    for vid, ts in tables.items():
        main = [t for t in ts if getattr(t, "Main", None) is True]
        rest = [(s(t, "RouteTableId"), s(t, "RouteTableName")) for t in ts if t not in main[:1]]
        tnames = names.assign(rest, names.ITEM, {"default"})
        if main:
            tnames[s(main[0], "RouteTableId")] = "default"
        vname = ctx.vpc[vid]
        for t in sorted(ts, key=lambda t: (tnames[s(t, "RouteTableId")] != "default", tnames[s(t, "RouteTableId")])):
            tid = s(t, "RouteTableId")
            ctx.table[tid] = (vid, tnames[tid])
            ctx.out.vpcs[vname]["route_tables"][tnames[tid]] = {"routes": [], "_table": t}
            ctx.out.ids[("table", vname, tnames[tid])] = tid
    by_vpc: Dict[str, list] = {}
    for _, _, sub in ctx.snap.of("DescribeSubnets"):
        sid, vid, cidr = s(sub, "SubnetId"), s(sub, "VpcId"), network(s(sub, "CidrBlock"))
        if vid not in ctx.vpc:
            ctx.note(sid or "DescribeSubnets", f"subnet of VPC {vid or '?'}, which is not imported: not imported")
        elif cidr is None:
            ctx.note(sid, "no IPv4 CidrBlock: not imported")
        else:
            by_vpc.setdefault(vid, []).append(sub)
    for vid, subs in by_vpc.items():
        vname = ctx.vpc[vid]
        snames = names.assign([(s(x, "SubnetId"), s(x, "SubnetName")) for x in subs], names.ITEM)
        for sub in sorted(subs, key=lambda x: snames[s(x, "SubnetId")]):
            sid = s(sub, "SubnetId")
            body = {"cidr": str(network(s(sub, "CidrBlock")))}
            tid = s(sub, "RouteTableId")
            if tid in ctx.table and ctx.table[tid][0] == vid:
                if ctx.table[tid][1] != "default":
                    body["route_table"] = ctx.table[tid][1]
            elif tid:
                ctx.note(sid, f"its route table {tid} is not in the snapshot: uses the VPC's default table")
            ctx.subnet[sid] = (vid, snames[sid])
            ctx.out.vpcs[vname]["subnets"][snames[sid]] = body
            ctx.out.ids[("subnet", vname, snames[sid])] = sid


def _peerings(ctx: Ctx) -> None:
    rejected_key = "rejected" in SCHEMA["peering"][0]
    rows, seen = [], set()
    for _, _, p in ctx.snap.of("DescribeVpcPeeringConnections"):
        pid, state = s(p, "PeeringConnectionId"), s(p, "State").upper()
        if pid in seen:
            continue  # both accounts' folders list a peering between them
        seen.add(pid)
        a, b = s(p, "SourceVpcId"), s(p, "PeerVpcId") or s(p, "DestinationVpcId")
        missing = [x for x in (a, b) if x not in ctx.vpc]
        if missing:
            uin = num(p, "DestinationUin") if missing == [b] else num(p, "SourceUin")
            ctx.note(pid or "DescribeVpcPeeringConnections",
                     f"{state or 'peering'} to VPC {missing[0] or '?'}" + (f" of account uin-{uin}" if uin else "") +
                     ", which is not in the snapshot: not imported (give that account's folder as another DIR)")
            continue
        if state not in ("ACTIVE", "PENDING", "REJECTED"):
            ctx.note(pid, f"state {state or '?'}: not imported (only ACTIVE, PENDING and REJECTED peerings are)")
            continue
        same = ctx.account[a] == ctx.account[b]
        if state in ("PENDING", "REJECTED") and same:
            ctx.note(pid, f"{state} within one account: not imported (vpclab makes a peering within one account "
                          "ACTIVE at once); no traffic crosses it")
            continue
        if state == "REJECTED" and not rejected_key:
            ctx.note(pid, "REJECTED: not imported (the topology format has no rejected peering yet); no traffic "
                          "crosses it")
            continue
        rows.append((pid, p, a, b, state, same))
    pnames = names.assign([(r[0], s(r[1], "PeeringConnectionName")) for r in rows], names.PEERING)
    for pid, p, a, b, state, same in sorted(rows, key=lambda r: pnames[r[0]]):
        body = {"vpc": ctx.vpc[a], "peer_vpc": ctx.vpc[b]}
        if ctx.region[a] != ctx.region[b]:
            bw = num(p, "Bandwidth")
            if not bw:
                ctx.note(pid, "cross-region without a Bandwidth: not imported")
                continue
            body["bandwidth"] = f"{bw}Mbps"
        if state == "PENDING":
            body["accepted"] = False
        elif state == "REJECTED":
            body["rejected"] = True
        elif not same:
            body["accepted"] = True
        ctx.peering[pid] = pnames[pid]
        ctx.out.peerings[pnames[pid]] = body
        ctx.out.ids[("peering", pnames[pid])] = pid


UNSUPPORTED_HOPS = {"VPN": "a VPN gateway", "DIRECTCONNECT": "a Direct Connect gateway", "HAVIP": "an HAVIP",
                    "NORMAL_CVM": "an instance as next hop", "CVM": "an instance as public gateway",
                    "INTRANAT": "a private NAT gateway", "LOCAL_GATEWAY": "a CDC local gateway",
                    "GWLB_ENDPOINT": "a gateway load balancer", "CCN": "a CCN not in the snapshot",
                    "USER_CCN": "a CCN not in the snapshot"}


def _routes(ctx: Ctx) -> None:
    for vname, v in ctx.out.vpcs.items():
        vid = ctx.out.ids[("vpc", vname)]
        for tname, body in v["route_tables"].items():
            t = body.pop("_table")
            tid = s(t, "RouteTableId")
            for n, r in enumerate(seq(t, "RouteSet")):
                where = f"{tid} route {s(r, 'RouteItemId') or num(r, 'RouteId') or f'#{n}'}"
                gw, hop, dest = s(r, "GatewayType").upper(), s(r, "GatewayId"), s(r, "DestinationCidrBlock")
                if gw == "LOCAL":
                    continue  # the implicit local route
                to_ccn = ccn.route_hop(ctx, vid, gw, hop) if gw in ("CCN", "USER_CCN") else None
                if to_ccn == "":
                    continue  # delivered by an imported CCN: the model delivers it again (enabled or not)
                net = network(dest)
                if net is None:
                    ctx.note(where, f"destination {s(r, 'DestinationIpv6CidrBlock') or dest or '?'} is not an IPv4 "
                                    "CIDR: not imported")
                    continue
                if getattr(r, "Enabled", None) is False:
                    ctx.note(where, f"{net} -> {hop}: disabled (Enabled false): not imported")
                    continue
                if net.subnet_of(ctx.vpc_cidr[vid]):
                    ctx.note(where, f"{net} is inside the VPC's own CIDR (the local route wins): not imported")
                    continue
                if gw == "PEERCONNECTION" and hop in ctx.peering:
                    name = ctx.peering[hop]
                    if vname not in (ctx.out.peerings[name]["vpc"], ctx.out.peerings[name]["peer_vpc"]):
                        ctx.note(where, f"{net} -> {hop}: a peering of other VPCs: not imported")
                        continue
                elif gw == "PEERCONNECTION":
                    ctx.note(where, f"{net} -> {hop}: the peering is not imported (see its note): not imported")
                    continue
                elif gw == "NAT" and hop in ctx.nat and ctx.nat[hop][0] == vid:
                    name = ctx.nat[hop][1]
                elif gw == "NAT":
                    ctx.note(where, f"{net} -> {hop}: the NAT gateway is not imported: not imported")
                    continue
                elif to_ccn:
                    name = to_ccn
                elif gw == "EIP":
                    ctx.note(where, f"{net} -> the instance's public IP: implicit in vpclab (an instance with an EIP "
                                    "uses it when no route matches): not written")
                    continue
                else:
                    ctx.note(where, f"{net} -> {hop or '?'}: next hop type {gw or '?'} "
                                    f"({UNSUPPORTED_HOPS.get(gw, 'unknown')}): not modelled by vpclab, not imported")
                    continue
                body["routes"].append({"destination": str(net), "next_hop": name, "_id": s(r, "RouteItemId") or tid})


def _instances(ctx: Ctx) -> None:
    rows: Dict[str, list] = {}
    for _, _, ins in ctx.snap.of("DescribeInstances"):
        iid = s(ins, "InstanceId")
        vpc = getattr(ins, "VirtualPrivateCloud", None)
        vid, sid = s(vpc, "VpcId"), s(vpc, "SubnetId")
        ips = [x for x in seq(ins, "PrivateIpAddresses") if isinstance(x, str)] or \
            [x for x in seq(vpc, "PrivateIpAddresses") if isinstance(x, str)]
        if sid not in ctx.subnet or ctx.subnet[sid][0] != vid:
            ctx.note(iid or "DescribeInstances", f"its subnet {sid or '?'} (VPC {vid or '?'}) is not imported: "
                                                 "not imported")
            continue
        try:
            ip = ipaddress.IPv4Address(ips[0]) if ips else None
        except ValueError:
            ip = None
        if ip is None:
            ctx.note(iid, "no private IPv4 address: not imported")
            continue
        if len(ips) > 1:
            ctx.note(iid, f"secondary private IPs {', '.join(ips[1:])}: not imported (one address per instance)")
        state = s(ins, "InstanceState")
        if state and state != "RUNNING":
            ctx.note(iid, f"state {state}: imported as running")
        rows.setdefault(vid, []).append((iid, ins, sid, str(ip)))
    for vid, rs in rows.items():
        vname = ctx.vpc[vid]
        inames = names.assign([(r[0], s(r[1], "InstanceName")) for r in rs], names.ITEM)
        for iid, ins, sid, ip in sorted(rs, key=lambda r: inames[r[0]]):
            name = inames[iid]
            ctx.instance[iid] = (vid, name, ip)
            ctx.groups_of[iid] = [g for g in seq(ins, "SecurityGroupIds") if isinstance(g, str) and g]
            ctx.out.vpcs[vname]["instances"][name] = {"subnet": ctx.subnet[sid][1], "ip": ip, "_ins": ins}
            ctx.out.ids[("instance", vname, name)] = iid
