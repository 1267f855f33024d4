"""The meter's samples: `usage.db` in the lab's run directory, beside state.db.

A separate SQLite file (not a table of state.db), so a sample never waits for a
lab command's lock or transaction and a lab command never waits for the meter.
Same rules as the state (store.py): root's only (0600, in the lab's 0700
directory), removed with the lab, and anything unreadable is a StateError (exit 4).

Tables:
  meta(key, value)   "epoch": the wall time of the lab's first `up` (lab time 0)
  samples            one row per peering and sample: wall time, the lab clock then,
                     the counters of the peering's link in the requester's VPC
                     (out = requester -> accepter, in = back), its cap (kbps or NULL);
                     a CCN region pair's rows have the id `CCN@R1/R2` in the peering
                     column (no peering name holds `@`: usage/ccn.py), out = R1 -> R2
"""
from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, List, Optional

from ..errors import NotFound, StateError

FILE = "usage.db"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value REAL NOT NULL);
CREATE TABLE IF NOT EXISTS samples (
    wall REAL NOT NULL,
    clock REAL NOT NULL,
    peering TEXT NOT NULL,
    out_bytes INTEGER NOT NULL,
    in_bytes INTEGER NOT NULL,
    cap_kbps INTEGER
);
CREATE INDEX IF NOT EXISTS samples_by_peering ON samples (peering, wall);
"""


@dataclass(frozen=True)
class Sample:
    wall: float  # seconds since the epoch (real time)
    clock: float  # the lab clock (model.clock) when it was taken
    peering: str
    out_bytes: int  # requester -> accepter, since the link was made
    in_bytes: int  # accepter -> requester
    cap_kbps: Optional[int]  # None: regional (no cap)
    live: bool = False  # read by `vpclab usage` now, never stored: it closes the open window


def path(run_dir) -> Path:
    return Path(run_dir) / FILE


def _damaged(run_dir, detail: str) -> StateError:
    lab = Path(run_dir).name
    return StateError(f"the usage samples of lab {lab} ({path(run_dir)}) are damaged: {detail}",
                      hint=f"remove {path(run_dir)} to start metering afresh, or `vpclab down {lab}`")


def create(run_dir, epoch: Optional[float] = None) -> None:
    """Make usage.db (0600) if it is missing; its epoch is now (the lab's first `up`)."""
    p = path(run_dir)
    os.close(os.open(p, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
    if (os.stat(p).st_mode & 0o777) != 0o600:
        os.chmod(p, 0o600)
    con = _open(run_dir)
    try:
        con.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?)",
                    (time.time() if epoch is None else epoch,))
    except sqlite3.Error as e:
        raise _damaged(run_dir, f"it could not be written ({e})")
    finally:
        con.close()


def _open(run_dir, readonly: bool = False) -> sqlite3.Connection:
    p = path(run_dir)
    try:
        if readonly:
            con = sqlite3.connect(f"file:{p}?mode=ro", uri=True, timeout=10, isolation_level=None)
        else:
            con = sqlite3.connect(p, timeout=10, isolation_level=None)
            con.executescript(SCHEMA)
        return con
    except sqlite3.Error as e:
        raise _damaged(run_dir, f"SQLite cannot open it ({e})")


class Writer:
    """The meter's connection: one transaction per round of samples."""

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.con = _open(run_dir)

    def write(self, rows: Iterable[Sample]) -> None:
        rows = [(s.wall, s.clock, s.peering, s.out_bytes, s.in_bytes, s.cap_kbps) for s in rows]
        if not rows:
            return
        try:
            self.con.execute("BEGIN")
            self.con.executemany("INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?)", rows)
            self.con.execute("COMMIT")
        except sqlite3.Error as e:
            if self.con.in_transaction:
                self.con.execute("ROLLBACK")
            raise _damaged(self.run_dir, f"it could not be written ({e})")

    def close(self) -> None:
        self.con.close()


def read(run_dir) -> tuple:
    """(epoch, [Sample] in time order). No file: (None, []) (the meter has not started yet)."""
    p = path(run_dir)
    if not Path(run_dir).is_dir():
        raise NotFound(f"lab '{Path(run_dir).name}' is not running", code="LabNotFound")
    if not p.exists():
        return None, []
    con = _open(run_dir, readonly=True)
    try:
        epoch = con.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchall()
        rows = con.execute("SELECT wall, clock, peering, out_bytes, in_bytes, cap_kbps FROM samples "
                           "ORDER BY wall, rowid").fetchall()
    except (sqlite3.Error, UnicodeDecodeError) as e:
        raise _damaged(run_dir, f"SQLite cannot read it ({e})")
    finally:
        con.close()
    if epoch and not isinstance(epoch[0][0], (int, float)):
        raise _damaged(run_dir, "its epoch is not a number")
    out: List[Sample] = []
    for r in rows:
        if not (all(isinstance(x, (int, float)) for x in r[:2]) and isinstance(r[2], str)
                and all(isinstance(x, int) and x >= 0 for x in r[3:5]) and (r[5] is None or isinstance(r[5], int))):
            raise _damaged(run_dir, f"a sample does not hold what the meter writes ({r!r:.80})")
        out.append(Sample(*r))
    return (epoch[0][0] if epoch else None), out
