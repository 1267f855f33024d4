"""Where Graphviz put things: boxes of cluster titles, nodes and edge labels, and edge
curves, read from `dot -Tjson`, to check that no label or line sits on a box title."""
from __future__ import annotations

import json
import subprocess
from typing import List, Tuple

Box = Tuple[float, float, float, float]  # x0, y0, x1, y1 in points


def layout(dot_text: str) -> dict:
    p = subprocess.run(["dot", "-Tjson"], input=dot_text.encode(), capture_output=True, timeout=60, check=True)
    return json.loads(p.stdout)


def text_boxes(ops) -> List[Box]:
    """The boxes of the text ops of an _ldraw_ list (anchor, width, font size)."""
    out, size = [], 14.0
    for op in ops or []:
        if op["op"] == "F":
            size = op["size"]
        if op["op"] == "T":
            x, y = op["pt"]
            w = op["width"]
            x0 = {"l": x, "c": x - w / 2, "r": x - w}[op["align"]]
            out.append((x0, y - 0.25 * size, x0 + w, y + 0.8 * size))
    return out


def title_boxes(doc: dict) -> List[Tuple[str, Box]]:
    """Every cluster title's box."""
    return [(o["name"], b) for o in doc.get("objects", []) if o.get("name", "").startswith("cluster")
            for b in text_boxes(o.get("_ldraw_"))]


def node_boxes(doc: dict) -> List[Tuple[str, Box]]:
    out = []
    for o in doc.get("objects", []):
        if "pos" in o and "width" in o:
            x, y = map(float, o["pos"].split(","))
            w, h = float(o["width"]) * 36, float(o["height"]) * 36
            out.append((o["name"], (x - w, y - h, x + w, y + h)))
    return out


def edge_label_boxes(doc: dict) -> List[Tuple[str, Box]]:
    return [(f"{e['tail']}--{e['head']}", b) for e in doc.get("edges", [])
            for key in ("_ldraw_", "_hldraw_", "_tldraw_") for b in text_boxes(e.get(key))]


def curve_points(doc: dict, steps: int = 12):
    """(edge name, point) samples along every edge's Bezier curves."""
    names = {o["_gvid"]: o["name"] for o in doc.get("objects", []) if "_gvid" in o}
    for e in doc.get("edges", []):
        name = f"{names.get(e['tail'])}--{names.get(e['head'])}"
        for op in e.get("_draw_", []):
            if op["op"] not in ("b", "B"):
                continue
            pts = op["points"]
            for k in range(0, len(pts) - 3, 3):
                p0, p1, p2, p3 = pts[k:k + 4]
                for s in range(steps + 1):
                    t = s / steps
                    a, b, c, d = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t ** 3
                    yield name, (a * p0[0] + b * p1[0] + c * p2[0] + d * p3[0],
                                 a * p0[1] + b * p1[1] + c * p2[1] + d * p3[1])


def overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def inside(p, b: Box, margin: float = 1.0) -> bool:
    return b[0] + margin < p[0] < b[2] - margin and b[1] + margin < p[1] < b[3] - margin


def problems(dot_text: str) -> List[str]:
    """Every label or line that sits on a cluster's title, and titles on titles."""
    doc = layout(dot_text)
    titles = title_boxes(doc)
    out = []
    for name, box in node_boxes(doc):
        out += [f"node {name} overlaps the title of {t}" for t, tb in titles if overlaps(box, tb)]
    for name, box in edge_label_boxes(doc):
        out += [f"edge label of {name} is on the title of {t}" for t, tb in titles if overlaps(box, tb)]
    for i, (t1, b1) in enumerate(titles):
        out += [f"titles of {t1} and {t2} overlap" for t2, b2 in titles[i + 1:] if overlaps(b1, b2)]
    crossed = set()
    for name, p in curve_points(doc):
        for t, tb in titles:
            if (name, t) not in crossed and inside(p, tb):
                crossed.add((name, t))
                out.append(f"edge {name} runs over the title of {t}")
    return out
