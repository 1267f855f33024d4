"""The one table of topology keys: for each mapping, the keys it allows, which are required,
and what each holds (type, pattern, limits, default, a line of help).

The loader reads `SCHEMA` (allowed and required keys, derived from this table) and refuses
any other key; `vpclab schema` turns `KEYS` into a JSON Schema. Adding a key is one entry
here (plus the code that reads it): the two cannot drift.
"""
from __future__ import annotations

from typing import Dict, Set, Tuple

from ..model.filters import ACTIONS, DEFAULT_INTERNET_CIDR, FILTER_PROTOS, MAX_HOST_PORTS, MAX_RULES_PER_DIRECTION
from ..model.listeners import LISTEN_PATTERN
from ..model.ccn import CCN_NAME, PUBLISH
from ..model.types import (
    ACCOUNT_NAME,
    ITEM_NAME,
    KINDS,
    LAB_NAME,
    PEERING_NAME,
    PROTOS,
    RESULTS,
    SERVICE_PORTS,
    VPC_NAME,
)

CIDR = r"^([0-9]{1,3}\.){3}[0-9]{1,3}/[0-9]{1,2}$"
IPV4 = r"^([0-9]{1,3}\.){3}[0-9]{1,3}$"
BANDWIDTH = r"^\s*[0-9]+(\.[0-9]+)?\s*([kKmMgG][bB][pP][sS])\s*$"
DURATION = r"^\s*([0-9]+(\.[0-9]+)?\s*(ms|s|m|h|d|w|MS|S|M|H|D|W))+\s*$"


def _s(pattern=None, **kw) -> dict:
    d = {"type": "string"}
    if pattern is not None:
        text = pattern if isinstance(pattern, str) else pattern.pattern
        # Python's \Z (end of string, no final newline) is ECMA-262's plain $ (no multiline flag)
        d["pattern"] = text[:-2] + "$" if text.endswith("\\Z") else text
    d.update(kw)
    return d


def _named(section: str, pattern, what: str) -> dict:
    """A mapping of names (pattern) to `section` bodies; a null body is an empty one."""
    return {"type": ["object", "null"], "description": what,
            "propertyNames": _s(pattern), "additionalProperties": {"$ref": f"#/$defs/{section}"}}


PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
# The words YAML 1.1 (PyYAML, which read topologies before the reader went to YAML 1.2) took for
# booleans: a boolean key still takes them with that meaning, so an earlier file keeps it.
BOOLEAN_WORDS = {w: v for words, v in ((("yes", "on"), True), (("no", "off"), False))
                 for word in words for w in (word, word.capitalize(), word.upper())}

