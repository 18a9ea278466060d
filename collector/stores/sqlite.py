"""Embedded time-series store: SQLite with the same logical schema as InfluxDB
(measurement, tags station/device/area, ts in ms, fields), so `warmnet demo` runs
anywhere Python runs. Idempotent like InfluxDB: the same (measurement, station,
device, ts) overwrites itself.
"""

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from collector.ingest.points import Point
from collector.stores.base import StoreUnavailableError

SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    measurement TEXT NOT NULL,
    station     TEXT NOT NULL,
    device      TEXT NOT NULL,
    area        TEXT NOT NULL,
    tags        TEXT NOT NULL,  -- extra tags as JSON ('[]' for device kinds)
    ts          INTEGER NOT NULL,
    fields      TEXT NOT NULL,
    PRIMARY KEY (measurement, station, device, tags, ts)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS points_by_time ON points (ts);
"""


class SqliteStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def write(self, points: Sequence[Point]) -> None:
        rows = [
            (
                p.measurement,
                p.station,
                p.device,
                p.area,
                json.dumps(p.tags),
                p.ts_ms,
                json.dumps(p.fields),
            )
            for p in points
        ]
        try:
            with self._lock:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR REPLACE INTO points VALUES (?,?,?,?,?,?,?)", rows)
                self._db.execute("COMMIT")
        except sqlite3.OperationalError as exc:  # disk full, locked past timeout
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise StoreUnavailableError(f"SQLite store: {exc}") from exc

    def select(
        self, measurement: str, station: str | None = None, device: str | None = None
    ) -> list[dict[str, Any]]:
        """Points of one measurement, oldest first, as {ts, station, device, **tags,
        **fields}."""
        sql = "SELECT station, device, tags, ts, fields FROM points WHERE measurement = ?"
        args: list[Any] = [measurement]
        if station is not None:
            sql += " AND station = ?"
            args.append(station)
        if device is not None:
            sql += " AND device = ?"
            args.append(device)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY ts", args).fetchall()
        return [
            {"station": s, "device": d, **dict(json.loads(t)), "ts": ts, **json.loads(f)}
            for s, d, t, ts, f in rows
        ]

    def close(self) -> None:
        with self._lock:
            self._db.close()
