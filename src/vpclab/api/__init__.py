"""The Python API (`from vpclab import Lab`, or `from vpclab.api import Lab`) and the pytest plugin.

`lab` holds `Lab` and its result types; `operations` the live operations as methods;
`pytest_plugin` the `--vpclab` plugin (the pytest11 entry point). Nothing is imported
until it is used, so that the plugin's load stays cheap.
"""

_PUBLIC = ("Lab", "Verdict", "Matrix", "TestReport", "Reason", "Leg", "Observation", "Case", "Peering",
           "RouteEntry", "Event", "Clock", "unique_name")


def __getattr__(name):
    if name in _PUBLIC:
        from . import lab

        return getattr(lab, name)
    raise AttributeError(f"module 'vpclab.api' has no attribute {name!r}")
