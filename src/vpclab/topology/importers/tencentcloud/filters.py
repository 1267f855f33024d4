"""Security groups and their policies, network ACLs and their subnets, NAT gateways (SNAT rules,
DNAT rules noted), EIPs and public IPs, and the lab's Internet range that holds them."""
from __future__ import annotations

import ipaddress
from typing import Dict, List, Optional, Tuple

from ....model.filters import MAX_RULES_PER_DIRECTION
from ....model.types import RESERVED_VPC_RANGES
from . import names
from .estate import Ctx, s as _s, seq as _seq

PROTOS = {"TCP": "tcp", "UDP": "udp", "ICMP": "icmp", "ALL": "all"}
ACTIONS = {"ACCEPT": "accept", "DROP": "drop"}


def _ports(text: str) -> Optional[List[object]]:
    """`all` / `80` / `8000-8010` / `80,443` -> the topology's port values ([None] = all); None = unreadable."""
    text = (text or "").strip().lower()
    if text in ("", "all"):
        return [None]
    out: List[object] = []
    for part in text.split(","):
        part = part.strip()
        bounds = part.split("-")
        if not all(b.strip().isdigit() and 1 <= int(b) <= 65535 for b in bounds) or len(bounds) > 2:
            return None
        out.append(int(part) if len(bounds) == 1 else f"{int(bounds[0])}-{int(bounds[1])}")
    return out


def _cidr(text: str) -> Optional[str]:
    try:
        return str(ipaddress.IPv4Network(text, strict=False))
    except ValueError:
        return None


def _rules(ctx: Ctx, where: str, entries: list, peer_key: str, peer_of) -> List[dict]:
    """Entries (SG policies or ACL entries) in order -> rules; a rule that cannot be carried is noted.
    `peer_of(entry)` -> ([peer values], why-not)."""
    out = []
    for n, e in enumerate(entries):
        at = f"{where}[{n}]"
        proto = PROTOS.get(_s(e, "Protocol").upper())
        action = ACTIONS.get(_s(e, "Action").upper())
        template = getattr(e, "ServiceTemplate", None)
        if _s(template, "ServiceId") or _s(template, "ServiceGroupId"):
            ctx.note(at, f"a service template ({_s(template, 'ServiceId') or _s(template, 'ServiceGroupId')}): not "
                         "resolved, rule not imported" + (" (an accept left out: stricter)" if action == "accept"
                                                          else " (a drop left out: more permissive)"))
            continue
        if proto is None or action is None:
            ctx.note(at, f"protocol {_s(e, 'Protocol') or '?'} / action {_s(e, 'Action') or '?'}: not modelled, rule "
                         "not imported")
            continue
        ports = _ports(_s(e, "Port")) if proto in ("tcp", "udp") else [None]
        if ports is None:
            ctx.note(at, f"port {_s(e, 'Port')!r}: not readable, rule not imported")
            continue
        peers, why = peer_of(e)
        if not peers:
            ctx.note(at, f"{why}: rule not imported" + (" (an accept left out: stricter)" if action == "accept"
                                                        else " (a drop left out: more permissive)"))
            continue
        for peer in peers:
            for port in ports:
                rule = {"proto": proto}
                if port is not None:
                    rule["port"] = port
                rule[peer_key] = peer
                rule["action"] = action
                out.append(rule)
    return out


