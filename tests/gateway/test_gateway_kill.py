"""kill -9 of the gateway process (`python -m launcher gateway --station ...`, its
devices simulated in-process) during an uplink partition, then a restart: nothing the
outbox had accepted is lost, seq continues without gap or reuse, and a real collector
stores every (device, seq) exactly once."""

import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from gateway_support import Recorder, running_collector, stored_rows, unique_fleet
from tcpproxy import TcpProxy

from testbed.services import MosquittoServer, wait_for
from warmnet import topics
from warmnet.registry import write_fleet

pytestmark = [pytest.mark.faults, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]


def outbox_keys(db: Path) -> set[tuple[str, int]]:
    """(device, seq) of the telemetry waiting in the gateway's outbox file."""
    if not db.exists():
        return set()
    with closing(sqlite3.connect(db, timeout=5)) as conn:
        rows = conn.execute("SELECT device, seq FROM outbox WHERE channel = 'telemetry'")
        return {(d, s) for d, s in rows}


def accepted_keys(db: Path) -> set[tuple[str, int]]:
    """Every (device, seq) the gateway ever accepted: 0..last seq per device."""
    with closing(sqlite3.connect(db, timeout=5)) as conn:
        rows = conn.execute("SELECT device, seq FROM last_seq WHERE channel = 'telemetry'")
        return {(d, s) for d, last in rows for s in range(last + 1)}


@contextmanager
def gateway_process(
    station: str, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "launcher", "gateway", "--station", station],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_kill_9_during_a_partition_then_restart_loses_nothing(
    mosquitto: MosquittoServer, tmp_path: Path, unique_id: str
) -> None:
    station = f"gw-{unique_id}"
    fleet = unique_fleet(station)
    data_dir = tmp_path / "gw"
    db = data_dir / station / "outbox.sqlite"
    log = tmp_path / "gateway.log"
    with (
        TcpProxy(mosquitto.host, mosquitto.port) as proxy,
        running_collector(mosquitto.url, fleet, tmp_path / "col", f"col-{unique_id}") as collector,
    ):
        env = {
            **os.environ,
            "WARMNET_MQTT_URL": proxy.url,
            "WARMNET_DATA_DIR": str(data_dir),
            "WARMNET_REGISTRY": str(write_fleet(fleet, tmp_path / "fleet.yaml")),
            "WARMNET_HEARTBEAT_S": "1",
            "WARMNET_RECONNECT_MAX_S": "1",
        }
        rec = Recorder(
            mosquitto.host, mosquitto.port, f"rec-{unique_id}", [topics.gateway_status(station)]
        )

        def stored() -> set[tuple[str, int]]:
            return {(r["device"], r["seq"]) for r in stored_rows(collector, station)}

        def diagnostics() -> str:
            return log.read_text(errors="replace")[-3000:]

        try:
            with gateway_process(station, env, log) as first:
                wait_for(lambda: len(stored()) >= 10, timeout=20, message=diagnostics)
                proxy.cut()
                wait_for(lambda: len(outbox_keys(db)) >= 5, timeout=20, message=diagnostics)
                held = outbox_keys(db)
                first.send_signal(signal.SIGKILL)
                first.wait(10)
            assert outbox_keys(db) >= held  # on disk after kill -9
            with gateway_process(station, env, log) as second:
                wait_for(lambda: len(outbox_keys(db) - held) >= 3, timeout=20, message=diagnostics)
                proxy.restore()
                wait_for(lambda: stored() >= held, timeout=20, message=diagnostics)
                second.send_signal(signal.SIGTERM)
                assert second.wait(20) == 0, diagnostics()
            accepted = accepted_keys(db)
            assert not outbox_keys(db), "a clean stop drains the outbox"
            wait_for(lambda: stored() >= accepted, timeout=20, message="not everything stored")
            rows = stored_rows(collector, station)
        finally:
            rec.close()
    counts = Counter((r["device"], r["seq"]) for r in rows)
    assert set(counts) == accepted and max(counts.values()) == 1
    for device in {d for d, _ in accepted}:  # seq continued across the kill: no gap, no reuse
        seqs = sorted(s for d, s in counts if d == device)
        assert seqs == list(range(len(seqs))), device
    statuses = rec.statuses()
    sessions = [s.session for s in statuses]
    assert sessions == sorted(sessions) and len(set(sessions)) >= 2
    assert statuses[-1].state.value == "stopped"
    print(
        f"\n[gateway kill -9] held_at_kill={len(held)} accepted={len(accepted)} "
        f"stored={len(rows)} sessions={len(set(sessions))}"
    )
