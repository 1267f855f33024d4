"""A whole lab on the real kernel: up, status, exec, idempotence, dry-run, down,
and what must hold of every lab (no way out to the host)."""
from __future__ import annotations

import ipaddress
import json
import os

import pytest

from labkit import TOPOLOGIES, assert_gone, lab_namespaces, needs_root, renamed, run, run_json

pytestmark = needs_root


def test_up_builds_what_the_topology_says_and_down_removes_it(mklab):
    lab, path = mklab(TOPOLOGIES / "01-two-vpcs.yaml")
    assert lab_namespaces(lab) == sorted(
        [f"vpclab-{lab}-vpc-a", f"vpclab-{lab}-vpc-a.cvm-1", f"vpclab-{lab}-vpc-b",
         f"vpclab-{lab}-vpc-b.cvm-1", f"vpclab-{lab}-vpc-b.db-1"])

    st = run_json("status", "-l", lab)
    assert st["lab"] == lab
    vpcs = {v["name"]: v for v in st["vpcs"]}
    assert set(vpcs) == {"vpc-a", "vpc-b"}
    for v in vpcs.values():
        assert {"name", "account", "region", "cidr", "namespace", "subnets", "instances"} <= set(v)
    assert {(i["name"], i["ip"]) for i in vpcs["vpc-b"]["instances"]} == {("cvm-1", "10.1.1.10"), ("db-1", "10.1.2.20")}
    assert st["peerings"][0]["id"] == "pcx-ab" and st["peerings"][0]["state"] == "ACTIVE"
    assert st["peerings"][0]["bandwidth_mbps"] is None

    # The instance holds its address and a default route to its gateway ...
    out = run("exec", "vpc-b/db-1", "-l", lab, "--", "ip", "-4", "-o", "addr", "show", check=0).stdout
    assert "10.1.2.20/24" in out
    out = run("exec", "vpc-b/db-1", "-l", lab, "--", "ip", "route", check=0).stdout
    assert "default via 10.1.2.1" in out
    # ... and the router picks the subnet's table by source range, after the peering's
    # ingress rule; the table throws the VPC's own subnets to the main table's host routes
    # and ends in a blackhole.
    rules = run("exec", "vpc-a", "-l", lab, "--", "ip", "rule", check=0).stdout
    assert "from 10.0.1.0/24 lookup 100" in rules
    assert rules.index("iif") < rules.index("from 10.0.1.0/24")
    table = run("exec", "vpc-a", "-l", lab, "--", "ip", "route", "show", "table", "100", check=0).stdout
    assert "blackhole default" in table and "throw 10.0.1.0/24" in table
    assert "10.1.0.0/16 via 169.254.0.2" in table
    from vpclab.plan.names import instance_port

    port = instance_port(lab, "cvm-1")
    main = run("exec", "vpc-a", "-l", lab, "--", "ip", "route", check=0).stdout
    assert f"10.0.1.10 dev {port}" in main
    # no bridge anywhere: the subnet is routed, the router answers ARP for it
    links = run("exec", "vpc-a", "-l", lab, "--", "ip", "-d", "link", check=0).stdout
    assert "bridge" not in links
    proxy = run("exec", "vpc-a", "-l", lab, "--", "cat", f"/proc/sys/net/ipv4/conf/{port}/proxy_arp",
                check=0).stdout
    assert proxy.strip() == "1"

    # Idempotent: a second up and a dry run change nothing.
    assert run_json("up", path)["actions"] == []
    assert run_json("up", "--dry-run", path)["actions"] == []
    labs = run_json("ls")["labs"]
    assert any(l["lab"] == lab and l["instances"] == 3 and l["peerings"] == 1 for l in labs)

    run("down", lab, check=0)
    assert_gone(lab)
    run("down", lab, check=0)  # already gone is fine


def test_dry_run_on_a_fresh_lab_prints_every_action_and_changes_nothing(tmp_path):
    from labkit import lab_name

    lab = lab_name()
    path = renamed(TOPOLOGIES / "03-hub-spokes.yaml", lab, tmp_path)
    doc = run_json("up", "--dry-run", path)
    assert doc["dry_run"] is True
    text = "\n".join(doc["actions"])
    assert f"create netns vpclab-{lab}-hub (router, forwarding on)" in text
    assert text.count("create netns") == 4 + 6
    assert "blackhole 0.0.0.0/0" in text
    assert lab_namespaces(lab) == []
    assert not os.path.exists(f"/run/vpclab/{lab}")


