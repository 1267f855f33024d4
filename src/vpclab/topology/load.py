"""YAML topology file -> `Lab` model (TOPOLOGY.md), with FILE:LINE for every problem.

Parse -> resolve -> validate: YAML is read into dicts and lists that remember
their line numbers, checked against the schema below (unknown keys, types,
names, required keys), turned into model objects with defaults filled in, and
then checked against the rules of `model.rules`. Every problem of the whole file
is collected; if there is any, `TopologyInvalid` carries them all and nothing
else happens. YAML never leaves this module and `yamltree`.
"""
from __future__ import annotations

import ipaddress
from typing import Dict, List, Optional

from . import billing as prices  # `billing:` (topology/billing.py owns it)
from . import ccn, filters, include, listen, peering
from ..errors import Problem, TopologyInvalid, did_you_mean, shown
from ..model import rules
from ..model.types import (
    ACCOUNT_NAME,
    ITEM_NAME,
    LAB_NAME,
    PEERING_NAME,
    VPC_NAME,
    KINDS,
    PROTOS,
    RESULTS,
    SERVICE_PORTS,
    Expectation,
    Instance,
    Lab,
    Peering,
    Route,
    RouteTable,
    Subnet,
    Vpc,
)
from ..model.units import parse_bandwidth, parse_delay_ms
from .keys import SCHEMA
from .yamltree import DUP_KEY, LDict, LList, kind_of, parse_yaml, read_regular_file

UNKNOWN_KEY = "UnknownParameter"
from ..model.codes import MALFORMED, MISSING, NOT_FOUND, TYPE, VALUE  # noqa: F401  (named here too)
MAX_HINTS = 50  # "did you mean" hints per file


# ---- the loader ------------------------------------------------------------------


class _Reader:
    """Walks the YAML tree, collecting problems instead of stopping at the first."""

    def __init__(self, file: str):
        self.file = file
        self.problems: List[Problem] = []
        self.unreadable_peerings = set()
        self.unreadable_vpcs = set()  # named in the file but not readable: not "missing" elsewhere
        self.unreadable_instances: Dict[str, tuple] = {}  # ref -> (what is wrong, its line): exists, unusable
        self.hints_left = MAX_HINTS
        self._refs: Optional[List[str]] = None
        self._vpc_blocks: Optional[Dict[int, set]] = None

    def hint(self, word, choices) -> Optional[str]:
        """A 'did you mean' hint for the first MAX_HINTS problems; each costs a pass over `choices`,
        so a file with thousands of wrong names still loads in linear time."""
        if self.hints_left <= 0:
            return None
        self.hints_left -= 1
        return did_you_mean(word, choices)

    def refs(self, lab: Lab) -> List[str]:
        """Every instance of the lab as <vpc>/<instance> (computed once, for the hints)."""
        if self._refs is None:
            self._refs = [i.ref for v in lab.vpcs.values() for i in v.instances.values()]
        return self._refs

    def in_some_vpc(self, lab: Lab, ip: ipaddress.IPv4Address) -> bool:
        """Whether a VPC of the lab holds `ip`: one lookup per prefix length, not one test per VPC."""
        if self._vpc_blocks is None:
            self._vpc_blocks = {}
            for v in lab.vpcs.values():
                self._vpc_blocks.setdefault(v.cidr.prefixlen, set()).add(int(v.cidr.network_address))
        n = int(ip)
        return any(n >> (32 - p) << (32 - p) in nets for p, nets in self._vpc_blocks.items())

    def problem(self, code: str, message: str, line: int, hint: Optional[str] = None):
        self.problems.append(Problem(code, message, include.file_of(line, self.file), int(line or 1), hint))

    def mapping(self, value, what: str, line: int) -> Optional[LDict]:
        if value is None:
            return LDict()
        if not isinstance(value, dict):
            self.problem(TYPE, f"{what} must be a mapping, not {kind_of(value)}", line)
            return None
        return value

    def keys(self, m: LDict, schema: str, what: str):
        allowed, required = SCHEMA[schema]
        for k in m:
            if k not in allowed:
                self.problem(UNKNOWN_KEY, f"unknown key '{shown(k)}' in {what}", m.lines.get(k, m.line),
                             self.hint(k, sorted(allowed)))
        for k in sorted(required - {k for k in m if m[k] is not None}):
            self.problem(MISSING, f"{what} needs '{k}'", m.line)

    def entry(self, name, kind: str, pattern, body, line: int, schema: str, what: str) -> Optional[LDict]:
        """A named mapping (a VPC, subnet, route table, instance, peering): name and keys checked."""
        if not self.name(name, kind, pattern, line):
            return None
        m = self.mapping(body, what, line)
        if m is None:
            return None
        m.line = line
        self.keys(m, schema, what)
        return m

    def string(self, m: LDict, key: str, what: str, pattern=None, default=None):
        if key not in m or m[key] is None:
            return default
        v, line = m[key], m.lines.get(key, m.line)
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            self.problem(TYPE, f"{what}.{key} must be a string, not {kind_of(v)}", line)
            return None
        v = str(v)
        if pattern is not None and not pattern.match(v):
            self.problem(VALUE, f"{what}.{key} '{shown(v)}' is not a valid name ({_describe(pattern)})", line)
            return None
        return v

    def name(self, name, what: str, pattern, line: int) -> bool:
        if not isinstance(name, str) or not pattern.match(name):
            self.problem(VALUE, f"{what} name '{shown(name)}' is not valid ({_describe(pattern)})", line)
            return False
        return True

    def network(self, m: LDict, key: str, what: str):
        v = self.string(m, key, what)
        if v is None:
            return None
        try:
            return ipaddress.IPv4Network(v, strict=True)
        except ValueError as e:
            self.problem(MALFORMED, f"{what}.{key} '{shown(v)}' is not an IPv4 CIDR ({shown(str(e), 120)})", m.lines.get(key, m.line))
            return None

    def integer(self, m: LDict, key: str, what: str, lo: int, hi: int):
        if key not in m or m[key] is None:
            return None
        v = m[key]
        v = int(v) if isinstance(v, float) and v.is_integer() and lo <= v <= hi else v  # 80.0 is 80, as in the schema
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            self.problem(VALUE, f"{what}.{key} must be a whole number {lo}..{hi}, not {shown(v, as_repr=True)}",
                         m.lines.get(key, m.line))
            return None
        return v

    def choice(self, m: LDict, key: str, what: str, choices, default):
        v = m.get(key, default)
        if v is None:
            return default
        if v not in choices:
            why = " (YAML reads an unquoted true or false as a boolean)" if isinstance(v, bool) else ""
            self.problem(VALUE, f"{what}.{key} '{shown(v)}' must be one of {', '.join(choices)}{why}",
                         m.lines.get(key, m.line), self.hint(v, choices))
            return None
        return v

    def items(self, parent: LDict, key: str, what: str):
        """(name, LDict, line) for each entry of a mapping of named things."""
        m = self.mapping(parent.get(key), what, parent.lines.get(key, parent.line))
        if not m:
            return []
        return [(k, v, m.lines.get(k, m.line)) for k, v in m.items()]


