"""`explain`: the verdict of the model alone (no packets), for a topology file or a running lab."""
from __future__ import annotations

from typing import Optional

from ..explain import routes
from . import static


def explain(src: str, dst: str, proto: str = "icmp", port: Optional[int] = None, file: Optional[str] = None,
            lab: Optional[str] = None) -> routes.Verdict:
    static.check_proto(proto, port)
    model = static.model_for(lab, file)
    static.check_ends(model, src, dst, internet=True)
    return routes.explain(model, src, dst, proto, port)
