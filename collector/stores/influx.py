"""InfluxDB through its v1-compatible HTTP API: `POST /write` (line protocol,
precision=ms, gzip) and `GET /query` (InfluxQL, epoch=ms).

The same path works on InfluxDB 1.x, 2.x (DBRP mapping; token as password) and 3.x.
Never pass `rp`. 1.x answers 404 until `CREATE DATABASE` ran, so the database is
created on start and again if a write reports it missing.
"""

import gzip
import logging
from collections.abc import Sequence
from typing import Any

import httpx

from collector.ingest.points import Point, encode
from collector.stores.base import StoreRejectedError, StoreUnavailableError

log = logging.getLogger(__name__)


class InfluxV1Store:
    def __init__(
        self,
        url: str,
        database: str,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        if "/" in database:
            raise ValueError("InfluxDB database name must not contain '/'")
        self.database = database
        auth = httpx.BasicAuth(username, password or "") if username else None
        self._http = httpx.Client(base_url=url.rstrip("/"), auth=auth, timeout=timeout_s)

    def ensure_database(self) -> None:
        """CREATE DATABASE (idempotent on 1.x). 2.x/3.x may refuse it: the bucket or
        database must then exist already, which the first write will tell."""
        try:
            r = self._http.post("/query", data={"q": f'CREATE DATABASE "{self.database}"'})
        except httpx.HTTPError as exc:
            raise StoreUnavailableError(f"InfluxDB unreachable: {exc}") from exc
        if r.status_code >= 500:
            raise StoreUnavailableError(f"InfluxDB {r.status_code}: {r.text[:200]}")
        if r.status_code >= 400:
            log.warning(
                "CREATE DATABASE refused; assuming it exists",
                extra={"status": r.status_code, "body": r.text[:200]},
            )

    def write(self, points: Sequence[Point]) -> None:
        if not points:
            return
        body = gzip.compress(encode(points), compresslevel=1)
        for attempt in (1, 2):
            try:
                r = self._http.post(
                    "/write",
                    params={"db": self.database, "precision": "ms"},
                    content=body,
                    headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"},
                )
            except httpx.HTTPError as exc:
                raise StoreUnavailableError(f"InfluxDB unreachable: {exc}") from exc
            if r.status_code == 204 or r.status_code == 200:
                return
            if r.status_code == 404 and "database not found" in r.text and attempt == 1:
                self.ensure_database()
                continue
            # Not the data's fault: server trouble, overload, or credentials (a rotated
            # token must not make us dead-letter good data).
            if r.status_code >= 500 or r.status_code in (401, 403, 404, 408, 429):
                raise StoreUnavailableError(f"InfluxDB {r.status_code}: {r.text[:200]}")
            raise StoreRejectedError(f"InfluxDB {r.status_code}: {r.text[:300]}")

    def query(self, q: str) -> dict[str, Any]:
        """Run InfluxQL against our database (epoch=ms). For tools and tests."""
        r = self._http.get("/query", params={"db": self.database, "q": q, "epoch": "ms"})
        r.raise_for_status()
        result: dict[str, Any] = r.json()
        return result

    def close(self) -> None:
        self._http.close()