def security_groups(ctx: Ctx) -> None:
    info = {_s(g, "SecurityGroupId"): g for _, _, g in ctx.snap.of("DescribeSecurityGroups")}
    members: Dict[str, List[Tuple[str, str, str]]] = {}  # group id -> [(vpc id, instance name, ip)]
    for iid, gids in sorted(ctx.groups_of.items()):
        for g in gids:
            members.setdefault(g, []).append(ctx.instance[iid])
    known = set(info) | set(ctx.snap.policies)
    for gid in sorted(known - set(members)):
        ctx.note(gid, "a security group no imported instance uses: not imported")
    # per VPC: the groups its instances use, named once per VPC
    for vname, v in ctx.out.vpcs.items():
        vid = ctx.out.ids[("vpc", vname)]
        used = sorted({g for iid, gids in ctx.groups_of.items() if ctx.instance[iid][0] == vid for g in gids})
        gnames = names.assign([(g, _s(info.get(g), "SecurityGroupName")) for g in used], names.VPC_LIKE)
        for g in used:
            if g not in ctx.snap.policies:
                ctx.note(g, f"no DescribeSecurityGroupPolicies file for it: its rules are unknown, imported in {vname} "
                            "with none (drops everything)")

            def peer_of(e, vid=vid, gnames=gnames, key="CidrBlock"):
                cidr, ref = _s(e, key), _s(e, "SecurityGroupId")
                tpl = getattr(e, "AddressTemplate", None)
                if cidr:
                    c = _cidr(cidr)
                    return ([c], "") if c else ([], f"CIDR {cidr!r} unreadable")
                if ref:
                    mem = members.get(ref, [])
                    if ref in gnames and all(m[0] == vid for m in mem):
                        return [gnames[ref]], ""
                    if not mem:
                        return [], f"group {ref} has no imported instance"
                    return sorted({f"{m[2]}/32" for m in mem}, key=lambda c: ipaddress.IPv4Network(c)), ""
                if _s(tpl, "AddressId") or _s(tpl, "AddressGroupId"):
                    return [], f"an address template ({_s(tpl, 'AddressId') or _s(tpl, 'AddressGroupId')}) not resolved"
                if _s(e, "Ipv6CidrBlock"):
                    return [], "an IPv6 peer (IPv6 is not modelled)"
                return [], "no peer"

            ps = ctx.snap.policies.get(g)
            body = {"ingress": _rules(ctx, f"{g} ingress", _seq(ps, "Ingress"), "source", peer_of),
                    "egress": _rules(ctx, f"{g} egress", _seq(ps, "Egress"), "destination", peer_of)}
            for d, rules in body.items():
                if len(rules) > MAX_RULES_PER_DIRECTION:
                    ctx.note(g, f"{d}: {len(rules)} rules once group references are expanded to their members, "
                                f"over vpclab's {MAX_RULES_PER_DIRECTION}: those past the "
                                f"{MAX_RULES_PER_DIRECTION}th are not imported")
                    del rules[MAX_RULES_PER_DIRECTION:]
            v["security_groups"][gnames[g]] = body
            ctx.out.ids[("sg", vname, gnames[g])] = g
        for name, ins in v["instances"].items():
            iid = ctx.out.ids[("instance", vname, name)]
            if ctx.groups_of.get(iid):
                ins["security_groups"] = [gnames[g] for g in dict.fromkeys(ctx.groups_of[iid])]


def network_acls(ctx: Ctx) -> None:
    bound: Dict[str, str] = {}  # subnet id -> acl id
    for _, _, sub in ctx.snap.of("DescribeSubnets"):
        if _s(sub, "NetworkAclId") and _s(sub, "SubnetId") in ctx.subnet:
            bound[_s(sub, "SubnetId")] = _s(sub, "NetworkAclId")
    by_vpc: Dict[str, list] = {}
    for _, _, a in ctx.snap.of("DescribeNetworkAcls"):
        aid, vid = _s(a, "NetworkAclId"), _s(a, "VpcId")
        if vid not in ctx.vpc:
            ctx.note(aid or "DescribeNetworkAcls", f"network ACL of VPC {vid or '?'}, which is not imported: "
                                                   "not imported")
        elif _s(a, "NetworkAclType").upper() == "QUINTUPLE":
            ctx.note(aid, "a QUINTUPLE (five-tuple) ACL: not imported (the topology's ACL rules match one peer "
                          "CIDR and a destination port); its subnets are left unfiltered by it")
        else:
            by_vpc.setdefault(vid, []).append(a)
    for vid, acls in by_vpc.items():
        vname = ctx.vpc[vid]
        anames = names.assign([(_s(a, "NetworkAclId"), _s(a, "NetworkAclName")) for a in acls], names.VPC_LIKE)
        for a in sorted(acls, key=lambda a: anames[_s(a, "NetworkAclId")]):
            aid = _s(a, "NetworkAclId")
            subs = {_s(x, "SubnetId") for x in _seq(a, "SubnetSet")} | {k for k, v in bound.items() if v == aid}
            for sid in sorted(subs):
                if sid in ctx.subnet and ctx.subnet[sid][0] != vid:
                    ctx.note(aid, f"bound to subnet {sid} of another VPC: that binding is not imported")
                elif sid not in ctx.subnet:
                    ctx.note(aid, f"bound to subnet {sid}, which is not imported")

            def peer_of(e):
                c = _cidr(_s(e, "CidrBlock")) if _s(e, "CidrBlock") else None
                if c:
                    return [c], ""
                return [], "an IPv6 peer (IPv6 is not modelled)" if _s(e, "Ipv6CidrBlock") else "no CIDR"

            body = {"subnets": sorted(ctx.subnet[x][1] for x in subs if x in ctx.subnet and ctx.subnet[x][0] == vid),
                    "inbound": _rules(ctx, f"{aid} ingress", _seq(a, "IngressEntries"), "source", peer_of),
                    "outbound": _rules(ctx, f"{aid} egress", _seq(a, "EgressEntries"), "destination", peer_of)}
            ctx.out.vpcs[vname]["network_acls"][anames[aid]] = body
            ctx.out.ids[("acl", vname, anames[aid])] = aid


