"""`listen:` on an instance (TOPOLOGY.md version 3): the ports its real listeners serve.

`listen: [tcp/80, udp/53]`: each entry is PROTO/PORT, tcp or udp, port 1..65535, each once;
a problem is reported at the entry's own line. model/listeners.py says what it means.
"""
from __future__ import annotations

from ..errors import shown
from ..model import listeners
from ..model.codes import DUPLICATE, MALFORMED, RANGE, TYPE
from ..model.types import Instance


def read_instance(r, inst: Instance, m, what: str) -> None:
    value = m.get("listen")
    if value is None:
        return
    line = m.lines.get("listen", m.line)
    if not isinstance(value, list):
        r.problem(TYPE, f"{what}: listen must be a list such as [tcp/80, udp/53], not {shown(value, as_repr=True)}",
                  line)
        return
    seen = set()
    for entry, eline in zip(value, value.lines):
        parsed = listeners.parse(entry)
        if parsed is None:
            r.problem(MALFORMED, f"{what}: listen entry {shown(entry, as_repr=True)} is not PROTO/PORT "
                      "(tcp/80, udp/53)", eline)
        elif not 1 <= parsed[1] <= 65535:
            r.problem(RANGE, f"{what}: listen entry {listeners.text(parsed)}: port {parsed[1]} is outside 1-65535",
                      eline)
        elif parsed in seen:
            r.problem(DUPLICATE, f"{what}: {listeners.text(parsed)} is listed twice in listen", eline)
        else:
            seen.add(parsed)
            inst.listen.append(parsed)