def _describe(pattern) -> str:
    return {
        LAB_NAME: "1-8 characters, [a-z][a-z0-9]*",
        VPC_NAME: "at most 24 characters, [a-z][a-z0-9-]*",
        ITEM_NAME: "at most 32 characters of letters, digits, '-' and '_'",
        PEERING_NAME: "at most 60 characters of letters, digits, '-' and '_'",
        ACCOUNT_NAME: "letters, digits and . _ @ -",
    }.get(pattern, pattern.pattern)


def load(path) -> Lab:
    """Read and validate a topology file. Raises TopologyInvalid with every problem.

    Only a regular file is read: a FIFO, a device or a directory is refused before
    it is opened (reading a FIFO would wait for a writer forever). A problem with
    the file as a whole is cited without a line (`FILE: CODE: message`).
    """
    file = str(path)
    return loads(read_regular_file(file), file)


def loads(text: str, file: str = "<topology>") -> Lab:
    doc, files = include.expand(parse_yaml(text, file), file)
    r = _Reader(file)
    lab = _build(r, doc)
    if lab is not None:
        # The rules run even after schema problems, over what could be read, so one
        # run reports everything; routes via a peering that could not be read are
        # left out rather than reported as a second, misleading problem.
        for v in rules.validate(lab, unreadable_hops=r.unreadable_peerings):
            r.problem(v.code, v.message, v.line)
        filters.finish(r, lab)
    if r.problems:
        raise TopologyInvalid(include.in_order(r.problems, files))
    lab.source = file
    return lab


