"""`vpclab import terraform`: a topology from `terraform show -json` (a plan or a state)
written for the tencentcloud provider.

Read -> resolve -> render -> validate:

- every managed resource instance is read from `planned_values` (a plan) or `values`
  (a state), root module and `child_modules`, with its address (`count`/`for_each`
  indexes and module paths included);
- links (a subnet's VPC, a route's table and peering, ...) are resolved through the
  configuration's `expressions.<attr>.references`, since ids are unknown before
  apply; through `var.` (the module call's argument) and `module.X.Y` (the module's
  output) too. A state has known ids: a link is then found by its id;
- the topology is rendered as YAML, each object with a comment naming its Terraform
  address, and loaded by the ordinary loader: a broken cloud rule is reported with
  the address of the resource that broke it (`ImportInvalid`), nothing is written.

Nothing is dropped silently: resources vpclab does not model, attributes it cannot
carry yet (a public IP), and links that cannot be resolved are all returned as notes
with their address, for the CLI to print on stderr.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..errors import ImportInvalid, Refused, shown
from ..model.units import NumberError, line_of, loads_json

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
    from ..loader import read_regular_file

    text = read_regular_file(path, "a plan is the JSON of `terraform show -json`")
    try:
        doc = loads_json(text)  # its numbers through the one bounded parser
    except NumberError as e:
        raise Refused(f"{shown(path)}:{line_of(text, e.text)}: not JSON vpclab reads: {e}",
                      code="InvalidParameter.JsonSyntax", hint="write it with `terraform show -json PLANFILE > plan.json`")
    except json.JSONDecodeError as e:
        raise Refused(f"{shown(path)}:{e.lineno}: not JSON: {e.msg}", code="InvalidParameter.JsonSyntax",
                      hint="write it with `terraform show -json PLANFILE > plan.json`")
    except RecursionError:
        raise Refused(f"{shown(path)}: not the JSON of a Terraform plan or state (nested too deep)",
                      code="InvalidParameter", hint="write it with `terraform show -json PLANFILE > plan.json`")
    if not isinstance(doc, dict) or not any(k in doc for k in ("planned_values", "values")):
        raise Refused(f"{shown(path)}: not the JSON of a Terraform plan or state (no planned_values or values)",
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


@dataclass
class _Out:
    """The topology being built: plain data plus, per object, its Terraform address."""

    vpcs: Dict[str, dict] = field(default_factory=dict)
    peerings: Dict[str, dict] = field(default_factory=dict)
    accounts: List[str] = field(default_factory=list)
    regions: List[str] = field(default_factory=list)
    where: Dict[Tuple, str] = field(default_factory=dict)  # (kind, names...) -> address


def convert(doc: dict, source: str = "plan.json", lab: Optional[str] = None) -> Result:
    res = resources(doc, source)
    rv = Resolver(doc, res)
    notes: List[Note] = []
    out = _Out()
    by_type: Dict[str, List[Res]] = {}
    for r in res:
        by_type.setdefault(r.type, []).append(r)
        if r.type.startswith("data."):
            notes.append(Note(r.address, "data source: read by Terraform, nothing to build (ignored)"))
        elif r.type in UNTIL_FILTERING:
            notes.append(Note(r.address, f"{r.type}: not imported (security groups, ACLs, EIPs and NAT gateways "
                                         "are not in the topology format yet)"))
        elif r.type not in SUPPORTED:
            notes.append(Note(r.address, f"{r.type}: not modelled by vpclab (not imported)"))

    def link(r: Res, attr: str, want: str) -> Tuple[Optional[Res], Optional[str]]:
        t, named, why = rv.target(r, attr)
        if t is None:
            notes.append(Note(r.address, f"unresolved: {why} (not imported)"))
            return None, None
        if t.type != want and not (want == TABLE and t.type == VPC and named == "default_route_table_id"):
            notes.append(Note(r.address, f"unresolved: {attr} points at {t.address}, not a {want} (not imported)"))
            return None, None
        if t.vpclab is None:
            notes.append(Note(r.address, f"unresolved: {attr} points at {t.address}, which was not imported "
                                         "(not imported)"))
            return None, None
        return t, named

    # Accounts: a peering with a destination_uin crosses accounts; its destination VPC is
    # that account's (provider aliases may differ in region only, so they do not decide).
    owner: Dict[int, str] = {}
    for r in by_type.get(PEER, []):
        uin = r.values.get("destination_uin")
        b = rv.target(r, "destination_vpc_id")[0]
        if uin and b is not None:
            owner[id(b)] = f"uin-{uin}"

    # VPCs
    taken: set = set()
    for r in by_type.get(VPC, []):
        key = rv.config.provider_key(r.calls, r.type, r.name)
        account = owner.get(id(r), "default")
        region = rv.config.region(key)
        if region is None:
            region = DEFAULT_REGION
            notes.append(Note(r.address, f"partial: its provider's region is not in the file; put in region "
                                         f"'{DEFAULT_REGION}'"))
        cidr = r.values.get("cidr_block")
        if not isinstance(cidr, str):
            notes.append(Note(r.address, "unresolved: cidr_block is unknown before apply (not imported)"))
            continue
        r.vpclab = _unique(_slug(r, 24, True), taken, 24)
        out.vpcs[r.vpclab] = {"account": account, "region": region, "cidr": cidr, "subnets": {},
                              "route_tables": {}, "instances": {}}
        out.where[("vpc", r.vpclab)] = r.address
        for lst, v in ((out.accounts, account), (out.regions, region)):
            if v not in lst:
                lst.append(v)

    # route tables
    tables: Dict[int, Tuple[str, str]] = {}  # id(Res) -> (vpc, table)
    for r in by_type.get(TABLE, []):
        v, _ = link(r, "vpc_id", VPC)
        if v is None:
            continue
        names = set(out.vpcs[v.vpclab]["route_tables"]) | {"default"}
        r.vpclab = _unique(_slug(r, 32, False), names, 32)
        out.vpcs[v.vpclab]["route_tables"][r.vpclab] = {"routes": []}
        out.where[("table", v.vpclab, r.vpclab)] = r.address
        tables[id(r)] = (v.vpclab, r.vpclab)

    def table_of(r: Res) -> Optional[Tuple[str, str]]:
        t, named = link(r, "route_table_id", TABLE)
        if t is None:
            return None
        return (t.vpclab, "default") if t.type == VPC else tables[id(t)]

    # subnets
    subnet_vpc: Dict[int, str] = {}
    for r in by_type.get(SUBNET, []):
        v, _ = link(r, "vpc_id", VPC)
        cidr = r.values.get("cidr_block")
        if v is None:
            continue
        if not isinstance(cidr, str):
            notes.append(Note(r.address, "unresolved: cidr_block is unknown before apply (not imported)"))
            continue
        body = {"cidr": cidr}
        if r.values.get("route_table_id") or rv.config.expression(r, "route_table_id") is not None:
            t = table_of(r)
            if t is None:
                continue
            if t[0] != v.vpclab:
                notes.append(Note(r.address, f"unresolved: its route table is in {t[0]}, not in {v.vpclab} "
                                             "(not imported)"))
                continue
            if t[1] != "default":
                body["route_table"] = t[1]
        r.vpclab = _unique(_slug(r, 32, False), set(out.vpcs[v.vpclab]["subnets"]), 32)
        out.vpcs[v.vpclab]["subnets"][r.vpclab] = body
        out.where[("subnet", v.vpclab, r.vpclab)] = r.address
        subnet_vpc[id(r)] = v.vpclab

    # peerings, with their accept / reject operations
    answered: Dict[int, str] = {}
    for op, what in ((ACCEPT, "accepted"), (REJECT, "rejected")):
        for r in by_type.get(op, []):
            p, _ = rv.target(r, "peering_connection_id")[:2]
            if p is None or p.type != PEER:
                notes.append(Note(r.address, "unresolved: peering_connection_id names no "
                                             f"{PEER} of the plan (not imported)"))
                continue
            answered[id(p)] = what
            r.vpclab = what
    taken = set()
    for r in by_type.get(PEER, []):
        a, _ = link(r, "source_vpc_id", VPC)
        b, _ = link(r, "destination_vpc_id", VPC)
        if a is None or b is None:
            continue
        r.vpclab = _unique(_slug(r, 60, False), taken, 60)
        body: Dict[str, Any] = {"vpc": a.vpclab, "peer_vpc": b.vpclab}
        va, vb = out.vpcs[a.vpclab], out.vpcs[b.vpclab]
        bw = r.values.get("bandwidth")
        if va["region"] != vb["region"]:
            body["bandwidth"] = f"{bw}Mbps" if isinstance(bw, (int, float)) and not isinstance(bw, bool) else None
            if body["bandwidth"] is None:
                notes.append(Note(r.address, "partial: cross-region without a known bandwidth (the file will "
                                             "say so)"))
                del body["bandwidth"]
        elif bw:
            notes.append(Note(r.address, f"partial: bandwidth {bw} on a regional peering is not carried "
                                         "(regional peerings have no cap)"))
        if va["account"] != vb["account"]:
            state = answered.get(id(r))
            body["accepted"] = state == "accepted"
            if state == "rejected":
                notes.append(Note(r.address, "partial: rejected; imported as not accepted (PENDING): neither "
                                             "carries traffic"))
        out.peerings[r.vpclab] = body
        out.where[("peering", r.vpclab)] = r.address

    # routes
    for r in by_type.get(ENTRY, []):
        kind = str(r.values.get("next_type") or "").upper()
        if kind != "PEERCONNECTION":
            notes.append(Note(r.address, f"next_type {kind or 'unknown'}: only PEERCONNECTION routes are in the "
                                         "topology format yet (not imported)"))
            continue
        t = table_of(r)
        p, _ = link(r, "next_hub", PEER)
        dst = r.values.get("destination_cidr_block")
        if t is None or p is None:
            continue
        if not isinstance(dst, str):
            notes.append(Note(r.address, "unresolved: destination_cidr_block is unknown (not imported)"))
            continue
        vpc, table = t
        routes = out.vpcs[vpc]["route_tables"].setdefault(table, {"routes": []})["routes"]
        routes.append({"destination": dst, "next_hop": p.vpclab})
        out.where[("route", vpc, table, len(routes) - 1)] = r.address

    # instances
    for r in by_type.get(INSTANCE, []):
        s, _ = link(r, "subnet_id", SUBNET)
        if s is None:
            continue
        vpc = subnet_vpc[id(s)]
        if r.values.get("vpc_id") is not None or rv.config.expression(r, "vpc_id") is not None:
            v, _ = rv.target(r, "vpc_id")[:2]
            if v is not None and v.vpclab != vpc:
                notes.append(Note(r.address, f"unresolved: vpc_id is {v.vpclab} but its subnet is in {vpc} "
                                             "(not imported)"))
                continue
        body = {"subnet": s.vpclab}
        if isinstance(r.values.get("private_ip"), str) and r.values["private_ip"]:
            body["ip"] = r.values["private_ip"]
        if r.values.get("allocate_public_ip") or r.values.get("internet_max_bandwidth_out"):
            notes.append(Note(r.address, "partial: allocate_public_ip: the topology format has no public IP "
                                         "(eip) yet; imported with its private address only"))
        r.vpclab = _unique(_slug(r, 32, False), set(out.vpcs[vpc]["instances"]), 32)
        out.vpcs[vpc]["instances"][r.vpclab] = body
        out.where[("instance", vpc, r.vpclab)] = r.address

    if not out.vpcs:
        raise Refused(f"{source}: no {VPC} could be imported, so there is no topology",
                      code="MissingParameter", hint="; ".join(str(n) for n in notes[:5]) or None)
    name = lab or lab_name(source)
    text, lines = render(out, name, source, doc)
    counts = {"vpcs": len(out.vpcs), "peerings": len(out.peerings),
              "instances": sum(len(v["instances"]) for v in out.vpcs.values())}
    _validate(text, lines, source)
    return Result(text, name, notes, counts)


# ---- rendering and validation ---------------------------------------------------------------------


def _flow(d: dict) -> str:
    return "{" + ", ".join(f"{k}: {_scalar(v)}" for k, v in d.items()) + "}"


def _scalar(v) -> str:
    """`v` as a YAML scalar: a plain word when it reads back as itself, else quoted (a value from
    the file never adds a line or a key to the topology)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if not isinstance(v, str):
        return json.dumps(v)
    return v if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9./_-]*", v) and _reads_back(v) else json.dumps(v)


