"""The live operations on a lab's CCNs (CLI.md version 3: `vpclab ccn ...`), as model edits.

Each function changes a `Lab` in memory and returns what it changed, or raises `Refused` /
`NotFound` with the cloud's code and leaves the model untouched (it checks everything before
it writes). `controller/operate.py` wraps each in an Operation (state, plan, events).
`account` None acts as the account entitled to the operation: the CCN's owner for create,
delete, accept, reject, route and bandwidth edits; the VPC's owner for attach (the VPC side
asks, as `AttachCcnInstances` with `CcnUin`). An explicit account is never replaced.
"""
from __future__ import annotations

import random
import string
from typing import List, Optional, Tuple

from ..errors import NotFound, Refused, did_you_mean, shown
from . import ccn as model
from .ccn import Attachment, Ccn
from .codes import (CCN_ATTACHED, CCN_HAS_INSTANCES, CCN_NOT_ATTACHED, COMBINATION, DUPLICATE, LIMIT, MALFORMED,
                    NOT_FOUND, NOT_PENDING_CCN, UNAUTHORIZED, VALUE)
from .types import ACTIVE, DELETED, EXPIRED, PENDING, PENDING_VALIDITY_S, REJECTED, Lab


def _first(violations) -> None:
    if violations:
        raise Refused(violations[0].message, code=violations[0].code)


def find_ccn(lab: Lab, name: str) -> Ccn:
    c = model.ccns(lab).get(name)
    if c is None:
        raise NotFound(f"CCN '{shown(name)}' does not exist", code=NOT_FOUND, hint=did_you_mean(name, model.ccns(lab)))
    return c


def _vpc(lab: Lab, name: str):
    v = lab.vpcs.get(name)
    if v is None:
        raise NotFound(f"VPC '{shown(name)}' does not exist", code=NOT_FOUND, hint=did_you_mean(name, lab.vpcs))
    return v


def _account(lab: Lab, account: Optional[str], entitled: str, what: str) -> None:
    if account is None or account == entitled:
        return
    if account not in lab.accounts:
        raise Refused(f"account '{shown(account)}' is not an account of lab {lab.name} ({', '.join(lab.accounts)})",
                      code=UNAUTHORIZED, hint=did_you_mean(account, lab.accounts))
    raise Refused(f"only account '{entitled}' may {what} (not '{shown(account)}')", code=UNAUTHORIZED)


def new_ccn_id(lab: Lab, rng: Optional[random.Random] = None) -> str:
    """`ccn-` + 8 lowercase letters/digits, like Tencent's, unused in this lab."""
    rng = rng or random.SystemRandom()
    alphabet = string.ascii_lowercase + string.digits
    while True:
        name = "ccn-" + "".join(rng.choice(alphabet) for _ in range(8))
        if name not in model.ccns(lab):
            return name


def next_index(lab: Lab) -> int:
    used = {c.index for c in model.ccns(lab).values()}
    n = 0
    while n in used:
        n += 1
    return n


def create(lab: Lab, name: Optional[str] = None, account: Optional[str] = None) -> Ccn:
    account = account or lab.accounts[0]
    if account not in lab.accounts:
        raise Refused(f"account '{shown(account)}' is not an account of lab {lab.name} ({', '.join(lab.accounts)})",
                      code=UNAUTHORIZED, hint=did_you_mean(account, lab.accounts))
    if name is not None:
        if not model.CCN_NAME.match(name):
            raise Refused(f"'{shown(name)}' is not a valid CCN name (at most 60 letters, digits, '-' and '_')",
                          code=VALUE)
        taken = name in model.ccns(lab) or name in lab.peerings or any(name in v.nat_gateways
                                                                         for v in lab.vpcs.values())
        if taken:
            raise Refused(f"'{name}' already names a CCN, a peering or a NAT gateway; a route's next hop must name "
                          "one thing", code=DUPLICATE)
    mine = [c.name for c in model.ccns(lab).values() if c.account == account]
    if len(mine) >= model.MAX_CCNS_PER_ACCOUNT:
        raise Refused(f"account {account} already has {len(mine)} CCNs ({', '.join(mine)}); the quota is "
                      f"{model.MAX_CCNS_PER_ACCOUNT}", code=LIMIT)
    c = Ccn(name or new_ccn_id(lab), account, index=next_index(lab), created_at=lab.clock)
    lab.ccns[c.name] = c
    return c


