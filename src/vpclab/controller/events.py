"""A lab's event log read a piece at a time, as `vpclab events --follow` prints it."""
from __future__ import annotations

from typing import List

from ..state.store import Store


def since(name: str, last: int) -> List[dict]:
    """The events of lab `name` logged after event `last`; NotFound once the lab is removed."""
    tx = Store(name).read()
    try:
        return tx.events(after=last)
    finally:
        tx.close()
