"""`vpclab usage` as a use case: read the lab's model and samples, the counters now (so the
window the meter has not closed yet counts), the prices, build the report."""
from __future__ import annotations

from typing import Optional, Tuple

from ..state.labs import resolve_lab
from ..state.store import DELETING, Store
from ..topology import billing
from ..usage import ccn, meter, meterctl, plot, report, samples
from . import outfiles, settle


def usage(lab: Optional[str], prices_file: Optional[str] = None) -> Tuple[dict, dict]:
    """(the report document, the series by peering for the plot)."""
    name = resolve_lab(lab)
    store = Store(name)
    model, status, _ = settle.settled_read(store)  # a live operation a kill interrupted is finished first
    prices = model.billing
    if prices_file is not None:
        prices = billing.merged(prices, billing.load_file(prices_file, model))
    epoch, rows = samples.read(store.dir)
    if epoch is not None and status != DELETING:
        # the window the meter has not closed yet counts: the counters now close it (not stored)
        rows = rows + meter.read_now(name, model)
    doc = report.build(model, epoch, rows, prices)
    ser = report.series(rows, epoch or 0.0, doc["window_s"])
    ccn.add(doc, model, ser, prices)  # CCN region pairs: the month's 95th percentile
    doc["metering"] = meterctl.running(store.dir) is not None
    return doc, ser


def draw(doc: dict, series: dict, path: str) -> dict:
    """`vpclab usage --plot FILE`: the rate over lab time per peering, drawn to FILE (needs matplotlib)."""
    return plot.draw(doc, series, path, outfiles.replacing)