def delete(lab: Lab, name: str, account: Optional[str] = None) -> Ccn:
    c = find_ccn(lab, name)
    _account(lab, account, c.account, f"delete {c.name}")
    live = [a.vpc for a in c.attachments if a.state in model.LIVE]
    if live:
        raise Refused(f"{c.name} still has attachments ({', '.join(live)}); detach them first",
                      code=CCN_HAS_INSTANCES)
    del lab.ccns[c.name]
    return c


def attach(lab: Lab, name: str, vpc: str, account: Optional[str] = None,
           publish: str = model.SUBNETS) -> Attachment:
    """Same account: ACTIVE at once. Another account's VPC: PENDING until the CCN's owner accepts.
    A REJECTED or EXPIRED request is re-applied (PENDING again, ResetAttachCcnInstances)."""
    c, v = find_ccn(lab, name), _vpc(lab, vpc)
    _account(lab, account, v.account, f"attach {v.name} (the VPC's account asks)")
    if publish not in model.PUBLISH:
        raise Refused(f"publish '{shown(publish)}' must be one of {', '.join(model.PUBLISH)}", code=VALUE)
    on = model.ccn_of(lab, v.name, model.LIVE)
    if on is not None:
        raise Refused(f"{v.name} is already attached to {on[0].name} ({on[1].state}); a VPC attaches to one CCN",
                      code=CCN_ATTACHED)
    live = [a for a in c.attachments if a.state in model.LIVE]
    if len(live) >= model.MAX_ATTACHMENTS_PER_CCN:
        raise Refused(f"{c.name} already has {len(live)} attachments; the quota is "
                      f"{model.MAX_ATTACHMENTS_PER_CCN}", code=LIMIT)
    old = c.attachment(v.name)
    if old is not None:  # REJECTED or EXPIRED: a new request, at the end of the attach order
        c.attachments.remove(old)
    a = Attachment(v.name, ACTIVE if v.account == c.account else PENDING, publish, lab.clock)
    c.attachments.append(a)
    return a


def _attached(c: Ccn, vpc: str) -> Attachment:
    a = c.attachment(vpc)
    if a is None:
        raise Refused(f"{vpc} is not attached to {c.name} "
                      f"(attached: {', '.join(x.vpc for x in c.attachments) or 'none'})", code=CCN_NOT_ATTACHED)
    return a


def detach(lab: Lab, name: str, vpc: str, account: Optional[str] = None) -> Attachment:
    """The VPC's account or the CCN's may detach (lab choice: the cloud does not say). The VPC's
    routes leave the CCN, and the owner's overrides of them go too."""
    c = find_ccn(lab, name)
    a = _attached(c, vpc)
    v = _vpc(lab, vpc)
    if account is not None and account not in (v.account, c.account):
        _account(lab, account, c.account, f"detach {vpc} from {c.name} (or {v.account}, the VPC's)")
    c.attachments.remove(a)
    c.disabled = [k for k in c.disabled if not k.endswith("@" + vpc)]
    c.enabled = [k for k in c.enabled if not k.endswith("@" + vpc)]
    a.state = DELETED
    return a


