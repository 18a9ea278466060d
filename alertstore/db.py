"""The SQLite file the collector and the API share: schema, connection settings,
transactions.

Two processes (and threads within each) write the same file, so:
- WAL: readers never block the writer nor the writer the readers;
- `busy_timeout`: a writer waits for the other process's write to finish instead of
  failing at once;
- every write is one `BEGIN IMMEDIATE` transaction: the write lock is taken before
  anything is read, so a read-then-write can never be invalidated by the other
  process committing in between (which would fail with SQLITE_BUSY at once, busy
  handler or not);
- `synchronous=FULL`: a crew's resolve survives a power cut (alert writes are few).
"""

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alertstore.model import StoreUnavailableError

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id              TEXT PRIMARY KEY,   -- from the engine: rule:station/device@fired_ms
    rule            TEXT NOT NULL,
    station         TEXT NOT NULL,
    device          TEXT,               -- NULL: a station alert
    severity        TEXT NOT NULL,
    status          TEXT NOT NULL,      -- firing | acknowledged | resolved
    title_zh        TEXT NOT NULL,
    title_en        TEXT NOT NULL,
    value           TEXT NOT NULL,      -- JSON
    detail          TEXT NOT NULL,
    fired_at        INTEGER NOT NULL,   -- epoch ms
    updated_at      INTEGER NOT NULL,
    acknowledged_at INTEGER,
    acknowledged_by TEXT,
    assignee        TEXT,
    resolved_at     INTEGER,
    resolved_by     TEXT,
    resolve_note    TEXT,
    reopen_count    INTEGER NOT NULL DEFAULT 0,
    silenced        INTEGER NOT NULL DEFAULT 0,
    suppressed      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS alerts_by_update ON alerts (updated_at);
CREATE INDEX IF NOT EXISTS alerts_by_status ON alerts (status, updated_at);
CREATE INDEX IF NOT EXISTS alerts_by_subject ON alerts (station, device, status);

CREATE TABLE IF NOT EXISTS history (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id TEXT NOT NULL REFERENCES alerts (id),
    at_ms    INTEGER NOT NULL,
    action   TEXT NOT NULL,
    source   TEXT NOT NULL,             -- engine | crew
    who      TEXT NOT NULL,
    status   TEXT NOT NULL,             -- after this step
    note     TEXT,
    value    TEXT NOT NULL DEFAULT 'null',
    detail   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS history_by_alert ON history (alert_id, seq);
-- A replayed engine transition (collector restart) is recognised and ignored.
CREATE UNIQUE INDEX IF NOT EXISTS history_engine_once
    ON history (alert_id, action, at_ms) WHERE source = 'engine';
CREATE INDEX IF NOT EXISTS history_crew ON history (seq) WHERE source = 'crew';

CREATE TABLE IF NOT EXISTS silences (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    station    TEXT NOT NULL,
    device     TEXT,                    -- NULL: the whole station
    starts_at  INTEGER NOT NULL,
    until_ms   INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    note       TEXT NOT NULL,
    ended_at   INTEGER,
    ended_by   TEXT
);
CREATE INDEX IF NOT EXISTS silences_open ON silences (until_ms) WHERE ended_at IS NULL;

CREATE TABLE IF NOT EXISTS reports (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    station    TEXT NOT NULL,
    device     TEXT,
    category   TEXT NOT NULL,
    text       TEXT NOT NULL,
    client_key TEXT NOT NULL,           -- hash: no IP address is stored
    ip_key     TEXT,
    at_ms      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_by_client ON reports (client_key, at_ms);
CREATE INDEX IF NOT EXISTS reports_by_ip ON reports (ip_key, at_ms);
CREATE INDEX IF NOT EXISTS reports_by_time ON reports (at_ms);
"""


class SchemaError(RuntimeError):
    """The file was written by a newer warmnet (unknown schema version)."""


class Database:
    """One connection, serialised by a lock (request threads share it)."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 10.0) -> None:
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._conn = sqlite3.connect(
            path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = FULL")
        self._conn.execute("PRAGMA foreign_keys = ON")
        with self.write() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise SchemaError(
                    f"{path}: alert store schema {version} is newer than this warmnet "
                    f"({SCHEMA_VERSION}); upgrade warmnet"
                )
            # executescript would COMMIT our transaction: run the statements one by one.
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT; ROLLBACK on error)."""
        with self._transaction("BEGIN IMMEDIATE") as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several SELECTs."""
        with self._transaction("BEGIN") as conn:
            yield conn

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._conn.execute(begin)
                try:
                    yield self._conn
                    self._conn.execute("COMMIT")
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:  # locked past busy_timeout, disk, I/O
                raise StoreUnavailableError(f"alert store {self.path}: {exc}") from exc

    def journal_mode(self) -> str:
        with self._lock:
            mode: str = self._conn.execute("PRAGMA journal_mode").fetchone()[0]
        return mode

    def close(self) -> None:
        with self._lock:
            self._conn.close()
