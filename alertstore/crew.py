"""Crew actions: acknowledge, assign, resolve; and the queue the collector reads so the
engine learns of them (`pending_manual` -> `collector.alerts.apply_manual`).

Allowed: acknowledge a firing alert; assign (or unassign) an open one; resolve an
open one, with a note. Anything else raises `InvalidTransitionError` saying why.
"""

import sqlite3

from alertstore.model import (
    Action,
    AlertRecord,
    InvalidTransitionError,
    ManualAction,
    NotFoundError,
    Status,
)
from alertstore.queries import MAX_LIMIT, add_history, alert_row, iso, to_alert

CREW = "crew"
MAX_NAME = 64
MAX_NOTE = 1000


def _open_alert(db: sqlite3.Connection, alert_id: str, doing: str) -> sqlite3.Row:
    row = alert_row(db, alert_id)
    if row is None:
        raise NotFoundError(f"no alert {alert_id!r}")
    if row["status"] == Status.RESOLVED:
        raise InvalidTransitionError(
            f"cannot {doing} alert {alert_id!r}: it was resolved by {row['resolved_by']} "
            f"at {iso(row['resolved_at'])}",
            Status.RESOLVED.value,
        )
    return row


def _check_text(value: str | None, what: str, limit: int) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) > limit:
        raise ValueError(f"{what} longer than {limit} characters")
    return value or None


def _who(who: str) -> str:
    name = _check_text(who, "who", MAX_NAME)
    if name is None:
        raise ValueError("who is required")
    return name


def acknowledge(
    db: sqlite3.Connection, alert_id: str, who: str, note: str | None, at_ms: int
) -> AlertRecord:
    who, note = _who(who), _check_text(note, "note", MAX_NOTE)
    row = _open_alert(db, alert_id, "acknowledge")
    if row["status"] == Status.ACKNOWLEDGED:
        raise InvalidTransitionError(
            f"alert {alert_id!r} is already acknowledged by {row['acknowledged_by']} "
            f"at {iso(row['acknowledged_at'])}",
            Status.ACKNOWLEDGED.value,
        )
    db.execute(
        "UPDATE alerts SET status = 'acknowledged', acknowledged_at = ?, acknowledged_by = ?, "
        "updated_at = MAX(updated_at, ?) WHERE id = ?",
        (at_ms, who, at_ms, alert_id),
    )
    add_history(db, alert_id, at_ms, Action.ACKNOWLEDGE, CREW, who, Status.ACKNOWLEDGED, note=note)
    return _reload(db, alert_id)


def assign(
    db: sqlite3.Connection, alert_id: str, who: str, assignee: str | None, at_ms: int
) -> AlertRecord:
    """Give the alert to `assignee` (None: nobody). The status does not change."""
    who, assignee = _who(who), _check_text(assignee, "assignee", MAX_NAME)
    row = _open_alert(db, alert_id, "assign")
    db.execute(
        "UPDATE alerts SET assignee = ?, updated_at = MAX(updated_at, ?) WHERE id = ?",
        (assignee, at_ms, alert_id),
    )
    detail = f"assigned to {assignee}" if assignee else "unassigned"
    add_history(db, alert_id, at_ms, Action.ASSIGN, CREW, who, Status(row["status"]), detail=detail)
    return _reload(db, alert_id)


def resolve(db: sqlite3.Connection, alert_id: str, who: str, note: str, at_ms: int) -> AlertRecord:
    who, text = _who(who), _check_text(note, "note", MAX_NOTE)
    if text is None:
        raise ValueError("a note is required to resolve an alert (what was done)")
    _open_alert(db, alert_id, "resolve")
    db.execute(
        "UPDATE alerts SET status = 'resolved', resolved_at = ?, resolved_by = ?, "
        "resolve_note = ?, suppressed = 0, updated_at = MAX(updated_at, ?) WHERE id = ?",
        (at_ms, who, text, at_ms, alert_id),
    )
    add_history(db, alert_id, at_ms, Action.RESOLVE, CREW, who, Status.RESOLVED, note=text)
    return _reload(db, alert_id)


def pending_manual(db: sqlite3.Connection, after_seq: int, limit: int) -> list[ManualAction]:
    rows = db.execute(
        "SELECT h.seq, h.alert_id, h.action, a.rule, a.station, a.device, h.at_ms, h.who "
        "FROM history h JOIN alerts a ON a.id = h.alert_id "
        "WHERE h.source = 'crew' AND h.seq > ? AND h.action IN ('resolve', 'acknowledge') "
        "ORDER BY h.seq LIMIT ?",
        (after_seq, max(1, min(limit, MAX_LIMIT))),
    )
    return [
        ManualAction(
            seq=r["seq"],
            alert_id=r["alert_id"],
            action="resolve" if r["action"] == "resolve" else "acknowledge",
            rule=r["rule"],
            station=r["station"],
            device=r["device"],
            at_ms=r["at_ms"],
            who=r["who"],
        )
        for r in rows
    ]


def _reload(db: sqlite3.Connection, alert_id: str) -> AlertRecord:
    row = alert_row(db, alert_id)
    assert row is not None
    return to_alert(row)