def test_no_lab_namespace_has_a_way_to_the_host(mklab):
    """Every link is lo or a veth whose peer is in the same lab; every
    route is to a lab prefix or a blackhole: nothing leads to the host or beyond."""
    from vpclab.kernel import netns

    lab, _ = mklab(TOPOLOGIES / "04-cross-region.yaml")
    lab_nets = [ipaddress.ip_network(n) for n in ("10.10.0.0/16", "10.11.0.0/16", "10.20.0.0/16", "169.254.0.0/16")]
    for ns in lab_namespaces(lab):
        with netns.iproute(ns) as ipr:
            nsids = {}
            for link in ipr.get_links():
                name = link.get_attr("IFLA_IFNAME")
                kind = (link.get_attr("IFLA_LINKINFO") or {}).get_attr("IFLA_INFO_KIND") if link.get_attr(
                    "IFLA_LINKINFO") else None
                if name == "lo":
                    continue
                assert name.startswith(f"{lab}-"), f"{ns}: foreign interface {name}"
                assert kind == "veth", f"{ns}: {name} is a {kind}"  # subnets are routed: no bridge
                if kind == "veth":
                    nsid = link.get_attr("IFLA_LINK_NETNSID")
                    assert nsid is not None, f"{ns}: {name}'s peer is in the same namespace?"
                    nsids[name] = nsid
            for r in ipr.get_routes(table=0):
                if r.get_attr("RTA_TABLE") == 255:
                    continue  # local table: the namespace's own addresses
                dst = r.get_attr("RTA_DST") or "0.0.0.0"
                net = ipaddress.ip_network(f"{dst}/{r['dst_len']}")
                if r["type"] == 6:  # blackhole
                    continue
                gw = r.get_attr("RTA_GATEWAY")
                if net.prefixlen == 0:
                    assert gw is not None and any(ipaddress.ip_address(gw) in n for n in lab_nets), (ns, gw)
                else:
                    assert any(net.subnet_of(n) for n in lab_nets), f"{ns}: route to {net}"
        # Every veth's peer lives in a namespace of this lab.
        for name, nsid in nsids.items():
            peer_ns = _ns_of_nsid(ns, nsid, lab_namespaces(lab))
            assert peer_ns is not None, f"{ns}:{name} has its peer outside the lab"


def _ns_of_nsid(ns, nsid, candidates):
    from vpclab.kernel import netns

    with netns.iproute(ns) as ipr:
        for cand in candidates:
            fd = os.open(netns.path_of(cand), os.O_RDONLY)
            try:
                got = ipr.get_netnsid(fd=fd)
                if got and got.get("nsid") == nsid:
                    return cand
            except Exception:
                pass
            finally:
                os.close(fd)
    return None


def test_down_ends_processes_started_inside_the_lab(mklab):
    """A process started with `vpclab exec` (here a sleeper) would keep a namespace
    alive after down; down ends it by PID, as the lab's own."""
    import subprocess
    import time

    from labkit import VPCLAB

    from vpclab.kernel import teardown

    lab, _ = mklab(TOPOLOGIES / "02-one-way-route.yaml")
    p = subprocess.Popen([VPCLAB, "exec", "vpc-a/cvm-1", "-l", lab, "--", "sleep", "300"])
    # A process in the lab's namespace without the `vpclab exec` mark is not the lab's:
    # down must leave it alone (it is ours, started here, and we end it ourselves).
    stranger = subprocess.Popen([VPCLAB, "exec", "vpc-a/cvm-1", "-l", lab, "--", "env", "-u", "VPCLAB_LAB",
                                 "sleep", "300"])
    def comm(pid):
        try:
            with open(f"/proc/{pid}/comm") as f:
                return f.read().strip()
        except OSError:
            return None

    try:
        # exec replaces `vpclab exec` (and the stranger's `env -u VPCLAB_LAB`) with sleep, same
        # PID: until the stranger IS sleep, it still carries the mark (it once failed there)
        deadline = time.monotonic() + 10
        while not (comm(p.pid) == comm(stranger.pid) == "sleep"
                   and p.pid in teardown.pids_inside(f"vpclab-{lab}-", lab)):
            if time.monotonic() > deadline or p.poll() is not None or stranger.poll() is not None:
                pytest.fail(f"the exec'd processes never became sleep inside the lab's namespace "
                            f"({comm(p.pid)}, {comm(stranger.pid)})")
            time.sleep(0.02)
        assert stranger.pid not in teardown.pids_inside(f"vpclab-{lab}-", lab)
        run("down", lab, check=0)
        assert p.wait(timeout=5) != 0
        assert_gone(lab)
        assert stranger.poll() is None  # not the lab's: not signalled
    finally:
        for proc in (p, stranger):
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def test_services_run_and_stop_with_the_lab(mklab):
    lab, _ = mklab(TOPOLOGIES / "03-hub-spokes.yaml")
    code = ("import socket; s=socket.create_connection(('10.0.1.20', 3306), 2); "
            "print(s.recv(200).decode().strip())")
    out = run("exec", "spoke-1/cvm-1", "-l", lab, "--", "python3", "-c", code, check=0).stdout
    assert out.strip() == "hello from hub/db-1 on tcp/3306"
    from labkit import lab_pids

    assert len(lab_pids(lab)) == 1  # one daemon serves the lab's listeners