def nat_gateways(ctx: Ctx) -> Dict[str, str]:
    """NAT gateways (each with its first public address); nat id -> that address."""
    snat: Dict[str, list] = {}
    for _, _, r in ctx.snap.of("DescribeNatGatewaySourceIpTranslationNatRules"):
        snat.setdefault(_s(r, "NatGatewayId"), []).append(r)
    by_vpc: Dict[str, list] = {}
    addr: Dict[str, str] = {}
    for _, _, n in ctx.snap.of("DescribeNatGateways"):
        nid, vid, state = _s(n, "NatGatewayId"), _s(n, "VpcId"), _s(n, "State").upper()
        ips = [_s(a, "PublicIpAddress") for a in _seq(n, "PublicIpAddressSet") if _s(a, "PublicIpAddress")]
        for r in _seq(n, "SourceIpTranslationNatRuleSet"):
            if _s(r, "NatGatewaySnatId") not in {_s(x, "NatGatewaySnatId") for x in snat.get(nid, [])}:
                snat.setdefault(nid, []).append(r)
        for r in _seq(n, "DestinationIpPortTranslationNatRuleSet"):
            ctx.note(nid, f"DNAT {_s(r, 'IpProtocol')} {_s(r, 'PublicIpAddress')}:{getattr(r, 'PublicPort', '?')} -> "
                          f"{_s(r, 'PrivateIpAddress')}:{getattr(r, 'PrivatePort', '?')}: port forwarding is not "
                          "in the topology format, not imported")
        if vid not in ctx.vpc:
            ctx.note(nid or "DescribeNatGateways", f"NAT gateway of VPC {vid or '?'}, which is not imported: "
                                                   "not imported")
        elif state and state != "AVAILABLE":
            ctx.note(nid, f"state {state}: not imported")
        elif not ips:
            ctx.note(nid, "no public address: not imported")
        else:
            if len(ips) > 1:
                ctx.note(nid, f"{len(ips)} public addresses: imported with the first, {ips[0]} (one per gateway)")
            addr[nid] = ips[0]
            by_vpc.setdefault(vid, []).append(n)
    for vid, ns in by_vpc.items():
        vname = ctx.vpc[vid]
        nnames = names.assign([(_s(n, "NatGatewayId"), _s(n, "NatGatewayName")) for n in ns], names.VPC_LIKE,
                              set(ctx.peering.values()))
        for n in sorted(ns, key=lambda n: nnames[_s(n, "NatGatewayId")]):
            nid = _s(n, "NatGatewayId")
            ctx.nat[nid] = (vid, nnames[nid])
            ctx.out.vpcs[vname]["nat_gateways"][nnames[nid]] = {"eip": addr[nid]}
            ctx.out.ids[("nat", vname, nnames[nid])] = nid
    for nid, rules in sorted(snat.items()):
        for r in rules:
            kind, res = _s(r, "ResourceType").upper(), _s(r, "ResourceId")
            if nid in ctx.nat and kind == "SUBNET" and res in ctx.subnet:
                continue  # vpclab SNATs every subnet whose route table points at the gateway
            ctx.note(_s(r, "NatGatewaySnatId") or nid,
                     f"SNAT rule of {nid} for {kind or '?'} {res or _s(r, 'PrivateIpAddress') or '?'}: vpclab "
                     "translates every subnet whose route table points at the gateway; not imported as such")
    return addr


