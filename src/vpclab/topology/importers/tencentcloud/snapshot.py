"""Reading a snapshot: the JSON of the describe calls, one file per call (or per page), recognised
by content, parsed by the Tencent Cloud SDK's own model classes, pages merged.

A file is what `tccli vpc DescribeVpcs ... > vpcs.json` writes (the response's fields at the top)
or the raw API answer (`{"Response": {...}}`); its name does not matter, except that
`DescribeSecurityGroupPolicies` does not name its group, so that file's name carries the group
id (`sg-xxxxxxxx.json`, as the recipe in docs/import-tencentcloud.md saves it).
"""
from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ....errors import PATH_SHOWN, EnvironmentProblem, Refused, shown
from ....model.units import NumberError, line_of, loads_json
from ...yamltree import read_regular_file

try:  # the SDK's models: an extra (`pip install 'vpclab[tencentcloud]'`), imported only by this command
    from tencentcloud.cvm.v20170312 import models as cvm_models
    from tencentcloud.vpc.v20170312 import models as vpc_models
except ImportError:  # pragma: no cover - the message below says what to install
    cvm_models = vpc_models = None

HINT = "save each call with `tccli vpc DescribeVpcs --region REGION > vpcs.json` (docs/import-tencentcloud.md)"
GROUP_ID = re.compile(r"\bsg-[0-9a-z]{8}\b")
CCN_ID = re.compile(r"\bccn-[0-9a-z]{8}\b")
REGION = re.compile(r"^[a-z]{2,}-[a-z]+(-[a-z0-9]+)?$")  # ap-guangzhou, na-siliconvalley, ap-shanghai-fsi


@dataclass(frozen=True)
class Call:
    """One describe call: its product, its response list (or object) and the id of its items."""

    name: str
    product: str  # vpc | cvm
    items: str  # the response's list field (an object for DescribeSecurityGroupPolicies)
    id: str  # the id field of an item ("" when the items have none)


CALLS = (
    Call("DescribeVpcs", "vpc", "VpcSet", "VpcId"),
    Call("DescribeSubnets", "vpc", "SubnetSet", "SubnetId"),
    Call("DescribeRouteTables", "vpc", "RouteTableSet", "RouteTableId"),
    Call("DescribeVpcPeeringConnections", "vpc", "PeerConnectionSet", "PeeringConnectionId"),
    Call("DescribeSecurityGroups", "vpc", "SecurityGroupSet", "SecurityGroupId"),
    Call("DescribeSecurityGroupPolicies", "vpc", "SecurityGroupPolicySet", ""),
    Call("DescribeNetworkAcls", "vpc", "NetworkAclSet", "NetworkAclId"),
    Call("DescribeNetworkAclQuintupleEntries", "vpc", "NetworkAclQuintupleSet", "NetworkAclQuintupleEntryId"),
    Call("DescribeAddresses", "vpc", "AddressSet", "AddressId"),
    Call("DescribeNatGateways", "vpc", "NatGatewaySet", "NatGatewayId"),
    Call("DescribeNatGatewaySourceIpTranslationNatRules", "vpc", "SourceIpTranslationNatRuleSet", "NatGatewaySnatId"),
    Call("DescribeNatGatewayDestinationIpPortTranslationNatRules", "vpc",
         "NatGatewayDestinationIpPortTranslationNatRuleSet", ""),
    Call("DescribeCcns", "vpc", "CcnSet", "CcnId"),
    Call("DescribeCcnAttachedInstances", "vpc", "InstanceSet", ""),  # items of several CCNs: CcnId + InstanceId
    Call("DescribeCcnRoutes", "vpc", "RouteSet", "RouteId"),  # one CCN's: its id in the file's name
    Call("DescribeCcnRegionBandwidthLimits", "vpc", "CcnRegionBandwidthLimitSet", ""),  # likewise
    Call("DescribeInstances", "cvm", "InstanceSet", "InstanceId"),
)
BY_NAME = {c.name: c for c in CALLS}


@dataclass
class Page:
    """One response (a file, or one page read live)."""

    source: str  # the file, or "live REGION CALL page N"
    region: str
    account: int  # which DIR (or the live account): 0, 1, ...
    call: Call
    response: object  # the SDK's response model
    group: str = ""  # DescribeSecurityGroupPolicies: the group the file is for; CCN routes, limits: the CCN


