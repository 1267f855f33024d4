"""Rate caps and delay as `tcmsg` requests, and back. tc only encodes.

Owns: what pyroute2's tc classes lack, added by subclassing its nla classes
(tbf's 64-bit rate and burst attributes, a tbf parms struct without the rate
table pyroute2 computes, netem's 64-bit latency), made on first use
(`classes()`); the qdisc layout a `Qdisc` object becomes; and decoding a qdisc
dump back into the same values. The tbf replace and the qdisc delete are packed
by hand (kernel/pack.py: `up` then imports no pyroute2), byte for byte what
pyroute2 makes of `tbf()`; netem goes through pyroute2. Rate,
burst and limit come from the plan (plan.shaping); the kernel keeps rate and
limit as given and the burst as a time, which shaping.ticks_burst turns back
into the plan's burst exactly.

Layout:
- no delay (or no netem in the kernel): root tbf, handle 1:
- delay with netem: root netem, handle 2:, and tbf handle 3: as its child (2:1)
Different root handles let `replace` switch layouts in place (the kernel
grafts the new root) and re-cap a live tbf without touching the link.
"""
from __future__ import annotations

import functools
import struct
from typing import Dict, List, Optional, Tuple

from ..plan.shaping import burst_ticks, ticks_burst
from . import pack, rtnl

TC_H_ROOT = 0xFFFFFFFF
RTM_NEWQDISC = rtnl.RTM_NEWQDISC
TBF_HANDLE = 0x00010000      # 1:
NETEM_HANDLE = 0x00020000    # 2:
NETEM_CHILD = 0x00020001     # 2:1
TBF_UNDER_NETEM = 0x00030000  # 3:
LINKLAYER_ETHERNET = 1
NETEM_LIMIT = 1000  # packets, the kernel's default
TCA_KIND, TCA_OPTIONS = 1, 2
TCA_TBF_PARMS, TCA_TBF_RATE64 = 1, 4
# struct tc_tbf_qopt: rate and peakrate (tc_ratespec each), limit, buffer, mtu
TBF_PARMS = struct.Struct("=BBHhHI BBHhHI III".replace(" ", ""))


@functools.lru_cache(maxsize=1)
def classes():
    """pyroute2's tcmsg with what it lacks (decoding, and the rare requests), made on first use:
    {"qdiscmsg", "tbf_options", "netem_options"}."""
    from pyroute2.netlink import nla
    from pyroute2.netlink.rtnl.tcmsg import sched_netem, sched_tbf, tcmsg

    class tbf_options(sched_tbf.options):
        nla_map = (
            ("TCA_TBF_UNSPEC", "none"),
            ("TCA_TBF_PARMS", "tbf_parms"),
            ("TCA_TBF_RTAB", "hex"),
            ("TCA_TBF_PTAB", "hex"),
            ("TCA_TBF_RATE64", "uint64"),
            ("TCA_TBF_PRATE64", "uint64"),
            ("TCA_TBF_BURST", "uint32"),
            ("TCA_TBF_PBURST", "uint32"),
            ("TCA_TBF_PAD", "hex"),
        )

        class tbf_parms(nla):  # the struct as the kernel has it; no rate table (linklayer set)
            fields = sched_tbf.options.tbf_parms.fields

    class netem_options(sched_netem.options):
        nla_map = sched_netem.options.nla_map + (
            ("TCA_NETEM_ECN", "uint32"),
            ("TCA_NETEM_RATE64", "uint64"),
            ("TCA_NETEM_PAD", "hex"),
            ("TCA_NETEM_LATENCY64", "int64"),
            ("TCA_NETEM_JITTER64", "int64"),
        )

    options = {"tbf": tbf_options, "netem": netem_options}

    class qdiscmsg(tcmsg):
        """tcmsg whose tbf and netem options are the classes above."""

        @staticmethod
        def get_options(self, *argv, **kwarg):
            return options.get(self.get_attr("TCA_KIND")) or tcmsg.get_options(self, *argv, **kwarg)

    # pyroute2 compiles a class's nla_map on its first instance and marks the class; a subclass
    # inherits that mark (and the parent's map) unless it has its own. Without this, which map
    # decodes would depend on whether pyroute2's stock class had been used first.
    for cls in (tbf_options, netem_options, qdiscmsg):
        cls._nlmsg_base__compiled_nla = False
    return {"qdiscmsg": qdiscmsg, "tbf_options": tbf_options, "netem_options": netem_options}


def tbf(rate_kbit: int, burst: int, limit: int) -> dict:
    """tbf's options as pyroute2 fields (`tbf_request` packs the same by hand)."""
    rate = rate_kbit * 125
    parms = {"rate___reserved": LINKLAYER_ETHERNET, "rate_cell_align": -1, "rate": min(rate, 0xFFFFFFFF),
             "limit": limit, "buffer": burst_ticks(rate_kbit, burst)}
    attrs = [("TCA_TBF_PARMS", parms)]
    if rate >= 1 << 32:
        attrs.append(("TCA_TBF_RATE64", rate))
    return {"attrs": attrs}


