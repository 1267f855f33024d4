"""apply/inspect/netns against the real kernel: build a tiny lab by hand, read it back, change, tear down."""
from __future__ import annotations

import errno
import os
import select
import socket
import struct
import time

import pytest

from kernlab import ROOT, TinyLab

pytestmark = [pytest.mark.kernel,
              pytest.mark.skipif(not ROOT, reason="kernel tests need root: they create network namespaces")]

if ROOT:
    from vpclab.errors import KernelRefused
    from vpclab.kernel import features, netns, teardown
    from vpclab.kernel.engine import apply
    from vpclab.plan.shaping import shaping
    from vpclab.probe.wire import checksum
    from vpclab.kernel.inspect import list_labs, read_lab
    from vpclab.plan.objects import Action, Address, Netns, Qdisc, Route, Rule, Service, Veth


def create_all(objs):
    return [Action("create", o) for o in objs]


def link_index(ns, ifname):
    with netns.iproute(ns) as ipr:
        found = ipr.link_lookup(ifname=ifname)
    return found[0] if found else None


# ------------------------------------------------------------------ ICMP echo from inside a namespace

def echo(ns: str, dst: str, timeout: float = 1.0) -> bool:
    """Send one ICMP echo request from namespace `ns`; True if the reply comes back."""
    sock = netns.run_in(ns, lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
    try:
        ident, seq = os.getpid() & 0xFFFF, 7
        payload = b"vpclab-probe"
        head = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
        head = struct.pack("!BBHHH", 8, 0, checksum(head + payload), ident, seq)
        sock.sendto(head + payload, (dst, 0))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([sock], [], [], left)[0]:
                return False
            data, (src, _) = sock.recvfrom(2048)
            ihl = (data[0] & 0x0F) * 4
            typ, _, _, rid, rseq = struct.unpack_from("!BBHHH", data, ihl)
            if typ == 0 and src == dst and rid == ident and rseq == seq:
                return True
    finally:
        sock.close()


# ------------------------------------------------------------------ tests

def test_read_back_equals_applied(tiny):
    seen = []
    service = Service(tiny.IB, "b/y", "listener", "10.2.0.10", 5432)  # no lab context: left alone
    result = apply(create_all(tiny.objects + [service]), progress=lambda done, total: seen.append((done, total)))
    assert result.done == len(tiny.objects) and not result.warnings
    assert seen[-1] == (len(tiny.objects), len(tiny.objects))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert read_lab(tiny.lab) == set(tiny.objects)
    assert tiny.lab in list_labs()


def test_second_apply_is_harmless(tiny):
    apply(create_all(tiny.objects))
    before = {o.key: link_index(o.ns, o.ifname) for o in tiny.objects if o.kind == "veth"}
    result = apply(create_all(tiny.objects))
    assert result.done == len(tiny.objects)
    assert read_lab(tiny.lab) == set(tiny.objects)
    assert {o.key: link_index(o.ns, o.ifname) for o in tiny.objects if o.kind == "veth"} == before


def test_qdisc_change_recaps_live(tiny):
    apply(create_all(tiny.objects))
    old = tiny.caps[0]
    index = link_index(old.ns, old.ifname)
    new = Qdisc(old.ns, old.ifname, *shaping(1_000_000))
    apply([Action("change", new)])
    assert link_index(old.ns, old.ifname) == index
    got = {o for o in read_lab(tiny.lab) if o.kind == "qdisc"}
    assert got == {new, tiny.caps[1]}
    # and a cap above 32 bits of bytes/s (rate64) still reads back exactly
    huge = Qdisc(old.ns, old.ifname, *shaping(40_000_000))
    apply([Action("change", huge)])
    assert huge in read_lab(tiny.lab)
    assert link_index(old.ns, old.ifname) == index


def test_a_delay_is_netem_where_the_kernel_has_it_and_refused_where_not(lab):
    """The planner asks for a delay only where netem exists (see test_features); asked
    anyway, a kernel without netem refuses, and apply names the qdisc."""
    t = TinyLab(lab, delay_ms=25.0)
    if features.netem_available():
        apply(create_all(t.objects))
        assert set(t.caps) <= read_lab(lab)
    else:
        with pytest.raises(KernelRefused) as e:
            apply(create_all(t.objects))
        assert "qdisc tbf" in e.value.message and "delay 25ms" in e.value.message


def test_delete_removes_and_tolerates_gone(tiny):
    apply(create_all(tiny.objects))
    A, B = tiny.A, tiny.B
    doomed = [
        tiny.caps[0],
        Route(A, 100, "0.0.0.0/0", type="blackhole"),
        tiny.return_route,
        Rule(A, 1000, tiny.pp, 101),
        Address(A, tiny.pp, "169.254.0.1/30"),
    ]
    dels = [Action("delete", o) for o in doomed]
    apply(dels)
    got = read_lab(tiny.lab)
    # the kernel flushes routes through a link that loses its last IPv4 address
    flushed = {o for o in tiny.objects if o.kind == "route" and o.ns == A and o.dev == tiny.pp}
    assert got == set(tiny.objects) - set(doomed) - flushed
    apply(dels)  # already gone: fine
    # deleting the peering veth removes both ends and everything on them
    apply([Action("delete", tiny.peering)])
    got = read_lab(tiny.lab)
    assert not any(getattr(o, "ifname", None) == tiny.pp or getattr(o, "dev", None) == tiny.pp for o in got)
    assert link_index(B, tiny.pp) is None
    apply([Action("delete", tiny.peering)])


def test_deleting_a_namespace_skips_what_is_inside(tiny):
    apply(create_all(tiny.objects))
    inside = [o for o in tiny.objects if getattr(o, "ns", None) == tiny.IB and o.kind != "netns"]
    instance_veth = next(o for o in tiny.objects if o.kind == "veth" and o.peer_ns == tiny.IB)
    ns_obj = next(o for o in tiny.objects if o.kind == "netns" and o.name == tiny.IB)
    actions = [Action("delete", o) for o in reversed(inside)] + [Action("delete", instance_veth),
                                                                 Action("delete", ns_obj)]
    result = apply(actions)
    assert result.skipped == len(inside)
    got = read_lab(tiny.lab)
    # what lived on the router's end of the instance's veth (proxy ARP, host route) went with it
    ends = {(instance_veth.ns, instance_veth.ifname)}
    on_veth = {o for o in tiny.objects if o.on in ends}
    assert on_veth and got == set(tiny.objects) - set(inside) - {instance_veth, ns_obj} - on_veth


def test_a_link_or_lo_set_down_by_hand_reads_back_changed_and_is_set_up_again(tiny):
    from vpclab.plan.diff import diff

    apply(create_all(tiny.objects))
    with netns.iproute(tiny.B) as ipr:
        ipr.link("set", index=ipr.link_lookup(ifname=tiny.pp)[0], state="down")
    with netns.iproute(tiny.IA) as ipr:
        ipr.link("set", index=1, state="down")
    acts = diff(tiny.objects, read_lab(tiny.lab))
    # the kernel flushed the routes through the link that went down: they are planned again
    assert {a.describe() for a in acts} == {"change " + tiny.peering.describe(), "change " + Netns(tiny.IA).describe(),
                                            "create " + tiny.return_route.describe()}
    assert not echo(tiny.IA, "10.2.0.10", timeout=0.3)
    apply(acts)
    assert read_lab(tiny.lab) == set(tiny.objects)
    assert echo(tiny.IA, "10.2.0.10")


def test_namespace_change_sets_forwarding(tiny):
    apply(create_all(tiny.objects))
    ns_obj = next(o for o in tiny.objects if o.kind == "netns" and o.name == tiny.IA)
    flipped = type(ns_obj)(ns_obj.name, True)
    apply([Action("change", flipped)])
    assert flipped in read_lab(tiny.lab)
    assert netns.sysctl_read(tiny.IA, "net.ipv6.conf.all.disable_ipv6") == "1"
    assert netns.sysctl_read(tiny.IA, "net.ipv4.conf.all.rp_filter") == "0"


def test_peering_forwards_and_routes_decide(tiny):
    apply(create_all(tiny.objects))
    assert echo(tiny.IA, "10.2.0.10")  # across the peering, both ways
    assert echo(tiny.IB, "10.1.0.10")
    assert not echo(tiny.IA, "10.9.0.1", timeout=0.3)  # blackhole default
    apply([Action("delete", tiny.return_route)])  # B forgets the way back: no reply
    assert not echo(tiny.IA, "10.2.0.10", timeout=0.3)
    apply([Action("create", tiny.return_route)])
    assert echo(tiny.IA, "10.2.0.10")


def test_route_change_replaces(tiny):
    apply(create_all(tiny.objects))
    r = Route(tiny.A, 100, "10.2.0.0/24", type="blackhole")
    apply([Action("change", r)])
    routes = {o for o in read_lab(tiny.lab) if o.kind == "route" and o.ns == tiny.A and o.table == 100}
    assert r in routes and not any(o.dst == "10.2.0.0/24" and o.type == "unicast" for o in routes)
    assert not echo(tiny.IA, "10.2.0.10", timeout=0.3)


def test_rule_change_replaces(tiny):
    apply(create_all(tiny.objects))
    r = Rule(tiny.A, 20000, None, 101, "10.1.0.0/24")
    apply([Action("change", r)])
    rules = {o for o in read_lab(tiny.lab) if o.kind == "rule" and o.ns == tiny.A}
    assert rules == {r, Rule(tiny.A, 1000, tiny.pp, 101)}


def test_unexpected_refusal_names_the_object(tiny):
    apply(create_all(tiny.objects[:6]))  # namespaces and instance links
    bad = Route(tiny.A, 100, "10.5.0.0/24", via="10.1.0.9", dev="nosuchdev")
    with pytest.raises(KernelRefused) as e:
        apply([Action("create", bad)])
    assert e.value.errno == errno.ENODEV and e.value.obj == bad.describe()
    host_bits = Route(tiny.A, 100, "10.8.0.1/16", type="blackhole")  # the kernel says EINVAL
    with pytest.raises(KernelRefused) as e:
        apply([Action("create", host_bits)])
    assert e.value.errno == errno.EINVAL and host_bits.describe() in e.value.message
    # a veth whose name is held by another kind of link is not "already there"
    taken = Veth(tiny.A, "lo", tiny.B, "other")
    with pytest.raises(KernelRefused) as e:
        apply([Action("create", taken)])
    assert e.value.errno == errno.EEXIST and e.value.obj == taken.describe()


def test_veth_read_back_convention(lab):
    t = TinyLab(lab)
    # declared from the side that sorts last: read back from the side that sorts first
    flipped = Veth(t.B, t.pp, t.A, t.pp)
    objs = [o for o in t.objects[:4]] + [flipped]  # the namespaces and the peering
    apply(create_all(objs))
    veths = {o for o in read_lab(lab) if o.kind == "veth"}
    assert veths == {t.peering}


def test_remove_lab_namespaces_leaves_nothing(tiny):
    apply(create_all(tiny.objects))
    prefix = f"vpclab-{tiny.lab}-"
    removed = teardown.remove_lab_namespaces(prefix)
    assert sorted(removed) == sorted(o.name for o in tiny.objects if o.kind == "netns")
    assert netns.list_names(prefix) == []
    assert read_lab(tiny.lab) == set()
    assert tiny.lab not in list_labs()
    assert teardown.remove_lab_namespaces(prefix) == []


def test_refuses_a_broad_prefix():
    for prefix in ("", "vpclab-", "vpclab-t", "t", "/", "vpclab-t1-x"):
        with pytest.raises(ValueError):
            teardown.remove_lab_namespaces(prefix)


def _root_snapshot():
    from pyroute2 import IPRoute

    with IPRoute(groups=0) as ipr:
        links = sorted(((m["index"], m.get("ifname"), m.get("master")) for m in ipr.link("dump")), key=repr)
        addrs = sorted(((m["index"], m["family"], m.get("address"), m["prefixlen"]) for m in ipr.addr("dump")),
                       key=repr)
        routes = sorted(((m["family"], m.get("table"), m.get("dst"), m["dst_len"], m.get("gateway"),
                          m.get("oif"), m["proto"], m["type"]) for m in ipr.route("dump")), key=repr)
        rules = sorted(((m["family"], m.get("priority"), m.get("table"), m.get("iifname"), m["action"])
                        for m in ipr.rule("dump")), key=repr)
    return links, addrs, routes, rules, sorted(os.listdir("/proc/sys/net/ipv4/conf"))


def test_root_namespace_untouched(lab):
    before = _root_snapshot()
    t = TinyLab(lab)
    apply(create_all(t.objects))
    assert echo(t.IA, "10.2.0.10")
    read_lab(lab)
    teardown.remove_lab_namespaces(f"vpclab-{lab}-")
    after = _root_snapshot()
    for what, x, y in zip(("links", "addresses", "routes", "rules", "ipv4 conf"), before, after):
        assert x == y, f"root {what} changed: gone {set(x) - set(y)}, new {set(y) - set(x)}"


def test_features_report():
    rows = features.detect()
    names = [r[0] for r in rows]
    assert names[:2] == ["root", "netns"]
    assert {"veth", "tbf", "htb", "netem", "iperf3", "ping", "tcpdump", "nc"} <= set(names)
    assert "ifb" not in names  # probing ifb would load ifb.ko: ifb0/ifb1 in the root namespace
    got = {n: ok for n, ok, _ in rows}
    assert got["root"] and got["netns"] and got["veth"] and got["tbf"]
    assert got["netem"] == features.netem_available()
    assert all(why for _, _, why in rows)


def test_veth_pairs_with_equal_ifindexes_are_told_apart(lab):
    # four namespaces, two identical pairs: every end has ifindex 2 and peer ifindex 2,
    # so only the namespace ids can tell which end belongs with which
    ns = [f"vpclab-{lab}-{n}" for n in ("p1", "p2", "q1", "q2")]
    objs = [Netns(n) for n in ns] + [Veth(ns[0], f"{lab}-x", ns[2], f"{lab}-y"),
                                     Veth(ns[1], f"{lab}-x", ns[3], f"{lab}-y")]
    apply(create_all(objs))
    assert {link_index(n, f"{lab}-x") or link_index(n, f"{lab}-y") for n in ns} == {2}
    assert read_lab(lab) == set(objs)


def test_deleting_a_vpc_removes_its_peering_end_at_once(tiny):
    apply(create_all(tiny.objects))
    ns_a = next(o for o in tiny.objects if o.kind == "netns" and o.name == tiny.A)
    apply([Action("delete", tiny.peering), Action("delete", ns_a)])
    assert link_index(tiny.B, tiny.pp) is None  # not left to the kernel's asynchronous cleanup
