"""The rider reports inbox: the API adds (rate-limited per client), the collector takes
them in id order and feeds them to the engine as `RiderReportInput`s."""

import sqlite3

from alertstore.model import (
    REPORT_CATEGORIES,
    RateLimitedError,
    ReportLimits,
    RiderReport,
)
from alertstore.queries import MAX_LIMIT
from warmnet.ids import check_id

MAX_TEXT = 200


def _retry_after_ms(
    db: sqlite3.Connection, column: str, key: str, limit: int, now_ms: int, window_ms: int
) -> int | None:
    """None if one more report from `key` fits; else ms until one does."""
    since = now_ms - window_ms
    (count,) = db.execute(
        f"SELECT COUNT(*) FROM reports WHERE {column} = ? AND at_ms > ?", (key, since)
    ).fetchone()
    if count < limit:
        return None
    # The report whose leaving the window brings the count below the limit.
    (at,) = db.execute(
        f"SELECT at_ms FROM reports WHERE {column} = ? AND at_ms > ? "
        "ORDER BY at_ms LIMIT 1 OFFSET ?",
        (key, since, count - limit),
    ).fetchone()
    return max(1, int(at) + window_ms - now_ms)


def add(
    db: sqlite3.Connection,
    station: str,
    device: str | None,
    category: str,
    text: str,
    client_key: str,
    now_ms: int,
    *,
    ip_key: str | None = None,
    limits: ReportLimits | None = None,
) -> int:
    check_id(station, "station")
    if device is not None:
        check_id(device, "device")
    if category not in REPORT_CATEGORIES:
        raise ValueError(f"unknown category {category!r} (one of {', '.join(REPORT_CATEGORIES)})")
    text = text.strip()
    if len(text) > MAX_TEXT:
        raise ValueError(f"text longer than {MAX_TEXT} characters")
    if not client_key:
        raise ValueError("client key is required")
    if limits is not None:
        checks = [("client_key", client_key, limits.per_client)]
        if ip_key is not None and limits.per_ip is not None:
            checks.append(("ip_key", ip_key, limits.per_ip))
        for column, key, limit in checks:
            wait = _retry_after_ms(db, column, key, limit, now_ms, limits.window_ms)
            if wait is not None:
                who = "client" if column == "client_key" else "network address"
                raise RateLimitedError(
                    f"too many reports from this {who}: at most {limit} per "
                    f"{limits.window_ms // 60_000} min",
                    wait,
                )
    cur = db.execute(
        "INSERT INTO reports (station, device, category, text, client_key, ip_key, at_ms) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (station, device, category, text, client_key, ip_key, now_ms),
    )
    return int(cur.lastrowid or 0)


def _to_report(row: sqlite3.Row) -> RiderReport:
    return RiderReport(
        id=row["id"],
        station=row["station"],
        device=row["device"],
        category=row["category"],
        text=row["text"],
        client_key_hash=row["client_key"],
        at_ms=row["at_ms"],
    )


def take(db: sqlite3.Connection, after_id: int, limit: int) -> list[RiderReport]:
    rows = db.execute(
        "SELECT * FROM reports WHERE id > ? ORDER BY id LIMIT ?",
        (after_id, max(1, min(limit, MAX_LIMIT))),
    )
    return [_to_report(r) for r in rows]


def listing(
    db: sqlite3.Connection,
    *,
    station: str | None = None,
    since_ms: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[RiderReport]:
    """Newest first."""
    where: list[str] = []
    args: list[object] = []
    if station is not None:
        where.append("station = ?")
        args.append(station)
    if since_ms is not None:
        where.append("at_ms >= ?")
        args.append(since_ms)
    sql = "SELECT * FROM reports"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC LIMIT ? OFFSET ?"
    rows = db.execute(sql, [*args, max(0, min(limit, MAX_LIMIT)), max(0, offset)])
    return [_to_report(r) for r in rows]
