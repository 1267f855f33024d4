"""Parsing of the units a topology and the CLI accept: bandwidth, durations, delays; and the one
bounded parser of the whole numbers the command line and JSON bodies give (parse_whole, loads_json)."""
from __future__ import annotations

import json
import math
import re
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Optional

from ..errors import Refused, shown

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


# ---- whole numbers: every one the command line or a JSON document gives -------------------------

MAX_DIGITS = 20  # a 64-bit number has at most 20; no port, index or count vpclab takes has more
# ASCII digits only: str.isdigit() also takes '²' (which int() refuses) and '٣' (which it reads as 3).
_WHOLE = re.compile(r"[0-9]+")


class NumberError(ValueError):
    """A number that is not one vpclab takes: `text` is what was given (for a caller that shows
    where), the message says why in words a refusal can quote."""

    def __init__(self, message: str, text: str = ""):
        super().__init__(message)
        self.text = text


def parse_whole(value, what: str = "number", lo: Optional[int] = None, hi: Optional[int] = None) -> int:
    """The one parser of a whole number from the command line or a JSON body: a Python int (not a
    bool) or a string of ASCII digits, nothing else (a caller that allows blanks strips them), within
    lo..hi when given.

    A string of more than MAX_DIGITS digits is refused before int() sees it (Python refuses more
    than 4300 digits with a ValueError, and converting a long one costs time). Raises NumberError.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif isinstance(value, str) and _WHOLE.fullmatch(value):
        if len(value) > MAX_DIGITS:
            raise NumberError(f"{what} '{shown(value)}' has {len(value)} digits (a whole number here has at most "
                              f"{MAX_DIGITS})", value)
        n = int(value)
    else:
        given = f"'{shown(value)}'" if isinstance(value, str) else shown(value, as_repr=True)
        raise NumberError(f"{what} {given} is not a whole number", value if isinstance(value, str) else "")
    if (lo is not None and n < lo) or (hi is not None and n > hi):
        span = f"{lo}..{hi}" if lo is not None and hi is not None else f">= {lo}" if lo is not None else f"<= {hi}"
        raise NumberError(f"{what} {shown(n)} is outside {span}", str(value))
    return n


def finite(value) -> bool:
    """A number a float holds: an int of 400 digits (YAML reads one) is not, and math.isfinite()
    of it raises OverflowError instead of answering."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value) if isinstance(value, float) else value.bit_length() < 1024


def _json_int(text: str) -> int:
    digits = text.lstrip("-")
    if len(digits) > MAX_DIGITS:
        raise NumberError(f"the number '{shown(text)}' is too long (at most {MAX_DIGITS} digits)", text)
    return int(text)


def _json_float(text: str) -> float:
    if len(text) > 2 * MAX_DIGITS + 8:  # digits, a point, an exponent: no price or rate is longer
        raise NumberError(f"the number '{shown(text)}' has {len(text)} characters (at most {2 * MAX_DIGITS + 8})",
                          text)
    x = float(text)
    if not math.isfinite(x):
        raise NumberError(f"the number '{shown(text)}' is too large", text)
    return x


def loads_json(text):
    """json.loads whose numbers go through the bounded parser: a 5,000-digit number raises
    NumberError (a ValueError, as JSON syntax errors are), never a conversion crash."""
    return json.loads(text, parse_int=_json_int, parse_float=_json_float)


def line_of(text: str, needle: str) -> int:
    """The 1-based line of `text` on which `needle` first appears (1 when it does not)."""
    at = text.find(needle) if needle else -1
    return text.count("\n", 0, at) + 1 if at >= 0 else 1


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


def bandwidth_kbps(text: Optional[str]) -> Optional[int]:
    """A bandwidth given by a person or a caller ('100Mbps') in kbit/s, None for None; a bad
    value is a refusal with its code (the CLI's --bandwidth and the Python API's bandwidth=)."""
    if text is None:
        return None
    try:
        return parse_bandwidth(text)
    except ValueError as e:
        raise Refused(str(e), code=getattr(e, "code", "InvalidParameterValue"))  # OutOfRange carries its own