def _build(r: _Reader, doc) -> Optional[Lab]:
    if doc is None:
        r.problem(MISSING, "the file is empty; a topology needs 'lab' and 'vpcs'", 1)
        return None
    if not isinstance(doc, dict):
        r.problem(TYPE, f"a topology is a mapping with 'lab' and 'vpcs', not {kind_of(doc)}", getattr(doc, "line", 1))
        return None
    r.keys(doc, "top", "the topology")
    name = r.string(doc, "lab", "lab", LAB_NAME) or "invalid"
    lab = Lab(name=name)

    accounts = doc.get("accounts")
    if accounts is not None:
        line = doc.lines.get("accounts", 1)
        if not isinstance(accounts, list) or not accounts:
            r.problem(TYPE, "accounts must be a non-empty list of names", line)
        else:
            lab.accounts, seen = [], set()
            for a, aline in zip(accounts, accounts.lines):
                if r.name(a, "account", ACCOUNT_NAME, aline):
                    if a in seen:
                        r.problem(DUP_KEY, f"account '{a}' is listed twice", aline)
                    seen.add(a)
                    lab.accounts.append(a)
            lab.accounts = lab.accounts or ["default"]

    for rname, rbody, line in r.items(doc, "regions", "regions"):
        if r.name(rname, "region", VPC_NAME, line):
            if rbody is not None and not isinstance(rbody, dict):
                r.problem(TYPE, f"region {rname} must be a mapping ({{}}), not {kind_of(rbody)}", line)
                rbody = None  # still a region, so VPCs naming it are not reported as well
            lab.regions[rname] = dict(rbody or {})

    for key, value, line in r.items(doc, "latency", "latency"):
        pair = str(key).split("/")
        if len(pair) != 2:
            r.problem(VALUE, f"latency key '{shown(key)}' must be REGION/REGION", line)
            continue
        for reg in pair:
            if lab.regions and reg not in lab.regions:
                r.problem(NOT_FOUND, f"latency names unknown region '{shown(reg)}'", line, r.hint(reg, lab.regions))
        try:
            lab.latency_ms["/".join(sorted(pair))] = parse_delay_ms(value)
        except ValueError as e:
            r.problem(VALUE, f"latency {shown(key)}: {e}", line)

    filters.read_internet(r, lab, doc)

    vpcs_node = doc.get("vpcs")
    if "vpcs" in doc and not isinstance(vpcs_node, dict):
        r.problem(TYPE, f"vpcs must be a mapping of VPC names, not {kind_of(vpcs_node)}", doc.lines.get("vpcs", 1))
    elif isinstance(vpcs_node, dict) and not vpcs_node:
        r.problem(MISSING, "vpcs is empty: a lab needs at least one VPC", doc.lines.get("vpcs", 1))
    for vname, body, line in r.items(doc, "vpcs", "vpcs") if isinstance(vpcs_node, dict) else []:
        vpc = _vpc(r, lab, vname, body, line)
        if vpc is not None:
            lab.vpcs[vname] = vpc
        else:
            r.unreadable_vpcs.add(vname)

    for pname, body, line in r.items(doc, "peerings", "peerings"):
        p = _peering(r, lab, pname, body, line)
        if p is None:
            r.unreadable_peerings.add(pname)
        else:
            p.index = len(lab.peerings)
            lab.peerings[pname] = p

    ccn.read(r, lab, doc)  # version 3: `ccns:` (topology/ccn.py)
    prices.hook(r, doc, lab)

    expect = doc.get("expect")
    if expect is not None:
        if not isinstance(expect, list):
            r.problem(TYPE, f"expect must be a list, not {kind_of(expect)}", doc.lines.get("expect", 1))
        else:
            for item, line in zip(expect, expect.lines):
                e = _expectation(r, lab, item, line)
                if e is not None:
                    lab.expectations.append(e)
    return lab