# (section, key) -> what the key holds. Every key of loader.SCHEMA is here (tests check it).
KEYS: Dict[str, Dict[str, dict]] = {
    "top": {
        "lab": _s(LAB_NAME, description="The lab's name: 1-8 characters, [a-z][a-z0-9]*, unique on the host. "
                                        "It prefixes every kernel object the lab owns."),
        "accounts": {"type": "array", "minItems": 1, "uniqueItems": True, "items": _s(ACCOUNT_NAME),
                     "default": ["default"], "description": "Accounts (default: one named `default`)."},
        "regions": {"type": ["object", "null"], "propertyNames": _s(VPC_NAME),
                    "additionalProperties": {"type": ["object", "null"]},
                    "description": "Regions a VPC may name (`{}` each). When listed, a VPC in another is refused."},
        "latency": {"type": ["object", "null"], "propertyNames": _s(r"^[^/]+/[^/]+$"),
                    "additionalProperties": _s(DURATION),
                    "description": "One-way delay between two regions, `REGION/REGION: 35ms`, applied to "
                                   "cross-region peerings where the kernel has netem."},
        "vpcs": dict(_named("vpc", VPC_NAME, "The VPCs: name -> VPC (at least one)."), type="object",
                     minProperties=1),
        "peerings": _named("peering", PEERING_NAME, "Peering connections: name -> peering."),
        "expect": {"type": ["array", "null"], "items": {"$ref": "#/$defs/expect"},
                   "description": "Reachability the author expects; `vpclab test` and `pytest --vpclab` check it."},
        "billing": {"type": ["object", "null"], "additionalProperties": False,
                    "description": "Usage metering and cost (`vpclab usage`): sample window, currency, price per "
                                   "Mbps-day per region pair, charge type per peering.",
                    "properties": {
                        "window": _s(DURATION, default="5m", description="The meter's sample window, 1s..1h; "
                                     "the cloud's is 5m, a lab may sample faster (e.g. 10s)."),
                        "currency": _s("^[^\\s\\u0000-\\u001f\\u007f-\\u009f]{1,8}$",
                                       description="A currency code or symbol for the cost column: 1 to 8 letters "
                                                   "or currency symbols, e.g. CNY, USD, US$ or \u00a5."),
                        "prices": {"type": ["object", "null"], "propertyNames": _s(r"^[^/]+/[^/]+$"),
                                   "additionalProperties": {"type": "number", "minimum": 0},
                                   "description": "`REGION/REGION: price` per Mbps-day (either order)."},
                        "charge_types": {"type": ["object", "null"], "propertyNames": _s(PEERING_NAME),
                                         "additionalProperties": {"enum": ["POSTPAID_BY_DAY_MAX",
                                                                           "POSTPAID_BY_MONTH_95"]},
                                         "description": "Per peering; default POSTPAID_BY_DAY_MAX."}}},
    },
    "vpc": {
        "account": _s(ACCOUNT_NAME, description="Its account (default: the first of `accounts`)."),
        "region": _s(VPC_NAME, description="Its region."),
        "cidr": _s(CIDR, description="IPv4 CIDR; not in 169.254.0.0/16, 127.0.0.0/8, 0.0.0.0/8, multicast or "
                                      "class E."),
        "subnets": _named("subnet", ITEM_NAME, "Subnets: name -> subnet."),
        "route_tables": _named("route_table", ITEM_NAME,
                               "Route tables: name -> table. Every VPC has `default` even when not listed."),
        "instances": _named("instance", ITEM_NAME, "Instances: name -> instance."),
    },
    "subnet": {
        "cidr": _s(CIDR, description="Inside the VPC's CIDR, no overlap with its siblings, /16../28."),
        "route_table": _s(ITEM_NAME, default="default", description="The route table of the subnet."),
    },
    "route_table": {
        "routes": {"type": ["array", "null"], "items": {"$ref": "#/$defs/route"},
                   "description": "Routes; the local route (the VPC's CIDR) is implicit and always wins."},
    },
    "route": {
        "destination": _s(CIDR, description="Destination CIDR (outside the VPC's own)."),
        "next_hop": _s(PEERING_NAME, description="A peering of this VPC, or a NAT gateway of this VPC."),
    },
    "instance": {
        "subnet": _s(ITEM_NAME, description="Its subnet."),
        "ip": _s(IPV4, description="Its address (default: the next free one; network, gateway (.1) and "
                                   "broadcast addresses are reserved)."),
        "kind": {"enum": list(KINDS), "default": "cvm",
                 "description": "cvm | cdb (TCP %d) | cmem (TCP %d) | clb (TCP `port`, `backends`)"
                                % (SERVICE_PORTS["cdb"], SERVICE_PORTS["cmem"])},
        "port": dict(PORT, description="A clb's TCP listener (required for a clb; cdb/cmem: their own port)."),
        "backends": {"type": ["array", "null"], "items": _s(), "description": "A clb's backends: instances of "
                                                                               "the same VPC."},
    },
    "peering": {
        "vpc": _s(VPC_NAME, description="The requester VPC."),
        "peer_vpc": _s(VPC_NAME, description="The accepter VPC."),
        "bandwidth": _s(BANDWIDTH, description="Cross-region only, and required there: 1Mbps..10Gbps."),
        "accepted": {"anyOf": [{"type": "boolean"}, {"enum": sorted(BOOLEAN_WORDS)}], "default": True,
                     "description": "Across accounts: true = ACTIVE at build time, false = left PENDING."},
        "rejected": {"anyOf": [{"type": "boolean"}, {"enum": sorted(BOOLEAN_WORDS)}], "default": False,
                     "description": "Across accounts: true = REJECTED (carries no traffic; routes through it are "
                                    "blackholes); not with `accepted: true`."},
    },
    "expect": {
        "from": _s(description="`<vpc>/<instance>`, or `internet/<host>` (an Internet host: it reaches an instance "
                               "through its EIP only)."),
        "to": _s(description="`<vpc>/<instance>`, an IPv4 address inside a VPC of the lab, `internet/<host>` "
                             "or an address of the lab's Internet (an EIP)."),
        "proto": {"enum": list(PROTOS), "default": "icmp"},
        "port": dict(PORT, description="Destination port (tcp and udp, required there)."),
        "result": {"enum": list(RESULTS), "default": "reachable"},
    },
}


