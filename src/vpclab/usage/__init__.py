"""Cross-region usage: the meter (meter.py, run by meterctl.py), the report and its cost
(report.py, prices.py), the plot (plot.py). See docs/commands.md, `vpclab usage`."""
