"""Two writers on one file, as the collector and the API are: separate connections
interleaving, threads racing, and a real second process."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from alertstore_support import ALERT, T0, Engine

from alertstore import (
    AlertStore,
    EngineRecord,
    InvalidTransitionError,
    Status,
    StoreUnavailableError,
)
from warmnet.clock import FakeClock

ROOT = Path(__file__).resolve().parents[2]


def test_two_connections_interleave(db_path: Path, clock: FakeClock, engine: Engine) -> None:
    collector = AlertStore(db_path, clock=clock)
    api = AlertStore(db_path, clock=clock)
    try:
        engine("fire", into=collector)
        api.acknowledge(ALERT, "alice")
        engine("update", T0 + 60_000, value=65.0, into=collector)
        a = api.get(ALERT)
        assert a is not None and a.alert.value == 65.0 and a.alert.status is Status.ACKNOWLEDGED
        api.resolve(ALERT, "alice", "fixed")
        [m] = [m for m in collector.pending_manual(0) if m.action == "resolve"]
        assert m.alert_id == ALERT
        engine("reopen", T0 + 900_000, into=collector)
        # The API sees the reopen at once: acknowledging works again, once.
        assert api.acknowledge(ALERT, "bob").status is Status.ACKNOWLEDGED
        with pytest.raises(InvalidTransitionError):
            api.acknowledge(ALERT, "bob")
        rid = api.add_report("wmq-01", None, "dirty", "", "k", T0)
        assert [r.id for r in collector.take_reports(0)] == [rid]
        s = api.silence("wmq-01", None, T0 + 3_600_000, "alice", "paint")
        assert [x.id for x in collector.active_silences(T0)] == [s.id]
    finally:
        collector.close()
        api.close()


def test_threads_on_two_connections_lose_nothing(db_path: Path, clock: FakeClock) -> None:
    collector = AlertStore(db_path, clock=clock)
    api = AlertStore(db_path, clock=clock)
    n = 150
    errors: list[BaseException] = []

    def fire_all() -> None:
        try:
            for i in range(n):
                collector.record_engine(
                    "fire", f"r:st-1/d-{i}@{i}", "r", "st-1", f"d-{i}", "minor", T0 + i
                )
        except BaseException as exc:
            errors.append(exc)

    def ack_what_appears() -> None:
        done: set[str] = set()
        try:
            while len(done) < n:
                for a in api.list_alerts(status="firing", limit=500):
                    api.acknowledge(a.id, "alice")
                    done.add(a.id)
                api.add_report("st-1", None, "other", "", f"k{len(done)}", T0)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=fire_all), threading.Thread(target=ack_what_appears)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert errors == []
        assert len(api.list_alerts(status="acknowledged", limit=1000)) == n
        assert len(collector.pending_manual(0, limit=1000)) == n
    finally:
        collector.close()
        api.close()


CHILD = """
import sys
from alertstore import AlertStore, EngineRecord
path, n = sys.argv[1], int(sys.argv[2])
with AlertStore(path) as store:
    for i in range(n):
        rid = f"r:st-1/d-{i}@{i}"
        store.record_engine_batch([
            EngineRecord("fire", rid, "r", "st-1", f"d-{i}", "minor", 1000 + i),
            EngineRecord("update", rid, "r", "st-1", f"d-{i}", "minor", 2000 + i, value=i),
        ])
"""


def test_a_second_process_writes_while_we_do(db_path: Path, clock: FakeClock) -> None:
    n = 120
    api = AlertStore(db_path, clock=clock)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db_path), str(n)],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    resolved: set[str] = set()
    try:
        while child.poll() is None or len(resolved) < n:
            for a in api.list_alerts(status="firing", limit=500):
                api.resolve(a.id, "alice", "done")
                resolved.add(a.id)
            api.add_report("st-1", None, "other", "", "k", T0)
            if child.poll() is not None and child.returncode != 0:
                break
        _, err = child.communicate(timeout=30)
        assert child.returncode == 0, err
        assert len(resolved) == n
        # Updates after our resolve were ignored, not lost writes: each alert has
        # exactly fire + resolve in its history, and the engine's value where it landed.
        for a in api.list_alerts(limit=1000):
            d = api.get(a.id)
            assert d is not None and [h.action.value for h in d.history] == ["fire", "resolve"]
    finally:
        if child.poll() is None:
            child.kill()
        api.close()


def test_a_writer_held_past_busy_timeout_is_store_unavailable(db_path: Path) -> None:
    store = AlertStore(db_path, busy_timeout_s=0.2)
    other = sqlite3.connect(db_path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
        rec = EngineRecord("fire", "r:st-1/d@1", "r", "st-1", "d", "minor", 1)
        with pytest.raises(StoreUnavailableError, match="locked"):
            store.record_engine_batch([rec])
        assert store.list_alerts() == []  # reading is not blocked (WAL)
        other.execute("COMMIT")
        assert store.record_engine_batch([rec])[0].applied
    finally:
        other.close()
        store.close()
