"""Where the web view draws each thing: a deterministic layout of a lab's status.

Pure and root-free: it takes the `status` document (controller.status) and returns
boxes and points in SVG user units. Positions depend only on the lab's names and
their order in the topology, never on time or randomness, so the picture does not
jump when the page refreshes or the state changes (a peering turning ACTIVE or a
route being added moves nothing). Regions are a grid of boxes; inside one, its VPCs
are a grid of boxes; inside a VPC, one row per subnet with its instances. Each VPC's
router sits on the top edge of its box; a peering is a line between two routers.
`nodes` maps every hop name a probe path can hold (instance ref, VPC, peering id,
Internet host ref, NAT gateway as `nat_node`'s VPC/nat:NAME) to the point the animation
passes through.

Version 2 (ui/filtering.py adds it to the status): a lab with an Internet gets it as
its own box above the regions, one node per host and `internet` for the box; a VPC
that draws EIPs or security groups gets taller subnet rows (an instance's EIP and its
groups under its name); NAT gateways sit in a row at the bottom of their VPC; an ACL
bound subnet carries its ACL's name in its label (`acl` in the subnet). A version-1
lab is drawn exactly as before.

Version 3: each CCN (`ccns` in the status) is a box below the regions, joined to the box of
each VPC attached to it (`ccns[].attachments[]`: from the VPC's edge to the CCN's, with the
attachment's state); `nodes` maps the CCN's name, each hop a path names it by (`ccn-core
(ap-guangzhou -> ap-shanghai)`) and each of its capture points (`ccn-core ap-guangzhou`) to it.

Presentation mode (a projector, issue 22) has a layout of its own (`present_layout`): the same
algorithm with more room per instance, subnet row and gap (PRESENT), for text of 18 px or more.
"""
from __future__ import annotations

import math
from typing import Dict, List

INSTANCE_W = 64  # horizontal room per instance in a subnet row
SUBNET_H = 72  # an instance, its name and its private address
SUBNET_H_V2 = 100  # room for an EIP and the security groups under its name and address
NAT_ROW_H = 34
LABEL_CH = 5.6  # width of a character of a subnet label (10 px sans)
INTERNET_H = 96
INTERNET_HOST_W = 110
NAT_W = 150
VPC_HEAD = 42
VPC_MIN_W = 200
VPC_GAP = 56  # room between VPC boxes for peering lines and their labels
REGION_PAD = 22
REGION_HEAD = 30
REGION_GAP = 70
PEERING_ARC = 46  # how far above two side-by-side routers a peering's label sits
# Presentation mode (a projector): the same layout with more room between things, so that its
# labels, drawn at 18 px or more on a 1280 x 720 screen, never sit on each other.
NORMAL = dict(INSTANCE_W=INSTANCE_W, SUBNET_H=SUBNET_H, SUBNET_H_V2=SUBNET_H_V2, NAT_ROW_H=NAT_ROW_H,
              LABEL_CH=LABEL_CH, INTERNET_H=INTERNET_H, INTERNET_HOST_W=INTERNET_HOST_W, NAT_W=NAT_W,
              VPC_HEAD=VPC_HEAD, VPC_MIN_W=VPC_MIN_W, VPC_GAP=VPC_GAP, REGION_PAD=REGION_PAD,
              REGION_HEAD=REGION_HEAD, REGION_GAP=REGION_GAP, PEERING_ARC=PEERING_ARC)
PRESENT = dict(NORMAL, INSTANCE_W=150, SUBNET_H=130, SUBNET_H_V2=160, NAT_ROW_H=52, LABEL_CH=11.5, INTERNET_H=150,
               INTERNET_HOST_W=210, NAT_W=300, VPC_HEAD=70, VPC_MIN_W=320, VPC_GAP=120, REGION_PAD=30,
               REGION_HEAD=46, REGION_GAP=110, PEERING_ARC=70)


def _grid(n: int) -> int:
    """Columns of a near-square grid of n cells (one row up to three)."""
    return n if n <= 3 else math.ceil(math.sqrt(n))


def _tall(v: dict) -> bool:
    """Does the VPC draw EIPs or security groups under its instances (taller subnet rows)?"""
    return any(i.get("eip") or i.get("security_groups") for i in v["instances"])


def _acl_of(v: dict) -> Dict[str, str]:
    return {s: a["name"] for a in v.get("network_acls") or [] for s in a["subnets"]}


