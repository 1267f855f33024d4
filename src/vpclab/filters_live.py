"""The live operations of version 2 on a running lab: security group rules and
attachments, network ACL rules and bindings, EIPs (CLI.md version 2).

Each is one `controller.operate`: the model edit of `model.filter_ops` in one state
transaction (refused with the cloud's code, changing nothing, and logged either way in
`events`), then only the difference applied to the kernel. A group or ACL change can touch
only its own VPC's nftables tables (a group names only groups of its own VPC, an ACL binds
only its VPC's subnets): those alone are planned before and after and diffed (`_vpc`). An
EIP also changes routes, rules and the Internet's namespace: plan(before) -> plan(after).
The CLI (`cli_filters`) and the Python API (`api.Lab`) both call these.
"""
from __future__ import annotations

from typing import Optional

from . import controller
from .model import filter_ops
from .model.units import NumberError, parse_whole
from .plan import filters as plan_filters


def _check(**args) -> None:
    controller.check_args(**args)


def rule(lab: Optional[str], kind: str, action: str, ref: str, direction: str, index: Optional[int] = None,
         proto: Optional[str] = None, port=None, peer: Optional[str] = None, rule_action: Optional[str] = None):
    """Add (`action` "add") or delete ("del") a rule of a security group (`kind` "sg") or a network
    ACL ("acl"); `peer` is the rule's source (ingress, inbound) or destination (egress, outbound)."""
    _check(lab=(lab, "str?"), kind=(kind, ("sg", "acl")), action=(action, ("add", "del")), ref=(ref, "str"),
           direction=(direction, "str"), index=(index, "int?"), proto=(proto, "str?"), peer=(peer, "str?"),
           rule_action=(rule_action, "str?"))
    edit = filter_ops.sg_rule if kind == "sg" else filter_ops.acl_rule
    port = _port(port)
    return controller.operate(lab, f"{kind} rule {action}", ref, None, lambda m: edit(
        m, ref, direction, action == "add", index, proto, port, peer, rule_action), scope=_vpc(ref))


def sg_rule(lab: Optional[str], action: str, group: str, direction: str, *args, **kw):
    return rule(lab, "sg", action, group, direction, *args, **kw)


def sg_attach(lab: Optional[str], instance: str, group: str, attach: bool = True):
    _check(lab=(lab, "str?"), instance=(instance, "str"), group=(group, "str"))
    op = filter_ops.sg_attach if attach else filter_ops.sg_detach
    return controller.operate(lab, f"sg {'attach' if attach else 'detach'}", f"{instance} {group}", None,
                              lambda m: op(m, instance, group), scope=_vpc(instance))


def acl_rule(lab: Optional[str], action: str, acl: str, direction: str, *args, **kw):
    return rule(lab, "acl", action, acl, direction, *args, **kw)


def acl_bind(lab: Optional[str], acl: str, subnet: str, bind: bool = True):
    _check(lab=(lab, "str?"), acl=(acl, "str"), subnet=(subnet, "str"))
    op = filter_ops.acl_bind if bind else filter_ops.acl_unbind
    return controller.operate(lab, f"acl {'bind' if bind else 'unbind'}", f"{acl} {subnet}", None,
                              lambda m: op(m, acl, subnet), scope=_vpc(acl))


def eip(lab: Optional[str], instance: str, address: Optional[str] = None, associate: bool = True):
    _check(lab=(lab, "str?"), instance=(instance, "str"), address=(address, "str?"))
    op = filter_ops.eip_associate if associate else filter_ops.eip_disassociate
    return controller.operate(lab, f"eip {'associate' if associate else 'disassociate'}", instance, None,
                              lambda m: op(m, instance, address))


def _vpc(ref: str):
    """The scope of a change to `ref` (VPC/NAME): the plan of that VPC's nftables tables; None
    (the whole lab is planned) for a VPC the lab does not have (the change refuses it)."""
    vpc = ref.split("/")[0] if ref.count("/") == 1 else None

    def part(model):
        return plan_filters.vpc_rulesets(model, vpc) if vpc in model.vpcs else None
    return part


def _port(port):
    """A port as the CLI or a caller gives it: a number, "A-B", "all" or None (checked by the rules).

    A string of digits becomes its number through the one bounded parser; one it refuses (5,000
    digits) is left as text, which the rules refuse as they refuse it in a file."""
    if isinstance(port, str) and port.strip().isdigit():
        try:
            return parse_whole(port.strip())
        except NumberError:
            return port
    return port
