"""vpclab: cloud VPC peering emulated on Linux network namespaces.

`from vpclab import Lab` is the Python API (`vpclab.api.lab`); it is imported on first
use, so `import vpclab` stays cheap for the CLI and the pytest plugin.
"""
__version__ = "0.1.0"

__all__ = ["Lab", "Verdict", "Matrix", "TestReport", "__version__"]


def __getattr__(name):
    if name in ("Lab", "Verdict", "Matrix", "TestReport"):
        from .api import lab as api

        return getattr(api, name)
    raise AttributeError(f"module 'vpclab' has no attribute {name!r}")
