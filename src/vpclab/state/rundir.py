"""The run directory: where every lab's state, lock, build marker and tombstone live.

`RunDir(root)` names its parts: `lab(name)` a lab's state directory (store.py), `locks`
the lock files and build markers (store.py, builds.py), `gone` the tombstones (gone.py).
Every function of state/ takes the run dir it works in (`run=`), or uses `current`: the
default, /run/vpclab ($VPCLAB_RUN_DIR), which a test replaces by its own
(`monkeypatch.setattr(rundir, "current", RunDir(tmp_path))`).
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Optional, Union


class RunDir:
    """One run directory (see the module doc)."""

    def __init__(self, root: Union[str, Path]):
        self.root = Path(root)

    @property
    def locks(self) -> Path:
        """Lock files outlive a lab's state: `down` never removes a lock in use."""
        return self.root / ".locks"

    @property
    def gone(self) -> Path:
        return self.root / ".gone"

    def lab(self, name: str) -> Path:
        return self.root / name

    def private_locks(self) -> Path:
        """The lock directory, made (or tightened to) root's only, as the run dir itself."""
        private(self.root, 0o700)
        private(self.locks, 0o700)
        return self.locks

    def __repr__(self) -> str:
        return f"RunDir({str(self.root)!r})"


def private(path: Path, mode: int) -> None:
    """Make `path` root's only (0700 directory, 0600 file), creating a missing directory.

    An existing one is tightened too (a lab made before this rule, or a 0644 lock).
    A shared sticky directory (/tmp as VPCLAB_RUN_DIR, say) is never changed.
    """
    if mode & 0o100:
        path.mkdir(mode=mode, parents=True, exist_ok=True)
    st = path.stat()
    if stat.S_IMODE(st.st_mode) != mode and not st.st_mode & stat.S_ISVTX:
        os.chmod(path, mode)


current = RunDir(os.environ.get("VPCLAB_RUN_DIR", "/run/vpclab"))


def given(run: Optional[RunDir]) -> RunDir:
    """`run`, or the current run dir when none is handed."""
    return run if run is not None else current
