"""Reading a Terraform plan: its managed resources with their addresses, and the links between them.

See the package's docstring for the whole flow (read -> resolve -> render -> validate).
"""
from __future__ import annotations

import hashlib
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
TABLE_ASSOC = "tencentcloud_route_table_association"  # a subnet's route table, set apart from the subnet
SG, RULE_SET, LITE_RULE, SG_RULE = "tencentcloud_security_group", "tencentcloud_security_group_rule_set", \
    "tencentcloud_security_group_lite_rule", "tencentcloud_security_group_rule"
SG_ATTACH = "tencentcloud_cvm_security_group_attachment"  # one group bound to one instance, after its own
ACL, ACL_ATTACH = "tencentcloud_vpc_acl", "tencentcloud_vpc_acl_attachment"
EIP, EIP_ASSOC, NAT, SNAT = "tencentcloud_eip", "tencentcloud_eip_association", "tencentcloud_nat_gateway", \
    "tencentcloud_nat_gateway_snat"
USER_INFO = "data.tencentcloud_user_info"  # the account (owner_uin) a provider configuration works in
CCN, CCN_ATTACH, CCN_ATTACH_V2, CCN_LIMIT = "tencentcloud_ccn", "tencentcloud_ccn_attachment", \
    "tencentcloud_ccn_attachment_v2", "tencentcloud_ccn_bandwidth_limit"
CCN_ACCEPT, CCN_REJECT = "tencentcloud_ccn_instances_accept_attach", "tencentcloud_ccn_instances_reject_attach"
FILTERING = (SG, RULE_SET, LITE_RULE, SG_RULE, SG_ATTACH, ACL, ACL_ATTACH, EIP, EIP_ASSOC, NAT, SNAT)
SUPPORTED = (VPC, SUBNET, TABLE, TABLE_ASSOC, ENTRY, PEER, ACCEPT, REJECT, INSTANCE, CCN, CCN_ATTACH, CCN_ATTACH_V2,
             CCN_LIMIT, CCN_ACCEPT, CCN_REJECT) + FILTERING
# Their `id` is another resource's id (the provider's choice): the peering's, the group's, the
# subnet's. They are never what an id names, so a state's operation never hides the peering it operated on.
ALIAS_IDS = (ACCEPT, REJECT, RULE_SET, LITE_RULE, TABLE_ASSOC, CCN_ACCEPT, CCN_REJECT, CCN_LIMIT, CCN_ATTACH,
             CCN_ATTACH_V2)
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
    what: str  # starts with: unsupported | partial | unresolved | named | data source | TYPE: not modelled

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
                out.append(Res(address, maddr, _calls(maddr), "data." + type_, name, r.get("index"),
                               r.get("values") if isinstance(r.get("values"), dict) else {}))
                continue
            out.append(Res(address, maddr, _calls(maddr), type_, name, r.get("index"),
                           obj(r.get("values"), at, "values"), text(r, "provider_name", at, False)))
        children = seq(mod.get("child_modules"), f"{where}.child_modules")
        for i in reversed(range(len(children))):
            at = f"{where}.child_modules[{i}]"
            todo.append((obj(children[i], at, "a module") or {}, at, depth + 1))
    out.sort(key=lambda x: natural(x.address))  # the same plan, whatever its order: the same file
    return out


