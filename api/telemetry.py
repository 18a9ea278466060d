"""Recent telemetry of an alert's subject, read-only, for crews ("what did the device do
before it failed?").

`RecentTelemetry` is the seam; two implementations read what the collector wrote:
- `InfluxRecentTelemetry`: InfluxDB's v1 `GET /query` (InfluxQL, `epoch=ms`), the same
  path on 1.x, 2.x (DBRP) and 3.x;
- `SqliteRecentTelemetry`: the collector's embedded `timeseries.sqlite` (table
  `points(measurement, station, device, area, tags, ts, fields JSON)`), opened
  read-only. Only the schema is shared: nothing of `collector` is imported.

Time bounds are explicit epoch ms from the API's clock (not InfluxQL's `now()`), so a
simulated clock and the store agree.
"""

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from api.settings import ApiSettings
from warmnet.ids import check_id
from warmnet.kinds import DeviceKind

FieldValue = bool | int | float | str
TAG_COLUMNS = frozenset({"time", "station", "device", "area"})


class TelemetryError(RuntimeError):
    """The time-series source could not answer (down, refused, no data file yet)."""


@dataclass(frozen=True, slots=True)
class TelemetryPoint:
    measurement: str  # the device kind
    station: str
    device: str
    ts: int  # epoch ms
    fields: dict[str, FieldValue] = field(default_factory=dict)


class RecentTelemetry(Protocol):
    source: str  # "influxdb" | "sqlite"

    def recent(
        self,
        station: str,
        device: str | None,
        kinds: Sequence[DeviceKind],
        since_ms: int,
        until_ms: int,
        limit: int,
    ) -> list[TelemetryPoint]:
        """Points of `device` (every device of the station when None) of these kinds
        with since_ms < ts <= until_ms, newest first, at most `limit`."""
        ...

    def close(self) -> None: ...


def _checked(station: str, device: str | None, kinds: Sequence[DeviceKind]) -> list[str]:
    check_id(station, "station")
    if device is not None:
        check_id(device, "device")
    return [DeviceKind(k).value for k in kinds]


def _newest(points: list[TelemetryPoint], limit: int) -> list[TelemetryPoint]:
    points.sort(key=lambda p: (p.ts, p.measurement, p.device), reverse=True)
    return points[:limit]


class InfluxRecentTelemetry:
    source = "influxdb"

    def __init__(
        self,
        url: str,
        database: str,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        if "/" in database:
            raise ValueError("InfluxDB database name must not contain '/'")
        self.database = database
        auth = httpx.BasicAuth(username, password or "") if username else None
        self._http = httpx.Client(base_url=url.rstrip("/"), auth=auth, timeout=timeout_s)

    @staticmethod
    def statement(
        kind: str, station: str, device: str | None, since_ms: int, until_ms: int, limit: int
    ) -> str:
        """One InfluxQL SELECT (ids are checked `[a-z0-9-]` before they get here)."""
        where = f"\"station\" = '{station}'"
        if device is not None:
            where += f" AND \"device\" = '{device}'"
        return (
            f'SELECT * FROM "{kind}" WHERE {where} AND time > {int(since_ms)}ms '
            f"AND time <= {int(until_ms)}ms ORDER BY time DESC LIMIT {int(limit)}"
        )

    def recent(
        self,
        station: str,
        device: str | None,
        kinds: Sequence[DeviceKind],
        since_ms: int,
        until_ms: int,
        limit: int,
    ) -> list[TelemetryPoint]:
        names = _checked(station, device, kinds)
        if not names:
            return []
        q = "; ".join(self.statement(k, station, device, since_ms, until_ms, limit) for k in names)
        try:
            r = self._http.get("/query", params={"db": self.database, "q": q, "epoch": "ms"})
        except httpx.HTTPError as exc:
            raise TelemetryError(f"InfluxDB unreachable: {exc}") from exc
        if r.status_code != 200:
            raise TelemetryError(f"InfluxDB {r.status_code}: {r.text[:200]}")
        try:
            body: dict[str, Any] = r.json()
        except ValueError as exc:
            raise TelemetryError(f"InfluxDB answered non-JSON: {r.text[:200]}") from exc
        return _newest(self._points(body, station), limit)

    @staticmethod
    def _points(body: dict[str, Any], station: str) -> list[TelemetryPoint]:
        if "error" in body:
            raise TelemetryError(f"InfluxDB: {body['error']}")
        out: list[TelemetryPoint] = []
        for result in body.get("results", []):
            if "error" in result:
                raise TelemetryError(f"InfluxDB: {result['error']}")
            for series in result.get("series", []):
                columns: list[str] = series["columns"]
                for values in series.get("values", []):
                    row = dict(zip(columns, values, strict=True))
                    fields = {
                        k: v for k, v in row.items() if k not in TAG_COLUMNS and v is not None
                    }
                    out.append(
                        TelemetryPoint(
                            series["name"],
                            str(row.get("station") or station),
                            str(row.get("device") or ""),
                            int(row["time"]),
                            fields,
                        )
                    )
        return out

    def close(self) -> None:
        self._http.close()


class SqliteRecentTelemetry:
    """Reads the collector's `timeseries.sqlite`; a connection per query (the file may
    appear after the API started), opened read-only."""

    source = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path

    def recent(
        self,
        station: str,
        device: str | None,
        kinds: Sequence[DeviceKind],
        since_ms: int,
        until_ms: int,
        limit: int,
    ) -> list[TelemetryPoint]:
        names = _checked(station, device, kinds)
        if not names:
            return []
        if not self.path.exists():
            raise TelemetryError(f"no time series at {self.path} (has the collector run?)")
        sql = (
            "SELECT measurement, station, device, ts, fields FROM points "
            "WHERE measurement = ? AND station = ? AND ts > ? AND ts <= ?"
        )
        if device is not None:
            sql += " AND device = ?"
        sql += " ORDER BY ts DESC LIMIT ?"
        tail = [device, limit] if device is not None else [limit]
        out: list[TelemetryPoint] = []
        try:
            db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=2)
            try:
                for kind in names:
                    rows = db.execute(sql, [kind, station, since_ms, until_ms, *tail])
                    for m, s, d, ts, fields in rows:
                        out.append(TelemetryPoint(m, s, d, int(ts), dict(json.loads(fields))))
            finally:
                db.close()
        except (sqlite3.Error, ValueError) as exc:
            raise TelemetryError(f"time series {self.path}: {exc}") from exc
        return _newest(out, limit)

    def close(self) -> None:
        pass


def telemetry_from_settings(settings: ApiSettings) -> RecentTelemetry:
    """InfluxDB when `influx_url` is set (as for the collector), else its SQLite file."""
    if settings.influx_url is not None:
        password = settings.influx_password
        return InfluxRecentTelemetry(
            str(settings.influx_url),
            settings.influx_db,
            username=settings.influx_user,
            password=password.get_secret_value() if password is not None else None,
            timeout_s=settings.influx_timeout_s,
        )
    return SqliteRecentTelemetry(settings.timeseries_sqlite)
