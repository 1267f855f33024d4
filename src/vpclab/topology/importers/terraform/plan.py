"""Reading a Terraform plan: its managed resources with their addresses, and the links between them.

See the package's docstring for the whole flow (read -> resolve -> render -> validate).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ....errors import PATH_SHOWN, Refused, shown
from ....model.units import NumberError, line_of, loads_json
from ...yamltree import read_regular_file

VPC, SUBNET, TABLE, ENTRY = "tencentcloud_vpc", "tencentcloud_subnet", "tencentcloud_route_table", \
    "tencentcloud_route_table_entry"
PEER, ACCEPT, REJECT = "tencentcloud_vpc_peer_connect_manager", "tencentcloud_vpc_peer_connect_accept_operation", \
    "tencentcloud_vpc_peer_connect_reject_operation"
INSTANCE = "tencentcloud_instance"
SUPPORTED = (VPC, SUBNET, TABLE, ENTRY, PEER, ACCEPT, REJECT, INSTANCE)
# Modelled once the topology format has security groups, ACLs, EIPs and NAT gateways.
UNTIL_FILTERING = ("tencentcloud_security_group", "tencentcloud_security_group_rule_set",
                   "tencentcloud_security_group_rule", "tencentcloud_vpc_acl", "tencentcloud_vpc_acl_attachment",
                   "tencentcloud_eip", "tencentcloud_eip_association", "tencentcloud_nat_gateway",
                   "tencentcloud_nat_gateway_snat")
DEFAULT_REGION = "default"


@dataclass
class Res:
    """One resource instance of the plan or state."""

    address: str  # full, e.g. module.net.tencentcloud_subnet.app["web"]
    module: str  # module instance address, "" for the root
    calls: Tuple[str, ...]  # module call names from the root, indexes dropped (the configuration's path)
    type: str
    name: str
    index: Any
    values: dict
    provider: str = ""
    vpclab: Optional[str] = None  # the name given in the topology


@dataclass
class Note:
    address: str
    what: str  # unsupported | until-filtering | partial | unresolved | ignored

    def __str__(self) -> str:
        return f"{shown(self.address, 200)}: {self.what}"


@dataclass
class Result:
    text: str
    lab: str
    notes: List[Note] = field(default_factory=list)
    counts: Dict[str, int] = field(default_factory=dict)


# ---- reading ------------------------------------------------------------------------------


def read(path: str) -> dict:

    text = read_regular_file(path, "a plan is the JSON of `terraform show -json`")
    try:
        doc = loads_json(text)  # its numbers through the one bounded parser
    except NumberError as e:
        raise Refused(f"{shown(path, PATH_SHOWN)}:{line_of(text, e.text)}: not JSON vpclab reads: {e}",
                      code="InvalidParameter.JsonSyntax", hint="write it with `terraform show -json PLANFILE > plan.json`")
    except json.JSONDecodeError as e:
        raise Refused(f"{shown(path, PATH_SHOWN)}:{e.lineno}: not JSON: {e.msg}", code="InvalidParameter.JsonSyntax",
                      hint="write it with `terraform show -json PLANFILE > plan.json`")
    except RecursionError:
        raise Refused(f"{shown(path, PATH_SHOWN)}: not the JSON of a Terraform plan or state (nested too deep)",
                      code="InvalidParameter", hint="write it with `terraform show -json PLANFILE > plan.json`")
    if not isinstance(doc, dict) or not any(k in doc for k in ("planned_values", "values")):
        raise Refused(f"{shown(path, PATH_SHOWN)}: not the JSON of a Terraform plan or state (no planned_values or values)",
                      code="InvalidParameter", hint="write it with `terraform show -json PLANFILE > plan.json`")
    return doc


def _calls(module_address: str) -> Tuple[str, ...]:
    """module.a["x"].module.b[0] -> ("a", "b")"""
    return tuple(re.findall(r"module\.([A-Za-z0-9_-]+)", module_address or ""))


def _kind(v) -> str:
    if v is None:
        return "null"
    for t, what in ((bool, "a boolean"), ((int, float), "a number"), (str, "a string"), (list, "a list"),
                    (dict, "a JSON object")):
        if isinstance(v, t):
            return what
    return type(v).__name__


MAX_MODULE_DEPTH = 100  # child modules within child modules


def resources(doc: dict, source: str = "plan.json") -> List[Res]:
    """Every resource instance of the plan or state; a malformed tree is refused naming the
    file and where in it (the JSON path, and the resource's address once it has one)."""
    key = "planned_values" if doc.get("planned_values") else "values"

    def bad(where: str, what: str):
        return Refused(f"{shown(source)}: {where}: {what}", code="InvalidParameter",
                       hint="the file is not as `terraform show -json` writes it")

    def obj(v, where: str, what: str) -> dict:
        if v is None:
            return {}
        if not isinstance(v, dict):
            raise bad(where, (f"{what} is " if what else "") + f"{_kind(v)}, not a JSON object")
        return v

    def seq(v, where: str) -> list:
        if v is None:
            return []
        if not isinstance(v, list):
            raise bad(where, f"{_kind(v)}, not a list")
        return v

    def text(r: dict, attr: str, where: str, required: bool) -> str:
        v = r.get(attr)
        if v is None and required:
            raise bad(where, f"no {attr}")
        if v is not None and not isinstance(v, str):
            raise bad(where, f"{attr} is {_kind(v)}, not a string")
        return v or ""

    values = obj(doc.get(key), key, "")
    root = obj(values.get("root_module"), f"{key}.root_module", "")
    out: List[Res] = []
    todo = [(root, f"{key}.root_module", 0)]
    while todo:  # modules in file order (a stack of reversed children)
        mod, where, depth = todo.pop()
        if depth > MAX_MODULE_DEPTH:
            raise bad(where, f"modules nest deeper than {MAX_MODULE_DEPTH}")
        maddr = text(mod, "address", where, False)
        for i, r in enumerate(seq(mod.get("resources"), f"{where}.resources")):
            at = f"{where}.resources[{i}]"
            r = obj(r, at, "a resource")
            address = text(r, "address", at, True)
            at = f"{at} ({shown(address)})"
            mode = text(r, "mode", at, False) or "managed"
            type_ = text(r, "type", at, mode == "managed")
            name = text(r, "name", at, mode == "managed")
            if mode != "managed":
                out.append(Res(address, maddr, _calls(maddr), "data." + type_, name, r.get("index"), {}))
                continue
            out.append(Res(address, maddr, _calls(maddr), type_, name, r.get("index"),
                           obj(r.get("values"), at, "values"), text(r, "provider_name", at, False)))
        children = seq(mod.get("child_modules"), f"{where}.child_modules")
        for i in reversed(range(len(children))):
            at = f"{where}.child_modules[{i}]"
            todo.append((obj(children[i], at, "a module") or {}, at, depth + 1))
    return out


# ---- the configuration: references -----------------------------------------------------------


class Config:
    """The `configuration` block: resources, module calls, provider configurations."""

    def __init__(self, doc: dict):
        config = _obj(doc.get("configuration"))
        self.root = _obj(config.get("root_module"))
        self.providers = _obj(config.get("provider_config"))

    def module(self, calls: Tuple[str, ...]) -> dict:
        m = self.root
        for c in calls:
            m = _obj(_obj(_obj(m.get("module_calls")).get(c)).get("module"))
        return m

    def resource(self, calls: Tuple[str, ...], type_: str, name: str) -> dict:
        for r in _list(self.module(calls).get("resources")):
            if isinstance(r, dict) and r.get("type") == type_ and r.get("name") == name \
                    and r.get("mode", "managed") == "managed":
                return r
        return {}

    def expression(self, r: "Res", attr: str) -> Optional[dict]:
        """The configuration's expression of `attr` of `r` (None: not set there)."""
        expr = _obj(self.resource(r.calls, r.type, r.name).get("expressions")).get(attr)
        return None if expr is None else _obj(expr)

    def provider_key(self, calls: Tuple[str, ...], type_: str, name: str) -> str:
        key = self.resource(calls, type_, name).get("provider_config_key")
        return key if isinstance(key, str) and key else "tencentcloud"

    def region(self, key: str) -> Optional[str]:
        # keys look like "tencentcloud", "tencentcloud.bob" or "module.net:tencentcloud"
        p = _obj(self.providers.get(key) or self.providers.get(key.split(":")[-1]))
        region = _obj(_obj(p.get("expressions")).get("region")).get("constant_value")
        return region if isinstance(region, str) else None


def _obj(v) -> dict:
    """The configuration is only read for links: a part that is not as Terraform writes it
    is taken as absent, and what hangs on it is listed as unresolved."""
    return v if isinstance(v, dict) else {}


def _list(v) -> list:
    return v if isinstance(v, list) else []


def _refs(expr: dict) -> List[str]:
    return [x for x in _list(_obj(expr).get("references")) if isinstance(x, str)]


_IDX = re.compile(r"\[[^\]]*\]")


def _split(ref: str) -> List[str]:
    """tencentcloud_vpc.a["x"].id -> ['tencentcloud_vpc', 'a["x"]', 'id'] (dots inside [] kept)."""
    parts, depth, cur = [], 0, ""
    for ch in ref:
        if ch == "." and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "["
        depth -= ch == "]"
        cur += ch
    parts.append(cur)
    return parts


class Resolver:
    def __init__(self, doc: dict, res: List[Res]):
        self.config = Config(doc)
        self.res = res
        self.by_id: Dict[str, Tuple[Res, str]] = {}  # known ids (a state): id -> (resource, attribute)
        for r in res:
            for attr in ("id", "default_route_table_id"):
                rid = r.values.get(attr)
                if isinstance(rid, str) and rid:
                    self.by_id[rid] = (r, attr)

    def target(self, r: Res, attr: str) -> Tuple[Optional[Res], Optional[str], str]:
        """(the resource `attr` of `r` points at, the attribute named, why not when None)."""
        value = r.values.get(attr)
        if isinstance(value, str) and value in self.by_id:  # a state, or a known id
            return self.by_id[value][0], self.by_id[value][1], ""
        expr = self.config.expression(r, attr)
        if expr is None:
            if value:
                return None, None, f"{attr} = {shown(value, as_repr=True)} names no resource of the plan"
            return None, None, f"{attr} is not set"
        return self._follow(r, r.calls, r.module, _refs(expr), attr, 0)

    def _follow(self, r: Res, calls, module: str, refs: List[str], attr: str, depth: int):
        if depth > 10:
            return None, None, f"{attr}: references nest too deep"
        for ref in refs:
            parts = _split(ref)
            head = parts[0]
            if head in ("count", "each", "path", "terraform", "self"):
                continue
            if head == "var" and len(parts) > 1 and calls:
                parent = calls[:-1]
                call = _obj(_obj(self.config.module(parent).get("module_calls")).get(calls[-1]))
                expr = _obj(_obj(call.get("expressions")).get(parts[1]))
                return self._follow(r, parent, _parent_address(module), _refs(expr), attr, depth + 1)
            if head.startswith("module") and len(parts) > 2:
                name = _IDX.sub("", parts[1])
                call = _obj(_obj(self.config.module(calls).get("module_calls")).get(name))
                out = _obj(_obj(_obj(call.get("module")).get("outputs")).get(parts[2]))
                inner = (module + "." if module else "") + f"module.{parts[1]}"
                return self._follow(r, calls + (name,), inner, _refs(out.get("expression")), attr, depth + 1)
            if head in ("var", "local", "data", "module"):
                return None, None, f"{attr} = {ref}: not a resource of the plan (a {head} value)"
            if len(parts) < 2:
                continue
            rtype, rname = head, _IDX.sub("", parts[1])
            m = _IDX.search(parts[1])
            index = None
            if m and m.group(0) not in ("[count.index]", "[each.key]") and not re.search(r"[a-z_]\.", m.group(0)):
                try:
                    index = loads_json(m.group(0)[1:-1])
                except ValueError:
                    return None, None, f"{attr} = {shown(ref)}: cannot tell which instance"
            cands = [x for x in self.res if x.module == module and x.type == rtype and x.name == rname]
            if not cands:
                return None, None, f"{attr} = {ref}: no such resource in the plan"
            if index is not None:
                cands = [x for x in cands if x.index == index]
            elif len(cands) > 1:  # `[count.index]`/`[each.key]`: the instance with our own index
                cands = [x for x in cands if x.index == r.index]
            if len(cands) != 1:
                return None, None, f"{attr} = {ref}: cannot tell which instance"
            named = next((p for p in parts[2:] if not p.startswith("[")), "id")
            return cands[0], named, ""
        return None, None, f"{attr} is not a reference to a resource"


def _parent_address(module: str) -> str:
    i = module.rfind(".module.")
    return module[:i] if i >= 0 else ""


# ---- naming -----------------------------------------------------------------------------------


def _slug(r: Res, maxlen: int, first_letter: bool) -> str:
    parts = list(r.calls) + [r.name] + ([str(r.index)] if r.index is not None else [])
    s = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower().replace("_", "-")).strip("-") or "x"
    if first_letter and not s[0].isalpha():
        s = "r" + s
    return s[:maxlen].rstrip("-")


def _unique(base: str, taken: set, maxlen: int) -> str:
    name, n = base, 1
    while name in taken:
        n += 1
        suffix = f"-{n}"
        name = base[: maxlen - len(suffix)] + suffix
    taken.add(name)
    return name


def lab_name(path: str) -> str:
    s = re.sub(r"[^a-z0-9]", "", Path(path).stem.lower())
    s = re.sub(r"^[0-9]+", "", s)
    return s[:8] or "tf"


# ---- building the topology ------------------------------------------------------------------------