def natural(address: str) -> tuple:
    """A sort key: module.web[10] after module.web[2]."""
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"([0-9]+)", address))


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
        mode = "data" if type_.startswith("data.") else "managed"
        type_ = type_[5:] if mode == "data" else type_
        for r in _list(self.module(calls).get("resources")):
            if isinstance(r, dict) and r.get("type") == type_ and r.get("name") == name \
                    and r.get("mode", "managed") == mode:
                return r
        return {}

    def expression(self, r: "Res", attr: str, block: Optional[Tuple[str, int]] = None) -> Optional[dict]:
        """The configuration's expression of `attr` of `r` (None: not set there); in its
        `block` (name, index) when given, e.g. ("ingress", 2) of a rule set."""
        exprs = _obj(self.resource(r.calls, r.type, r.name).get("expressions"))
        if block is not None:
            blocks = _list(exprs.get(block[0]))
            exprs = _obj(blocks[block[1]]) if 0 <= block[1] < len(blocks) else {}
        expr = exprs.get(attr)
        return None if expr is None else _obj(expr)

    def provider(self, key: str) -> dict:
        # keys look like "tencentcloud", "tencentcloud.bob" or "module.net:tencentcloud"
        return _obj(self.providers.get(key) or self.providers.get(key.split(":")[-1]))

    def provider_key(self, calls: Tuple[str, ...], type_: str, name: str) -> str:
        key = self.resource(calls, type_, name).get("provider_config_key")
        return key if isinstance(key, str) and key else "tencentcloud"

    def region(self, key: str) -> Optional[str]:
        p = self.provider(key)
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
        self.by_name: Dict[Tuple[str, str, str], List[Res]] = {}  # (module, type, name) -> its instances
        for r in res:
            self.by_name.setdefault((r.module, r.type, r.name), []).append(r)
        for r in res:
            if r.type in ALIAS_IDS or r.type.startswith("data."):
                continue
            for attr in ("id", "default_route_table_id"):
                rid = r.values.get(attr)
                if isinstance(rid, str) and rid:
                    self.by_id.setdefault(rid, (r, attr))  # two owners of one id: the first, in address order

    def target(self, r: Res, attr: str, block: Optional[Tuple[str, int]] = None
               ) -> Tuple[Optional[Res], Optional[str], str]:
        """(the resource `attr` of `r` points at, the attribute named, why not when None)."""
        value = _in_block(r.values, block).get(attr)
        if isinstance(value, str) and value in self.by_id:  # a state, or a known id
            return self.by_id[value][0], self.by_id[value][1], ""
        expr = self.config.expression(r, attr, block)
        if expr is None:
            if value:
                return None, None, f"{attr} = {shown(value, as_repr=True)} names no resource of the plan"
            return None, None, f"{attr} is not set"
        return self._follow(r, r.calls, r.module, _refs(expr), attr, 0)

    def targets(self, r: Res, attr: str) -> Tuple[List[Tuple[Res, str]], List[str]]:
        """Every resource a list attribute (`orderly_security_groups`, `assigned_eip_set`) names,
        in its order, and why each element that names none does not."""
        value = r.values.get(attr)
        found: List[Tuple[Res, str]] = []
        why: List[str] = []
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            for v in value:
                if v in self.by_id:
                    found.append(self.by_id[v])
                elif self.config.expression(r, attr) is None:
                    why.append(f"{attr}: {shown(v, as_repr=True)} names no resource of the plan")
            if found or self.config.expression(r, attr) is None:
                return found, why
        expr = self.config.expression(r, attr)
        calls, module, refs = r.calls, r.module, _refs(expr) if expr is not None else []
        for _ in range(10):  # `orderly_security_groups = var.sg_ids`: the module call's list, element by element
            heads = [x for x in refs if x.startswith("var.")]
            if not (calls and heads and len(heads) == len([x for x in refs if not x.startswith(("count.", "each."))])):
                break
            call = _obj(_obj(self.config.module(calls[:-1]).get("module_calls")).get(calls[-1]))
            refs = [x for h in heads for x in _refs(_obj(_obj(call.get("expressions")).get(_split(h)[1])))]
            calls, module = calls[:-1], _parent_address(module)
        for ref in refs:
            t, named, no = self._follow(r, calls, module, [ref], attr, 0)
            if t is None:
                if ref.count(".") >= 2 or ref.startswith(("var.", "local.", "data.")):
                    why.append(no)  # `tencentcloud_eip.a` beside `tencentcloud_eip.a.public_ip`: the same
            elif all(t is not x for x, _ in found):
                found.append((t, named))
        return found, why

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
            cands = self.by_name.get((module, rtype, rname), [])
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


def _in_block(values: dict, block: Optional[Tuple[str, int]]) -> dict:
    if block is None:
        return values
    blocks = _list(values.get(block[0]))
    return _obj(blocks[block[1]]) if 0 <= block[1] < len(blocks) else {}


def _parent_address(module: str) -> str:
    i = module.rfind(".module.")
    return module[:i] if i >= 0 else ""


# ---- naming -----------------------------------------------------------------------------------


