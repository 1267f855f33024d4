"""A peering's state in a file: `accepted` (version 1) and `rejected` (version 3, TOPOLOGY.md
"Peering states in a file").

`accepted: false` leaves a cross-account peering PENDING; `rejected: true` makes it REJECTED,
as the peer account's reject operation does (an imported plan's
`tencentcloud_vpc_peer_connect_reject_operation`). A REJECTED peering carries no traffic; the
routes through it stay, as blackholes (model/rules.check_route lets a file keep them). Within
one account a peering is ACTIVE at creation: nobody is asked, so nobody can reject it.
"""
from __future__ import annotations

from typing import Optional

from ..errors import shown
from ..model.codes import STATE_CHANGE, TYPE
from ..model.types import ACTIVE, PENDING, REJECTED, Lab
from .keys import BOOLEAN_WORDS
from .yamltree import yaml_1_1_hint


def state(r, lab: Lab, m, what: str, vpc, peer, line: int) -> Optional[str]:
    """The state the file gives the peering; None when a problem was reported or a VPC is unknown."""
    given = {}
    for key, default in (("accepted", True), ("rejected", False)):
        value = m.get(key, default)
        if isinstance(value, str) and value in BOOLEAN_WORDS:
            # YAML 1.1's boolean words (PyYAML read `accepted: yes` as true before the reader went
            # to YAML 1.2): an earlier topology keeps its meaning; the schema accepts them too
            value = BOOLEAN_WORDS[value]
        if not isinstance(value, bool):
            r.problem(TYPE, f"{what}: {key} must be true or false, not {shown(value, as_repr=True)}",
                      m.lines.get(key, line), yaml_1_1_hint(value))
            return None
        given[key] = value
    where = m.lines.get("rejected", line)
    if given["rejected"] and m.get("accepted") is True:
        r.problem(STATE_CHANGE, f"{what}: accepted and rejected at once; a peering is one or the other", where)
        return None
    if vpc not in lab.vpcs or peer not in lab.vpcs:
        return None
    same_account = lab.vpcs[vpc].account == lab.vpcs[peer].account
    if given["rejected"] and same_account:
        r.problem(STATE_CHANGE, f"{what}: rejected, but within one account ({lab.vpcs[vpc].account}) a peering "
                  "is ACTIVE at creation and cannot be rejected", where)
        return None
    return REJECTED if given["rejected"] else ACTIVE if same_account or given["accepted"] else PENDING
