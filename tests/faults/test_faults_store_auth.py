"""InfluxDB refuses the collector's credentials for a while (HTTP 401: a rotated
password or token, a revoked grant). That is not a verdict on the data: nothing may be
dead-lettered, the collector keeps the batches (spill) and stores them once the
credentials work again.

Runs its own InfluxDB 1.6.7 with `auth-enabled = true` (the session's runs without
auth), so the 401 comes from the real server.
"""

from pathlib import Path
from typing import Any

import httpx
import pytest
from steady import (
    SteadyPublisher,
    check_exactly_once,
    devices_of,
    publishing,
    running_collector,
    stored_points,
)

from collector.settings import CollectorSettings
from testbed.services import InfluxServer, MosquittoServer, wait_for
from warmnet.registry import load_fleet

pytestmark = [pytest.mark.faults, pytest.mark.integration]

FLEET = load_fleet()
RATE = 300
ADMIN = ("admin", "admin-secret")
WRITER = ("collector", "writer-secret")


class AuthInfluxServer(InfluxServer):
    """InfluxDB 1.x with authentication on; the test helpers act as the admin."""

    def _write_config(self) -> None:
        super()._write_config()
        text = self.config_path.read_text()
        assert "auth-enabled = false" in text
        self.config_path.write_text(text.replace("auth-enabled = false", "auth-enabled = true"))

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(base_url=self.url, timeout=10.0, auth=ADMIN)
        return self._client


class DeadLetteredGoodDataError(AssertionError):
    """Valid data was dead-lettered because the store refused the credentials."""


@pytest.fixture
def auth_influx(tmp_path: Path) -> Any:
    server = AuthInfluxServer(workdir=tmp_path / "influxdb")
    server.start()
    try:
        # With no user yet, 1.x accepts exactly this one statement unauthenticated.
        r = httpx.post(
            f"{server.url}/query",
            data={"q": f"CREATE USER {ADMIN[0]} WITH PASSWORD '{ADMIN[1]}' WITH ALL PRIVILEGES"},
        )
        assert r.status_code == 200 and "error" not in r.text, r.text
        yield server
    finally:
        server.close()


def test_refused_credentials_spill_instead_of_dead_lettering(
    mosquitto: MosquittoServer,
    auth_influx: InfluxServer,
    tmp_path: Path,
    unique_id: str,
) -> None:
    db = f"t_{unique_id}"
    auth_influx.create_database(db)
    auth_influx.query(f"CREATE USER {WRITER[0]} WITH PASSWORD '{WRITER[1]}'")
    auth_influx.query(f'GRANT ALL ON "{db}" TO {WRITER[0]}')
    settings = CollectorSettings(
        mqtt_url=mosquitto.url,
        influx_url=auth_influx.url,
        influx_db=db,
        influx_user=WRITER[0],
        influx_password=WRITER[1],
        data_dir=tmp_path / "collector",
        client_id=f"faults-auth-{unique_id}",
        metrics_port=0,
    )
    publisher = SteadyPublisher(
        mosquitto.host,
        mosquitto.port,
        f"faults-auth-pub-{unique_id}",
        devices_of(FLEET, ["wmq-03", "wmq-21"]),
        RATE,
    )
    with running_collector(settings, FLEET) as collector, publishing(publisher):
        metrics = collector.metrics
        wait_for(lambda: metrics.get("stored") >= RATE, timeout=15, message="no ingest")
        auth_influx.query(f"SET PASSWORD FOR {WRITER[0]} = 'rotated-elsewhere'")
        try:
            publisher.wait_sent(len(publisher.sent) + 2 * RATE)
        finally:
            auth_influx.query(f"SET PASSWORD FOR {WRITER[0]} = '{WRITER[1]}'")
        publisher.wait_sent(len(publisher.sent) + RATE)
        publisher.stop()
        publisher.wait_acked(timeout=30)
        expected = publisher.expected()
        wait_for(
            lambda: metrics.get("stored") + metrics.get("rejected") >= len(expected),
            timeout=20,
            message=lambda: f"collector behind: {metrics.snapshot()}",
        )
        print(
            f"\n[store auth] rejected={metrics.rejected()} spilled_batches="
            f"{metrics.get('spilled_batches')} write_errors={metrics.get('write_errors')}"
        )
        if metrics.get("rejected"):
            raise DeadLetteredGoodDataError(
                f"valid data dead-lettered while credentials were refused: {metrics.rejected()}"
            )
        wait_for(
            lambda: expected <= stored_points(auth_influx, db).keys,
            timeout=30,
            interval=0.5,
            message=lambda: f"not every point reached InfluxDB: {metrics.snapshot()}",
        )
        check_exactly_once(
            "store auth",
            expected,
            stored_points(auth_influx, db),
            collector_stored=metrics.get("stored"),
            rejected=metrics.get("rejected"),
        )
