"""The spill queue: where batches wait, durably, while the time-series store is down.

A batch appended here counts as stored for acknowledgement purposes: `append` returns
only once the batch is on disk (SQLite, synchronous=FULL: fsync'd). Batches are
replayed oldest first once the store is back. Bounded by a byte budget; at the
bound `append` raises SpillFullError and the pipeline stops acknowledging (the broker
keeps the messages for us) — explicit, logged and counted, never a silent drop.

Two implementations behind one interface, tested by one shared suite:
`MemorySpill` (tests, and a process that accepts losing its spill on a crash) and
`SqliteSpill` (the default).
"""

import json
import sqlite3
import threading
import zlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from collector.ingest.points import Point


class SpillFullError(Exception):
    """The spill's byte budget is used up."""


ORIGIN_PAYLOAD_BYTES = 1024  # as much of the raw message as a dead letter keeps


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a spilled point came from, so that a point the store later refuses can
    still be dead-lettered with its real topic, raw bytes and receive time."""

    topic: str
    payload: bytes
    received_at_ms: int


@dataclass(frozen=True, slots=True)
class SpilledBatch:
    id: int
    points: list[Point]
    origins: list[Origin | None]  # one per point; None for points not from MQTT


class SpillQueue(Protocol):
    def append(
        self, points: Sequence[Point], origins: Sequence[Origin | None] | None = None
    ) -> None:
        """Durably keep one batch, or raise SpillFullError."""
        ...

    def oldest(self) -> SpilledBatch | None:
        """The oldest batch, without removing it; None when empty."""
        ...

    def remove(self, batch_id: int) -> None:
        """Forget a batch once it is stored."""
        ...

    @property
    def batches(self) -> int: ...

    @property
    def bytes(self) -> int: ...

    def close(self) -> None: ...


def encode_batch(points: Sequence[Point], origins: Sequence[Origin | None] | None) -> bytes:
    # JSON keeps int/float/bool/str apart (0.0 stays a float), which line protocol
    # field types depend on. Raw payloads are kept as latin-1 text: bytes in, bytes out.
    origins = origins if origins is not None else [None] * len(points)
    rows = [
        [
            p.measurement,
            p.station,
            p.device,
            p.area,
            p.ts_ms,
            p.fields,
            p.tags,
            None
            if o is None
            else [o.topic, o.payload[:ORIGIN_PAYLOAD_BYTES].decode("latin-1"), o.received_at_ms],
        ]
        for p, o in zip(points, origins, strict=True)
    ]
    return zlib.compress(json.dumps(rows, separators=(",", ":")).encode(), 1)


def decode_batch(batch_id: int, blob: bytes) -> SpilledBatch:
    points: list[Point] = []
    origins: list[Origin | None] = []
    for m, s, d, a, ts, f, tags, o in json.loads(zlib.decompress(blob)):
        points.append(Point(m, s, d, a, ts, f, tuple((k, v) for k, v in tags)))
        origins.append(None if o is None else Origin(o[0], o[1].encode("latin-1"), o[2]))
    return SpilledBatch(batch_id, points, origins)


class MemorySpill:
    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._items: deque[tuple[int, bytes]] = deque()
        self._next_id = 1
        self._bytes = 0
        self._lock = threading.Lock()

    def append(
        self, points: Sequence[Point], origins: Sequence[Origin | None] | None = None
    ) -> None:
        blob = encode_batch(points, origins)
        with self._lock:
            if self._items and self._bytes + len(blob) > self._max:
                raise SpillFullError(f"spill budget {self._max} bytes used up")
            self._items.append((self._next_id, blob))
            self._next_id += 1
            self._bytes += len(blob)

    def oldest(self) -> SpilledBatch | None:
        with self._lock:
            if not self._items:
                return None
            batch_id, blob = self._items[0]
        return decode_batch(batch_id, blob)

    def remove(self, batch_id: int) -> None:
        with self._lock:
            for i, (bid, blob) in enumerate(self._items):
                if bid == batch_id:
                    del self._items[i]
                    self._bytes -= len(blob)
                    return

    @property
    def batches(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def bytes(self) -> int:
        with self._lock:
            return self._bytes

    def close(self) -> None:
        pass


class SqliteSpill:
    SCHEMA = """
    CREATE TABLE IF NOT EXISTS spill (
        id    INTEGER PRIMARY KEY AUTOINCREMENT,
        batch BLOB NOT NULL
    );
    """

    def __init__(self, path: Path, max_bytes: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._max = max_bytes
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a commit is on disk: we ack after it
        self._db.executescript(self.SCHEMA)
        self._lock = threading.Lock()
        row = self._db.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(batch)), 0) FROM spill")
        self._count, self._bytes = row.fetchone()

    def append(
        self, points: Sequence[Point], origins: Sequence[Origin | None] | None = None
    ) -> None:
        blob = encode_batch(points, origins)
        with self._lock:
            if self._count and self._bytes + len(blob) > self._max:
                raise SpillFullError(f"spill budget {self._max} bytes used up")
            self._db.execute("INSERT INTO spill (batch) VALUES (?)", (blob,))
            self._count += 1
            self._bytes += len(blob)

    def oldest(self) -> SpilledBatch | None:
        with self._lock:
            row = self._db.execute("SELECT id, batch FROM spill ORDER BY id LIMIT 1").fetchone()
        if row is None:
            return None
        return decode_batch(row[0], row[1])

    def remove(self, batch_id: int) -> None:
        with self._lock:
            row = self._db.execute("SELECT LENGTH(batch) FROM spill WHERE id = ?", (batch_id,))
            found = row.fetchone()
            if found is None:
                return
            self._db.execute("DELETE FROM spill WHERE id = ?", (batch_id,))
            self._count -= 1
            self._bytes -= found[0]

    @property
    def batches(self) -> int:
        with self._lock:
            return int(self._count)

    @property
    def bytes(self) -> int:
        with self._lock:
            return int(self._bytes)

    def close(self) -> None:
        with self._lock:
            self._db.close()
