"""Names for imported objects: the cloud's name, sanitized to a topology name, unique, and the
same whatever order the files were read in (collisions are settled by id, never by position)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Iterable, List, Set, Tuple

# (pattern of the characters kept, longest name, must start with a letter, lowercase)
VPC_LIKE = ("a-z0-9-", 24, True)  # VPCs, security groups, ACLs, NAT gateways
ITEM = ("a-z0-9_-", 32, False)  # subnets, route tables, instances
PEERING = ("a-z0-9_-", 60, False)


def slug(text: str, style) -> str:
    keep, limit, letter = style
    s = re.sub(f"[^{keep}]+", "-", (text or "").lower()).strip("-_")
    s = re.sub(r"-{2,}", "-", s)
    if s and letter and not s[0].isalpha():
        s = "x-" + s
    return s[:limit].rstrip("-_")


def assign(objects: Iterable[Tuple[str, str]], style, taken: Set[str] = frozenset()) -> Dict[str, str]:
    """id -> name for (id, cloud name) pairs. The name is the cloud's name sanitized, else the id;
    a name two objects share becomes `name-<id's tail>` for each of them, so which one came first
    never matters. `taken`: names already used in the same scope."""
    objects = sorted(set(objects))
    base = {i: slug(n, style) or slug(i, style) or "x" for i, n in objects}
    count: Dict[str, int] = {}
    for b in base.values():
        count[b] = count.get(b, 0) + 1
    out: Dict[str, str] = {}
    used = set(taken)
    limit = style[1]
    for i, _ in objects:
        b = base[i]
        if count[b] > 1 or b in used:
            tail = slug(i.split("-", 1)[-1], style) or "x"
            b = f"{b[:limit - len(tail) - 1].rstrip('-_')}-{tail}"
        name, n = b, 1
        while name in used:
            n += 1
            name = f"{b[:limit - len(str(n)) - 1]}-{n}"
        used.add(name)
        out[i] = name
    return out


def lab_name(dirs: List[str]) -> str:
    s = re.sub(r"[^a-z0-9]", "", Path(dirs[0]).resolve().name.lower()) if dirs else ""
    s = re.sub(r"^[0-9]+", "", s)
    return s[:8] or "tc"
