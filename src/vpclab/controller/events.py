"""A lab's event log: all of it (`vpclab events`, the web view, the API), or a piece at a time,
as `vpclab events --follow` prints it. Reading it never settles the lab (it holds no model), so
this module stays light: `vpclab events` starts without the build path."""
from __future__ import annotations

from typing import List, Optional

from ..state.labs import resolve_lab
from ..state.store import Store

__all__ = ["read", "since", "resolve_lab"]


def read(lab: Optional[str]) -> List[dict]:
    """Every event of lab `lab` (None: the only lab running)."""
    tx = Store(resolve_lab(lab)).read()
    try:
        return tx.events()
    finally:
        tx.close()


def since(name: str, last: int) -> List[dict]:
    """The events of lab `name` logged after event `last`; NotFound once the lab is removed."""
    tx = Store(name).read()
    try:
        return tx.events(after=last)
    finally:
        tx.close()
