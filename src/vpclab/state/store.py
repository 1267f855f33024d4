"""A lab's persistent state: one SQLite database under /run/vpclab/<lab>/ (rundir.py).

It holds the model (as JSON), the lab clock (inside the model), the lab's status
(`building` until `up` finishes, then `ready`; `applying` from a live operation's
model edit until the kernel holds it, see controller.operate; `deleting` once `down`
or `cleanup` has started to remove it) and an event log. `Store.lock()` takes the lab's lock file
(serializing every command that changes the lab, across processes) and `Store.tx()`
one SQLite transaction; a command reads the model, changes it, and writes it back
inside it, so parallel commands never lose an update. A build is written by two
intentions: `begin_build` (the model it builds, status `building`) and `finish_build`
(the model the kernel now holds, status `ready`), each one transaction.
/run is tmpfs: a lab and its state do not survive a reboot.

Trust: the read path is the one place a damaged state is caught. A file SQLite
cannot read, a missing table, a model that does not decode (model/codec.py) or that
names another lab: each is a StateError naming the lab and its file, whatever the
command; `down` and `cleanup` never need to read it to remove the lab.

Privacy: /run/vpclab and everything under it is root's alone (directories 0700,
files 0600, existing ones tightened when root opens them): another user could
otherwise hold a lab's lock or an SQLite read transaction and block root's commands.
So every use of the state needs root; without it a command exits 3 (NotRoot).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import threading
import time
from typing import Iterator, List, NamedTuple, Optional, Tuple

from ..errors import EnvironmentProblem, NotFound, Refused, StateError, shown
from ..model.codec import BadModel, lab_from_dict, lab_to_dict
from ..model.types import LAB_NAME, Lab
from . import rundir
from .rundir import RunDir, private

# The statuses a lab's state holds, and the key of the model the kernel holds.
BUILDING = "building"  # `up` has written the model and is bringing the kernel to it
READY = "ready"  # the last `up` finished
DELETING = "deleting"  # `down` or `cleanup` has started to remove the lab
APPLIED = "applied"  # the model the kernel was last brought to in full
APPLYING = "applying"  # a live operation wrote its model edit; the kernel may not hold it yet
PENDING = "pending"  # key: that operation ({"action", "target"}), written with the edit; else null

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    wall REAL NOT NULL,
    lab_time REAL NOT NULL,
    actor TEXT,
    action TEXT NOT NULL,
    target TEXT,
    result TEXT NOT NULL,
    detail TEXT
);
"""


# ---- the store ----------------------------------------------------------------------


def require_root(run: RunDir) -> None:
    if os.geteuid() != 0:
        raise EnvironmentProblem(
            f"the labs' state ({run.root}) is root's only: reading or changing a lab needs root", code="NotRoot",
            hint="run it as root (sudo); without root: validate, explain -f, graph -f, up --dry-run, doctor")


def digest(model: Lab) -> str:
    """The model's fingerprint, its source path left out: the same topology from anywhere."""
    d = lab_to_dict(model)
    d.pop("source", None)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()


class Begun(NamedTuple):
    """What `Store.begin_build` found and wrote."""

    model: Lab  # the model to build: the file's, or the running one (same file: its live changes stay)
    before: Optional[Lab]  # the model the lab held before, None for a new lab
    kept: bool  # the lab runs from this very topology: its model was kept
    live: bool  # ... and it differs from the file's (live changes since)


def check_name(lab) -> None:
    """Refuse what is not a lab name (an empty one included), before any state is touched."""
    if not isinstance(lab, str) or not LAB_NAME.match(lab):
        raise Refused(f"'{shown(lab)}' is not a lab name (1-8 characters, [a-z][a-z0-9]*)",
                      code="InvalidParameterValue")


