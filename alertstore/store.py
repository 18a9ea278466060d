"""`AlertStore`: the one object the collector and the API use.

Every method is one transaction on the shared SQLite file (see `db.py`); several
processes and threads may call it at once. Crew actions take their time from the
injected clock; engine transitions carry their own (`at_ms`).
"""

from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from alertstore import crew, queries, record, reports, silences
from alertstore.db import Database
from alertstore.model import (
    AlertDetail,
    AlertRecord,
    EngineKind,
    EngineRecord,
    ManualAction,
    Recorded,
    ReportLimits,
    RiderReport,
    Silence,
    Value,
)
from warmnet.clock import Clock, SystemClock
from warmnet.ids import check_id
from warmnet.severity import Severity


class AlertStore:
    def __init__(
        self, path: Path | str, *, clock: Clock | None = None, busy_timeout_s: float = 10.0
    ) -> None:
        self._db = Database(Path(path), busy_timeout_s=busy_timeout_s)
        self._clock: Clock = clock if clock is not None else SystemClock()

    @property
    def path(self) -> Path:
        return self._db.path

    def journal_mode(self) -> str:
        return self._db.journal_mode()

    # --- engine (collector) ------------------------------------------------------------

    def record_engine(
        self,
        kind: EngineKind | str,
        alert_id: str,
        rule: str,
        station: str,
        device: str | None,
        severity: Severity | str,
        at_ms: int,
        value: Value = None,
        detail: str = "",
        title_zh: str = "",
        title_en: str = "",
    ) -> Recorded:
        """Record one engine transition (fire | update | resolve | reopen | suppress |
        unsuppress). Idempotent: a replayed transition is reported `applied=False`."""
        rec = EngineRecord(
            kind, alert_id, rule, station, device, severity, at_ms, value, detail,
            title_zh, title_en,
        )  # fmt: skip
        return self.record_engine_batch([rec])[0]

    def record_engine_batch(self, records: Sequence[EngineRecord]) -> list[Recorded]:
        """Record several transitions in one transaction (in order), e.g. a tick's."""
        with self._db.write() as db:
            return [record.record(db, rec) for rec in records]

    def pending_manual(self, after_seq: int = 0, *, limit: int = 500) -> list[ManualAction]:
        """Crew resolves and acknowledgements after `after_seq`, oldest first. Keep the
        last `seq` with the engine state; pass it next time."""
        with self._db.read() as db:
            return crew.pending_manual(db, after_seq, limit)

    def take_reports(self, after_id: int = 0, *, limit: int = 500) -> list[RiderReport]:
        """Rider reports after `after_id`, oldest first (the collector's cursor)."""
        with self._db.read() as db:
            return reports.take(db, after_id, limit)

    def active_silences(self, now_ms: int | None = None) -> list[Silence]:
        """Silences in effect at `now_ms` (default: the store's clock)."""
        now = self._now(now_ms)
        with self._db.read() as db:
            return silences.active(db, now)

    # --- crew (API) --------------------------------------------------------------------

    def acknowledge(self, alert_id: str, who: str, note: str | None = None) -> AlertRecord:
        with self._db.write() as db:
            return crew.acknowledge(db, alert_id, who, note, self._clock.now_ms())

    def assign(self, alert_id: str, who: str, assignee: str | None) -> AlertRecord:
        with self._db.write() as db:
            return crew.assign(db, alert_id, who, assignee, self._clock.now_ms())

    def resolve(self, alert_id: str, who: str, note: str) -> AlertRecord:
        with self._db.write() as db:
            return crew.resolve(db, alert_id, who, note, self._clock.now_ms())

    def silence(
        self,
        station: str,
        device: str | None,
        until_ms: int,
        who: str,
        note: str,
        *,
        starts_ms: int | None = None,
    ) -> Silence:
        """Silence a station (device None) or one device from `starts_ms` (default now)
        until `until_ms`."""
        check_id(station, "station")
        if device is not None:
            check_id(device, "device")
        now = self._clock.now_ms()
        with self._db.write() as db:
            start = now if starts_ms is None else starts_ms
            return silences.add(db, station, device, start, until_ms, who, note.strip(), now)

    def end_silence(self, silence_id: int, who: str) -> Silence:
        with self._db.write() as db:
            return silences.end(db, silence_id, who, self._clock.now_ms())

    def get_silence(self, silence_id: int) -> Silence | None:
        with self._db.read() as db:
            return silences.get(db, silence_id)

    def list_silences(
        self, *, include_inactive: bool = False, station: str | None = None, limit: int = 100
    ) -> list[Silence]:
        """Running and upcoming silences, newest first (all with `include_inactive`)."""
        with self._db.read() as db:
            return silences.listing(
                db,
                self._clock.now_ms(),
                include_inactive=include_inactive,
                station=station,
                limit=limit,
            )

    # --- rider reports (API) -----------------------------------------------------------

    def add_report(
        self,
        station: str,
        device: str | None,
        category: str,
        text: str,
        client_key_hash: str,
        now_ms: int | None = None,
        *,
        ip_key_hash: str | None = None,
        limits: ReportLimits | None = None,
    ) -> int:
        """Store a rider report; returns its id. With `limits`, raises
        `RateLimitedError` (with `retry_after_ms`) instead when the client is over."""
        now = self._now(now_ms)
        with self._db.write() as db:
            return reports.add(
                db, station, device, category, text, client_key_hash, now,
                ip_key=ip_key_hash, limits=limits,
            )  # fmt: skip

    def list_reports(
        self,
        *,
        station: str | None = None,
        since_ms: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[RiderReport]:
        with self._db.read() as db:
            return reports.listing(
                db, station=station, since_ms=since_ms, limit=limit, offset=offset
            )

    # --- queries -----------------------------------------------------------------------

    def get(self, alert_id: str) -> AlertDetail | None:
        """One alert with its history (oldest first), or None."""
        with self._db.read() as db:
            return queries.get_detail(db, alert_id)

    def list_alerts(
        self,
        *,
        status: str | Iterable[str] | None = None,
        severity: str | Iterable[str] | None = None,
        station: str | None = None,
        device: str | None = None,
        since_ms: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[AlertRecord]:
        """Alerts changed at or after `since_ms`, most recently changed first."""
        with self._db.read() as db:
            return queries.list_alerts(
                db,
                status=status,
                severity=severity,
                station=station,
                device=device,
                since_ms=since_ms,
                limit=limit,
                offset=offset,
            )

    # --- lifecycle ---------------------------------------------------------------------

    def _now(self, now_ms: int | None) -> int:
        return self._clock.now_ms() if now_ms is None else now_ms

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
