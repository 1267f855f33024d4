"""explain(): the verdict of the model alone, by the walk that fits the lab."""
from __future__ import annotations

from typing import Optional

from ..model.types import Lab
from . import filtered, routes
from .verdict import Verdict


def explain(lab: Lab, src: str, dst: str, proto: str = "icmp", port: Optional[int] = None) -> Verdict:
    """The verdict for src -> dst from the model alone. Raises KeyError for an unknown src/dst."""
    if filtered.in_use(lab):
        return filtered.answer(lab, src, dst, proto, port)
    return routes.answer(lab, src, dst, proto, port)
