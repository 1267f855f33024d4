"""A lab's persistent state: one SQLite database under /run/vpclab/<lab>/.

It holds the model (as JSON), the lab clock (inside the model), the lab's status
(`building` until `up` finishes, then `ready`; `deleting` once `down` or `cleanup`
has started to remove it) and an event log. `Store.transaction()`
takes the lab's lock file (serializing every command that changes the lab, across
processes) and one SQLite transaction; a command reads the model, changes it, and
writes it back inside it, so parallel commands never lose an update.
/run is tmpfs: a lab and its state do not survive a reboot.
"""
from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Iterator, List, Optional

from .errors import NotFound, Refused, StateError
from .model.types import LAB_NAME, Expectation, Instance, Lab, Peering, Route, RouteTable, Subnet, Vpc

RUN_DIR = Path(os.environ.get("VPCLAB_RUN_DIR", "/run/vpclab"))
LOCK_DIR = RUN_DIR / ".locks"  # lock files outlive a lab's state: `down` never removes a lock in use

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


# ---- model <-> JSON ---------------------------------------------------------------


def lab_to_dict(lab: Lab) -> dict:
    return {
        "name": lab.name,
        "accounts": lab.accounts,
        "regions": lab.regions,
        "latency_ms": lab.latency_ms,
        "clock": lab.clock,
        "source": lab.source,
        "vpcs": [
            {
                "name": v.name, "account": v.account, "region": v.region, "cidr": str(v.cidr),
                "subnets": [{"name": s.name, "cidr": str(s.cidr), "route_table": s.route_table}
                            for s in v.subnets.values()],
                "route_tables": [{"name": t.name, "routes": [{"destination": str(r.destination),
                                                              "next_hop": r.next_hop} for r in t.routes]}
                                 for t in v.route_tables.values()],
                "instances": [{"name": i.name, "subnet": i.subnet, "ip": str(i.ip), "kind": i.kind, "port": i.port,
                               "backends": i.backends} for i in v.instances.values()],
            }
            for v in lab.vpcs.values()
        ],
        "peerings": [
            {"name": p.name, "vpc": p.vpc, "peer_vpc": p.peer_vpc, "bandwidth_kbps": p.bandwidth_kbps,
             "state": p.state, "created_at": p.created_at, "index": p.index}
            for p in lab.peerings.values()
        ],
        "expectations": [{"src": e.src, "dst": e.dst, "proto": e.proto, "port": e.port, "result": e.result,
                          "line": e.line} for e in lab.expectations],
    }


def lab_from_dict(d: dict) -> Lab:
    net, addr = ipaddress.IPv4Network, ipaddress.IPv4Address
    lab = Lab(name=d["name"], accounts=d["accounts"], regions=d["regions"], latency_ms=d["latency_ms"],
              clock=d["clock"], source=d.get("source"))
    for v in d["vpcs"]:
        vpc = Vpc(v["name"], v["account"], v["region"], net(v["cidr"]))
        for s in v["subnets"]:
            vpc.subnets[s["name"]] = Subnet(s["name"], net(s["cidr"]), s["route_table"])
        for t in v["route_tables"]:
            vpc.route_tables[t["name"]] = RouteTable(
                t["name"], [Route(net(r["destination"]), r["next_hop"]) for r in t["routes"]])
        for i in v["instances"]:
            vpc.instances[i["name"]] = Instance(i["name"], vpc.name, i["subnet"], addr(i["ip"]), i["kind"],
                                                i["port"], list(i["backends"]))
        lab.vpcs[vpc.name] = vpc
    for p in d["peerings"]:
        lab.peerings[p["name"]] = Peering(p["name"], p["vpc"], p["peer_vpc"], p["bandwidth_kbps"], p["state"],
                                          p["created_at"], p["index"])
    lab.expectations = [Expectation(e["src"], e["dst"], e["proto"], e["port"], e["result"], e.get("line", 0))
                        for e in d["expectations"]]
    return lab


