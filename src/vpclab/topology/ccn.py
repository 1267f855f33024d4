"""The `ccns:` key of a topology file (TOPOLOGY.md version 3): CCNs, their attachments in attach
order, bandwidth limits and the owner's route overrides, read into `model.ccn.Ccn`.

The loader calls `read` once the VPCs and peerings are read; the rules of `model.ccn.validate`
(quotas, one CCN per VPC, route overrides, limits) then run over what could be read, each
problem at its FILE:LINE. A file without `ccns:` builds the model it always did.
"""
from __future__ import annotations

from ..errors import shown
from ..model import ccn as model
from ..model.ccn import Attachment, Ccn
from ..model.codes import COMBINATION, DUPLICATE, MISSING, NOT_FOUND, NOT_PENDING_CCN, TYPE
from ..model.types import ACTIVE, PENDING, REJECTED, VPC_NAME, Lab
from ..model.units import parse_bandwidth
from .keys import BOOLEAN_WORDS
from .yamltree import kind_of, yaml_1_1_hint


def read(r, lab: Lab, doc) -> None:
    for name, body, line in r.items(doc, "ccns", "ccns"):
        what = f"CCN {name}"
        m = r.entry(name, "CCN", model.CCN_NAME, body, line, "ccn", what)
        if m is None:
            continue
        account = r.string(m, "account", what, default=lab.accounts[0])
        if account is not None and account not in lab.accounts:
            r.problem(NOT_FOUND, f"{what}: account '{shown(account)}' is not in accounts ({', '.join(lab.accounts)})",
                      m.lines.get("account", line), r.hint(account, lab.accounts))
            account = None
        c = Ccn(str(name), account or lab.accounts[0], index=len(lab.ccns), line=line)
        for item, iline in _list(r, m, "attachments", what):
            a = _attachment(r, lab, c, item, iline)
            if a is not None:
                c.attachments.append(a)
        for item, iline in _list(r, m, "bandwidth_limits", what):
            _limit(r, c, item, iline)
        for key in ("disabled_routes", "enabled_routes"):
            for item, iline in _list(r, m, key, what):
                if not isinstance(item, str):
                    r.problem(TYPE, f"{what}: {key} entries are DESTINATION@VPC strings, not {kind_of(item)}", iline)
                    continue
                keys = c.disabled if key == "disabled_routes" else c.enabled
                parsed = model.parse_key(item)
                text = model.route_key(*parsed) if parsed else item
                if text in keys:
                    r.problem(DUPLICATE, f"{what}: {key} lists {shown(item)} twice", iline)
                    continue
                keys.append(text)
                c.lines[f"{key}:{text}"] = iline
        lab.ccns[c.name] = c
    for v in model.validate(lab):
        r.problem(v.code, v.message, v.line)


def _list(r, m, key: str, what: str):
    value = m.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        r.problem(TYPE, f"{what}: {key} must be a list, not {kind_of(value)}", m.lines.get(key, m.line))
        return []
    return list(zip(value, value.lines))


def _flag(r, m, key: str, what: str):
    value = m.get(key, False)
    if isinstance(value, str) and value in BOOLEAN_WORDS:
        value = BOOLEAN_WORDS[value]
    if not isinstance(value, bool):
        r.problem(TYPE, f"{what}: {key} must be true or false, not {shown(value, as_repr=True)}",
                  m.lines.get(key, m.line), yaml_1_1_hint(value))
        return None
    return value


def _attachment(r, lab: Lab, c: Ccn, item, line):
    m = r.mapping(item, f"an attachment of CCN {c.name}", line)
    if m is None:
        return None
    m.line = line
    what = f"CCN {c.name} attachment"
    r.keys(m, "ccn_attachment", what)
    vpc = r.string(m, "vpc", what, VPC_NAME)
    publish = r.choice(m, "publish", what, model.PUBLISH, model.SUBNETS)
    accepted, rejected = _flag(r, m, "accepted", what), _flag(r, m, "rejected", what)
    if vpc is None or publish is None or accepted is None or rejected is None:
        return None
    what = f"CCN {c.name} attachment {vpc}"
    if accepted and rejected:
        r.problem(COMBINATION, f"{what}: accepted and rejected at once; an attachment is one or the other",
                  m.lines.get("rejected", line))
        return None
    if vpc not in lab.vpcs:
        if vpc not in r.unreadable_vpcs:
            r.problem(NOT_FOUND, f"{what}: VPC '{shown(vpc)}' does not exist", m.lines.get("vpc", line),
                      r.hint(vpc, lab.vpcs))
        return None
    if any(a.vpc == vpc for a in c.attachments):
        r.problem(DUPLICATE, f"{what}: {vpc} is listed twice", line)
        return None
    same = lab.vpcs[vpc].account == c.account
    if same and rejected:
        r.problem(NOT_PENDING_CCN, f"{what}: rejected, but {vpc} is in the CCN's own account ({c.account}): its "
                  "attachment is ACTIVE at once and cannot be rejected", m.lines.get("rejected", line))
        return None
    state = ACTIVE if same or accepted else REJECTED if rejected else PENDING
    return Attachment(vpc, state, publish, 0.0, line)


def _limit(r, c: Ccn, item, line) -> None:
    m = r.mapping(item, f"a bandwidth limit of CCN {c.name}", line)
    if m is None:
        return
    m.line = line
    what = f"CCN {c.name} bandwidth limit"
    r.keys(m, "ccn_bandwidth_limit", what)
    regions, region = m.get("regions"), r.string(m, "region", what, VPC_NAME)
    if (regions is None) == (region is None):
        r.problem(MISSING if regions is None else COMBINATION,
                  f"{what}: give either 'regions' (a pair) or 'region' (its outbound total)", line)
        return
    if regions is not None and (not isinstance(regions, list) or len(regions) != 2
                                or not all(isinstance(x, str) and VPC_NAME.match(x) for x in regions)):
        r.problem(TYPE, f"{what}: regions must be a list of two region names", m.lines.get("regions", line))
        return
    if m.get("bandwidth") is None:
        return  # MissingParameter, reported by r.keys
    try:
        kbps = parse_bandwidth(m["bandwidth"])
    except ValueError as e:
        r.problem(getattr(e, "code", "InvalidParameterValue"), f"{what}: {e}", m.lines.get("bandwidth", line))
        return
    mode = model.INTER if regions is not None else model.OUTER
    if c.limits and c.limit_type != mode:
        r.problem(COMBINATION, f"{what}: one CCN uses one mode; this one is {c.limit_type} (a pair `regions` or one "
                  "`region` for all its limits)", line)
        return
    c.limit_type = mode
    key = model.pair(*regions) if regions is not None else region
    if key in c.limits:
        r.problem(DUPLICATE, f"{what}: {key} is limited twice", line)
        return
    c.limits[key] = kbps
    c.lines[key] = line
