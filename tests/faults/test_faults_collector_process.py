"""The collector as a real process (`python -m launcher collector`), killed with SIGKILL
or stopped with SIGTERM mid-stream (also while InfluxDB is down or hanging), then
started again under the same client id (the persistent session): nothing published is
lost. The SIGKILLed run's counters die with it, so duplicates cannot be counted here;
the last run's counters come from its final log line (JSON logs)."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from steady import (
    SteadyPublisher,
    check_exactly_once,
    devices_of,
    publishing,
    stored_points,
)

from collector.ingest.spill import SqliteSpill
from testbed.services import InfluxServer, MosquittoServer, clear_session, free_port, wait_for
from warmnet.registry import load_fleet

pytestmark = [pytest.mark.faults, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
FLEET = load_fleet()
RATE = 300
SHUTDOWN_TIMEOUT_S = 10.0
STATIONS = ["wmq-02", "wmq-04", "wmq-08", "wmq-12"]


class CollectorDidNotStartError(AssertionError):
    """The collector process exited during start-up."""


class CollectorProcess:
    """One `python -m launcher collector` run, logging JSON lines to `log_path`."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "CollectorProcess":
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "launcher", "collector"],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        proc = self.proc
        wait_for(
            lambda: proc.poll() is not None or self.logged("collector running"),
            timeout=30,
            message=lambda: f"collector did not start:\n{self.tail()}",
        )
        if proc.poll() is not None:
            raise CollectorDidNotStartError(
                f"collector exited with {proc.returncode}:\n{self.tail()}"
            )
        return self

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(raw))
        return out

    def logged(self, msg: str) -> dict[str, Any] | None:
        return next((line for line in self.lines() if line.get("msg") == msg), None)

    def tail(self, n: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float) -> tuple[int | None, float]:
        """SIGTERM; return (exit code or None if still running after `timeout`, seconds)."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code: int | None = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            code = None
        return code, time.monotonic() - started

    def close(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def collector_env(
    mosquitto: MosquittoServer,
    influxdb: InfluxServer,
    influx_db: str,
    tmp_path: Path,
    unique_id: str,
) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARMNET_")}
    client_id = f"faults-proc-{unique_id}"
    env.update(
        WARMNET_MQTT_URL=mosquitto.url,
        WARMNET_INFLUX_URL=influxdb.url,
        WARMNET_INFLUX_DB=influx_db,
        WARMNET_DATA_DIR=str(tmp_path / "collector"),
        WARMNET_CLIENT_ID=client_id,
        WARMNET_METRICS_PORT=str(free_port()),
        WARMNET_SHUTDOWN_TIMEOUT_S=str(SHUTDOWN_TIMEOUT_S),
        WARMNET_LOG_JSON="true",
        WARMNET_LOG_LEVEL="INFO",
    )
    yield env
    clear_session(mosquitto.host, mosquitto.port, client_id)


@pytest.fixture
def processes(tmp_path: Path, collector_env: dict[str, str]) -> Iterator[list[CollectorProcess]]:
    """Collector processes started by the test; whatever still runs is killed after it."""
    procs: list[CollectorProcess] = []
    yield procs
    for p in procs:
        p.close()


def _run(procs: list[CollectorProcess], env: dict[str, str], log: Path) -> CollectorProcess:
    proc = CollectorProcess(env, log)
    procs.append(proc)
    return proc.start()


def _wait_rows(influxdb: InfluxServer, db: str, n: int) -> None:
    wait_for(
        lambda: len(stored_points(influxdb, db).rows) >= n,
        timeout=20,
        interval=0.2,
        message=f"fewer than {n} points stored",
    )


def _finish(
    label: str,
    publisher: SteadyPublisher,
    influxdb: InfluxServer,
    db: str,
    last: CollectorProcess,
) -> None:
    """Stop publishing, wait until everything is in InfluxDB, stop the last collector
    cleanly and compare."""
    publisher.stop()
    publisher.wait_acked(timeout=30)
    expected = publisher.expected()
    wait_for(
        lambda: expected <= stored_points(influxdb, db).keys,
        timeout=30,
        interval=0.5,
        message="not every published point reached InfluxDB",
    )
    code, _ = last.terminate(SHUTDOWN_TIMEOUT_S + 5)
    assert code == 0, last.tail()
    stopped = last.logged("collector stopped") or {}
    print(
        f"\n[{label}] last run's counters: stored={stopped.get('stored')} "
        f"received={stopped.get('received')} rejected={stopped.get('rejected', 0)}"
    )
    check_exactly_once(label, expected, stored_points(influxdb, db), rejected=0)


def test_sigkill_mid_stream_then_restart_loses_nothing(
    mosquitto: MosquittoServer,
    influxdb: InfluxServer,
    influx_db: str,
    tmp_path: Path,
    unique_id: str,
    collector_env: dict[str, str],
    processes: list[CollectorProcess],
) -> None:
    devices = devices_of(FLEET, STATIONS)
    publisher = SteadyPublisher(
        mosquitto.host, mosquitto.port, f"faults-kill-pub-{unique_id}", devices, RATE
    )
    first = _run(processes, collector_env, tmp_path / "collector-1.log")
    with publishing(publisher):
        _wait_rows(influxdb, influx_db, RATE)
        first.kill()  # SIGKILL: whatever it held in memory was never acknowledged
        killed_at = len(publisher.sent)
        # The broker queues for the dead collector's session meanwhile.
        publisher.wait_sent(killed_at + 2 * RATE)
        second = _run(processes, collector_env, tmp_path / "collector-2.log")
        assert second.logged("collector subscribing")["session_present"] is True  # type: ignore[index]
        publisher.wait_sent(len(publisher.sent) + RATE)
        print(f"\n[sigkill] killed after {killed_at} published")
        _finish("sigkill", publisher, influxdb, influx_db, second)


def test_sigterm_mid_stream_exits_cleanly_in_time_and_loses_nothing(
    mosquitto: MosquittoServer,
    influxdb: InfluxServer,
    influx_db: str,
    tmp_path: Path,
    unique_id: str,
    collector_env: dict[str, str],
    processes: list[CollectorProcess],
) -> None:
    devices = devices_of(FLEET, STATIONS)
    publisher = SteadyPublisher(
        mosquitto.host, mosquitto.port, f"faults-term-pub-{unique_id}", devices, RATE
    )
    first = _run(processes, collector_env, tmp_path / "collector-1.log")
    with publishing(publisher):
        _wait_rows(influxdb, influx_db, RATE)
        code, took = first.terminate(SHUTDOWN_TIMEOUT_S + 5)
        stopped_at = len(publisher.sent)
        stopped = first.logged("collector stopped") or {}
        print(
            f"\n[sigterm] exit code {code} after {took:.2f}s "
            f"(shutdown_timeout_s={SHUTDOWN_TIMEOUT_S}); first run stored={stopped.get('stored')}"
            f" received={stopped.get('received')}; published so far {stopped_at}"
        )
        assert code == 0, first.tail()
        assert took < SHUTDOWN_TIMEOUT_S, f"took {took:.1f}s"
        assert stopped, f"no 'collector stopped' log line:\n{first.tail()}"
        publisher.wait_sent(stopped_at + 2 * RATE)
        second = _run(processes, collector_env, tmp_path / "collector-2.log")
        publisher.wait_sent(len(publisher.sent) + RATE)
        _finish("sigterm", publisher, influxdb, influx_db, second)


class ShutdownTooSlowError(AssertionError):
    """The collector took longer than shutdown_timeout_s to exit."""


HANG_SHUTDOWN_TIMEOUT_S = 4.0
EXIT_GRACE_S = 1.0  # interpreter start-up of the signal handler and teardown


def test_sigterm_while_influx_hangs_exits_within_timeout_and_loses_nothing(
    mosquitto: MosquittoServer,
    influxdb: InfluxServer,
    influx_db: str,
    tmp_path: Path,
    unique_id: str,
    collector_env: dict[str, str],
    processes: list[CollectorProcess],
) -> None:
    """InfluxDB hangs (SIGSTOP: connections are accepted, never answered) while a write
    is in flight, and the collector gets SIGTERM: it must exit 0 within
    shutdown_timeout_s (held messages are simply not acknowledged), and lose nothing."""
    env = {**collector_env, "WARMNET_SHUTDOWN_TIMEOUT_S": str(HANG_SHUTDOWN_TIMEOUT_S)}
    devices = devices_of(FLEET, STATIONS)
    publisher = SteadyPublisher(
        mosquitto.host, mosquitto.port, f"faults-hang-pub-{unique_id}", devices, RATE
    )
    first = _run(processes, env, tmp_path / "collector-1.log")
    influx_pid = influxdb.pid
    assert influx_pid is not None
    with publishing(publisher):
        _wait_rows(influxdb, influx_db, RATE)
        os.kill(influx_pid, signal.SIGSTOP)
        try:
            # A second of traffic: the writer is now blocked inside a write.
            publisher.wait_sent(len(publisher.sent) + RATE)
            code, took = first.terminate(30)
        finally:
            os.kill(influx_pid, signal.SIGCONT)
        print(
            f"\n[sigterm, influx hangs] exit code {code} after {took:.2f}s "
            f"(shutdown_timeout_s={HANG_SHUTDOWN_TIMEOUT_S}, influx_timeout_s=10 default)"
        )
        assert code == 0, first.tail()
        second = _run(processes, collector_env, tmp_path / "collector-2.log")
        publisher.wait_sent(len(publisher.sent) + RATE)
        _finish("sigterm, influx hangs", publisher, influxdb, influx_db, second)
    if took > HANG_SHUTDOWN_TIMEOUT_S + EXIT_GRACE_S:
        raise ShutdownTooSlowError(
            f"SIGTERM took {took:.1f}s, shutdown_timeout_s={HANG_SHUTDOWN_TIMEOUT_S}"
        )


def _spilled_on_disk(env: dict[str, str]) -> int:
    spill = SqliteSpill(Path(env["WARMNET_DATA_DIR"]) / "spill.sqlite", 1 << 30)
    try:
        return spill.batches
    finally:
        spill.close()


def test_sigkill_during_influx_outage_keeps_the_spill_and_loses_nothing(
    mosquitto: MosquittoServer,
    influxdb: InfluxServer,
    influx_db: str,
    tmp_path: Path,
    unique_id: str,
    collector_env: dict[str, str],
    processes: list[CollectorProcess],
) -> None:
    """InfluxDB goes down, the collector spills, then is SIGKILLed; it is started again
    once InfluxDB is back: the spill survived on disk and is replayed, and what was
    never acknowledged is redelivered."""
    devices = devices_of(FLEET, STATIONS)
    publisher = SteadyPublisher(
        mosquitto.host, mosquitto.port, f"faults-outkill-pub-{unique_id}", devices, RATE
    )
    first = _run(processes, collector_env, tmp_path / "collector-1.log")
    try:
        with publishing(publisher):
            _wait_rows(influxdb, influx_db, RATE)
            influxdb.stop()
            publisher.wait_sent(len(publisher.sent) + 2 * RATE)
            wait_for(
                lambda: first.logged("store unavailable: spilling to disk"),
                timeout=10,
                message=lambda: f"collector did not spill:\n{first.tail()}",
            )
            first.kill()
            spilled = _spilled_on_disk(collector_env)
            print(f"\n[sigkill in outage] spill batches on disk after SIGKILL: {spilled}")
            assert spilled > 0
            publisher.wait_sent(len(publisher.sent) + RATE)
            influxdb.start()
            second = _run(processes, collector_env, tmp_path / "collector-2.log")
            publisher.wait_sent(len(publisher.sent) + RATE)
            _finish("sigkill in outage", publisher, influxdb, influx_db, second)
            assert _spilled_on_disk(collector_env) == 0
    finally:
        influxdb.ensure_started()


def test_collector_started_during_influx_outage_spills_and_loses_nothing(
    mosquitto: MosquittoServer,
    influxdb: InfluxServer,
    influx_db: str,
    tmp_path: Path,
    unique_id: str,
    collector_env: dict[str, str],
    processes: list[CollectorProcess],
) -> None:
    devices = devices_of(FLEET, STATIONS)
    publisher = SteadyPublisher(
        mosquitto.host, mosquitto.port, f"faults-outstart-pub-{unique_id}", devices, RATE
    )
    try:
        influxdb.stop()
        collector = _run(processes, collector_env, tmp_path / "collector.log")
        with publishing(publisher):
            publisher.wait_sent(2 * RATE)
            wait_for(
                lambda: _spilled_on_disk(collector_env) > 0,
                timeout=10,
                message=lambda: f"collector did not spill:\n{collector.tail()}",
            )
            influxdb.start()
            publisher.wait_sent(len(publisher.sent) + RATE)
            _finish("started in outage", publisher, influxdb, influx_db, collector)
    finally:
        influxdb.ensure_started()