# ---- the store ----------------------------------------------------------------------


def lab_dir(lab: str) -> Path:
    return RUN_DIR / lab


def known_labs() -> List[str]:
    if not RUN_DIR.is_dir():
        return []
    return sorted(p.name for p in RUN_DIR.iterdir() if LAB_NAME.match(p.name) and (p / "state.db").exists())


class Store:
    """The state of one lab: `with store.lock(): with store.tx() as tx: ...`."""

    def __init__(self, lab: str):
        if not isinstance(lab, str) or not LAB_NAME.match(lab):
            raise Refused(f"'{lab}' is not a lab name (1-8 characters, [a-z][a-z0-9]*)",
                          code="InvalidParameterValue")
        self.lab = lab
        self.dir = lab_dir(lab)
        self.db_path = self.dir / "state.db"

    def exists(self) -> bool:
        return self.db_path.exists()

    def _connect(self, readonly: bool = False) -> sqlite3.Connection:
        try:
            if readonly:
                return sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30, isolation_level=None)
            con = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
            con.executescript(SCHEMA)
            return con
        except sqlite3.Error as e:
            raise StateError(f"the state of lab {self.lab} ({self.db_path}) cannot be opened: {e}",
                             hint=f"`vpclab down {self.lab}` removes the lab and its state")

    @contextlib.contextmanager
    def lock(self, blocking: bool = True) -> Iterator[bool]:
        """The lab's command lock (held across the state write and the kernel apply).

        `down` unlinks the lock file while holding it; a command that was waiting on
        the old file notices (its inode is no longer the file at the path) and takes
        the lock again on the current one, so two commands never hold it at once.
        """
        LOCK_DIR.mkdir(parents=True, exist_ok=True)
        path = LOCK_DIR / self.lab
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
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
        try:
            yield True
        finally:
            os.close(fd)

    def forget_lock(self) -> None:
        """Unlink the lock file (call while holding the lock, when the lab is gone)."""
        try:
            (LOCK_DIR / self.lab).unlink()
        except FileNotFoundError:
            pass

    @contextlib.contextmanager
    def tx(self) -> Iterator["Tx"]:
        """One SQLite transaction (callers hold `lock()` when they also change the kernel)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            yield Tx(con)
            con.execute("COMMIT")
        except sqlite3.Error as e:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise StateError(f"the state of lab {self.lab} could not be written: {e}",
                             hint=f"`vpclab down {self.lab}` removes the lab and its state")
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
        return Tx(self._connect(readonly=True))

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


class Tx:
    def __init__(self, con: sqlite3.Connection):
        self.con = con

    def get(self, key: str, default=None):
        try:
            row = self.con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as e:
            raise StateError(f"the lab's state cannot be read: {e}", hint="`vpclab down LAB` removes it")
        return json.loads(row[0]) if row else default

    def put(self, key: str, value) -> None:
        self.con.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def model(self) -> Optional[Lab]:
        d = self.get("model")
        return lab_from_dict(d) if d else None

    def save_model(self, lab: Lab) -> None:
        self.put("model", lab_to_dict(lab))

    @property
    def status(self) -> Optional[str]:
        return self.get("status")

    def set_status(self, status: str) -> None:
        self.put("status", status)

    def event(self, lab_time: float, actor: Optional[str], action: str, target: Optional[str], result: str,
              detail: Optional[str] = None) -> None:
        self.con.execute(
            "INSERT INTO events (wall, lab_time, actor, action, target, result, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (time.time(), lab_time, actor, action, target, result, detail))

    def events(self) -> List[dict]:
        rows = self.con.execute(
            "SELECT id, wall, lab_time, actor, action, target, result, detail FROM events ORDER BY id").fetchall()
        keys = ("id", "wall", "lab_time", "actor", "action", "target", "result", "detail")
        return [dict(zip(keys, r)) for r in rows]

    def close(self) -> None:
        self.con.close()
