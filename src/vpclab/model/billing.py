"""Billing facts of the model: the charge types, the sample window, region pairs, currencies.

`Lab.billing` is a plain dict in this normalised form (topology/billing.py reads it from a
topology's `billing:` key or a price file; usage/ meters and prices with it):

    {"currency": "CNY" | None, "window_s": 300.0,
     "prices": {"REGION/REGION": price per Mbps-day, ...},   # region pair, sorted
     "charge_types": {"PEERING": "POSTPAID_BY_MONTH_95", ...}}
"""
from __future__ import annotations

import unicodedata

DAY_MAX = "POSTPAID_BY_DAY_MAX"
MONTH_95 = "POSTPAID_BY_MONTH_95"
CHARGE_TYPES = (DAY_MAX, MONTH_95)
DEFAULT_WINDOW_S = 300.0  # the cloud's 5-minute sample
MIN_WINDOW_S = 1.0  # labs may sample faster than the cloud (documented); below 1 s rates are noise
MAX_WINDOW_S = 3600.0
MAX_CURRENCY = 8


def empty(window_s: float = DEFAULT_WINDOW_S) -> dict:
    return {"currency": None, "window_s": window_s, "prices": {}, "charge_types": {}}


def pair(r1: str, r2: str) -> str:
    return "/".join(sorted((r1, r2)))


def currency_ok(value) -> bool:
    """A currency as printed beside a cost: 1-8 letters or currency symbols (CNY, USD, US$, \u00a5),
    so no control character, space or markup ever reaches a terminal or the plot."""
    return isinstance(value, str) and 1 <= len(value) <= MAX_CURRENCY and all(
        ch.isalpha() or unicodedata.category(ch) == "Sc" for ch in value)