def subnet_label(v: dict, s: dict) -> str:
    acl = _acl_of(v).get(s["name"])
    return f"{s['name']} {s['cidr']}" + (f" · rt {s['route_table']}" if s.get("route_table") else "") + \
        (f" · ACL {acl}" if acl else "")


def _vpc_size(v: dict, k: dict = NORMAL) -> tuple:
    per_subnet: Dict[str, int] = {s["name"]: 0 for s in v["subnets"]}
    for i in v["instances"]:
        per_subnet[i.get("subnet") or ""] = per_subnet.get(i.get("subnet") or "", 0) + 1
    widest = max(per_subnet.values(), default=0)
    label = max((len(subnet_label(v, s)) for s in v["subnets"]), default=0) * k["LABEL_CH"] + 24
    nats = len(v.get("nat_gateways") or [])
    w = max(k["VPC_MIN_W"], 24 + widest * k["INSTANCE_W"], label, 24 + nats * k["NAT_W"])
    rows = max(1, len(v["subnets"])) * (k["SUBNET_H_V2"] if _tall(v) else k["SUBNET_H"])
    return w, k["VPC_HEAD"] + rows + (k["NAT_ROW_H"] if nats else 0) + 8


def _edge(box: dict, other: dict) -> List[float]:
    """Where the line from box's centre to other's centre leaves box."""
    cx, cy = box["x"] + box["w"] / 2, box["y"] + box["h"] / 2
    dx = other["x"] + other["w"] / 2 - cx
    dy = other["y"] + other["h"] / 2 - cy
    t = min(box["w"] / 2 / abs(dx) if dx else math.inf, box["h"] / 2 / abs(dy) if dy else math.inf)
    return [cx + dx * t, cy + dy * t]


def nat_node(vpc: str, name: str) -> str:
    """The point of a NAT gateway: `VPC/nat:NAME` (never an instance's `VPC/NAME`: names are
    unique per kind and per VPC only, and `:` is in no name)."""
    return f"{vpc}/nat:{name}"


PRESENT_MAX_INSTANCES = 60  # a lab shown on a projector; beyond, presentation mode keeps the normal layout


def present_layout(status: dict):
    """Presentation mode's layout, or None for a lab too big to show that way (its page keeps the normal
    layout with bigger text; the state document of a scale lab stays its size)."""
    if sum(len(v["instances"]) for v in status["vpcs"]) > PRESENT_MAX_INSTANCES:
        return None
    return layout(status, present=True)