def _vpc(r: _Reader, lab: Lab, name, body, line) -> Optional[Vpc]:
    what = f"VPC {name}"
    m = r.entry(name, "VPC", VPC_NAME, body, line, "vpc", what)
    if m is None:
        return None
    account = r.string(m, "account", what, default=lab.accounts[0])
    if account is not None and account not in lab.accounts:
        r.problem(NOT_FOUND, f"{what}: account '{shown(account)}' is not in accounts ({', '.join(lab.accounts)})",
                  m.lines.get("account", line), r.hint(account, lab.accounts))
    region = r.string(m, "region", what, VPC_NAME)
    if region is not None and lab.regions and region not in lab.regions:
        r.problem(NOT_FOUND, f"{what}: region '{region}' is not in regions ({', '.join(lab.regions)})",
                  m.lines.get("region", line), r.hint(region, lab.regions))
    cidr = r.network(m, "cidr", what)
    if cidr is None or region is None:
        return None
    vpc = Vpc(name=name, account=account or lab.accounts[0], region=region, cidr=cidr, line=line)

    for tname, tbody, tline in r.items(m, "route_tables", f"{what} route_tables"):
        tm = r.entry(tname, "route table", ITEM_NAME, tbody, tline, "route_table", f"route table {name}/{tname}")
        if tm is None:
            continue
        table = RouteTable(tname, line=tline)
        routes = tm.get("routes")
        if routes is not None and not isinstance(routes, list):
            r.problem(TYPE, f"route table {name}/{tname}: routes must be a list", tm.lines.get("routes", tline))
        for item, rline in zip(routes if isinstance(routes, list) else [], getattr(routes, "lines", [])):
            rm = r.mapping(item, f"a route of {name}/{tname}", rline)
            if rm is None:
                continue
            rm.line = rline
            r.keys(rm, "route", f"route in {name}/{tname}")
            dst = r.network(rm, "destination", "route")
            hop = r.string(rm, "next_hop", "route")
            if dst is not None and hop is not None:
                table.routes.append(Route(dst, hop, rline))
        vpc.route_tables[tname] = table
    vpc.route_tables.setdefault("default", RouteTable("default", line=line))

    for sname, sbody, sline in r.items(m, "subnets", f"{what} subnets"):
        sm = r.entry(sname, "subnet", ITEM_NAME, sbody, sline, "subnet", f"subnet {name}/{sname}")
        if sm is None:
            continue
        scidr = r.network(sm, "cidr", f"subnet {name}/{sname}")
        table = r.string(sm, "route_table", f"subnet {name}/{sname}", default="default")
        if table is not None and table not in vpc.route_tables:
            r.problem(NOT_FOUND, f"subnet {name}/{sname}: route table '{shown(table)}' does not exist",
                      sm.lines.get("route_table", sline), r.hint(table, vpc.route_tables))
        if scidr is not None:
            vpc.subnets[sname] = Subnet(sname, scidr, table or "default", sline)

    for iname, ibody, iline in r.items(m, "instances", f"{what} instances"):
        inst = _instance(r, vpc, iname, ibody, iline)
        if inst is not None:
            vpc.instances[iname] = inst
    filters.read_vpc(r, vpc, m)
    return vpc


def _instance(r: _Reader, vpc: Vpc, name, body, line) -> Optional[Instance]:
    what = f"instance {vpc.name}/{name}"
    m = r.entry(name, "instance", ITEM_NAME, body, line, "instance", what)
    if m is None:
        return None
    subnet = r.string(m, "subnet", what)
    if subnet is not None and subnet not in vpc.subnets:
        r.problem(NOT_FOUND, f"{what}: subnet '{shown(subnet)}' does not exist in {vpc.name}", m.lines.get("subnet", line),
                  r.hint(subnet, vpc.subnets))
    ip = None
    ip_text = r.string(m, "ip", what)
    if ip_text is not None:
        try:
            ip = ipaddress.IPv4Address(ip_text)
        except ValueError:
            r.problem(MALFORMED, f"{what}: ip '{shown(ip_text)}' is not an IPv4 address", m.lines.get("ip", line))
    kind = r.choice(m, "kind", what, KINDS, "cvm")
    port = r.integer(m, "port", what, 1, 65535)
    backends = m.get("backends")
    if kind == "clb":
        if port is None and "port" not in m:
            r.problem(MISSING, f"{what}: a clb needs 'port' (its TCP listener)", line)
        if backends is None:
            backends = []
        if not isinstance(backends, list) or not all(isinstance(b, str) for b in backends):
            r.problem(TYPE, f"{what}: backends must be a list of instance names", m.lines.get("backends", line))
            backends = []
    else:
        if "backends" in m:
            r.problem(VALUE, f"{what}: only a clb has backends (kind is {kind})", m.lines.get("backends", line))
        if port is not None and kind in SERVICE_PORTS and port != SERVICE_PORTS[kind]:
            r.problem(VALUE, f"{what}: a {kind} listens on {SERVICE_PORTS[kind]}, not {port}",
                      m.lines.get("port", line))
        elif port is not None and kind == "cvm":
            r.problem(VALUE, f"{what}: a cvm runs no listener, so it takes no port", m.lines.get("port", line))
        port = None
        backends = []
    if subnet is None or kind is None:
        bad = "subnet" if subnet is None else "kind"  # it exists: an expectation naming it says what is wrong
        r.unreadable_instances[f"{vpc.name}/{name}"] = (bad, m.get(bad) is None, m.lines.get(bad, line))
        return None
    # `vpc-a/cvm-1` inside vpc-a is the same backend as `cvm-1`; other VPCs stay
    # qualified so the rules can refuse the cross-VPC binding.
    backends = [b.partition("/")[2] if b.startswith(vpc.name + "/") else b for b in backends]
    inst = Instance(name, vpc.name, subnet, ip, kind, port, backends, line)
    filters.read_instance(r, vpc, inst, m)
    listen.read_instance(r, inst, m, what)
    return inst


