"""`vpclab usage` as a use case: read the lab's model and samples, the counters now (so the
window the meter has not closed yet counts), the prices, build the report."""
from __future__ import annotations

from typing import Optional, Tuple

from . import prices as _prices
from . import report, samples


def usage(lab: Optional[str], prices_file: Optional[str] = None) -> Tuple[dict, dict]:
    """(the report document, the series by peering for the plot)."""
    from ..controller import resolve_lab, settled_read
    from ..store import Store

    name = resolve_lab(lab)
    store = Store(name)
    model, status, _ = settled_read(store)  # a live operation a kill interrupted is finished first
    billing = model.billing
    if prices_file is not None:
        billing = _prices.merged(billing, _prices.load_file(prices_file, model))
    epoch, rows = samples.read(store.dir)
    if epoch is not None and status != "deleting":
        # the window the meter has not closed yet counts: the counters now close it (not stored)
        from .meter import read_now

        rows = rows + read_now(name, model)
    doc = report.build(model, epoch, rows, billing)
    from . import meterctl

    doc["metering"] = meterctl.running(store.dir) is not None
    return doc, report.series(rows, epoch or 0.0, doc["window_s"])
