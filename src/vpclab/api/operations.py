"""The live operations of version 2 as methods of `api.Lab` (CLI.md version 2: "the live
operations as methods"): security group rules and attachments, network ACL rules and
bindings, EIPs. Each runs its entry of the one table of live operations
(controller/operate.py) and returns the `--json` document of its command; a refusal
raises `Refused` with the cloud's code, and nothing changes."""
from __future__ import annotations

from typing import Optional, Union

Port = Union[int, str, None]


def _doc(c, **extra) -> dict:
    return dict({"target": c.name, "change": c.state}, **c.data, **extra)


def _run(lab: str, operation: str, *args):
    from ..controller import operate

    return operate.run(lab, operation, *args)


def _rule(lab: str, kind: str, action: str, ref: str, direction: str, index, proto, port, source, destination,
          rule_action) -> dict:
    """One rule edit of a group (`kind` "sg") or an ACL: the peer is the source for traffic coming in."""
    peer = source if direction in ("ingress", "inbound") else destination
    c = _run(lab, f"{kind} rule {action}", ref, direction, index, proto, port, peer, rule_action)
    return _doc(c, **{"group" if kind == "sg" else "acl": ref}, direction=direction)


class FilterOperations:
    """Mixed into `api.Lab` (which has `name`)."""

    name: str

    def sg_rule_add(self, group: str, direction: str, *, proto: str = "all", port: Port = None,
                    source: Optional[str] = None, destination: Optional[str] = None, action: Optional[str] = None,
                    index: Optional[int] = None) -> dict:
        """Add a rule to `group` ("vpc/sg-name"): `sg_rule_add("vpc-a/sg-web", "ingress", proto="tcp",
        port=80, source="10.1.0.0/16", action="accept")`. `index` 0 inserts it first; default last."""
        return _rule(self.name, "sg", "add", group, direction, index, proto, port, source, destination,
                     action)

    def sg_rule_del(self, group: str, direction: str, *, index: Optional[int] = None, proto: Optional[str] = None,
                    port: Port = None, source: Optional[str] = None, destination: Optional[str] = None,
                    action: Optional[str] = None) -> dict:
        """Delete the rule at `index`, or the rule with the given fields."""
        return _rule(self.name, "sg", "del", group, direction, index, proto, port, source, destination,
                     action)

    def sg_attach(self, instance: str, group: str) -> dict:
        return _doc(_run(self.name, "sg attach", instance, group), instance=instance, group=group)

    def sg_detach(self, instance: str, group: str) -> dict:
        return _doc(_run(self.name, "sg detach", instance, group), instance=instance, group=group)

    def acl_rule_add(self, acl: str, direction: str, *, proto: str = "all", port: Port = None,
                     source: Optional[str] = None, destination: Optional[str] = None, action: Optional[str] = None,
                     index: Optional[int] = None) -> dict:
        """Add a rule to `acl` ("vpc/acl-name"); `direction` inbound (takes `source`) or outbound."""
        return _rule(self.name, "acl", "add", acl, direction, index, proto, port, source, destination,
                     action)

    def acl_rule_del(self, acl: str, direction: str, *, index: Optional[int] = None, proto: Optional[str] = None,
                     port: Port = None, source: Optional[str] = None, destination: Optional[str] = None,
                     action: Optional[str] = None) -> dict:
        """Delete the rule at `index`, or the rule with the given fields."""
        return _rule(self.name, "acl", "del", acl, direction, index, proto, port, source, destination,
                     action)

    def acl_bind(self, acl: str, subnet: str) -> dict:
        return _doc(_run(self.name, "acl bind", acl, subnet), acl=acl, subnet=subnet)

    def acl_unbind(self, acl: str, subnet: str) -> dict:
        return _doc(_run(self.name, "acl unbind", acl, subnet), acl=acl, subnet=subnet)

    def eip_associate(self, instance: str, address: Optional[str] = None) -> dict:
        return _doc(_run(self.name, "eip associate", instance, address), instance=instance)

    def eip_disassociate(self, instance: str, address: Optional[str] = None) -> dict:
        return _doc(_run(self.name, "eip disassociate", instance, address), instance=instance)
