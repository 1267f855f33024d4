"""The live operations of versions 2 and 3 as methods of `api.Lab` (CLI.md: "the live
operations as methods"): security group rules and attachments, network ACL rules and
bindings, EIPs; Cloud Connect Networks (`CcnOperations`). Each runs its entry of the one table of live operations
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


def _attachment(ccn: str, a) -> dict:
    return {"ccn": ccn, "vpc": a.vpc, "state": a.state, "publish": a.publish}


def _ccn_route(r) -> dict:
    return {"ccn": r.ccn, "id": r.id, "route": r.key, "state": "enabled" if r.enabled else "disabled",
            "why": r.why or None}


class CcnOperations:
    """The Cloud Connect Network's live operations (CLI.md version 3: `vpclab ccn ...`), mixed
    into `api.Lab`. Each returns the `--json` document of its command; a refusal raises `Refused`
    with the cloud's code. `account` None acts as the account entitled to the step (the CCN's
    owner; the VPC's for attach and detach)."""

    name: str

    def ccn_create(self, name: Optional[str] = None, account: Optional[str] = None) -> dict:
        c = _run(self.name, "ccn create", name, account)
        return {"id": c.name, "account": c.account}

    def ccn_delete(self, ccn: str, account: Optional[str] = None) -> dict:
        c = _run(self.name, "ccn delete", ccn, account)
        return {"id": c.name, "deleted": True}

    def ccn_attach(self, ccn: str, vpc: str, account: Optional[str] = None, publish: str = "subnets") -> dict:
        """ACTIVE at once in the CCN's account; PENDING from another until the owner accepts."""
        return _attachment(ccn, _run(self.name, "ccn attach", ccn, vpc, account, publish))

    def ccn_detach(self, ccn: str, vpc: str, account: Optional[str] = None) -> dict:
        return _attachment(ccn, _run(self.name, "ccn detach", ccn, vpc, account))

    def ccn_accept(self, ccn: str, vpc: str, account: Optional[str] = None) -> dict:
        return _attachment(ccn, _run(self.name, "ccn accept", ccn, vpc, account))

    def ccn_reject(self, ccn: str, vpc: str, account: Optional[str] = None) -> dict:
        return _attachment(ccn, _run(self.name, "ccn reject", ccn, vpc, account))

    def ccn_route_enable(self, ccn: str, route: str, account: Optional[str] = None) -> dict:
        """Enable route "DESTINATION@VPC" (`CcnRouteCidrOverlap` when an enabled one has its destination)."""
        return _ccn_route(_run(self.name, "ccn route enable", ccn, route, account))

    def ccn_route_disable(self, ccn: str, route: str, account: Optional[str] = None) -> dict:
        return _ccn_route(_run(self.name, "ccn route disable", ccn, route, account))

    def ccn_bandwidth(self, ccn: str, region: str, dst_region: str, bandwidth: Optional[str],
                      account: Optional[str] = None) -> dict:
        """Cap the CCN between two regions ("200Mbps"); None restores the 1 Gbps default."""
        from ..model.units import bandwidth_kbps

        c = _run(self.name, "ccn bandwidth", ccn, region, dst_region, bandwidth_kbps(bandwidth), account)
        return {"ccn": c.name, "regions": [region, dst_region],
                "bandwidth_mbps": c.bandwidth_kbps(region, dst_region) / 1000}

    def ccns(self) -> list:
        """`ccn list --json`'s rows."""
        from ..controller import status

        return status.ccn_rows(status.load_model(self.name))

    def ccn_routes(self, ccn: Optional[str] = None) -> list:
        """`ccn route list --json`'s rows."""
        from ..controller import status

        return status.ccn_route_rows(status.load_model(self.name), ccn)
