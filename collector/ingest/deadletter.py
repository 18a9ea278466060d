"""Dead-letter store: every message the collector refuses, with the reason, topic,
time and the raw bytes (truncated), so that nothing is dropped silently.

The collector appends (`add`); people read with `warmnet deadletter list|show|count`,
which opens the file read-only (`DeadLetterStore.open_existing`) while the
collector keeps writing (WAL mode).
"""

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

MAX_RAW_BYTES = 1024

SCHEMA = """
CREATE TABLE IF NOT EXISTS deadletter (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at INTEGER NOT NULL,
    topic       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    detail      TEXT NOT NULL,
    payload     BLOB NOT NULL,
    size        INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS deadletter_by_reason ON deadletter (reason, received_at);
"""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    received_at: int
    topic: str
    reason: str
    detail: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class StoredDeadLetter:
    """A dead letter as kept: `payload` is at most MAX_RAW_BYTES of the original
    `size` bytes; `detail` at most 500 characters."""

    id: int
    received_at: int
    topic: str
    reason: str
    detail: str
    payload: bytes
    size: int

    @property
    def truncated(self) -> bool:
        return self.size > len(self.payload)


class DeadLetterStoreError(Exception):
    """The file is missing, not a SQLite database, or not a dead-letter store."""


_COLUMNS = "id, received_at, topic, reason, detail, payload, size"


class DeadLetterStore:
    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        """Open (creating it if needed) for the collector; `readonly` opens an
        existing file for reading only (tools): see `open_existing`."""
        self.path = path
        if readonly:
            self._db = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
            )
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    @classmethod
    def open_existing(cls, path: Path) -> "DeadLetterStore":
        """Open an existing store read-only. Raises DeadLetterStoreError with a message
        for people if there is none at `path` or the file is something else."""
        if not path.is_file():
            raise DeadLetterStoreError(f"no dead-letter store at {path}")
        try:
            store = cls(path, readonly=True)
        except sqlite3.Error as exc:
            raise DeadLetterStoreError(f"cannot open {path}: {exc}") from exc
        try:
            found = store._db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'deadletter'"
            ).fetchone()
        except sqlite3.Error as exc:
            store.close()
            raise DeadLetterStoreError(f"{path} is not a SQLite database: {exc}") from exc
        if found is None:
            store.close()
            raise DeadLetterStoreError(f"{path} is not a dead-letter store (no deadletter table)")
        return store

    def add(self, letters: Sequence[DeadLetter]) -> None:
        if not letters:
            return
        rows = [
            (
                d.received_at,
                d.topic,
                d.reason,
                d.detail[:500],
                d.payload[:MAX_RAW_BYTES],
                len(d.payload),
            )
            for d in letters
        ]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO deadletter (received_at, topic, reason, detail, payload, size) "
                "VALUES (?,?,?,?,?,?)",
                rows,
            )
            self._db.execute("COMMIT")

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT reason, COUNT(*) FROM deadletter GROUP BY reason"
            ).fetchall()
        return {reason: n for reason, n in rows}

    def recent(self, limit: int = 50, reason: str | None = None) -> list[DeadLetter]:
        sql = "SELECT received_at, topic, reason, detail, payload FROM deadletter"
        args: tuple[object, ...] = ()
        if reason:
            sql += " WHERE reason = ?"
            args = (reason,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [DeadLetter(*r) for r in rows]

    def entries(
        self, *, reason: str | None = None, limit: int = 50, before_id: int | None = None
    ) -> list[StoredDeadLetter]:
        """Newest first, with ids and original sizes; `before_id` pages backwards."""
        where: list[str] = []
        args: list[object] = []
        if reason:
            where.append("reason = ?")
            args.append(reason)
        if before_id is not None:
            where.append("id < ?")
            args.append(before_id)
        sql = f"SELECT {_COLUMNS} FROM deadletter"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [StoredDeadLetter(*r) for r in rows]

    def get(self, letter_id: int) -> StoredDeadLetter | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM deadletter WHERE id = ?", (letter_id,)
            ).fetchone()
        return StoredDeadLetter(*row) if row is not None else None

    def total(self, reason: str | None = None) -> int:
        sql = "SELECT COUNT(*) FROM deadletter"
        args: tuple[str, ...] = ()
        if reason:
            sql, args = sql + " WHERE reason = ?", (reason,)
        with self._lock:
            (n,) = self._db.execute(sql, args).fetchone()
        return int(n)

    def close(self) -> None:
        with self._lock:
            self._db.close()
