"""Parsing of the units a topology and the CLI accept: bandwidth, durations, delays."""
from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal

from ..errors import shown

_BW = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(kbps|mbps|gbps)\s*$", re.I)
_BW_FACTOR = {"kbps": 1, "mbps": 1_000, "gbps": 1_000_000}
_DUR = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d|w)", re.I)
MAX_DURATION_S = 100 * 365 * 86400  # a lab clock has no use for more than a century
_DUR_FACTOR = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


from .codes import BW_OUT_OF_RANGE  # noqa: F401  (named here too)
_BW_ABSURD_KBPS = 10 ** 12  # 1 Pbps: beyond any cap; the rules give the exact range


class OutOfRange(ValueError):
    """A number too large to mean anything (it would overflow a float); `code` is the cloud's."""

    code = BW_OUT_OF_RANGE


def parse_bandwidth(text) -> int:
    """'100Mbps' -> 100000 (kbps). Raises ValueError with a readable message.

    Exact decimal arithmetic: a bandwidth of hundreds of digits is refused as out
    of range (OutOfRange), not turned into a float infinity.
    """
    s = text if isinstance(text, str) else shown(text)
    m = _BW.match(s)
    if not m:
        raise ValueError(f"bandwidth '{shown(s)}' is not a number with a unit (Kbps, Mbps, Gbps), e.g. 100Mbps")
    kbps = Decimal(m.group(1)) * _BW_FACTOR[m.group(2).lower()]
    if kbps > _BW_ABSURD_KBPS:
        raise OutOfRange(f"bandwidth '{shown(s)}' is outside 1Mbps..10Gbps")
    return int(kbps.to_integral_value(rounding=ROUND_HALF_EVEN))


def parse_duration(text) -> float:
    """'8d', '36h', '1d12h', '90s' -> seconds."""
    s = str(text).strip()
    pos, total = 0, 0.0
    while len(s) <= 64:  # no real duration is longer; a huge one must not cost time to refuse
        m = _DUR.match(s, pos)  # anchored at pos: linear, unlike searching from every position
        if not m:
            break
        total += float(m.group(1)) * _DUR_FACTOR[m.group(2).lower()]
        pos = m.end()
    if not s or pos != len(s):
        raise ValueError(f"duration '{shown(text)}' is not like 8d, 36h, 90m, 30s or 1d12h")
    if not total <= MAX_DURATION_S:
        raise ValueError(f"duration '{shown(text)}' is longer than 100 years")
    return total


def parse_delay_ms(text) -> float:
    """'35ms' or '1.5s' -> milliseconds."""
    return parse_duration(text) * 1000


def format_duration(seconds: float) -> str:
    seconds = int(seconds)
    d, rem = divmod(seconds, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    parts = [f"{v}{u}" for v, u in ((d, "d"), (h, "h"), (m, "m"), (s, "s")) if v]
    return "".join(parts) or "0s"
