"""A hand-built tiny lab for kernel tests (plan objects only; nothing here touches the kernel)."""
from __future__ import annotations

import os

from vpclab.plan import names as N
from vpclab.plan.objects import Address, Bridge, Netns, Qdisc, Route, Rule, Veth

ROOT = os.geteuid() == 0


class TinyLab:
    """Two VPCs (a: 10.1.0.0/24, b: 10.2.0.0/24), one instance each, a capped peering."""

    def __init__(self, lab: str, rate_kbit: int = 100_000, burst: int = 65536, delay_ms=None):
        self.lab = lab
        self.A, self.B = N.vpc_ns(lab, "a"), N.vpc_ns(lab, "b")
        self.IA, self.IB = N.instance_ns(lab, "a", "x"), N.instance_ns(lab, "b", "y")
        self.bra, self.brb = N.bridge(lab, "s1"), N.bridge(lab, "s2")
        self.eth = N.instance_eth(lab)
        self.pp = N.peering_port(lab, "pcx1")
        A, B, IA, IB, bra, brb, eth, pp = self.A, self.B, self.IA, self.IB, self.bra, self.brb, self.eth, self.pp
        self.peering = Veth(A, pp, B, pp)  # a sorts before b: the read-back convention
        self.caps = [Qdisc(A, pp, rate_kbit, burst, delay_ms), Qdisc(B, pp, rate_kbit, burst, delay_ms)]
        self.return_route = Route(B, 200, "10.1.0.0/24", via="169.254.0.1", dev=pp)
        self.objects = [
            Netns(A, True), Netns(B, True), Netns(IA), Netns(IB),
            Bridge(A, bra), Bridge(B, brb),
            Veth(A, N.instance_port(lab, "x"), IA, eth, bra),
            Veth(B, N.instance_port(lab, "y"), IB, eth, brb),
            self.peering,
            Address(A, bra, "10.1.0.1/24"), Address(B, brb, "10.2.0.1/24"),
            Address(IA, eth, "10.1.0.10/24"), Address(IB, eth, "10.2.0.10/24"),
            Address(A, pp, "169.254.0.1/30"), Address(B, pp, "169.254.0.2/30"),
            # subnet tables (iif bridge) and peering-ingress tables (own subnets only)
            Rule(A, 1000, bra, 100), Rule(A, 1001, pp, 101),
            Rule(B, 1000, brb, 200), Rule(B, 1001, pp, 201),
            Route(A, 100, "10.1.0.0/24", dev=bra),
            Route(A, 100, "10.2.0.0/24", via="169.254.0.2", dev=pp),
            Route(A, 100, "0.0.0.0/0", type="blackhole"),
            Route(A, 101, "10.1.0.0/24", dev=bra), Route(A, 101, "0.0.0.0/0", type="blackhole"),
            Route(B, 200, "10.2.0.0/24", dev=brb), self.return_route,
            Route(B, 200, "0.0.0.0/0", type="blackhole"),
            Route(B, 201, "10.2.0.0/24", dev=brb), Route(B, 201, "0.0.0.0/0", type="blackhole"),
            Route(IA, 254, "0.0.0.0/0", via="10.1.0.1", dev=eth),
            Route(IB, 254, "0.0.0.0/0", via="10.2.0.1", dev=eth),
            *self.caps,
        ]