@dataclass
class Note:
    address: str  # the object's id (or the file)
    what: str

    def __str__(self) -> str:
        return f"{shown(self.address, 200)}: {self.what}"


@dataclass
class Snapshot:
    """The merged objects of every call: call name -> [(region, account, item)], in id order."""

    items: Dict[str, List[Tuple[str, int, object]]] = field(default_factory=dict)
    policies: Dict[str, object] = field(default_factory=dict)  # group id -> SecurityGroupPolicySet
    per_ccn: Dict[Tuple[str, str], List[object]] = field(default_factory=dict)  # (call, CCN id or "") -> items
    accounts: List[str] = field(default_factory=list)  # per DIR: its folder name
    notes: List[Note] = field(default_factory=list)

    def of(self, call: str) -> List[Tuple[str, int, object]]:
        return self.items.get(call, [])


def need_sdk() -> None:
    if vpc_models is None or cvm_models is None:
        raise EnvironmentProblem("`vpclab import tencentcloud` reads the files with the Tencent Cloud SDK's models, "
                                 "which are not installed", code="Environment.MissingPackage",
                                 hint="pip install 'vpclab[tencentcloud]' (tencentcloud-sdk-python-vpc and -cvm)")


def response_class(call: Call):
    need_sdk()
    module = cvm_models if call.product == "cvm" else vpc_models
    return getattr(module, f"{call.name}Response")


def deserialize(call: Call, body: dict, source: str):
    """The SDK's response model filled from `body` (unwrapped); a body of the wrong shape is refused."""
    model = response_class(call)()
    try:
        with warnings.catch_warnings():  # "X fileds are useless": fields newer than the installed SDK
            warnings.simplefilter("ignore")
            model._deserialize(body)
    except (AttributeError, TypeError, ValueError) as e:  # an item that is not an object, ...
        raise Refused(f"{shown(source, PATH_SHOWN)}: not the shape of a {call.name} response ({shown(str(e), 120)})",
                      code="InvalidParameter", hint=HINT)
    return model


def recognise(doc, source: str) -> Tuple[Call, dict]:
    """Which call wrote `doc` (unwrapped from `Response`); refused when it is none we read."""
    if isinstance(doc, dict) and set(doc) == {"Response"} and isinstance(doc["Response"], dict):
        doc = doc["Response"]
    if not isinstance(doc, dict):
        raise Refused(f"{shown(source, PATH_SHOWN)}: not the JSON of a describe call (a {type(doc).__name__}, "
                      "not an object: was it saved with --filter?)", code="InvalidParameter", hint=HINT)
    err = doc.get("Error")
    if isinstance(err, dict):
        raise Refused(f"{shown(source, PATH_SHOWN)}: the call failed: {shown(err.get('Code'), 80)}: "
                      f"{shown(err.get('Message'), 200)}", code="InvalidParameter", hint="save a call that succeeded")
    for c in CALLS:
        if c.items in doc:
            if c.items == "InstanceSet" and (c.name == "DescribeCcnAttachedInstances") != _ccn_attachments(
                    doc["InstanceSet"]):
                continue  # cvm DescribeInstances and DescribeCcnAttachedInstances share the key
            return c, doc
    keys = ", ".join(sorted(str(k) for k in doc)[:6]) or "none"
    raise Refused(f"{shown(source, PATH_SHOWN)}: JSON of no describe call vpclab reads (top-level keys: "
                  f"{shown(keys, 120)})", code="InvalidParameter",
                  hint="the calls read are listed in docs/import-tencentcloud.md")


def _ccn_attachments(items) -> bool:
    return isinstance(items, list) and any(isinstance(i, dict) and "CcnId" in i for i in items)