def _peering(r: _Reader, lab: Lab, name, body, line) -> Optional[Peering]:
    what = f"peering {name}"
    m = r.entry(name, "peering", PEERING_NAME, body, line, "peering", what)
    if m is None:
        return None
    vpc = r.string(m, "vpc", what)
    peer = r.string(m, "peer_vpc", what)
    for key, v in (("vpc", vpc), ("peer_vpc", peer)):
        if v is not None and v not in lab.vpcs and v not in r.unreadable_vpcs:
            r.problem(NOT_FOUND, f"{what}: {key} '{shown(v)}' does not exist", m.lines.get(key, line),
                      r.hint(v, lab.vpcs))
    bw = None
    if m.get("bandwidth") is not None:
        try:
            bw = parse_bandwidth(m["bandwidth"])
        except ValueError as e:  # OutOfRange carries its own code
            r.problem(getattr(e, "code", VALUE), f"{what}: {e}", m.lines.get("bandwidth", line))
            return None
    state = peering.state(r, lab, m, what, vpc, peer, line)  # accepted / rejected (topology/peering.py)
    if state is None:
        return None
    return Peering(name, vpc, peer, bw, state, 0.0, 0, line)


def _expectation(r: _Reader, lab: Lab, item, line) -> Optional[Expectation]:
    m = r.mapping(item, "an expectation", line)
    if m is None:
        return None
    m.line = line
    r.keys(m, "expect", "expectation")
    src = r.string(m, "from", "expectation")
    dst = r.string(m, "to", "expectation")
    proto = r.choice(m, "proto", "expectation", PROTOS, "icmp")
    port = r.integer(m, "port", "expectation", 1, 65535)
    result = r.choice(m, "result", "expectation", RESULTS, "reachable")
    ok = True
    for key, ref in (("from", src), ("to", dst)):
        if ref is None:
            ok = False
            continue
        public = filters.public_ref(lab, ref) if key == "to" or ref.startswith(filters.INTERNET_PREFIX) else ""
        if public is None:
            continue
        if public:
            ok = False
            r.problem(NOT_FOUND, f"expectation {'to' if key == 'to' else 'from'} {public}", m.lines.get(key, line))
            continue
        if key == "to" and _is_ip(ref):
            if lab.vpcs and not r.in_some_vpc(lab, ipaddress.IPv4Address(ref)):
                ok = False
                r.problem(VALUE, f"expectation to {shown(ref)}: not inside any VPC of the lab (probes target only the "
                          "lab's own addresses)", m.lines.get(key, line))
            continue
        if lab.instance(ref) is None:
            ok = False
            if ref.partition("/")[0] in r.unreadable_vpcs:
                continue
            if ref in r.unreadable_instances:  # not "no such instance": what is wrong with it
                bad, absent, at = r.unreadable_instances[ref]
                r.problem(VALUE, f"expectation {key} '{shown(ref)}': instance {shown(ref)} cannot be used: " + (
                    f"it has no '{bad}'" if absent else f"its '{bad}' is invalid") + f" (at {include.where(at, r.file)})",
                    m.lines.get(key, line))
                continue
            if key == "from" and filters.public_ref(lab, ref) is None:
                r.problem(VALUE, f"expectation from '{shown(ref)}': an expectation starts at an instance (<vpc>/"
                          "<instance>) or an Internet host (internet/<host>), a public address is only a destination",
                          m.lines.get(key, line))
                continue
            r.problem(NOT_FOUND, f"expectation {key} '{shown(ref)}': no such instance (use <vpc>/<instance>)",
                      m.lines.get(key, line), r.hint(ref, r.refs(lab)))
    if proto in ("tcp", "udp") and port is None:
        r.problem(MISSING, f"expectation {shown(src)} -> {shown(dst)}: proto {proto} needs a port", line)
        ok = False
    if proto == "icmp" and port is not None:
        r.problem(VALUE, f"expectation {shown(src)} -> {shown(dst)}: icmp takes no port", m.lines.get("port", line))
        ok = False
    if not ok or proto is None or result is None:
        return None
    return Expectation(src, dst, proto, port, result, line)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
        return True
    except ValueError:
        return False
