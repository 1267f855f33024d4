"""`vpclab graph --probe SRC DST`: the verdict drawn on the diagram.

On a running lab the verdict is a real probe (packets, root); with `-f FILE` it is
`explain`'s answer from the model (no lab, no root). Both have the same JSON shape
(forward and return legs with their path and last hop, the reason), which is all
graph_draw's overlay reads.
"""
from __future__ import annotations

from typing import Optional, Tuple


def verdict(probe: Optional[Tuple[str, str]], proto: str, port: Optional[int], file: Optional[str],
            lab: Optional[str]) -> Optional[dict]:
    """The probe's (or explain's) JSON result to overlay, or None without --probe."""
    from ..controller import core as controller
    from ..errors import Refused

    if probe is None:
        if proto != "icmp" or port is not None:
            raise Refused("--proto and --port go with --probe SRC DST", code="InvalidParameter")
        return None
    src, dst = probe
    if file:
        return controller.explain(src, dst, proto, port, file=file).to_json()
    from ..controller import probing

    return probing.probe(src, dst, proto, port, None, lab)
