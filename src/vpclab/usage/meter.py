"""The meter of a lab: samples the byte counters of every peering link, both directions.

`python -m vpclab.usage.meter --lab LAB --run-dir DIR` (started by `up` through
meterctl.py, stopped by `down`/`cleanup`). Every sample window (the topology's
`billing: window`, default 5 minutes, the cloud's) it reads, for each ACTIVE
peering, the counters of the peering's link in the requester VPC's namespace
(out = requester -> accepter, in = back; see Links for which counters) on
netlink sockets opened in the VPC namespaces, and for each CCN and pair of regions
its ACTIVE attachments are in, the link between the CCN's routers of the two regions
(plan/ccn.py; id `CCN@R1/R2`, out = R1 -> R2: usage/ccn.py), and writes them to
usage.db (samples.py), stamped with the wall time and the lab clock.

Between samples it only asks SQLite whether state.db changed (PRAGMA
data_version: no read of the model). When a command changed the clock, a cap or
the peerings, it samples at once with what held until then (the window before a
`clock advance 1d` belongs to the old day, the one before `peering modify` to the
old cap), then reloads the model.

It never outlives its lab: it exits on SIGTERM, and by itself once the lab's
state is gone or says `deleting`.
"""
from __future__ import annotations

import argparse
import errno
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ..errors import KernelRefused, NotFound, VpclabError
from ..kernel import nsenter, rtnl
from ..model.billing import DEFAULT_WINDOW_S
from ..plan import names
from ..state.store import Store
from . import ccn
from .samples import Sample, Writer, create

POLL_S = 0.5  # how often state.db is asked whether it changed


def _log(msg: str) -> None:
    sys.stderr.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} meter[{os.getpid()}]: {msg}\n")
    sys.stderr.flush()


def _classes():
    """pyroute2's link and qdisc messages, cut down to the attributes the meter reads:
    decoding only those halves the cost of a sample (measured: 0.61 -> 0.33 ms a link)."""
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
    from pyroute2.netlink.rtnl.tcmsg import tcmsg

    class linkstats(ifinfmsg):
        nla_map = ((3, "IFLA_IFNAME", "asciiz"), (23, "IFLA_STATS64", "ifstats64"))

    class qdiscstats(tcmsg):
        nla_map = ((1, "TCA_KIND", "asciiz"), (7, "TCA_STATS2", "get_stats2"))

    return linkstats, qdiscstats


