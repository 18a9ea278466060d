"""Reading alerts and their history; row conversion shared by the writers."""

import json
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from alertstore.model import Action, AlertDetail, AlertRecord, HistoryEntry, Status, Value
from warmnet.severity import Severity

MAX_LIMIT = 1000


def iso(ms: int | None) -> str:
    """Epoch ms as ISO 8601 UTC, for messages people read."""
    if ms is None:
        return "?"
    return (
        datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )


def dump_value(value: Value) -> str:
    return json.dumps(value, ensure_ascii=False)


def load_value(text: str) -> Value:
    value: Value = json.loads(text)
    return value


def to_alert(row: sqlite3.Row) -> AlertRecord:
    return AlertRecord(
        id=row["id"],
        rule=row["rule"],
        station=row["station"],
        device=row["device"],
        severity=Severity(row["severity"]),
        status=Status(row["status"]),
        title_zh=row["title_zh"],
        title_en=row["title_en"],
        value=load_value(row["value"]),
        detail=row["detail"],
        fired_at=row["fired_at"],
        updated_at=row["updated_at"],
        acknowledged_at=row["acknowledged_at"],
        acknowledged_by=row["acknowledged_by"],
        assignee=row["assignee"],
        resolved_at=row["resolved_at"],
        resolved_by=row["resolved_by"],
        resolve_note=row["resolve_note"],
        reopen_count=row["reopen_count"],
        silenced=bool(row["silenced"]),
        suppressed=bool(row["suppressed"]),
    )


def to_history(row: sqlite3.Row) -> HistoryEntry:
    return HistoryEntry(
        seq=row["seq"],
        alert_id=row["alert_id"],
        at_ms=row["at_ms"],
        action=Action(row["action"]),
        who=row["who"],
        status=Status(row["status"]),
        note=row["note"],
        value=load_value(row["value"]),
        detail=row["detail"],
    )


def alert_row(db: sqlite3.Connection, alert_id: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = db.execute(
        "SELECT * FROM alerts WHERE id = ?", (alert_id,)
    ).fetchone()
    return row


def add_history(
    db: sqlite3.Connection,
    alert_id: str,
    at_ms: int,
    action: Action,
    source: str,
    who: str,
    status: Status,
    *,
    note: str | None = None,
    value: Value = None,
    detail: str = "",
) -> bool:
    """Append a history row; False if it is an engine transition already recorded."""
    cur = db.execute(
        "INSERT OR IGNORE INTO history (alert_id, at_ms, action, source, who, status, note, "
        "value, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (alert_id, at_ms, action.value, source, who, status.value, note, dump_value(value), detail),
    )
    return cur.rowcount == 1


def get_detail(db: sqlite3.Connection, alert_id: str) -> AlertDetail | None:
    row = alert_row(db, alert_id)
    if row is None:
        return None
    rows = db.execute("SELECT * FROM history WHERE alert_id = ? ORDER BY seq", (alert_id,))
    return AlertDetail(to_alert(row), tuple(to_history(r) for r in rows))


def _values(v: str | Iterable[str] | None) -> list[str]:
    if v is None:
        return []
    return [v] if isinstance(v, str) else [str(x) for x in v]


def list_alerts(
    db: sqlite3.Connection,
    *,
    status: str | Iterable[str] | None = None,
    severity: str | Iterable[str] | None = None,
    station: str | None = None,
    device: str | None = None,
    since_ms: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AlertRecord]:
    """Alerts changed at or after `since_ms`, newest change first. `status` and
    `severity` take one value or several (any of them)."""
    where: list[str] = []
    args: list[Any] = []
    for column, wanted, enum in (
        ("status", _values(status), Status),
        ("severity", _values(severity), Severity),
    ):
        if wanted:
            checked = [enum(w).value for w in wanted]  # ValueError names the bad value
            where.append(f"{column} IN ({', '.join('?' * len(checked))})")
            args += checked
    if station is not None:
        where.append("station = ?")
        args.append(station)
    if device is not None:
        where.append("device = ?")
        args.append(device)
    if since_ms is not None:
        where.append("updated_at >= ?")
        args.append(since_ms)
    sql = "SELECT * FROM alerts"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY updated_at DESC, id LIMIT ? OFFSET ?"
    args += [max(0, min(limit, MAX_LIMIT)), max(0, offset)]
    return [to_alert(r) for r in db.execute(sql, args)]
