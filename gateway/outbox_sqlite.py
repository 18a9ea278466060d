"""The on-disk outbox: SQLite in WAL mode, `synchronous=FULL` by default, so a message
`put` returned for is on disk (it survives kill -9 and, with FULL, a power cut).

One transaction per put writes the message and the device's last seq together, so a
restart continues every device's seq without a gap or a reuse. The file does not
shrink when messages leave (SQLite reuses the free pages): the budget counts live
bytes, the file stays near its high-water mark.
"""

import sqlite3
from collections.abc import Collection
from pathlib import Path
from typing import Literal

from gateway.outbox import BaseOutbox, Entry, Envelope, Row
from warmnet.topics import Channel

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: cursors stay valid
    device      TEXT    NOT NULL,
    channel     TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    topic       TEXT    NOT NULL,
    payload     BLOB    NOT NULL,
    enqueued_ms INTEGER NOT NULL,
    size        INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_by_enqueued ON outbox (enqueued_ms);
CREATE TABLE IF NOT EXISTS last_seq (
    device  TEXT    NOT NULL,
    channel TEXT    NOT NULL,
    seq     INTEGER NOT NULL,
    PRIMARY KEY (device, channel)
) WITHOUT ROWID;
"""

_COLUMNS = "id, device, channel, seq, topic, payload, enqueued_ms"


class SqliteOutbox(BaseOutbox):
    def __init__(
        self,
        path: Path,
        max_bytes: int = 256 << 20,
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
    ) -> None:
        super().__init__(max_bytes)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.executescript(SCHEMA)
        count, used, last_enq = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0), COALESCE(MAX(enqueued_ms), 0) FROM outbox"
        ).fetchone()
        self._count: int = count
        self._bytes: int = used
        self._last_enqueued_ms = last_enq
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        self._last_id: int = row[0] if row is not None else 0
        self._seqs: dict[tuple[str, Channel], int] = {
            (d, Channel(c)): s for d, c, s in self._db.execute("SELECT * FROM last_seq")
        }

    def _insert(self, msg: Envelope) -> int:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            cur = db.execute(
                "INSERT INTO outbox (device, channel, seq, topic, payload, enqueued_ms, size) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    msg.device,
                    msg.channel.value,
                    msg.seq,
                    msg.topic,
                    msg.payload,
                    msg.enqueued_ms,
                    msg.size,
                ),
            )
            db.execute(
                "INSERT INTO last_seq VALUES (?, ?, ?) ON CONFLICT (device, channel) "
                "DO UPDATE SET seq = MAX(seq, excluded.seq)",
                (msg.device, msg.channel.value, msg.seq),
            )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        msg_id = cur.lastrowid
        assert msg_id is not None
        self._count += 1
        self._bytes += msg.size
        self._last_id = msg_id
        key = (msg.device, msg.channel)
        self._seqs[key] = max(msg.seq, self._seqs.get(key, -1))
        return msg_id

    def _oldest(self, n: int) -> list[Row]:
        rows = self._db.execute(
            "SELECT id, device, channel, size FROM outbox ORDER BY id LIMIT ?", (n,)
        )
        return [Row(i, d, Channel(c), s) for i, d, c, s in rows]

    def _delete(self, ids: Collection[int]) -> int:
        db = self._db
        wanted = list(ids)
        gone = size = 0
        db.execute("BEGIN IMMEDIATE")
        try:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                marks = ",".join("?" * len(chunk))
                n, s = db.execute(
                    f"SELECT COUNT(*), COALESCE(SUM(size), 0) FROM outbox WHERE id IN ({marks})",
                    chunk,
                ).fetchone()
                db.execute(f"DELETE FROM outbox WHERE id IN ({marks})", chunk)
                gone += n
                size += s
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        self._count -= gone
        self._bytes -= size
        return int(gone)

    def _depth_bytes(self) -> tuple[int, int]:
        return self._count, self._bytes

    def _first_id_since(self, ms: int) -> int | None:
        """The smallest id enqueued at or after `ms` (enqueued_ms grows with id)."""
        row = self._db.execute(
            "SELECT id FROM outbox WHERE enqueued_ms >= ? ORDER BY enqueued_ms, id LIMIT 1", (ms,)
        ).fetchone()
        return None if row is None else int(row[0])

    def scan(
        self,
        after_id: int,
        limit: int,
        *,
        since_ms: int | None = None,
        before_ms: int | None = None,
    ) -> list[Entry]:
        if limit <= 0:
            return []
        with self._lock:
            lo = after_id
            if since_ms is not None:
                first = self._first_id_since(since_ms)
                if first is None:
                    return []
                lo = max(lo, first - 1)
            sql = f"SELECT {_COLUMNS} FROM outbox WHERE id > ?"
            args: list[int] = [lo]
            if before_ms is not None:
                end = self._first_id_since(before_ms)
                if end is not None:
                    sql += " AND id < ?"
                    args.append(end)
            rows = self._db.execute(sql + " ORDER BY id LIMIT ?", [*args, limit]).fetchall()
        return [
            Entry(i, Envelope(d, Channel(c), s, t, bytes(p), e)) for i, d, c, s, t, p, e in rows
        ]

    def last_seq(self, device: str, channel: Channel) -> int | None:
        with self._lock:
            return self._seqs.get((device, channel))

    @property
    def last_id(self) -> int:
        with self._lock:
            return self._last_id

    def close(self) -> None:
        with self._lock:
            self._db.close()