def layout(status: dict, present: bool = False) -> dict:
    """The picture's layout; `present`: presentation mode's, with room for big labels (PRESENT)."""
    sp = PRESENT if present else NORMAL
    INSTANCE_W, SUBNET_H, SUBNET_H_V2, NAT_ROW_H = sp["INSTANCE_W"], sp["SUBNET_H"], sp["SUBNET_H_V2"], sp["NAT_ROW_H"]
    INTERNET_H, INTERNET_HOST_W, NAT_W, VPC_HEAD = sp["INTERNET_H"], sp["INTERNET_HOST_W"], sp["NAT_W"], sp["VPC_HEAD"]
    VPC_GAP, REGION_PAD, REGION_HEAD, REGION_GAP = sp["VPC_GAP"], sp["REGION_PAD"], sp["REGION_HEAD"], sp["REGION_GAP"]
    vpcs = status["vpcs"]
    regions: List[str] = []
    for v in vpcs:
        if v["region"] not in regions:
            regions.append(v["region"])
    sizes = {v["name"]: _vpc_size(v, sp) for v in vpcs}

    # Each region's inner grid, sized by its largest VPC so that columns line up.
    region_boxes = []
    for r in regions:
        members = [v for v in vpcs if v["region"] == r]
        cols = _grid(len(members))
        cw = max(sizes[v["name"]][0] for v in members)
        ch = max(sizes[v["name"]][1] for v in members)
        rows = math.ceil(len(members) / cols)
        w = 2 * REGION_PAD + cols * cw + (cols - 1) * VPC_GAP
        h = REGION_HEAD + 2 * REGION_PAD + rows * ch + (rows - 1) * VPC_GAP
        region_boxes.append({"name": r, "w": w, "h": h, "members": members, "cols": cols, "cw": cw, "ch": ch})

    # The Internet, when the lab has one, is a box of its own above the regions.
    net = status.get("internet")
    top = REGION_GAP / 2 + (INTERNET_H + REGION_GAP if net else 0)

    # Regions in a grid of rows; each row as tall as its tallest region.
    rcols = _grid(len(region_boxes))
    y, width = top, 0.0
    for start in range(0, len(region_boxes), rcols):
        row = region_boxes[start:start + rcols]
        x = REGION_GAP / 2
        for rb in row:
            rb["x"], rb["y"] = x, y
            x += rb["w"] + REGION_GAP
        width = max(width, x - REGION_GAP / 2)
        y += max(rb["h"] for rb in row) + REGION_GAP
    height = y - REGION_GAP / 2

    nodes: Dict[str, List[float]] = {}
    out_vpcs = []
    for rb in region_boxes:
        for k, v in enumerate(rb["members"]):
            col, row = k % rb["cols"], k // rb["cols"]
            w, h = sizes[v["name"]]
            vx = rb["x"] + REGION_PAD + col * (rb["cw"] + VPC_GAP) + (rb["cw"] - w) / 2
            vy = rb["y"] + REGION_HEAD + REGION_PAD + row * (rb["ch"] + VPC_GAP)
            router = [vx + w / 2, vy]
            nodes[v["name"]] = router
            subnets = []
            sh = SUBNET_H_V2 if _tall(v) else SUBNET_H
            acls = _acl_of(v)
            for j, s in enumerate(v["subnets"] or [{"name": "", "cidr": "", "route_table": None}]):
                sy = vy + VPC_HEAD + j * sh
                insts = [i for i in v["instances"] if (i.get("subnet") or "") == s["name"]]
                placed = []
                for n, i in enumerate(insts):
                    ref = f"{v['name']}/{i['name']}"
                    p = [vx + 12 + INSTANCE_W / 2 + n * INSTANCE_W, sy + (58 if present else 32)]
                    nodes[ref] = p
                    placed.append({"ref": ref, "name": i["name"], "kind": i["kind"], "ip": i["ip"],
                                   "port": i.get("port"), "x": p[0], "y": p[1], "eip": i.get("eip"),
                                   "security_groups": i.get("security_groups") or []})
                subnets.append({"name": s["name"], "cidr": s["cidr"], "route_table": s.get("route_table"),
                                "acl": acls.get(s["name"]), "label": subnet_label(v, s) if s["name"] else "",
                                "x": vx + 6, "y": sy, "w": w - 12, "h": sh - 6, "instances": placed})
            nats = []
            for n, g in enumerate(v.get("nat_gateways") or []):
                nx, ny = vx + 12 + n * NAT_W, vy + h - 8 - NAT_ROW_H + 4
                nats.append({"name": g["name"], "eip": g["eip"], "x": nx, "y": ny, "w": NAT_W - 10, "h": NAT_ROW_H - 8})
                # the top of its box: trails touch it, not its words
                nodes[nat_node(v["name"], g["name"])] = [nx + (NAT_W - 10) / 2, ny]
            out_vpcs.append({"name": v["name"], "cidr": v["cidr"], "account": v["account"], "region": v["region"],
                             "x": vx, "y": vy, "w": w, "h": h, "router": router, "subnets": subnets,
                             "nat_gateways": nats,
                             "public": bool(nats) or any(i.get("eip") for i in v["instances"])})

    boxes = {v["name"]: v for v in out_vpcs}
    peerings = []
    seen: Dict[frozenset, int] = {}
    for p in status["peerings"]:
        if p["vpc"] not in boxes or p["peer_vpc"] not in boxes:
            continue
        pair = frozenset((p["vpc"], p["peer_vpc"]))
        k = seen.get(pair, 0)
        seen[pair] = k + 1
        # A second peering between the same two VPCs bends away from the first.
        bend = 0 if k == 0 else (28 * ((k + 1) // 2)) * (1 if k % 2 else -1)
        va, vb = boxes[p["vpc"]], boxes[p["peer_vpc"]]
        if va["y"] == vb["y"]:
            # Side by side: an arc from router to router over the boxes, its label above them.
            a, b = va["router"], vb["router"]
            mid = [(a[0] + b[0]) / 2, a[1] - sp["PEERING_ARC"] - bend]
        else:
            # Otherwise a line from box edge to box edge, its label in the gap between them.
            a, b = _edge(va, vb), _edge(vb, va)
            dx, dy = b[0] - a[0], b[1] - a[1]
            norm = math.hypot(dx, dy) or 1.0
            mid = [(a[0] + b[0]) / 2 - dy / norm * bend, (a[1] + b[1]) / 2 + dx / norm * bend]
        nodes[p["id"]] = mid
        peerings.append({"id": p["id"], "from": a, "to": b, "mid": mid})
    internet = None
    if net:
        hosts = net.get("hosts") or []
        iw = max(260.0, 24 + len(hosts) * INTERNET_HOST_W)
        ix = max(REGION_GAP / 2, (width - iw) / 2)
        iy = REGION_GAP / 2
        placed = []
        for n, hst in enumerate(hosts):
            p = [ix + 12 + INTERNET_HOST_W / 2 + n * INTERNET_HOST_W, iy + (70 if present else 50)]
            nodes[hst["ref"]] = p
            placed.append({"ref": hst["ref"], "name": hst["name"], "ip": hst["ip"], "ports": hst.get("ports") or [],
                           "x": p[0], "y": p[1]})
        internet = {"cidr": net["cidr"], "x": ix, "y": iy, "w": iw, "h": INTERNET_H, "hosts": placed,
                    "gateway": [ix + iw / 2, iy + INTERNET_H]}
        nodes["internet"] = internet["gateway"]
        width = max(width, ix + iw + REGION_GAP / 2)
    ccns, height, width = _ccns(status, boxes, nodes, height, width, sp)
    return {"width": width, "height": height, "internet": internet,
            "regions": [{k: rb[k] for k in ("name", "x", "y", "w", "h")} for rb in region_boxes],
            "vpcs": out_vpcs, "peerings": peerings, "nodes": nodes, "ccns": ccns}


CCN_LINE_H = 14  # a line of a CCN box's text (its region pairs, its disabled routes)


def ccn_lines(c: dict, routes: List[dict]) -> List[str]:
    """What a CCN's box says under its name: the owner, each region pair's cap, each disabled route."""
    pairs = [f"{p['regions'][0]} ↔ {p['regions'][1]} " + (f"{p['mbps'] / 1000:g} Gbps" if p["mbps"] >= 1000
                                                             else f"{p['mbps']:g} Mbps") for p in c["region_pairs"]]
    off = [f"✗ {r['route']} disabled" for r in routes if r["ccn"] == c["id"] and not r["enabled"]]
    return [f"account {c['account']}"] + pairs + off


def _ccns(status: dict, boxes: Dict[str, dict], nodes: Dict[str, List[float]], height: float, width: float,
          sp: dict) -> tuple:
    """The CCN boxes, in a row below the regions, and their attachment lines; the new height and width."""
    rows = status.get("ccns") or []
    if not rows:
        return [], height, width
    gap = sp["REGION_GAP"]
    texts = [ccn_lines(c, status.get("ccn_routes") or []) for c in rows]
    widths = [max(240.0, max(len(t) for t in lines + [c["id"] + " (CCN)"]) * sp["LABEL_CH"] * 1.15 + 24)
              for c, lines in zip(rows, texts)]
    y, x, out = height + gap, max(gap / 2, (width - sum(widths) - gap * (len(rows) - 1)) / 2), []  # centred
    for c, lines, w in zip(rows, texts, widths):
        h = sp["VPC_HEAD"] + len(lines) * CCN_LINE_H * (sp["LABEL_CH"] / LABEL_CH) + 8
        box = {"id": c["id"], "x": x, "y": y, "w": w, "h": h, "lines": lines}
        centre = [x + w / 2, y]  # the top of its box: trails touch it, not its words
        nodes[c["id"]] = centre
        regions = sorted({a["region"] for a in c["attachments"] if a["region"]})
        for k, r in enumerate(regions):
            nodes[f"{c['id']} {r}"] = [x + w * (k + 1) / (len(regions) + 1), y]  # its router in that region
            for r2 in regions:
                nodes[f"{c['id']} ({r} -> {r2})"] = centre
        box["attachments"] = [{"vpc": a["vpc"], "state": a["state"], "from": _edge(boxes[a["vpc"]], box),
                               "to": _edge(box, boxes[a["vpc"]])} for a in c["attachments"] if a["vpc"] in boxes]
        out.append(box)
        x += w + gap
        height = max(height, y + h)
    return out, height, max(width, x - gap / 2)
