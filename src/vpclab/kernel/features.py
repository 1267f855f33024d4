"""What this machine can do for a lab: kernel features, tools, privileges.

Owns: trying each kernel feature for real in a throwaway namespace and
reporting what degrades without it (`doctor`), and the per-process cached
netem answer that apply/inspect use.

The throwaway namespace is unnamed (unshare, never bind-mounted): it exists
only while our socket in it is open, so it cannot be left behind, even by a
crash.
"""
from __future__ import annotations

import json
import os
import shutil
from typing import Callable, List, Optional, Tuple

from ..errors import EnvironmentProblem
from . import netns, nft, rtnl, tc
from .handlers import link
from .handlers.namespace import lo_up

# (name, what degrades without it)
KERNEL = (
    ("netns", "no labs at all: every VPC and instance is a network namespace"),
    ("veth", "no instances and no peerings (both are veth pairs)"),
    ("tbf", "no cross-region rate caps"),
    ("htb", "no class-based rate caps (tbf caps still work)"),
    ("netem", "no cross-region latency: delays are skipped, rate caps still apply"),
    ("nftables", "no security groups, network ACLs, EIPs, NAT gateways or Internet: labs using them "
                 "refuse (libnftables1 and its Python binding, see scripts/setup)"),
)
# (name, what degrades without it, the Debian package that has it, other names of the same tool)
TOOLS = (
    ("iperf3", "no throughput measurement of rate caps", "iperf3", ()),
    ("ping", "no hand pinging with `vpclab exec INSTANCE -- ping` (vpclab probes do not need it)",
     "iputils-ping", ()),
    ("tcpdump", "no hand captures or BPF filter strings (probes filter in Python)", "tcpdump", ()),
    ("nc", "no hand TCP/UDP checks with `vpclab exec INSTANCE -- nc` (vpclab probes do not need it)",
     "netcat-openbsd", ("nc.openbsd", "netcat", "ncat", "nc.traditional")),
    ("tshark", "no reading of a `probe --pcap` file's verdict and capture points with tshark (scapy reads "
               "them too: lab/README.md); about 120 MB with its libraries", "tshark", ()),
)
# Where a tool is looked for besides PATH: `sudo` and service managers may run vpclab with a short PATH.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ROOT_DEGRADES = "nothing kernel-side works: vpclab must run as root"

_netem: Optional[bool] = None


def is_root() -> bool:
    return os.geteuid() == 0


def _htb_options() -> dict:
    return {"attrs": [("TCA_HTB_INIT", {"version": 3, "rate2quantum": 10, "defcls": 0, "debug": 0,
                                        "direct_pkts": 0})]}


def _probe_all() -> dict:
    """Try every kernel feature in one unnamed namespace; {name: bool}."""
    found = {name: False for name, _ in KERNEL}
    try:
        sock = netns.anonymous(rtnl.Socket)
    except (OSError, EnvironmentProblem):
        return found
    found["netns"] = True
    try:
        def ok(req) -> bool:
            code, _ = sock.batch([req])[0]
            return code == 0

        found["veth"] = ok(link.new_request("vpclab-pa", "vpclab-pb", None, up=False))
        # No ifb probe: loading ifb.ko would add ifb0/ifb1 to the host's root namespace.
        lo = 1
        sock.request(lo_up())

        def qdisc(kind: str, options: dict) -> bool:
            good = ok(tc.qdisc("replace", lo, kind, options, 0x00100000))
            if good:
                sock.batch([tc.qdisc("delete", lo)])
            return good

        found["tbf"] = qdisc("tbf", tc.tbf(10_000, 65536, 131072))
        found["htb"] = qdisc("htb", _htb_options())
        found["netem"] = qdisc("netem", tc.netem(10))
    finally:
        sock.close()
    found["nftables"] = _probe_nft()
    return found


def _probe_nft() -> bool:
    """A table with a conntrack match and a NAT chain, in a throwaway unnamed namespace."""
    if not nft.available()[0]:
        return False
    t = {"family": nft.TABLE["family"], "table": nft.TABLE["name"]}
    text = json.dumps({"nftables": [
        {"add": {"table": nft.TABLE}},
        {"add": {"chain": dict(t, name="c", type="filter", hook="input", prio=0, policy="accept")}},
        {"add": {"chain": dict(t, name="n", type="nat", hook="postrouting", prio=100, policy="accept")}},
        {"add": {"rule": dict(t, chain="c", expr=[
            {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established"]}},
            {"counter": None}, {"accept": None}])}}]})

    def inside():  # the context (and its socket) is made in, and dies with, the unnamed namespace
        ctx = nft._module().Nftables()
        ctx.set_json_output(True)  # JSON in needs it
        return ctx.cmd(text)[0] == 0

    try:
        return bool(netns.anonymous(inside))
    except (OSError, EnvironmentProblem):
        return False


def _probe_netem() -> bool:
    """Only netem, on `lo` of an unnamed namespace: no links made, nothing left behind."""
    try:
        sock = netns.anonymous(rtnl.Socket)
    except (OSError, EnvironmentProblem):
        return False
    try:
        sock.request(lo_up())
        code, _ = sock.batch([tc.qdisc("replace", 1, "netem", tc.netem(10), 0x00100000)])[0]
        return code == 0
    finally:
        sock.close()


def netem_available() -> bool:
    """True if the kernel has netem (probed once per process)."""
    global _netem
    if _netem is None:
        _netem = _probe_netem() if is_root() else False
    return _netem


def find_tool(name: str) -> Optional[str]:
    """The path of a command: on PATH, else in the system's usual directories."""
    return shutil.which(name) or shutil.which(name, path=SYSTEM_PATH)


def tool_rows(which: Callable[[str], Optional[str]] = find_tool) -> List[Tuple[str, bool, str]]:
    """[(name, ok, what degrades without it and how to install it)] for the optional tools."""
    rows = []
    for name, why, package, aliases in TOOLS:
        ok = any(which(n) is not None for n in (name,) + tuple(aliases))
        rows.append((name, ok, f"{why}; install: sudo apt-get install {package}"))
    return rows


def detect(which: Callable[[str], Optional[str]] = find_tool) -> List[Tuple[str, bool, str]]:
    """[(name, ok, what degrades without it)] for root, kernel features and tools."""
    global _netem
    root = is_root()
    rows: List[Tuple[str, bool, str]] = [("root", root, ROOT_DEGRADES)]
    found = _probe_all() if root else {name: False for name, _ in KERNEL}
    if root:
        _netem = found["netem"]
    rows += [(name, found[name], why) for name, why in KERNEL]
    return rows + tool_rows(which)

