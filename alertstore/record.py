"""Engine transitions into alert state (automatic: `who` is "system").

Idempotent: a collector that restarts may hand over transitions again. An engine
history row is unique per (alert, action, at_ms), so an exact replay changes nothing;
the status checks make the rest harmless (a fire for a known id, an update older
than the alert, a resolve of a resolved alert, a reopen of an open one).

`update`s refresh the alert's value, detail and `updated_at` but add no history row
(one a minute per firing alert would drown the lifecycle).
"""

import sqlite3
from dataclasses import replace

from alertstore import silences
from alertstore.model import SYSTEM, Action, EngineKind, EngineRecord, Recorded, Status
from alertstore.queries import add_history, alert_row, dump_value
from warmnet.ids import check_id
from warmnet.severity import Severity

ENGINE = "engine"
MAX_DETAIL = 500
MAX_TITLE = 200


def record(db: sqlite3.Connection, rec: EngineRecord) -> Recorded:
    kind = EngineKind(rec.kind)  # ValueError for "action" or anything unknown
    severity = Severity(rec.severity)
    check_id(rec.station, "station")
    if rec.device is not None:
        check_id(rec.device, "device")
    if not rec.alert_id or len(rec.alert_id) > 200:
        raise ValueError(f"invalid alert id {rec.alert_id!r}")
    rec = _trimmed(rec)
    silenced = silences.covered(db, rec.station, rec.device, rec.at_ms)
    row = alert_row(db, rec.alert_id)
    if row is None:
        if kind in (EngineKind.RESOLVE, EngineKind.SUPPRESS, EngineKind.UNSUPPRESS):
            return Recorded(rec.alert_id, False, silenced, None)  # nothing to act on
        _insert(db, rec, severity, silenced, kind)
        return Recorded(rec.alert_id, True, silenced, Status.FIRING)

    status = Status(row["status"])
    applied = False
    if kind is EngineKind.UPDATE:
        if status is not Status.RESOLVED and rec.at_ms > row["updated_at"]:
            db.execute(
                "UPDATE alerts SET value = ?, detail = ?, updated_at = ?, severity = ?, "
                "silenced = ? WHERE id = ?",
                (
                    dump_value(rec.value),
                    rec.detail,
                    rec.at_ms,
                    severity.value,
                    int(silenced),
                    rec.alert_id,
                ),
            )
            applied = True
    elif kind is EngineKind.RESOLVE:
        if status is not Status.RESOLVED and _once(db, rec, Action.RESOLVE, Status.RESOLVED):
            db.execute(
                "UPDATE alerts SET status = 'resolved', resolved_at = ?, resolved_by = ?, "
                "resolve_note = ?, value = ?, updated_at = MAX(updated_at, ?), suppressed = 0 "
                "WHERE id = ?",
                (
                    rec.at_ms,
                    SYSTEM,
                    rec.detail or None,
                    dump_value(rec.value),
                    rec.at_ms,
                    rec.alert_id,
                ),
            )
            status, applied = Status.RESOLVED, True
    elif kind is EngineKind.REOPEN:
        if status is Status.RESOLVED and _once(db, rec, Action.REOPEN, Status.FIRING):
            db.execute(
                "UPDATE alerts SET status = 'firing', reopen_count = reopen_count + 1, "
                "acknowledged_at = NULL, acknowledged_by = NULL, resolved_at = NULL, "
                "resolved_by = NULL, resolve_note = NULL, value = ?, detail = ?, "
                "updated_at = MAX(updated_at, ?), severity = ?, silenced = ?, suppressed = 0 "
                "WHERE id = ?",
                (
                    dump_value(rec.value),
                    rec.detail,
                    rec.at_ms,
                    severity.value,
                    int(silenced),
                    rec.alert_id,
                ),
            )
            status, applied = Status.FIRING, True
    elif kind in (EngineKind.SUPPRESS, EngineKind.UNSUPPRESS):
        flag = kind is EngineKind.SUPPRESS
        action = Action.SUPPRESS if flag else Action.UNSUPPRESS
        if (
            status is not Status.RESOLVED
            and bool(row["suppressed"]) is not flag
            and _once(db, rec, action, status)
        ):
            db.execute(
                "UPDATE alerts SET suppressed = ?, updated_at = MAX(updated_at, ?) WHERE id = ?",
                (int(flag), rec.at_ms, rec.alert_id),
            )
            applied = True
    # FIRE of a known id: the same alert (the id carries its fire time): a replay.
    return Recorded(rec.alert_id, applied, silenced, status)


def _trimmed(rec: EngineRecord) -> EngineRecord:
    return replace(
        rec,
        at_ms=int(rec.at_ms),
        detail=rec.detail[:MAX_DETAIL],
        title_zh=rec.title_zh[:MAX_TITLE],
        title_en=rec.title_en[:MAX_TITLE],
    )


def _once(db: sqlite3.Connection, rec: EngineRecord, action: Action, after: Status) -> bool:
    return add_history(
        db,
        rec.alert_id,
        rec.at_ms,
        action,
        ENGINE,
        SYSTEM,
        after,
        value=rec.value,
        detail=rec.detail,
    )


def _insert(
    db: sqlite3.Connection,
    rec: EngineRecord,
    severity: Severity,
    silenced: bool,
    kind: EngineKind,
) -> None:
    db.execute(
        "INSERT INTO alerts (id, rule, station, device, severity, status, title_zh, title_en, "
        "value, detail, fired_at, updated_at, silenced) "
        "VALUES (?, ?, ?, ?, ?, 'firing', ?, ?, ?, ?, ?, ?, ?)",
        (
            rec.alert_id,
            rec.rule,
            rec.station,
            rec.device,
            severity.value,
            rec.title_zh or rec.rule,
            rec.title_en or rec.rule,
            dump_value(rec.value),
            rec.detail,
            rec.at_ms,
            rec.at_ms,
            int(silenced),
        ),
    )
    detail = rec.detail
    if kind is not EngineKind.FIRE:
        # The store missed the fire (it was created after the alert, or wiped).
        detail = f"first recorded on {kind.value}" + (f": {detail}" if detail else "")
    _once(db, replace(rec, detail=detail), Action.FIRE, Status.FIRING)