def read_file(path: Path, region: str, account: int) -> Page:
    """One saved response: parsed (numbers bounded), recognised, deserialized."""
    source = str(path)
    text = read_regular_file(source, "a snapshot file is the JSON one describe call printed")
    try:
        doc = loads_json(text)
    except NumberError as e:
        raise Refused(f"{shown(source, PATH_SHOWN)}:{line_of(text, e.text)}: not JSON vpclab reads: {e}",
                      code="InvalidParameter.JsonSyntax", hint=HINT)
    except json.JSONDecodeError as e:
        raise Refused(f"{shown(source, PATH_SHOWN)}:{e.lineno}: not JSON: {e.msg}",
                      code="InvalidParameter.JsonSyntax", hint=HINT)
    except RecursionError:
        raise Refused(f"{shown(source, PATH_SHOWN)}: not the JSON of a describe call (nested too deep)",
                      code="InvalidParameter", hint=HINT)
    call, body = recognise(doc, source)
    group = ""
    if call.name in ("DescribeSecurityGroupPolicies", "DescribeCcnRoutes", "DescribeCcnRegionBandwidthLimits"):
        found = (GROUP_ID if call.name == "DescribeSecurityGroupPolicies" else CCN_ID).findall(path.name)
        group = found[0] if len(set(found)) == 1 else ""
    return Page(source, region, account, call, deserialize(call, body, source), group)


def read_dirs(dirs: List[str], region: str) -> List[Page]:
    """Every `*.json` file of each DIR (one DIR per account) and its subfolders, in name order; a
    file under a folder named like a region (`ap-guangzhou/`) is of that region, the others of `region`."""
    need_sdk()
    pages: List[Page] = []
    for n, d in enumerate(dirs):
        root = Path(d)
        if not root.is_dir():
            raise Refused(f"{shown(d, PATH_SHOWN)}: not a directory (give the folder the describe calls were saved in)",
                          code="InvalidParameter", hint=HINT)
        files = sorted(p for p in root.rglob("*.json") if not any(part.startswith(".") for part in
                                                                   p.relative_to(root).parts))
        if not files:
            raise Refused(f"{shown(d, PATH_SHOWN)}: no *.json file in it", code="InvalidParameter", hint=HINT)
        for p in files:
            folders = [f for f in p.relative_to(root).parts[:-1] if REGION.match(f)]
            pages.append(read_file(p, folders[-1] if folders else region, n))
    return pages


def _text(v) -> str:
    return v if isinstance(v, str) else ""


def merge(pages: List[Page], accounts: List[str]) -> Snapshot:
    """Pages of one call (per account and region) merged, de-duplicated by id; a call whose
    pages hold fewer items than its TotalCount is noted (pages missing)."""
    snap = Snapshot(accounts=list(accounts))
    groups: Dict[Tuple[int, str, str], List[Page]] = {}
    for p in pages:
        if p.call.name == "DescribeSecurityGroupPolicies":
            _policies(p, snap)
            continue
        if p.call.name in ("DescribeCcnRoutes", "DescribeCcnRegionBandwidthLimits"):
            snap.per_ccn.setdefault((p.call.name, p.group), []).extend(getattr(p.response, p.call.items, None) or [])
        groups.setdefault((p.account, p.region, p.call.name), []).append(p)
    for (account, region, name), ps in sorted(groups.items()):
        call = BY_NAME[name]
        seen: Dict[str, object] = {}
        anonymous: List[object] = []
        total: Optional[int] = None
        for p in ps:
            t = getattr(p.response, "TotalCount", None)
            if isinstance(t, int) and not isinstance(t, bool):
                total = max(total or 0, t)
            for item in getattr(p.response, call.items, None) or []:
                key = _text(getattr(item, call.id, None)) if call.id else ""
                if key:
                    seen.setdefault(key, item)
                else:
                    anonymous.append(item)
        got = len(seen) + len(anonymous)
        where = f"{accounts[account]}/{region}" if len(accounts) > 1 else region
        if total is not None and got < total:
            snap.notes.append(Note(name, f"{got} of {total} items in {len(ps)} file(s) for {where}: pages are missing "
                                         "(save every page: --Offset 0, 100, 200, ... with --Limit 100); the objects "
                                         "on the missing pages are not imported"))
        bucket = snap.items.setdefault(name, [])
        bucket += [(region, account, seen[k]) for k in sorted(seen)] + [(region, account, i) for i in anonymous]
    return snap


def _policies(p: Page, snap: Snapshot) -> None:
    policy_set = getattr(p.response, "SecurityGroupPolicySet", None)
    if not p.group:
        snap.notes.append(Note(p.source, "DescribeSecurityGroupPolicies does not name its group, and the file's name "
                                         "holds no single sg-xxxxxxxx id: not imported (save it as SG_ID.json)"))
    elif policy_set is not None:
        snap.policies.setdefault(p.group, policy_set)
