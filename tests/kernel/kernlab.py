"""A hand-built tiny lab for kernel tests (plan objects only; nothing here touches the kernel)."""
from __future__ import annotations

import os

from vpclab.plan import names as N
from vpclab.plan.objects import Address, Netns, Qdisc, Route, Rule, Sysctl, Veth
from vpclab.plan.shaping import shaping

ROOT = os.geteuid() == 0


class TinyLab:
    """Two VPCs (a: 10.1.0.0/24, b: 10.2.0.0/24), one instance each, a capped peering.

    Subnets are routed: gateways on the routers' lo, instance veths with proxy ARP and a
    host route, a `from <subnet>` rule per subnet after the peering's `iif` rule.
    """

    def __init__(self, lab: str, rate_kbit: int = 100_000, delay_ms=None):
        self.lab = lab
        self.A, self.B = N.vpc_ns(lab, "a"), N.vpc_ns(lab, "b")
        self.IA, self.IB = N.instance_ns(lab, "a", "x"), N.instance_ns(lab, "b", "y")
        self.ix, self.iy = N.instance_port(lab, "x"), N.instance_port(lab, "y")
        self.eth = N.instance_eth(lab)
        self.pp = N.peering_port(lab, "pcx1")
        A, B, IA, IB, ix, iy, eth, pp = self.A, self.B, self.IA, self.IB, self.ix, self.iy, self.eth, self.pp
        self.peering = Veth(A, pp, B, pp)  # a sorts before b: the read-back convention
        self.caps = [Qdisc(A, pp, *shaping(rate_kbit), delay_ms), Qdisc(B, pp, *shaping(rate_kbit), delay_ms)]
        self.return_route = Route(B, 200, "10.1.0.0/24", via="169.254.0.1", dev=pp)
        self.objects = [
            Netns(A, True), Netns(B, True), Netns(IA), Netns(IB),
            Veth(A, ix, IA, eth), Veth(B, iy, IB, eth),
            self.peering,
            Sysctl(A, ix, "proxy_arp", "1"), Sysctl(A, ix, "proxy_delay", "0"),
            Sysctl(B, iy, "proxy_arp", "1"), Sysctl(B, iy, "proxy_delay", "0"),
            Address(A, "lo", "10.1.0.1/32"), Address(B, "lo", "10.2.0.1/32"),
            Address(IA, eth, "10.1.0.10/24"), Address(IB, eth, "10.2.0.10/24"),
            Address(A, pp, "169.254.0.1/30"), Address(B, pp, "169.254.0.2/30"),
            # peering-ingress tables (own subnets only) first, then the subnet tables (from the subnet)
            Rule(A, 1000, pp, 101), Rule(A, 20000, None, 100, "10.1.0.0/24"),
            Rule(B, 1000, pp, 201), Rule(B, 20000, None, 200, "10.2.0.0/24"),
            Route(A, 254, "10.1.0.10/32", dev=ix), Route(A, 254, "10.1.0.0/24", type="blackhole"),
            Route(B, 254, "10.2.0.10/32", dev=iy), Route(B, 254, "10.2.0.0/24", type="blackhole"),
            Route(A, 100, "10.1.0.0/24", type="throw"),
            Route(A, 100, "10.2.0.0/24", via="169.254.0.2", dev=pp),
            Route(A, 100, "0.0.0.0/0", type="blackhole"),
            Route(A, 101, "10.1.0.0/24", type="throw"), Route(A, 101, "0.0.0.0/0", type="blackhole"),
            Route(B, 200, "10.2.0.0/24", type="throw"), self.return_route,
            Route(B, 200, "0.0.0.0/0", type="blackhole"),
            Route(B, 201, "10.2.0.0/24", type="throw"), Route(B, 201, "0.0.0.0/0", type="blackhole"),
            Route(IA, 254, "0.0.0.0/0", via="10.1.0.1", dev=eth),
            Route(IB, 254, "0.0.0.0/0", via="10.2.0.1", dev=eth),
            *self.caps,
        ]