def test_errors_are_clean_and_change_nothing(tmp_path, mklab):
    lab, path = mklab(TOPOLOGIES / "01-two-vpcs.yaml")
    before = run_json("status", "-l", lab)
    p = run("probe", "vpc-a/cvm-1", "vpc-b/cvm-9", "-l", lab, check=2)
    assert "did you mean 'vpc-b/cvm-1'" in p.stderr and "Traceback" not in p.stderr
    p = run("status", "-l", "nosuch", "--json", check=2)
    assert json.loads(p.stdout)["error"]["code"] == "LabNotFound"
    bad = tmp_path / "bad.yaml"
    bad.write_text(path.read_text().replace("10.1.0.0/16\n", "10.0.0.0/16\n", 1))
    p = run("up", bad, check=2)
    assert "VpcPeerCidrConflict" in p.stderr
    assert run_json("status", "-l", lab) == before


def test_down_no_wait_returns_with_the_names_gone_and_the_kernel_finishes(mklab):
    import time

    from labkit import run

    lab, _ = mklab(TOPOLOGIES / "03-hub-spokes.yaml")
    t0 = time.monotonic()
    run("down", "--no-wait", lab, check=0)
    assert_gone(lab)  # names, state and processes are gone when it returns
    # and the same lab can be built again at once, while the kernel finishes the old one
    mklab(TOPOLOGIES / "03-hub-spokes.yaml", name=lab)
    assert len(lab_namespaces(lab)) == 10
    assert time.monotonic() - t0 < 60


def test_up_repairs_what_was_broken_by_hand(mklab):
    """An instance's link deleted by hand (its address, routes and proxy ARP go with it), a
    peering's link set down by hand, and an instance namespace deleted by hand (its listener
    with it): one `up` repairs all three."""
    import subprocess

    from vpclab.kernel import netns
    from vpclab.plan import names

    lab, path = mklab(TOPOLOGIES / "01-two-vpcs.yaml")
    port = names.instance_port(lab, "cvm-1")
    subprocess.run(["ip", "-n", f"vpclab-{lab}-vpc-a", "link", "del", port], check=True)
    with netns.iproute(f"vpclab-{lab}-vpc-b") as ipr:  # issue 8: a link left administratively down
        ipr.link("set", index=ipr.link_lookup(ifname=names.peering_port(lab, "pcx-ab"))[0], state="down")
    subprocess.run(["ip", "netns", "del", f"vpclab-{lab}-vpc-b.db-1"], check=True)
    assert run_json("probe", "vpc-a/cvm-1", "vpc-b/cvm-1", "-l", lab)["result"] == "unreachable"
    actions = run_json("up", path)["actions"]
    assert f"create veth vpclab-{lab}-vpc-a:{port} <-> vpclab-{lab}-vpc-a.cvm-1:{lab}-eth0" in actions, \
        "\n".join(actions)
    assert any(a.startswith("change veth ") and names.peering_port(lab, "pcx-ab") in a for a in actions), \
        "\n".join(actions)
    assert run_json("up", path)["actions"] == []
    assert run_json("probe", "vpc-a/cvm-1", "vpc-b/cvm-1", "-l", lab)["result"] == "reachable"
    doc = run_json("probe", "vpc-a/cvm-1", "vpc-b/db-1", "--proto", "tcp", "--port", "3306", "-l", lab)
    assert doc["observed"] == "SYN-ACK" and "mismatch" not in doc