def _reads_back(word: str) -> bool:
    import yaml

    return yaml.safe_load(word) == word  # not `no`, `null`, `1.5`, ...


def render(out: _Out, lab: str, source: str, doc: dict) -> Tuple[str, Dict[int, str]]:
    """Block YAML with each object's Terraform address in a comment; line -> address."""
    lines: List[str] = []
    where: Dict[int, str] = {}

    def add(text: str, key=None):
        addr = out.where.get(key) if key else None
        lines.append(text + (f"  # {shown(addr, 200)}" if addr else ""))
        if addr:
            where[len(lines)] = addr

    version = doc.get("terraform_version")
    version = version if isinstance(version, str) and re.fullmatch(r"[\w.+-]{1,40}", version) else None
    add(f"# Imported by `vpclab import terraform` from {shown(Path(source).name, 80)}"
        + (f" (Terraform {version})" if version else ""))
    add("# Each object names the Terraform address it came from.")
    add(f"lab: {lab}")
    add(f"accounts: [{', '.join(_scalar(a) for a in out.accounts)}]")  # values from the file: quoted
    add("regions:")                                                      # unless plain words
    for r in out.regions:
        add(f"  {_scalar(r)}: {{}}")
    add("vpcs:")
    for vname, v in out.vpcs.items():
        add(f"  {vname}:", ("vpc", vname))
        add(f"    account: {_scalar(v['account'])}", ("vpc", vname))
        add(f"    region: {_scalar(v['region'])}", ("vpc", vname))
        add(f"    cidr: {_scalar(v['cidr'])}", ("vpc", vname))
        if v["subnets"]:
            add("    subnets:")
            for s, body in v["subnets"].items():
                add(f"      {s}: {_flow(body)}", ("subnet", vname, s))
        if v["route_tables"]:
            add("    route_tables:")
            for t, body in v["route_tables"].items():
                add(f"      {t}:", ("table", vname, t))
                add("        routes:" + ("" if body["routes"] else " []"))
                for i, route in enumerate(body["routes"]):
                    add(f"          - {_flow(route)}", ("route", vname, t, i))
        if v["instances"]:
            add("    instances:")
            for i, body in v["instances"].items():
                add(f"      {i}: {_flow(body)}", ("instance", vname, i))
    if out.peerings:
        add("peerings:")
        for p, body in out.peerings.items():
            add(f"  {p}: {_flow(body)}", ("peering", p))
    return "\n".join(lines) + "\n", where


def _validate(text: str, where: Dict[int, str], source: str) -> None:
    """Load the rendered topology; a broken rule is reported with its Terraform address."""
    from .. import loader
    from ..errors import TopologyInvalid

    try:
        loader.loads(text, "<imported>")
    except TopologyInvalid as e:
        problems = []
        for p in e.problems:
            line = p.line or 0
            addr = where.get(line) or next((where[l] for l in sorted(where, reverse=True) if l <= line), None)
            problems.append((shown(addr, 200) if addr else "(topology)", p.code, p.message, p.hint))
        raise ImportInvalid(source, problems)
