"""Rate caps and delay as pyroute2 `tcmsg` requests, and back. tc only encodes.

Owns: what pyroute2's tc classes lack, added by subclassing its nla classes
(tbf's 64-bit rate and burst attributes, a tbf parms struct without the rate
table pyroute2 computes, netem's 64-bit latency), the qdisc layout a `Qdisc`
object becomes, and decoding a qdisc dump back into the same values. Rate,
burst and limit come from the plan (planner.shaping); the kernel keeps rate and
limit as given and the burst as a time, which planner.ticks_burst turns back
into the plan's burst exactly.

Layout:
- no delay (or no netem in the kernel): root tbf, handle 1:
- delay with netem: root netem, handle 2:, and tbf handle 3: as its child (2:1)
Different root handles let `replace` switch layouts in place (the kernel
grafts the new root) and re-cap a live tbf without touching the link.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from pyroute2.netlink import nla
from pyroute2.netlink.rtnl.tcmsg import sched_netem, sched_tbf, tcmsg

from ..plan.planner import burst_ticks, ticks_burst
from . import rtnl

TC_H_ROOT = 0xFFFFFFFF
RTM_NEWQDISC = rtnl.RTM_NEWQDISC
TBF_HANDLE = 0x00010000      # 1:
NETEM_HANDLE = 0x00020000    # 2:
NETEM_CHILD = 0x00020001     # 2:1
TBF_UNDER_NETEM = 0x00030000  # 3:
LINKLAYER_ETHERNET = 1
NETEM_LIMIT = 1000  # packets, the kernel's default


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


OPTIONS = {"tbf": tbf_options, "netem": netem_options}


class qdiscmsg(tcmsg):
    """tcmsg whose tbf and netem options are the classes above."""

    @staticmethod
    def get_options(self, *argv, **kwarg):
        return OPTIONS.get(self.get_attr("TCA_KIND")) or tcmsg.get_options(self, *argv, **kwarg)


def tbf(rate_kbit: int, burst: int, limit: int) -> dict:
    rate = rate_kbit * 125
    parms = {"rate___reserved": LINKLAYER_ETHERNET, "rate_cell_align": -1, "rate": min(rate, 0xFFFFFFFF),
             "limit": limit, "buffer": burst_ticks(rate_kbit, burst)}
    attrs = [("TCA_TBF_PARMS", parms)]
    if rate >= 1 << 32:
        attrs.append(("TCA_TBF_RATE64", rate))
    return {"attrs": attrs}


def netem(delay_ms: float) -> dict:
    ns = int(round(delay_ms * 1_000_000))
    return {"delay": min(ns // 64, 0xFFFFFFFF), "limit": NETEM_LIMIT, "attrs": [("TCA_NETEM_LATENCY64", ns)]}


def qdisc(op: str, index: int, kind: str = "", options: Optional[dict] = None, handle: int = 0,
          parent: int = TC_H_ROOT) -> bytes:
    head = dict(index=index, handle=handle, parent=parent)
    if op == "delete":
        return rtnl.request(qdiscmsg, rtnl.RTM_DELQDISC, 0, **head)
    attrs = [("TCA_KIND", kind)] + ([("TCA_OPTIONS", options)] if options else [])
    return rtnl.request(qdiscmsg, rtnl.RTM_NEWQDISC, rtnl.REPLACE, attrs, **head)


def requests(index: int, rate_kbit: int, burst: int, limit: int, delay_ms: Optional[float]) -> List[bytes]:
    """The replace requests that make `index`'s root look like the Qdisc (create and change alike)."""
    cap = tbf(rate_kbit, burst, limit)
    if delay_ms:
        return [qdisc("replace", index, "netem", netem(delay_ms), NETEM_HANDLE, TC_H_ROOT),
                qdisc("replace", index, "tbf", cap, TBF_UNDER_NETEM, NETEM_CHILD)]
    return [qdisc("replace", index, "tbf", cap, TBF_HANDLE, TC_H_ROOT)]


def delete_request(index: int) -> bytes:
    return qdisc("delete", index)


def dump_request() -> bytes:
    return rtnl.dump_request(qdiscmsg, rtnl.RTM_GETQDISC)


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
