"""The one shaping policy of a rate cap (a cross-region peering): rate, burst and queue limit.

The planner puts the values in its Qdisc objects; kernel/tc turns the burst into the time
the kernel keeps and back (burst_ticks / ticks_burst).
"""
from __future__ import annotations

from typing import Tuple

MIN_BURST = 4096  # bytes; above two full frames, small enough to keep low rates exact
MIN_LIMIT = 32 * 1024  # bytes a tbf queue may hold at least (about 21 full frames)
LATENCY_MS = 50  # the queue holds burst + rate x 50 ms (tc's `latency 50ms`)


def shaping(rate_kbit: int) -> Tuple[int, int, int]:
    """The one shaping policy: (rate kbit, burst bytes, queue limit bytes) of a cap.

    burst = max(rate x 10 ms, MIN_BURST): exact shaping up to 10 Gbit, rounded down
    to what the kernel keeps (a time in 64 ns ticks at this rate, see burst_ticks).
    limit = burst + rate x 50 ms, at least MIN_LIMIT: at low rates rate x 50 ms is a
    handful of frames and one TCP burst would overflow it; the floor keeps 1 Mbps smooth.
    """
    burst = max(rate_kbit * 1000 // 8 // 100, MIN_BURST)
    limit = min(max(burst + rate_kbit * 125 * LATENCY_MS // 1000, MIN_LIMIT), 0xFFFFFFFF)
    return rate_kbit, ticks_burst(rate_kbit, burst_ticks(rate_kbit, burst)), limit


TICK_NS = 64  # the kernel's packet scheduler clock (PSCHED_SHIFT 6)


def burst_ticks(rate_kbit: int, burst: int) -> int:
    """The time a tbf bucket of `burst` bytes lasts at the rate, in ticks (what the kernel keeps)."""
    return min(burst * 1_000_000_000 // (max(rate_kbit, 1) * 125 * TICK_NS), 0xFFFFFFFF)


def ticks_burst(rate_kbit: int, ticks: int) -> int:
    """The bytes `ticks` hold at the rate: the exact inverse of burst_ticks on the bursts
    shaping() returns (the smallest burst with those ticks)."""
    return -(-ticks * TICK_NS * rate_kbit * 125 // 1_000_000_000)