def addresses(ctx: Ctx, nats: Dict[str, str]) -> None:
    """EIPs (DescribeAddresses) and ordinary public IPs onto instances; then the Internet range."""
    eip: Dict[str, Tuple[str, str]] = {}  # instance id -> (ip, address id)
    for _, _, a in ctx.snap.of("DescribeAddresses"):
        aid, ip, status = _s(a, "AddressId"), _s(a, "AddressIp"), _s(a, "AddressStatus").upper()
        kind, target = _s(a, "InstanceType").upper(), _s(a, "InstanceId")
        if status not in ("BIND", "BIND_ENI") or not target:
            ctx.note(aid or "DescribeAddresses", f"{ip or '?'} is {status or 'not bound'}: not imported (an unbound "
                                                 "address carries no traffic)")
        elif kind == "NAT":
            if target not in ctx.nat:
                ctx.note(aid, f"{ip} bound to NAT gateway {target}, which is not imported: not imported")
            elif nats.get(target) != ip:
                ctx.note(aid, f"{ip}: a further address of NAT gateway {target}: not imported (one per gateway)")
        elif kind in ("CVM", "") and target in ctx.instance:
            eip.setdefault(target, (ip, aid))
        else:
            ctx.note(aid, f"{ip} bound to {kind or '?'} {target}, which is not imported: not imported")
    for vname, v in ctx.out.vpcs.items():
        for name, ins in v["instances"].items():
            obj = ins.pop("_ins")
            iid = ctx.out.ids[("instance", vname, name)]
            public = [p for p in _seq(obj, "PublicIpAddresses") if isinstance(p, str) and p]
            if iid in eip:
                ins["eip"] = eip[iid][0]
                ctx.out.ids[("eip", vname, name)] = eip[iid][1]
            elif public:
                ins["eip"] = public[0]
                ctx.note(iid, f"public IP {public[0]} (not in DescribeAddresses: an ordinary public IP) imported as "
                              "its eip (the same 1:1 NAT)")
    _internet(ctx)


def _internet(ctx: Ctx) -> None:
    """The lab's Internet range: the smallest CIDR holding the most public addresses while
    overlapping no VPC and no reserved range; an address outside it is noted and dropped."""
    public: List[Tuple[ipaddress.IPv4Address, str, str, str]] = []  # (ip, vpc, kind, name)
    for vname, v in ctx.out.vpcs.items():
        for name, n in list(v["nat_gateways"].items()):
            try:
                public.append((ipaddress.IPv4Address(n["eip"]), vname, "nat", name))
            except ValueError:
                _drop_nat(ctx, vname, name, f"public IP {n['eip']!r} unreadable")
        for name, ins in v["instances"].items():
            if "eip" in ins:
                try:
                    public.append((ipaddress.IPv4Address(ins["eip"]), vname, "instance", name))
                except ValueError:
                    ctx.note(ctx.out.ids[("instance", vname, name)], f"public IP {ins.pop('eip')!r} unreadable: "
                                                                     "not imported")
    if not public:
        return
    private = [ipaddress.IPv4Network(v["cidr"]) for v in ctx.out.vpcs.values()] + list(RESERVED_VPC_RANGES)
    best: Optional[Tuple[int, int, int, ipaddress.IPv4Network]] = None
    for plen in range(8, 31):  # every network of each length that holds an address, counted at once
        held: Dict[ipaddress.IPv4Network, int] = {}
        for ip, *_ in public:
            net = ipaddress.IPv4Network(f"{ip}/{plen}", strict=False)
            if ip not in (net.network_address, net.broadcast_address):
                held[net] = held.get(net, 0) + 1
        for net, count in held.items():
            key = (count, plen, -int(net.network_address), net)
            if (best is None or key[:3] > best[:3]) and not any(net.overlaps(p) for p in private):
                best = key
    net = best[3] if best else None
    if net is not None:
        ctx.out.internet = str(net)
    for ip, vname, kind, name in public:
        if net is not None and ip in net and ip not in (net.network_address, net.broadcast_address):
            continue
        v = ctx.out.vpcs[vname]
        why = f"{ip} does not fit the lab's one Internet range ({net or 'none fits'}, beside the VPCs' CIDRs)"
        if kind == "instance":
            del v["instances"][name]["eip"]
            ctx.note(ctx.out.ids[("instance", vname, name)], f"{why}: its public IP is not imported")
        else:
            _drop_nat(ctx, vname, name, why)


def _drop_nat(ctx: Ctx, vname: str, name: str, why: str) -> None:
    """Leave a NAT gateway out, and the routes to it, saying why."""
    v = ctx.out.vpcs[vname]
    del v["nat_gateways"][name]
    ctx.note(ctx.out.ids[("nat", vname, name)], f"{why}: the NAT gateway is not imported, nor the routes to it")
    for t in v["route_tables"].values():
        t["routes"] = [r for r in t["routes"] if r["next_hop"] != name]
