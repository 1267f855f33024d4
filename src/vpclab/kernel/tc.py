"""Rate caps and delay as qdisc requests, and back.

Owns: the tbf (and netem) option encodings, the qdisc layout a `Qdisc`
object becomes, and decoding a qdisc dump back into a `Qdisc`.

Layout:
- no delay (or no netem in the kernel): root tbf, handle 1:
- delay with netem: root netem, handle 2:, and tbf handle 3: as its child (2:1)
Different root handles let `replace` switch layouts in place (the kernel
grafts the new root) and re-cap a live tbf without touching the link.

tbf `limit` is burst + rate x 50 ms (tc's `latency 50ms`). The kernel keeps
rate and limit exactly but burst only as a time (buffer ticks), so the burst
is read back from limit and checked against the buffer.
"""
from __future__ import annotations

import struct
from typing import Dict, List, Optional, Tuple

from . import rtnl

TBF_HANDLE = 0x00010000      # 1:
NETEM_HANDLE = 0x00020000    # 2:
NETEM_CHILD = 0x00020001     # 2:1
TBF_UNDER_NETEM = 0x00030000  # 3:

TCA_TBF_PARMS, TCA_TBF_RATE64, TCA_TBF_BURST = 1, 4, 6
TCA_NETEM_LATENCY64 = 10
LINKLAYER_ETHERNET = 1
LATENCY_MS = 50
TICK_NS = 64  # PSCHED_SHIFT = 6
NETEM_LIMIT = 1000  # packets, the kernel's default

_RATESPEC = struct.Struct("=BBHhHI")
_TBF_QOPT = struct.Struct("=12s12sIII")
_NETEM_QOPT = struct.Struct("=IIIIII")


MIN_LIMIT = 32 * 1024  # bytes a tbf queue may hold at least (about 21 full frames)


def rate_bytes(rate_kbit: int) -> int:
    return rate_kbit * 125


def latency_bytes(rate_kbit: int) -> int:
    """Bytes the queue may hold beyond the burst: rate x 50 ms."""
    return rate_kbit * 125 * LATENCY_MS // 1000


def tbf_options(rate_kbit: int, burst_bytes: int) -> bytes:
    rate = rate_bytes(rate_kbit)
    # At low rates rate x 50 ms is a handful of frames and one TCP burst overflows
    # it; a floor of MIN_LIMIT keeps a 1 Mbps cap smooth.
    limit = min(max(burst_bytes + latency_bytes(rate_kbit), MIN_LIMIT), 0xFFFFFFFF)
    buffer_ticks = min(burst_bytes * 1_000_000_000 // max(rate, 1) // TICK_NS, 0xFFFFFFFF)
    spec = _RATESPEC.pack(0, LINKLAYER_ETHERNET, 0, -1, 0, min(rate, 0xFFFFFFFF))
    opts = rtnl.attr(TCA_TBF_PARMS, _TBF_QOPT.pack(spec, b"\0" * 12, limit, buffer_ticks, 0))
    opts += rtnl.a_u32(TCA_TBF_BURST, burst_bytes)
    if rate >= 1 << 32:
        opts += rtnl.attr(TCA_TBF_RATE64, struct.pack("=Q", rate))
    return opts


def netem_options(delay_ms: float) -> bytes:
    ns = int(round(delay_ms * 1_000_000))
    qopt = _NETEM_QOPT.pack(min(ns // TICK_NS, 0xFFFFFFFF), NETEM_LIMIT, 0, 0, 0, 0)
    return qopt + rtnl.attr(TCA_NETEM_LATENCY64, struct.pack("=q", ns))


def requests(index: int, rate_kbit: int, burst_bytes: int,
             delay_ms: Optional[float]) -> List[Tuple[int, int, bytes]]:
    """The replace requests that make `index`'s root look like the Qdisc (create and change alike)."""
    tbf = tbf_options(rate_kbit, burst_bytes)
    if delay_ms:
        return [rtnl.qdisc("replace", index, "netem", netem_options(delay_ms), NETEM_HANDLE, rtnl.TC_H_ROOT),
                rtnl.qdisc("replace", index, "tbf", tbf, TBF_UNDER_NETEM, NETEM_CHILD)]
    return [rtnl.qdisc("replace", index, "tbf", tbf, TBF_HANDLE, rtnl.TC_H_ROOT)]


def delete_request(index: int) -> Tuple[int, int, bytes]:
    return rtnl.qdisc("delete", index, parent=rtnl.TC_H_ROOT)


# ------------------------------------------------------------------ read back

def _tbf_values(opts) -> Optional[Tuple[int, int]]:
    a = rtnl.attrs(opts, 0, len(opts))
    parms = a.get(TCA_TBF_PARMS)
    if parms is None:
        return None
    rate_spec, _, limit, buffer_ticks, _ = _TBF_QOPT.unpack_from(parms)
    rate = _RATESPEC.unpack(rate_spec)[5]
    if TCA_TBF_RATE64 in a:
        rate = struct.unpack_from("=Q", a[TCA_TBF_RATE64])[0]
    rate_kbit = (rate + 62) // 125
    from_buffer = buffer_ticks * TICK_NS * rate // 1_000_000_000
    burst = limit - latency_bytes(rate_kbit)
    # trust limit unless someone set another latency by hand: then the buffer tells
    if abs(burst - from_buffer) > max(2 * TICK_NS * rate // 1_000_000_000 + 2, burst // 1000):
        burst = from_buffer
    return rate_kbit, burst


def _netem_delay(opts) -> Optional[float]:
    qlen = _NETEM_QOPT.size
    if len(opts) < qlen:
        return None
    a = rtnl.attrs(opts, qlen, len(opts))
    if TCA_NETEM_LATENCY64 in a:
        ns = struct.unpack_from("=q", a[TCA_NETEM_LATENCY64])[0]
    else:
        ns = _NETEM_QOPT.unpack_from(opts)[0] * TICK_NS
    return round(ns / 1_000_000, 6) or None


def decode(msgs) -> Dict[int, Tuple[int, int, Optional[float]]]:
    """{ifindex: (rate_kbit, burst_bytes, delay_ms)} from a qdisc dump, for links capped our way."""
    by_dev: Dict[int, Dict[int, tuple]] = {}
    roots: Dict[int, tuple] = {}
    for m in msgs:
        _, index, handle, parent, _ = struct.unpack_from("=BxxxiIII", m.body)
        kind = rtnl.cstr(m.attrs.get(rtnl.TCA_KIND, b"\0"))
        opts = m.attrs.get(rtnl.TCA_OPTIONS, b"")
        entry = (kind, handle, opts)
        by_dev.setdefault(index, {})[parent] = entry
        if parent == rtnl.TC_H_ROOT:
            roots[index] = entry
    out = {}
    for index, (kind, handle, opts) in roots.items():
        if kind == "tbf":
            v = _tbf_values(opts)
            if v:
                out[index] = (v[0], v[1], None)
        elif kind == "netem":
            child = by_dev[index].get(handle | 1)
            if child and child[0] == "tbf":
                v = _tbf_values(child[2])
                if v:
                    out[index] = (v[0], v[1], _netem_delay(opts))
    return out