_MODULE = re.compile(r'module\.([A-Za-z0-9_-]+)(\[(?:"(?:[^"\\]|\\.)*"|[0-9]+)\])?')
PLACEHOLDER = "this"  # Terraform's name for a module's one resource of a type: the module's key names it


def address_words(r: Res) -> List[str]:
    """The parts of a name in `r`'s address: each module call with its count index or for_each
    key, then the resource name (but `this` inside a module) with its own.
    module.web_server[1].tencentcloud_instance.this -> [web_server, 1]."""
    words: List[str] = []
    for m in _MODULE.finditer(r.module or ""):
        words.append(m.group(1))
        if m.group(2):
            key = m.group(2)[1:-1]
            try:
                key = loads_json(key) if key.startswith('"') else key
            except ValueError:
                pass
            words.append(str(key))
    if r.name != PLACEHOLDER or not words:
        words.append(r.name)
    if r.index is not None and not isinstance(r.index, (dict, list)):
        words.append(str(r.index).lower() if isinstance(r.index, bool) else str(r.index))
    return words


def slug(r: Res, maxlen: int, first_letter: bool) -> str:
    s = re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", "-".join(address_words(r)).lower())).strip("-") or "x"
    if first_letter and not s[0].isalpha():
        s = "r" + s
    return s[:maxlen].rstrip("-")


def _suffixed(base: str, address: str, maxlen: int, digits: int = 4) -> str:
    tag = hashlib.sha1(address.encode("utf-8", "surrogatepass")).hexdigest()[:digits]
    return base[: maxlen - digits - 1].rstrip("-") + "-" + tag


class Names:
    """Names from addresses, unique within each scope. A name two resources would share (web_1
    and web[1], or a long one cut at the limit) goes to neither: each gets a suffix from a hash of
    its own address, so a name never depends on what else the plan holds; a name that is
    reserved (a table `default`, the lab's `internet`) does the same. Where the clash is between
    kinds (VPC `edge` and NAT gateway `edge`), the kind that has a word adds it (`edge-nat`) and
    the other keeps the name. Each rename is a note."""

    def __init__(self):
        self.wanted: Dict[str, List[Tuple[Res, str, int, str]]] = {}
        self.reserved: Dict[str, set] = {}
        self.given: Dict[int, str] = {}

    def want(self, scope: str, r: Res, maxlen: int, first_letter: bool, word: str = "") -> None:
        self.wanted.setdefault(scope, []).append((r, slug(r, maxlen, first_letter), maxlen, word))

    def resolve(self, notes: list, note) -> None:
        for scope, items in self.wanted.items():
            count: Dict[str, List[Tuple[Res, str]]] = {}
            for r, base, _, word in items:
                count.setdefault(base, []).append((r, word))
            reserved = self.reserved.get(scope, set())
            worded = {}  # base-word -> how many want it
            for r, base, _, word in items:
                if word and len(count[base]) > 1:
                    worded[f"{base}-{word}"] = worded.get(f"{base}-{word}", 0) + 1
            for r, base, maxlen, word in items:
                others = [x.address for x, _ in count[base] if x is not r]
                plain = [x for x, w in count[base] if x is not r and not w]
                if base not in reserved and (not others or (not word and not plain)):
                    self.given[id(r)] = base
                    continue
                cand = f"{base}-{word}"
                if word and worded.get(cand) == 1 and len(cand) <= maxlen \
                        and cand not in count and cand not in reserved:
                    name = cand
                else:
                    digits, name = 4, _suffixed(base, r.address, maxlen)
                    while name in count or name in reserved or name in worded:  # a hash on another name
                        digits += 2
                        name = _suffixed(base, r.address, maxlen, digits)
                self.given[id(r)] = name
                why = (f"{base} is also the name of {', '.join(shown(a, 80) for a in others[:3])}" if others
                       else f"{base} is reserved")
                how = "its kind added" if name == cand else "a suffix from its address keeps names stable"
                notes.append(note(r.address, f"named {name}: {why} ({how})"))

    def __getitem__(self, r: Res) -> str:
        return self.given[id(r)]


def lab_name(path: str) -> str:
    s = re.sub(r"[^a-z0-9]", "", Path(path).stem.lower())
    s = re.sub(r"^[0-9]+", "", s)
    return s[:8] or "tf"


# ---- building the topology ------------------------------------------------------------------------