# Version 2: filtering and the Internet (every key optional; a version-1 file is unchanged).
FILTER_PORT = {"anyOf": [PORT, _s(r"^\s*([0-9]{1,5}(\s*-\s*[0-9]{1,5})?|all)\s*$")],
               "description": "The packet's destination port, tcp/udp only: a port, a range `A-B` or `all` "
                              "(default all). In a network ACL (stateless), replies go to the client's ephemeral "
                              "port (32768-65535 for vpclab's probes): a rule for replies needs e.g. `1024-65535`; "
                              "a security group (stateful) needs no rule for replies."}
RULES = {"type": ["array", "null"], "maxItems": MAX_RULES_PER_DIRECTION}


def _rule_key(key: str, what: str) -> dict:
    return _s(description=f"{what}: an IPv4 CIDR or, in a security group, a group of the same VPC.")


KEYS["top"]["internet"] = {"type": ["object", "null"], "$ref": "#/$defs/internet",
                           "description": "The lab's own emulated Internet (public range, hosts)."}
# Version 3: `include:` (topology/include.py merges the files before the loader reads the tree).
KEYS["top"]["include"] = {
    "type": ["array", "null"], "items": _s(r"\S", minLength=1),
    "description": "Topology files read first and merged under this one (paths relative to this file): "
                   "mappings merge, lists append (included first), this file's scalars win."}
KEYS["vpc"].update({
    "security_groups": _named("security_group", VPC_NAME, "Security groups (stateful, at the instance)."),
    "network_acls": _named("network_acl", VPC_NAME, "Network ACLs (stateless, at the subnet boundary)."),
    "nat_gateways": _named("nat_gateway", VPC_NAME, "NAT gateways: SNAT to their EIP for the subnets routed "
                                                     "to them."),
})
KEYS["instance"].update({
    "security_groups": {"type": ["array", "null"], "uniqueItems": True, "items": _s(VPC_NAME),
                        "description": "Ordered security groups of this VPC (absent: not filtered)."},
    "eip": _s(IPV4, description="An elastic IP: an address of `internet.cidr` (1:1 NAT at the VPC router)."),
})
# Version 3: listeners on any instance (model/listeners.py says what an instance listens on).
KEYS["instance"]["listen"] = {
    "type": ["array", "null"], "uniqueItems": True, "items": _s(LISTEN_PATTERN),
    "description": "Real listeners (the service daemon): `tcp/PORT` accepts and answers with a one-line banner, "
                   "`udp/PORT` echoes each datagram; any kind of instance. Another port stays closed "
                   "(NO_LISTENER)."}
KEYS.update({
    "internet": {
        "cidr": _s(CIDR, default=str(DEFAULT_INTERNET_CIDR), description="The public range; overlaps no VPC."),
        "hosts": _named("internet_host", VPC_NAME, "Servers on the Internet: name -> host (`internet/<name>`)."),
    },
    "internet_host": {
        "ip": _s(IPV4, description="Its address, inside `internet.cidr`."),
        "ports": {"anyOf": [{"type": ["array", "null"], "uniqueItems": True, "items": PORT,
                             "maxItems": MAX_HOST_PORTS}, PORT],  # one port alone is read as a list of one
                  "description": "Ports it answers TCP and UDP on (default none: ICMP only)."},
    },
    "security_group": {
        "ingress": dict(RULES, items={"$ref": "#/$defs/rule_source"},
                        description="Rules for traffic arriving (ordered; first match decides; no match drops)."),
        "egress": dict(RULES, items={"$ref": "#/$defs/rule_destination"},
                       description="Rules for traffic sent (ordered; first match decides; no match drops)."),
    },
    "network_acl": {
        "subnets": {"type": ["array", "null"], "uniqueItems": True, "items": _s(ITEM_NAME),
                    "description": "Subnets bound to it (each to at most one ACL)."},
        "inbound": dict(RULES, items={"$ref": "#/$defs/rule_source"},
                        description="Rules for traffic entering a bound subnet (stateless)."),
        "outbound": dict(RULES, items={"$ref": "#/$defs/rule_destination"},
                         description="Rules for traffic leaving a bound subnet (stateless: replies too)."),
    },
    "nat_gateway": {
        "eip": _s(IPV4, description="Its public address, inside `internet.cidr`."),
    },
    "rule_source": {
        "proto": {"enum": list(FILTER_PROTOS), "default": "all"},
        "port": FILTER_PORT,
        "source": _rule_key("source", "Who sent it"),
        "action": {"enum": list(ACTIONS)},
    },
    "rule_destination": {
        "proto": {"enum": list(FILTER_PROTOS), "default": "all"},
        "port": FILTER_PORT,
        "destination": _rule_key("destination", "Where it goes"),
        "action": {"enum": list(ACTIONS)},
    },
})


