"""The whole import: pages (files, or read live) -> merged snapshot -> topology -> YAML, validated."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from ....errors import PATH_SHOWN, Refused, shown
from ... import load as loader
from . import ccn
from .convert import convert
from .estate import s
from .names import lab_name
from ..check import validate
from .render import render
from .snapshot import Note, Page, merge, read_dirs

DEFAULT_REGION = "default"


@dataclass
class Result:
    text: str
    lab: str
    notes: List[Note] = field(default_factory=list)
    counts: Dict[str, int] = field(default_factory=dict)


def from_dirs(dirs: List[str], region: Optional[str] = None, lab: Optional[str] = None) -> Result:
    """`vpclab import tencentcloud DIR...`: one DIR per account (a subfolder per region, or
    `region` for the files at its top)."""
    pages = read_dirs(dirs, region or "")
    notes: List[Note] = []
    if not region and any(not p.region for p in pages):  # files at a folder's top: their region
        region = _region_of(pages)
        if region is None:
            region = DEFAULT_REGION
            notes.append(Note("--region", f"the region is in no file (a response never names it): the VPCs are put "
                                          f"in region '{DEFAULT_REGION}' (give --region)"))
        for p in pages:
            p.region = p.region or region
    return from_pages(pages, [Path(d).resolve().name for d in dirs], lab or lab_name(dirs),
                      " ".join(str(d) for d in dirs), notes)


def _region_of(pages: List[Page]) -> Optional[str]:
    """The one region the peerings name for the VPCs of the top-level files, if they agree."""
    mine = {s(v, "VpcId") for p in pages if not p.region and p.call.name == "DescribeVpcs"
            for v in (getattr(p.response, "VpcSet", None) or [])}
    seen = set()
    for p in pages:
        if p.call.name != "DescribeVpcPeeringConnections":
            continue
        for c in getattr(p.response, "PeerConnectionSet", None) or []:
            for vpc, reg in (("SourceVpcId", "SourceRegion"), ("PeerVpcId", "DestinationRegion")):
                if s(c, vpc) in mine and s(c, reg):
                    seen.add(s(c, reg))
    return seen.pop() if len(seen) == 1 else None


def from_pages(pages: List[Page], folders: List[str], lab: str, source: str,
               notes: Optional[List[Note]] = None) -> Result:
    out, found = convert(merge(pages, folders))
    if not out.vpcs:
        read = any(p.call.name == "DescribeVpcs" for p in pages)
        why = ("every VPC was left out: " + "; ".join(str(n) for n in found[:3])) if read and found else \
            "no file holds DescribeVpcs" if not read else "its DescribeVpcs lists none"
        raise Refused(f"{shown(source, PATH_SHOWN)}: no VPC to import ({why})", code="InvalidParameter",
                      hint="save `tccli vpc DescribeVpcs --region REGION --Limit 100` into the folder too")
    text, where = render(out, lab, source)
    validate(text, where, source)
    if any(body.get("_routes") for body in out.ccns.values()):  # the snapshot's route states, against the model's
        if ccn.overrides(out, loader.loads(text, "<imported>")):
            text, where = render(out, lab, source)
            validate(text, where, source)
    counts = {"vpcs": len(out.vpcs), "peerings": len(out.peerings),
              "instances": sum(len(v["instances"]) for v in out.vpcs.values()),
              "security_groups": sum(len(v["security_groups"]) for v in out.vpcs.values()),
              "network_acls": sum(len(v["network_acls"]) for v in out.vpcs.values()),
              "nat_gateways": sum(len(v["nat_gateways"]) for v in out.vpcs.values()), "ccns": len(out.ccns)}
    return Result(text, lab, list(notes or []) + found, counts)