def tbf_request(index: int, rate_kbit: int, burst: int, limit: int, handle: int, parent: int) -> bytes:
    """A tbf replace, packed by hand (kernel/pack.py): the bytes pyroute2 makes of `tbf()`."""
    rate = rate_kbit * 125
    parms = TBF_PARMS.pack(0, LINKLAYER_ETHERNET, 0, -1, 0, min(rate, 0xFFFFFFFF), 0, 0, 0, 0, 0, 0,
                           limit, burst_ticks(rate_kbit, burst), 0)
    opts = pack.attr(TCA_TBF_PARMS, parms)
    if rate >= 1 << 32:
        opts += pack.attr(TCA_TBF_RATE64, struct.pack("=Q", rate))
    body = pack.TCMSG.pack(0, index, handle, parent, 0) + pack.string(TCA_KIND, "tbf") + pack.attr(TCA_OPTIONS, opts)
    return pack.message(rtnl.RTM_NEWQDISC, rtnl.REPLACE, body)


def netem(delay_ms: float) -> dict:
    ns = int(round(delay_ms * 1_000_000))
    return {"delay": min(ns // 64, 0xFFFFFFFF), "limit": NETEM_LIMIT, "attrs": [("TCA_NETEM_LATENCY64", ns)]}


def qdisc(op: str, index: int, kind: str = "", options: Optional[dict] = None, handle: int = 0,
          parent: int = TC_H_ROOT) -> bytes:
    """Any qdisc request, encoded by pyroute2 (netem, and what `doctor` tries)."""
    qdiscmsg = classes()["qdiscmsg"]
    head = dict(index=index, handle=handle, parent=parent)
    if op == "delete":
        return rtnl.request(qdiscmsg, rtnl.RTM_DELQDISC, 0, **head)
    attrs = [("TCA_KIND", kind)] + ([("TCA_OPTIONS", options)] if options else [])
    return rtnl.request(qdiscmsg, rtnl.RTM_NEWQDISC, rtnl.REPLACE, attrs, **head)


def requests(index: int, rate_kbit: int, burst: int, limit: int, delay_ms: Optional[float]) -> List[bytes]:
    """The replace requests that make `index`'s root look like the Qdisc (create and change alike)."""
    if delay_ms:
        return [qdisc("replace", index, "netem", netem(delay_ms), NETEM_HANDLE, TC_H_ROOT),
                tbf_request(index, rate_kbit, burst, limit, TBF_UNDER_NETEM, NETEM_CHILD)]
    return [tbf_request(index, rate_kbit, burst, limit, TBF_HANDLE, TC_H_ROOT)]


def delete_request(index: int) -> bytes:
    """Packed by hand: the root qdisc of `index` goes (the bytes pyroute2 makes)."""
    return pack.message(rtnl.RTM_DELQDISC, 0, pack.TCMSG.pack(0, index, 0, TC_H_ROOT, 0))


def dump_request() -> bytes:
    return rtnl.dump_request(classes()["qdiscmsg"], rtnl.RTM_GETQDISC)


# ------------------------------------------------------------------ read back

def _tbf_values(opts) -> Optional[Tuple[int, int, int]]:
    parms = opts.get_attr("TCA_TBF_PARMS")
    if parms is None:
        return None
    rate = opts.get_attr("TCA_TBF_RATE64") or parms["rate"]
    rate_kbit = rate // 125
    return rate_kbit, ticks_burst(rate_kbit, parms["buffer"]), parms["limit"]


def _netem_delay(opts) -> Optional[float]:
    ns = opts.get_attr("TCA_NETEM_LATENCY64")
    if ns is None:
        ns = opts["delay"] * 64
    return round(ns / 1_000_000, 6) or None


def decode(msgs) -> Dict[int, Tuple[int, int, int, Optional[float]]]:
    """{ifindex: (rate_kbit, burst, limit, delay_ms)} from a qdisc dump, for links capped our way."""
    by_dev: Dict[int, Dict[int, tuple]] = {}
    roots: Dict[int, tuple] = {}
    for m in msgs:
        entry = (m.get_attr("TCA_KIND"), m["handle"], m.get_attr("TCA_OPTIONS"))
        by_dev.setdefault(m["index"], {})[m["parent"]] = entry
        if m["parent"] == TC_H_ROOT:
            roots[m["index"]] = entry
    out = {}
    for index, (kind, handle, opts) in roots.items():
        if kind == "tbf" and opts is not None:
            v = _tbf_values(opts)
            if v:
                out[index] = v + (None,)
        elif kind == "netem" and opts is not None:
            child = by_dev[index].get(handle | 1)
            if child and child[0] == "tbf" and child[2] is not None:
                v = _tbf_values(child[2])
                if v:
                    out[index] = v + (_netem_delay(opts),)
    return out