class Links:
    """One netlink socket per VPC namespace; the byte counters of a peering's link.

    A capped (cross-region) link is read at its cap, the root qdisc of each end: the
    qdisc counts every frame's headers as the cap does (the veth counts a GSO
    super-packet's headers once: 2-4% less), so a saturated link reads as its cap.
    A regional link (no qdisc) is read from the link's own counters, in
    /proc/thread-self/net/dev of its namespace (read once a round per namespace: a
    tenth of a netlink read decoded by pyroute2, bench/usage_bench.py).
    """

    TC_H_ROOT = 0xFFFFFFFF

    def __init__(self):
        self.socks: Dict[str, object] = {}
        self.index: Dict[Tuple[str, str], int] = {}
        self.linkstats, self.qdiscstats = _classes()
        self.hopper = None
        self.devs: Dict[str, Tuple[float, Dict[str, Tuple[int, int]]]] = {}  # this round's /proc reads

    def new_round(self) -> None:
        self.devs.clear()

    def _dev(self, ns: str, ifname: str) -> Optional[Tuple[int, int, float]]:
        """(tx, rx, when) of a link from the namespace's /proc/net/dev, read once a round."""
        got = self.devs.get(ns)
        if got is None:
            if self.hopper is None:
                self.hopper = nsenter.Hopper()
            self.hopper.enter(ns)
            try:
                with open("/proc/thread-self/net/dev", "rb") as f:
                    text = f.read()
                when = time.time()
            finally:
                self.hopper.enter(None)
            table = {}
            for line in text.splitlines()[2:]:
                name, _, rest = line.partition(b":")
                cols = rest.split()
                if len(cols) >= 9:
                    table[name.strip().decode()] = (int(cols[8]), int(cols[0]))
            got = self.devs[ns] = (when, table)
        c = got[1].get(ifname)
        return (c[0], c[1], got[0]) if c is not None else None

    def _sock(self, ns: str):
        s = self.socks.get(ns)
        if s is None:
            with nsenter.entered(ns):
                s = self.socks[ns] = rtnl.Socket(rcvbuf=1 << 16)
        return s

    def _link(self, ns: str, ifname: str):
        req = rtnl.request(self.linkstats, rtnl.RTM_GETLINK, attrs=[("IFLA_IFNAME", ifname)])
        msgs = self._sock(ns)._collect(req, False, {rtnl.RTM_NEWLINK: self.linkstats})[0]
        if not msgs:
            return None
        self.index[(ns, ifname)] = msgs[0]["index"]
        return msgs[0]

    def _qdisc_bytes(self, ns: str, ifname: str) -> Optional[int]:
        idx = self.index.get((ns, ifname))
        if idx is None:
            if self._link(ns, ifname) is None:
                return None
            idx = self.index[(ns, ifname)]
        for m in self._sock(ns).dump(rtnl.dump_request(self.qdiscstats, rtnl.RTM_GETQDISC, ifindex=idx),
                                     {rtnl.RTM_NEWQDISC: self.qdiscstats}):
            st = m.get_attr("TCA_STATS2")
            basic = st.get_attr("TCA_STATS_BASIC") if st is not None else None
            if m["index"] == idx and m["parent"] == self.TC_H_ROOT and basic is not None \
                    and m.get_attr("TCA_KIND") != "noqueue":
                return int(basic["bytes"])
        return None

    def counters(self, ns: str, peer_ns: str, ifname, capped: bool) -> Optional[Tuple[int, int, float]]:
        """(out, in, when) of the peering link `ifname` between `ns` (requester) and `peer_ns`,
        or None if it is not there (a namespace or link gone meanwhile). `when` is the
        time of the read itself: a meter preempted mid-round (it runs niced) must not
        credit a window with bytes that came after its time stamp. `ifname` is a pair
        (its name in `ns`, in `peer_ns`) where the ends are named apart (a CCN's link)."""
        here, there = ifname if isinstance(ifname, tuple) else (ifname, ifname)
        try:
            if capped:
                t0 = time.time()
                out, back = self._qdisc_bytes(ns, here), self._qdisc_bytes(peer_ns, there)
                if out is not None and back is not None:
                    return out, back, (t0 + time.time()) / 2
            return self._dev(ns, here)
        except (FileNotFoundError, NotFound):
            return None  # the namespace is gone
        except OSError as e:
            if e.errno in (errno.ENODEV, errno.ENOENT, errno.EINVAL):
                return None
            raise
        except KernelRefused:
            return None  # setns into a namespace that went away meanwhile

    def close(self) -> None:
        for s in self.socks.values():
            s.close()
        self.socks.clear()
        self.index.clear()
        self.devs.clear()
        if self.hopper is not None:
            self.hopper.close()
            self.hopper = None


def targets(lab: str, model) -> List[tuple]:
    """What the meter reads: (peering, requester ns, accepter ns, ifname, cap_kbps) of every ACTIVE peering,
    then (CCN@R1/R2, R1's CCN router, R2's, (its link's name in each), the R1 -> R2 cap) of every CCN
    region pair (always capped: the cap's queue counts its bytes, as a cross-region peering's)."""
    out = [(p.name, names.vpc_ns(lab, p.vpc), names.vpc_ns(lab, p.peer_vpc), names.peering_port(lab, p.name),
            p.bandwidth_kbps) for p in model.peerings.values() if p.state == "ACTIVE"]
    for name, r1, r2 in ccn.pairs(model):
        c = model.ccns[name]
        out.append((ccn.sample_id(name, r1, r2), names.ccn_ns(lab, c.index, r1), names.ccn_ns(lab, c.index, r2),
                    (names.ccn_region_port(lab, r2), names.ccn_region_port(lab, r1)), c.bandwidth_kbps(r1, r2)))
    return out


def read(links: Links, model, rows: List[tuple], live: bool = False) -> list:
    """One round of samples of `rows` (targets()), each stamped with the time of its own read."""
    out = []
    links.new_round()
    for name, ns, peer_ns, ifname, cap in rows:
        c = links.counters(ns, peer_ns, ifname, cap is not None)
        if c is not None:
            out.append(Sample(c[2], model.clock, name, c[0], c[1], cap, live))
    return out


