"""Silences: planned maintenance of a station or one device.

While a silence is active, riders see the subject out of order (the collector folds
`active_silences` into availability) and the subject's alerts are still recorded but
flagged `silenced` (nobody is notified). The flag of open alerts follows silences as
they start and end; a silence that simply runs out is seen at the alert's next engine
transition.
"""

import sqlite3

from alertstore.model import InvalidTransitionError, NotFoundError, Silence
from alertstore.queries import iso

MAX_NOTE = 500

_COVERING = (
    "ended_at IS NULL AND station = ? AND (device IS NULL OR device = ?) "
    "AND starts_at <= ? AND until_ms > ?"
)


def covered(db: sqlite3.Connection, station: str, device: str | None, at_ms: int) -> bool:
    """Is the subject (a device, or the station itself when `device` is None) under an
    active silence at `at_ms`? A station silence covers all its devices."""
    row = db.execute(
        f"SELECT 1 FROM silences WHERE {_COVERING} LIMIT 1", (station, device, at_ms, at_ms)
    ).fetchone()
    return row is not None


def _to_silence(row: sqlite3.Row) -> Silence:
    return Silence(
        id=row["id"],
        station=row["station"],
        device=row["device"],
        starts_at=row["starts_at"],
        until_ms=row["until_ms"],
        created_by=row["created_by"],
        note=row["note"],
        ended_at=row["ended_at"],
        ended_by=row["ended_by"],
    )


def _refresh_flags(db: sqlite3.Connection, station: str, device: str | None, now_ms: int) -> None:
    """Recompute `silenced` of the subject's open alerts (all of the station's for a
    station silence)."""
    sql = (
        "UPDATE alerts SET silenced = EXISTS (SELECT 1 FROM silences s "
        "WHERE s.ended_at IS NULL AND s.station = alerts.station "
        "AND (s.device IS NULL OR s.device = alerts.device) "
        "AND s.starts_at <= ? AND s.until_ms > ?) "
        "WHERE station = ? AND status != 'resolved'"
    )
    args: list[object] = [now_ms, now_ms, station]
    if device is not None:
        sql += " AND device = ?"
        args.append(device)
    db.execute(sql, args)


def add(
    db: sqlite3.Connection,
    station: str,
    device: str | None,
    starts_at: int,
    until_ms: int,
    who: str,
    note: str,
    now_ms: int,
) -> Silence:
    if until_ms <= starts_at:
        raise ValueError(f"silence ends ({until_ms}) before it starts ({starts_at})")
    if until_ms <= now_ms:
        raise ValueError("silence would already be over")
    if len(note) > MAX_NOTE:
        raise ValueError(f"note longer than {MAX_NOTE} characters")
    cur = db.execute(
        "INSERT INTO silences (station, device, starts_at, until_ms, created_by, note) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (station, device, starts_at, until_ms, who, note),
    )
    _refresh_flags(db, station, device, now_ms)
    silence = get(db, int(cur.lastrowid or 0))
    assert silence is not None
    return silence


def get(db: sqlite3.Connection, silence_id: int) -> Silence | None:
    row = db.execute("SELECT * FROM silences WHERE id = ?", (silence_id,)).fetchone()
    return _to_silence(row) if row is not None else None


def end(db: sqlite3.Connection, silence_id: int, who: str, now_ms: int) -> Silence:
    silence = get(db, silence_id)
    if silence is None:
        raise NotFoundError(f"no silence {silence_id}")
    if silence.ended_at is not None:
        raise InvalidTransitionError(
            f"silence {silence_id} was already ended by {silence.ended_by} "
            f"at {iso(silence.ended_at)}",
            "ended",
        )
    if silence.until_ms <= now_ms:
        raise InvalidTransitionError(
            f"silence {silence_id} already ran out at {iso(silence.until_ms)}", "expired"
        )
    db.execute(
        "UPDATE silences SET ended_at = ?, ended_by = ? WHERE id = ?", (now_ms, who, silence_id)
    )
    _refresh_flags(db, silence.station, silence.device, now_ms)
    ended = get(db, silence_id)
    assert ended is not None
    return ended


def active(db: sqlite3.Connection, now_ms: int) -> list[Silence]:
    rows = db.execute(
        "SELECT * FROM silences WHERE ended_at IS NULL AND starts_at <= ? AND until_ms > ? "
        "ORDER BY station, device, id",
        (now_ms, now_ms),
    )
    return [_to_silence(r) for r in rows]


def listing(
    db: sqlite3.Connection,
    now_ms: int,
    *,
    include_inactive: bool = False,
    station: str | None = None,
    limit: int = 100,
) -> list[Silence]:
    """Silences still to come or running (all of them with `include_inactive`),
    newest first."""
    where: list[str] = []
    args: list[object] = []
    if not include_inactive:
        where.append("ended_at IS NULL AND until_ms > ?")
        args.append(now_ms)
    if station is not None:
        where.append("station = ?")
        args.append(station)
    sql = "SELECT * FROM silences"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = db.execute(sql + " ORDER BY id DESC LIMIT ?", [*args, max(0, min(limit, 1000))])
    return [_to_silence(r) for r in rows]
