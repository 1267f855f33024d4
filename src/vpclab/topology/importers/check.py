"""What every importer does last: load the topology it rendered, and report a broken rule at the
source object behind its line (a Terraform address, a cloud id), not at a line of a file the
user never saw."""
from __future__ import annotations

from typing import Dict

from ...errors import ImportInvalid, TopologyInvalid, shown
from .. import load as loader


def validate(text: str, where: Dict[int, str], source: str) -> None:
    """Load the rendered `text`; `where`: line -> the source object written there."""
    try:
        loader.loads(text, "<imported>")
    except TopologyInvalid as e:
        problems = []
        for p in e.problems:
            line = p.line or 0
            obj = where.get(line) or next((where[n] for n in sorted(where, reverse=True) if n <= line), None)
            problems.append((shown(obj, 200) if obj else "(topology)", p.code, p.message, p.hint))
        raise ImportInvalid(source, problems)
