"""`vpclab usage` as a use case: read the lab's model and samples, the prices, build the report."""
from __future__ import annotations

from typing import Optional, Tuple

from ..topology import billing as _prices
from ..usage import report, samples


def usage(lab: Optional[str], prices_file: Optional[str] = None) -> Tuple[dict, dict]:
    """(the report document, the series by peering for the plot)."""
    from .core import resolve_lab
    from ..state.store import Store

    name = resolve_lab(lab)
    store = Store(name)
    tx = store.read()
    try:
        model = tx.model()
    finally:
        tx.close()
    billing = model.billing
    if prices_file is not None:
        billing = _prices.merged(billing, _prices.load_file(prices_file, model))
    epoch, rows = samples.read(store.dir)
    doc = report.build(model, epoch, rows, billing)
    from ..usage import meterctl

    doc["metering"] = meterctl.running(store.dir) is not None
    return doc, report.series(rows, epoch or 0.0, doc["window_s"])
