"""Deterministic kernel names for a lab's objects.

Namespaces: `vpclab-<lab>-<vpc>` for a VPC's router and `vpclab-<lab>-<vpc>.<inst>`
for an instance. Lab names are [a-z][a-z0-9]* and VPC/instance names cannot hold
a dot, so the prefix `vpclab-<lab>-` belongs to exactly one lab.

Interface names live inside the lab's own namespaces, so they only need to be
unique per namespace; they still start with `<lab>-` (the lab's mark) and fit
the kernel's 15 characters. A name that would be longer keeps its role letter
and ends in a short hash of what it stands for.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Optional

from ..model.types import LAB_NAME
from .objects import NS_PREFIX

IFNAMSIZ = 15


def lab_prefix(lab: str) -> str:
    return f"{NS_PREFIX}{lab}-"


def vpc_ns(lab: str, vpc: str) -> str:
    return f"{NS_PREFIX}{lab}-{vpc}"


def instance_ns(lab: str, vpc: str, inst: str) -> str:
    return f"{NS_PREFIX}{lab}-{vpc}.{inst}"


def lab_of_ns(name: str):
    """The lab a namespace name belongs to, or None if it is not vpclab's (nor a valid lab name)."""
    if not name.startswith(NS_PREFIX):
        return None
    rest = name[len(NS_PREFIX):]
    lab, sep, _ = rest.partition("-")
    return lab if sep and LAB_NAME.match(lab) else None


def ifname(lab: str, role: str, name: str) -> str:
    """`<lab>-<role>-<name>` when it fits in 15 characters, else a hashed form."""
    plain = f"{lab}-{role}-{name}"
    if len(plain) <= IFNAMSIZ:
        return plain
    room = IFNAMSIZ - len(lab) - len(role) - 1
    digest = hashlib.sha1(name.encode()).hexdigest()[:room]
    return f"{lab}-{role}{digest}"



def instance_port(lab: str, inst: str) -> str:
    """The VPC-side end of an instance's veth."""
    return ifname(lab, "i", inst)


def instance_eth(lab: str) -> str:
    """The instance-side end of its veth (one per instance namespace)."""
    return f"{lab}-eth0"


def peering_port(lab: str, peering: str) -> str:
    """The end of a peering's veth in each of the two VPC namespaces."""
    return ifname(lab, "p", peering)


def ccn_ns(lab: str, index: int, region: str) -> str:
    """A CCN's router in one region: `vpclab-<lab>-ccn.<index>.<region>` (two dots: no VPC's
    router nor instance has that form, since VPC and instance names hold no dot)."""
    return f"{NS_PREFIX}{lab}-ccn.{index}.{region}"


def ccn_port(lab: str, index: int) -> str:
    """The CCN's end in an attached VPC's router (a VPC is on one CCN)."""
    return ifname(lab, "c", str(index))


def ccn_vpc_port(lab: str, vpc: str) -> str:
    """A VPC's end in its region's CCN router."""
    return ifname(lab, "v", vpc)


def ccn_region_port(lab: str, region: str) -> str:
    """In a CCN router, the link to the CCN's router of `region`."""
    return ifname(lab, "x", region)


INTERNET = "internet"


def internet_ns(lab: str) -> str:
    """The lab's Internet: `vpclab-<lab>-internet` (a VPC may not be named `internet` then)."""
    return f"{NS_PREFIX}{lab}-{INTERNET}"


def internet_port(lab: str, vpc: str) -> str:
    """Both ends of the link between a VPC's router and the lab's Internet."""
    return ifname(lab, "g", vpc)


# ---- the name of a kernel rule ---------------------------------------------------------
# Every nftables rule vpclab installs for a model rule carries a counter and this comment,
# so a probe can name the rule that dropped its packet from the kernel's counters, not
# from the model:
#     "vpclab sg VPC/GROUP DIRECTION INDEX"        a security group rule (index 0-based)
#     "vpclab sg VPC/INSTANCE DIRECTION -"         an instance's "no rule matched" drop
#     "vpclab acl VPC/ACL DIRECTION INDEX SUBNET"  an ACL rule at one bound subnet
#     "vpclab acl VPC/ACL DIRECTION - SUBNET"      that ACL direction's "no rule matched" drop


@dataclass(frozen=True)
class RuleRef:
    kind: str  # "sg" or "acl"
    vpc: str
    owner: str  # the group or ACL; for an sg "-" rule, the instance
    direction: str
    index: Optional[int]  # None: no rule matched
    subnet: Optional[str] = None  # acl only

    def comment(self) -> str:
        text = f"vpclab {self.kind} {self.vpc}/{self.owner} {self.direction} " \
               f"{'-' if self.index is None else self.index}"
        return text + (f" {self.subnet}" if self.subnet else "")

    @classmethod
    def parse(cls, text: str) -> Optional["RuleRef"]:
        """The RuleRef a comment names, or None for any other comment."""
        parts = (text or "").split()
        if len(parts) not in (5, 6) or parts[0] != "vpclab" or parts[1] not in ("sg", "acl") or "/" not in parts[2]:
            return None
        if parts[4] != "-" and not parts[4].isdigit():
            return None
        vpc, _, owner = parts[2].partition("/")
        return cls(parts[1], vpc, owner, parts[3], None if parts[4] == "-" else int(parts[4]),
                   parts[5] if len(parts) == 6 else None)
