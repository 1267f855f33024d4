"""`explain`: the verdict of the model alone (no packets), for a topology file or a running lab."""
from __future__ import annotations

from typing import Callable, Optional

from ..explain import answer
from ..explain.verdict import Verdict
from ..model.types import Lab
from . import static


def explain(src: str, dst: str, proto: str = "icmp", port: Optional[int] = None, file: Optional[str] = None,
            lab: Optional[str] = None, load: Optional[Callable[[str], Lab]] = None) -> Verdict:
    """`load`: how a running lab's model is read (static.model_for)."""
    static.check_proto(proto, port)
    model = static.model_for(lab, file, load)
    static.check_ends(model, src, dst, internet=True)
    return answer.explain(model, src, dst, proto, port)