class Store:
    """The state of one lab: `with store.lock(): with store.tx() as tx: ...`; `run`: the run
    directory it lives in (rundir.current if none)."""

    def __init__(self, lab: str, run: Optional[RunDir] = None):
        check_name(lab)
        self.run = rundir.given(run)
        require_root(self.run)
        self.lab = lab
        self.dir = self.run.lab(lab)
        self.db_path = self.dir / "state.db"

    def exists(self) -> bool:
        return self.db_path.exists()

    def damaged(self, detail: str) -> StateError:
        """The one error for a state that cannot be read or written as it should."""
        return StateError(f"the state of lab {self.lab} ({self.db_path}) is damaged: {detail}",
                          hint=f"`vpclab down {self.lab}` removes the lab and its state")

    def unreadable(self, detail: str):
        """The error for a read that failed: the lab is gone (`down` removed it meanwhile), or damaged."""
        if not self.exists():
            return NotFound(f"lab '{self.lab}' is not running", code="LabNotFound")
        return self.damaged(detail)

    def _connect(self, readonly: bool = False) -> sqlite3.Connection:
        try:
            if readonly:
                return sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30, isolation_level=None)
            private(self.run.root, 0o700)
            private(self.dir, 0o700)
            os.close(os.open(self.db_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
            private(self.db_path, 0o600)
            con = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
            con.executescript(SCHEMA)
            return con
        except sqlite3.Error as e:
            raise self.unreadable(f"SQLite cannot open it ({e})")
        except OSError as e:  # e.g. a directory where the file should be
            raise self.damaged(f"it cannot be opened ({e.strerror})")

    @contextlib.contextmanager
    def lock(self, blocking: bool = True) -> Iterator[bool]:
        """The lab's command lock (held across the state write and the kernel apply).

        `down` unlinks the lock file while holding it; a command that was waiting on
        the old file notices (its inode is no longer the file at the path) and takes
        the lock again on the current one, so two commands never hold it at once.
        """
        path = self.run.private_locks() / self.lab
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            if stat.S_IMODE(os.fstat(fd).st_mode) != 0o600:
                os.fchmod(fd, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                yield False
                return
            try:
                current = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
            if current:
                break
            os.close(fd)  # unlinked while we waited: lock the file that is there now
        held = _held()
        held.add(self.lab)
        try:
            yield True
        finally:
            held.discard(self.lab)
            os.close(fd)

    def locked_here(self) -> bool:
        """This thread holds the lab's lock (taking it again would wait for itself forever)."""
        return self.lab in _held()

    def forget_lock(self) -> None:
        """Unlink the lock file (call while holding the lock, when the lab is gone)."""
        try:
            (self.run.locks / self.lab).unlink()
        except FileNotFoundError:
            pass

    @contextlib.contextmanager
    def tx(self) -> Iterator["Tx"]:
        """One SQLite transaction (callers hold `lock()` when they also change the kernel)."""
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            yield Tx(con, self)
            con.execute("COMMIT")
        except sqlite3.Error as e:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise self.damaged(f"it could not be written ({e})")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        finally:
            con.close()

    def read(self) -> "Tx":
        """A read-only view (no lock): for status, ls, probes. The lab must exist.

        A command killed while writing leaves a hot journal, which a read-only
        connection cannot roll back ("attempt to write a readonly database"): a
        read-write connection opened first rolls it back (SQLite does so on first
        read), and the state is again the one before that command.
        """
        if not self.exists():
            raise NotFound(f"lab '{self.lab}' is not running", code="LabNotFound")
        journal = self.db_path.with_name(self.db_path.name + "-journal")
        if journal.exists() and os.access(self.db_path, os.W_OK):
            self._connect().close()
        return Tx(self._connect(readonly=True), self)

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---- the intentions of a build (one transaction each) -------------------------------

    def begin_build(self, model: Lab, file: str) -> Begun:
        """A build of `model` (from `file`) starts: it writes the model to build, status
        `building` and the event `up FILE started`. If the lab runs from this very topology
        (the same source digest), its running model is the one built (its live changes:
        accepted peerings, routes, clock), with the path it was built from this time."""
        with self.tx() as tx:
            before, mine = tx.model(required=False), digest(model)
            kept = live = False
            if before is not None and tx.get("source_digest") == mine:
                kept, live = True, digest(before) != mine
                before.source = model.source
                model = before
            else:
                tx.put("source_digest", mine)
            tx.save_model(model)
            tx.set_status(BUILDING)
            tx.event(model.clock, None, "up", file, "started")
        return Begun(model, before, kept, live)

    def finish_build(self, model: Lab, file: str, actions: int) -> None:
        """The kernel holds `model` in full: it is the applied model, status `ready`, and the
        event `up FILE ok` counts the actions it took."""
        with self.tx() as tx:
            tx.put(APPLIED, lab_to_dict(model))
            tx.set_status(READY)
            tx.put(PENDING, None)  # a live operation a kill left `applying` is in the model just built
            tx.event(model.clock, None, "up", file, "ok", f"{actions} actions")

    def same_file(self, model: Lab) -> Optional[Lab]:
        """The running model if the lab was built from this very topology (`model`'s), else
        None (a read, for dry runs)."""
        if not self.exists():
            return None
        tx = self.read()
        try:
            old = tx.model(required=False)
            return old if old is not None and tx.get("source_digest") == digest(model) else None
        finally:
            tx.close()


_HELD = threading.local()  # the labs whose lock this thread holds


def _held() -> set:
    if not hasattr(_HELD, "labs"):
        _HELD.labs = set()
    return _HELD.labs


_ABSENT = object()


class Tx:
    """Reads and writes of one lab's state; every read checks what it gets (see the module doc)."""

    def __init__(self, con: sqlite3.Connection, store: Store):
        self.con, self.store = con, store

    def _rows(self, sql: str, args=()) -> list:
        try:
            return self.con.execute(sql, args).fetchall()
        except (sqlite3.Error, UnicodeDecodeError) as e:  # a scrambled text column does not decode
            raise self.store.unreadable(f"SQLite cannot read it ({e})")

    def _value(self, key: str):
        rows = self._rows("SELECT value FROM meta WHERE key = ?", (key,))
        if not rows:
            return _ABSENT
        try:
            return json.loads(rows[0][0])
        except (TypeError, ValueError) as e:
            raise self.store.damaged(f"its '{key}' is not JSON ({e})")

    def get(self, key: str, default=None):
        value = self._value(key)
        return default if value is _ABSENT else value

    def put(self, key: str, value) -> None:
        self.con.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def text(self, key: str) -> Optional[str]:
        """A value as stored (its JSON text, undecoded), or None: two values compare as texts."""
        rows = self._rows("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows and isinstance(rows[0][0], str) else None

    def put_text(self, key: str, text: str) -> None:
        """Store a value already encoded as JSON (one encoding written under two keys)."""
        self.con.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, text))

    def model(self, required: bool = True) -> Optional[Lab]:
        """The lab's model, checked: it decodes, and it is this lab's (a model naming another
        lab would build namespaces no `down` of this one removes). Without `required`, None
        when there is none yet (the first `up` writes it)."""
        value = self._value("model")
        if value is _ABSENT:
            if required:
                raise self.store.damaged("it holds no model (was its first `up` killed?)")
            return None
        try:
            lab = lab_from_dict(value)
        except BadModel as e:
            raise self.store.damaged(f"its model is not valid: {e}")
        if lab.name != self.store.lab:
            raise self.store.damaged(f"its model is of lab '{lab.name}', not {self.store.lab}")
        return lab

    def save_model(self, lab: Lab) -> None:
        self.put("model", lab_to_dict(lab))

    @property
    def status(self) -> Optional[str]:
        value = self.get("status")
        if value is not None and not isinstance(value, str):
            raise self.store.damaged(f"its status is {type(value).__name__}, not a string")
        return value

    def model_and_status(self) -> Tuple[Optional[Lab], Optional[str]]:
        """Both, checked; (None, None) only while the first `up` has not written them (it
        writes both in one transaction, so a status without a model is damage)."""
        st = self.status
        return self.model(required=st is not None), st

    def set_status(self, status: str) -> None:
        self.put("status", status)

    def event(self, lab_time: float, actor: Optional[str], action: str, target: Optional[str], result: str,
              detail: Optional[str] = None) -> None:
        self.con.execute(
            "INSERT INTO events (wall, lab_time, actor, action, target, result, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (time.time(), lab_time, actor, action, target, result, detail))

    EVENT_KEYS = ("id", "wall", "lab_time", "actor", "action", "target", "result", "detail")

    def events(self, after: int = 0) -> List[dict]:
        """The event log in order; `after` an id: only the events logged after it (`events --follow`)."""
        rows = self._rows(f"SELECT {', '.join(self.EVENT_KEYS)} FROM events WHERE id > ? ORDER BY id", (after,))
        for r in rows:
            if not (isinstance(r[0], int) and all(isinstance(x, (int, float)) for x in r[1:3])
                    and all(x is None or isinstance(x, str) for x in r[3:])):
                raise self.store.damaged(f"event {r[0]!r:.20} does not hold what vpclab writes")
        return [dict(zip(self.EVENT_KEYS, r)) for r in rows]

    def close(self) -> None:
        self.con.close()
