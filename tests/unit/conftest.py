"""The pure-core tests (no root). Mirrors src/vpclab: tests/unit/<package>/.

Being a conftest, this file puts tests/unit on sys.path, so that every package's tests
import the shared builders beside it (topobuild.py, graphgeom.py).
"""
