"""vpclab's own modules as an installed package has them: with bytecode.

pip compiles a package's modules when it installs it; an editable install
(`scripts/setup`) leaves that to the first run, which writes `__pycache__`
unless PYTHONDONTWRITEBYTECODE is set (then every CLI start compiles vpclab's
~70 modules again, ~0.1-0.2 s here). The CLI benchmarks call `ensure()` first
so that they time the CLI as users run it, and print what it did.
"""
from __future__ import annotations

import compileall
import os
from pathlib import Path

import vpclab


def ensure() -> str:
    """Write any missing or stale bytecode of the vpclab package; a line for the report."""
    pkg = Path(vpclab.__file__).resolve().parent
    ok = compileall.compile_dir(str(pkg), quiet=2)
    env = " (PYTHONDONTWRITEBYTECODE is set here)" if os.environ.get("PYTHONDONTWRITEBYTECODE") else ""
    return f"vpclab bytecode: {'compiled' if ok else 'NOT compiled'} in {pkg}{env}, as pip does on install"