def _decide(lab: Lab, name: str, vpc: str, account: Optional[str], event: str) -> Tuple[Ccn, Attachment]:
    c = find_ccn(lab, name)
    _account(lab, account, c.account, f"{event} attachments to {c.name} (the CCN's owner)")
    a = _attached(c, vpc)
    if a.state != PENDING:
        raise Refused(f"cannot {event} {vpc} on {c.name}: the attachment is {a.state}, not PENDING",
                      code=NOT_PENDING_CCN)
    return c, a


def accept(lab: Lab, name: str, vpc: str, account: Optional[str] = None) -> Attachment:
    """PENDING -> ACTIVE. Its routes arrive now: it moves to the end of the attach order."""
    c, a = _decide(lab, name, vpc, account, "accept")
    c.attachments.remove(a)
    c.attachments.append(a)
    a.state = ACTIVE
    return a


def reject(lab: Lab, name: str, vpc: str, account: Optional[str] = None) -> Attachment:
    _c, a = _decide(lab, name, vpc, account, "reject")
    a.state = REJECTED
    return a


def expire_due(lab: Lab) -> List[Tuple[Ccn, Attachment]]:
    """PENDING requests older than 7 days of the lab clock become EXPIRED."""
    out = []
    for c in model.ccns(lab).values():
        for a in c.attachments:
            if a.state == PENDING and lab.clock - a.attached_at >= PENDING_VALIDITY_S:
                a.state = EXPIRED
                out.append((c, a))
    return out


def _route(lab: Lab, c: Ccn, key: str, account: Optional[str], event: str) -> str:
    _account(lab, account, c.account, f"{event} routes of {c.name} (the CCN's owner)")
    parsed = model.parse_key(key)
    if parsed is None:
        raise Refused(f"'{shown(key)}' is not DESTINATION@VPC (e.g. 10.8.1.0/24@spoke-2)", code=MALFORMED)
    key = model.route_key(*parsed)
    if all(r.key != key for r in model.routes(lab, c)):
        _first(model.check_enable(lab, c, key))  # names the routes there are (ResourceNotFound)
    return key


def enable_route(lab: Lab, name: str, key: str, account: Optional[str] = None) -> model.CcnRoute:
    """EnableCcnRoutes: refused when an enabled route has the identical destination; an inclusive
    overlap is allowed (the longest prefix decides)."""
    c = find_ccn(lab, name)
    key = _route(lab, c, key, account, "enable")
    _first(model.check_enable(lab, c, key))
    c.disabled = [k for k in c.disabled if k != key]
    if not next(r for r in model.routes(lab, c) if r.key == key).enabled:
        c.enabled.append(key)
    return next(r for r in model.routes(lab, c) if r.key == key)


def disable_route(lab: Lab, name: str, key: str, account: Optional[str] = None) -> model.CcnRoute:
    """DisableCcnRoutes: always allowed."""
    c = find_ccn(lab, name)
    key = _route(lab, c, key, account, "disable")
    c.enabled = [k for k in c.enabled if k != key]
    if key not in c.disabled:
        c.disabled.append(key)
    return next(r for r in model.routes(lab, c) if r.key == key)


def set_bandwidth(lab: Lab, name: str, region: str, dst_region: str, kbps: Optional[int],
                  account: Optional[str] = None) -> Ccn:
    """SetCcnRegionBandwidthLimits for one region pair (inter-region mode); `kbps` None restores
    the 1 Gbps default (SetDefaultLimitFlag)."""
    c = find_ccn(lab, name)
    _account(lab, account, c.account, f"set the bandwidth of {c.name} (the CCN's owner)")
    if c.limit_type != model.INTER:
        raise Refused(f"{c.name} limits each region's outbound total (outer-region mode); a region pair is the "
                      "inter-region mode's", code=COMBINATION)
    _first(model.check_bandwidth(lab, c, (region, dst_region), model.DEFAULT_BANDWIDTH_KBPS if kbps is None
                                 else kbps))
    key = model.pair(region, dst_region)
    if kbps is None:
        c.limits.pop(key, None)
    else:
        c.limits[key] = kbps
    return c
