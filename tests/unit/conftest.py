"""The pure-core tests (no root). Mirrors src/vpclab: tests/unit/<package>/.

Being a conftest, this file puts tests/unit on sys.path, so that every package's tests
import the shared builders beside it (topobuild.py, graphgeom.py).
"""
import sys
from pathlib import Path

# A few tests reuse another package's test helpers (test_cli's `invoke`, test_properties'
# strategies, test_messages' builders): every package folder is importable, also when one
# file is run alone.
for _folder in sorted(p for p in Path(__file__).parent.iterdir() if p.is_dir() and not p.name.startswith("__")):
    if str(_folder) not in sys.path:
        sys.path.append(str(_folder))
