"""Small persistent gateway state besides the outbox: the uplink session number and the
ids of commands already executed.

- Session: `next_session(now_ms)` returns max(now_ms, last + 1) and persists it, so
  session numbers grow with every connection attempt, across restarts, even if the
  clock steps back.
- Commands: ids of executed commands are remembered (the newest `keep` of them), so a
  redelivered command is executed once.

`StateStore(None)` keeps everything in memory (an in-memory SQLite database).
"""

import sqlite3
import threading
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS commands (
    n      INTEGER PRIMARY KEY AUTOINCREMENT,
    id     TEXT    NOT NULL UNIQUE,
    device TEXT    NOT NULL,
    at_ms  INTEGER NOT NULL,
    code   TEXT    NOT NULL
);
"""

KEEP_COMMANDS = 10_000


class StateStore:
    def __init__(self, path: Path | None, *, keep: int = KEEP_COMMANDS) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.keep = keep
        self._lock = threading.Lock()
        target = ":memory:" if path is None else str(path)
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def last_session(self) -> int | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'session'").fetchone()
        return None if row is None else int(row[0])

    def next_session(self, now_ms: int) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'session'").fetchone()
            session = now_ms if row is None else max(now_ms, int(row[0]) + 1)
            self._db.execute(
                "INSERT INTO meta VALUES ('session', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (session,),
            )
        return session

    def command_seen(self, command_id: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM commands WHERE id = ?", (command_id,))
            return row.fetchone() is not None

    def remember_command(self, command_id: str, device: str, at_ms: int, code: str) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT OR IGNORE INTO commands (id, device, at_ms, code) VALUES (?, ?, ?, ?)",
                    (command_id, device, at_ms, code),
                )
                self._db.execute(
                    "DELETE FROM commands WHERE n <= (SELECT MAX(n) FROM commands) - ?",
                    (self.keep,),
                )
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._db.close()
