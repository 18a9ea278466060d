"""Dead-letter store: every message the collector refuses, with the reason, topic,
time and the raw bytes (truncated), so that nothing is dropped silently."""

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


class DeadLetterStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

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

    def close(self) -> None:
        with self._lock:
            self._db.close()
