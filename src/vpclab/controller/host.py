"""This machine: whether the command may touch its network namespaces (root), and which labs
it holds, by their state or only in the kernel (a crashed one). The bottom of controller/:
`down` and every use case import it; it imports neither the loader nor explain."""
from __future__ import annotations

import os
from typing import List

from ..errors import EnvironmentProblem
from ..kernel import inspect
from ..state import labs


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise EnvironmentProblem(f"`vpclab {what}` creates and reads network namespaces: it needs root",
                                 code="NotRoot", hint=f"run it as root, e.g. `sudo vpclab {what} ...`")


def running_labs() -> List[str]:
    """Labs with state, plus labs seen only in the kernel (crashed ones)."""
    return sorted(set(labs.known_labs()) | set(inspect.list_labs()))