def read_now(lab: str, model) -> list:
    """The counters of the lab's ACTIVE peerings and CCN pairs now, as samples that are not stored (`vpclab usage`
    reads them so that the window the meter has not closed yet counts)."""
    links = Links()
    try:
        return read(links, model, targets(lab, model), live=True)
    finally:
        links.close()


class Meter:
    def __init__(self, lab: str, run_dir: Path):
        self.lab, self.run_dir = lab, Path(run_dir)
        self.store = Store(lab)
        self.links = Links()
        self.model = None
        self.targets: List[tuple] = []  # (peering, requester ns, accepter ns, ifname, cap_kbps)
        self.window = 300.0
        self.state_con: Optional[sqlite3.Connection] = None
        self.version = None

    # ---- state.db ----------------------------------------------------------------
    def _data_version(self) -> Optional[int]:
        try:
            if self.state_con is None:
                self.state_con = sqlite3.connect(f"file:{self.store.db_path}?mode=ro", uri=True, timeout=5,
                                                 isolation_level=None)
            return self.state_con.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error:
            return None

    def gone(self) -> bool:
        return not self.store.db_path.exists()

    def reload(self) -> bool:
        """Read the model; False when the lab is going (deleting, or no model)."""
        try:
            tx = self.store.read()
            try:
                model, status = tx.model_and_status()
            finally:
                tx.close()
        except VpclabError as e:
            _log(f"cannot read the lab's state: {e.message}")
            return False
        if model is None or status == "deleting":
            return False
        self.model = model
        self.window = float((model.billing or {}).get("window_s") or DEFAULT_WINDOW_S)
        self.targets = targets(self.lab, model)
        self.links.close()  # a namespace rebuilt by `up` is another namespace: sockets anew
        return True

    def signature(self):
        m = self.model
        return (m.clock, tuple(self.targets)) if m is not None else None

    # ---- sampling ----------------------------------------------------------------
    def sample(self, writer) -> int:
        rows = read(self.links, self.model, self.targets)
        writer.write(rows)
        return len(rows)

    def run(self) -> int:
        if not self.reload():
            _log("the lab is not ready or is going: nothing to meter")
            return 0
        create(self.run_dir)
        writer = Writer(self.run_dir)
        self.version = self._data_version()
        self.sample(writer)
        next_at = time.monotonic() + self.window
        _log(f"metering {len(self.targets)} links (peerings, CCN region pairs) of lab {self.lab} every "
             f"{self.window:g} s")
        try:
            while True:
                time.sleep(max(0.0, min(POLL_S, next_at - time.monotonic())))
                if self.gone():
                    _log("the lab's state is gone: exiting")
                    return 0
                v = self._data_version()
                if v != self.version:
                    self.version = v
                    before = self.signature()
                    old = self.model, self.targets
                    if not self.reload():
                        _log("the lab is going: exiting")
                        return 0
                    if self.signature() != before:
                        # close the window with what held until now, then go on with the new model
                        new = self.model, self.targets
                        self.model, self.targets = old
                        self.sample(writer)
                        self.model, self.targets = new
                        next_at = time.monotonic() + self.window
                        continue
                if time.monotonic() >= next_at:
                    self.sample(writer)
                    next_at += self.window
                    if next_at < time.monotonic():  # fell behind (suspended): no burst of catch-up samples
                        next_at = time.monotonic() + self.window
        finally:
            writer.close()
            self.links.close()


NICE = 10  # the meter yields to the lab's own work (a sample costs ~1 ms, its start ~0.3 s of CPU)


def main(argv=None) -> int:
    try:
        os.nice(NICE)
    except OSError:
        pass
    ap = argparse.ArgumentParser(prog="python -m vpclab.usage.meter")
    ap.add_argument("--lab", required=True)
    ap.add_argument("--run-dir", required=True)
    args = ap.parse_args(argv)

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        return Meter(args.lab, Path(args.run_dir)).run()
    except VpclabError as e:
        _log(f"stopped: {e.code}: {e.message}")
        return 4


if __name__ == "__main__":
    sys.exit(main())
