"""Where the data vpclab ships lives: the exercises (`lab/`) and the topologies (`topologies/`).

Both are directories at the top of the repository. A wheel carries them as the data-only
packages `vpclab.lab` and `vpclab.topologies` (setup.py maps the two directories into the
package), so after `pip install vpclab` they sit beside the code, in `vpclab/lab/` and
`vpclab/topologies/`. From a checkout or an editable install they are found by walking up
from the package to the repository's directory. The installed copy is tried first.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

PACKAGE = Path(__file__).resolve().parents[1]  # the vpclab package directory

# name -> a glob that only a real copy of that directory matches
MARKERS = {"lab": "[0-9][0-9]-*/check.yaml", "topologies": "*.yaml"}


def candidates(name: str, package: Path = PACKAGE) -> List[Path]:
    """Where `name` may be, in the order tried: inside the installed package, then above it."""
    return [package / name] + [parent / name for parent in package.parents]


def shipped_dir(name: str, package: Path = PACKAGE) -> Optional[Path]:
    """The first directory `name` (`lab` or `topologies`) holding its files, or None."""
    marker = MARKERS[name]
    for cand in candidates(name, package):
        if cand.is_dir() and any(cand.glob(marker)):
            return cand
    return None


def topologies_dir() -> Optional[Path]:
    """The shipped example topologies (`python -c 'from vpclab.exercises.shipped import
    topologies_dir; print(topologies_dir())'` prints where an installed vpclab keeps them)."""
    return shipped_dir("topologies")