# Version 3: `ccns:` (Cloud Connect Network; topology/ccn.py reads it, model/ccn.py holds its rules).
ROUTE_KEY = r"^([0-9]{1,3}\.){3}[0-9]{1,3}/[0-9]{1,2}@[a-z][a-z0-9-]{0,23}$"
_STATE_FLAG = {"anyOf": [{"type": "boolean"}, {"enum": sorted(BOOLEAN_WORDS)}]}
KEYS["top"]["ccns"] = _named("ccn", CCN_NAME, "Cloud Connect Networks: name -> CCN. Every ACTIVE attachment "
                                               "reaches every other (transitive), never a peering's VPC.")
KEYS.update({
    "ccn": {
        "account": _s(ACCOUNT_NAME, description="The CCN's account (default: the first of `accounts`); it "
                                                "accepts or rejects another account's VPCs."),
        "bandwidth_limits": {"type": ["array", "null"], "items": {"$ref": "#/$defs/ccn_bandwidth_limit"},
                             "description": "Caps between regions (default 1Gbps per region pair, both ways; "
                                            "inside one region uncapped). Each entry is a pair (`regions`, "
                                            "inter-region mode) or one region's outbound total (`region`, "
                                            "outer-region mode); one CCN uses one mode."},
        "attachments": {"type": ["array", "null"], "items": {"$ref": "#/$defs/ccn_attachment"},
                        "description": "Attached VPCs, in attach order: the first attached wins a route "
                                       "conflict."},
        "disabled_routes": {"type": ["array", "null"], "uniqueItems": True, "items": _s(ROUTE_KEY),
                            "description": "Routes the owner disabled, `DESTINATION@VPC`."},
        "enabled_routes": {"type": ["array", "null"], "uniqueItems": True, "items": _s(ROUTE_KEY),
                           "description": "Routes enabled although they came in disabled, `DESTINATION@VPC` (an "
                                          "inclusive conflict: the longest prefix decides; an identical one is "
                                          "refused, CcnRouteCidrOverlap)."},
    },
    "ccn_attachment": {
        "vpc": _s(VPC_NAME, description="The attached VPC (a VPC attaches to one CCN)."),
        "publish": {"enum": list(PUBLISH), "default": "subnets",
                    "description": "What it publishes to the CCN: one route per subnet, or its VPC CIDR."},
        "accepted": dict(_STATE_FLAG, default=False,
                         description="Another account's VPC: true = ACTIVE (the CCN's owner accepted), false = "
                                     "PENDING. Within one account an attachment is ACTIVE at once."),
        "rejected": dict(_STATE_FLAG, default=False,
                         description="Another account's VPC: true = REJECTED by the CCN's owner; not with "
                                     "`accepted: true`."),
    },
    "ccn_bandwidth_limit": {
        "regions": {"type": "array", "minItems": 2, "maxItems": 2, "items": _s(VPC_NAME),
                    "description": "Two regions: the cap between them, each way (inter-region mode)."},
        "region": _s(VPC_NAME, description="One region: the cap on its outbound total (outer-region mode)."),
        "bandwidth": _s(BANDWIDTH, description="1Mbps..10Gbps."),
    },
})
KEYS["route"]["next_hop"] = _s(PEERING_NAME, description="A peering of this VPC, a NAT gateway of this VPC, or the "
                                                         "CCN it is attached to (USER_CCN).")

# Required keys per mapping (the rest of KEYS[section] is optional).
REQUIRED: Dict[str, Set[str]] = {
    "top": {"lab", "vpcs"},
    "vpc": {"region", "cidr"},
    "subnet": {"cidr"},
    "route_table": set(),
    "route": {"destination", "next_hop"},
    "instance": {"subnet"},
    "peering": {"vpc", "peer_vpc"},
    "expect": {"from", "to"},
    "internet": set(),
    "internet_host": {"ip"},
    "security_group": set(),
    "network_acl": set(),
    "nat_gateway": {"eip"},
    "rule_source": {"source", "action"},
    "rule_destination": {"destination", "action"},
    "ccn": set(),
    "ccn_attachment": {"vpc"},
    "ccn_bandwidth_limit": {"bandwidth"},
}
# section -> (allowed keys, required keys): what the loader checks
SCHEMA: Dict[str, Tuple[Set[str], Set[str]]] = {section: (set(KEYS[section]), REQUIRED[section]) for section in KEYS}
