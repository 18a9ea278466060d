"""The pipeline's delivery rules, without a network: acknowledge only what is stored
or spilled, spill while the store is down and replay afterwards, isolate points the
store refuses, and on close store everything held and take nothing new."""

import contextlib
import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from collector.availability.live import LiveState
from collector.ingest.deadletter import DeadLetterStore
from collector.ingest.pipeline import Inbound, Pipeline
from collector.ingest.points import Point
from collector.ingest.spill import MemorySpill, Origin, SpillFullError
from collector.metrics.counters import Metrics
from collector.stores.base import StoreRejectedError, StoreUnavailableError
from testbed.services import wait_for
from warmnet import topics
from warmnet.registry import load_fleet

FLEET = load_fleet()
TS = 1_767_225_600_000


@dataclass
class ControlledStore:
    """A store we can take down, or make refuse chosen points (as InfluxDB answers
    400 for a field type conflict)."""

    up: bool = True
    poisoned_ts: set[int] = field(default_factory=set)
    points: dict[tuple[str, str, str, int], Point] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def write(self, points: Sequence[Point]) -> None:
        if not self.up:
            raise StoreUnavailableError("down for the test")
        if any(p.ts_ms in self.poisoned_ts for p in points):
            raise StoreRejectedError("400 field type conflict")
        with self.lock:
            for p in points:
                self.points[p.key] = p

    def close(self) -> None:
        pass


class SlowStore(ControlledStore):
    """Holds every write until the test lets it through."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.writing = threading.Event()

    def write(self, points: Sequence[Point]) -> None:
        self.writing.set()
        assert self.release.wait(10)
        super().write(points)


@dataclass
class Harness:
    pipeline: Pipeline
    store: ControlledStore
    spill: MemorySpill
    acks: list[int]
    metrics: Metrics
    live: LiveState
    dead: DeadLetterStore
    runner: threading.Thread  # the pipeline's classifier (it starts the writer)
    next_mid: int = 1

    def send(self, n: int, *, device: str = "outlet-01", first_ts: int = TS) -> list[int]:
        mids = []
        for i in range(n):
            body = {
                "ts": first_ts + i * 1000,
                "seq": i,
                "state": "idle",
                "power_w": 0.0,
                "voltage_v": 230.0,
                "current_a": 0.0,
                "energy_wh": 0.0,
                "temp_c": 20.0,
            }
            mid = self.next_mid
            self.next_mid += 1
            raw = json.dumps(body).encode()
            self.pipeline.submit(Inbound(topics.telemetry("wmq-01", device), raw, mid, 1, TS))
            mids.append(mid)
        return mids


@contextlib.contextmanager
def running(
    tmp_path: Path,
    store: ControlledStore,
    spill: MemorySpill | None = None,
    *,
    max_points: int = 10,
    replay: bool = False,
) -> Iterator[Harness]:
    """A pipeline on `store` with its threads running (the replayer only if asked);
    aborted and joined afterwards."""
    spill = spill if spill is not None else MemorySpill(1 << 20)
    acks: list[int] = []
    metrics, live = Metrics(), LiveState()
    dead = DeadLetterStore(tmp_path / "dead.sqlite")
    pipeline = Pipeline(
        FLEET,
        store,
        spill,
        dead,
        live,
        metrics,
        lambda mid, qos: acks.append(mid),
        max_points=max_points,
        max_age_s=0.02,
    )
    runner = threading.Thread(target=pipeline.run, daemon=True)
    threads = [runner] + ([threading.Thread(target=pipeline.replay, daemon=True)] if replay else [])
    for t in threads:
        t.start()
    try:
        yield Harness(pipeline, store, spill, acks, metrics, live, dead, runner)
    finally:
        if isinstance(store, SlowStore):
            store.release.set()  # a held write must not outlive the test
        pipeline.abort()
        for t in threads:
            t.join(5)
        dead.close()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with running(tmp_path, ControlledStore(), replay=True) as h:
        yield h


def test_acks_follow_the_write_in_arrival_order(harness: Harness) -> None:
    mids = harness.send(25)
    wait_for(lambda: harness.acks == mids, timeout=5, message=lambda: f"acks {harness.acks}")
    assert len(harness.store.points) == 25


def test_store_down_spills_acks_and_replays_when_back(harness: Harness) -> None:
    harness.store.up = False
    mids = harness.send(30)
    # Acknowledged although the store is down: the batches are in the spill.
    wait_for(lambda: harness.acks == mids, timeout=5)
    assert harness.store.points == {}
    assert harness.spill.batches > 0
    assert harness.metrics.get("spilled_batches") == harness.spill.batches
    # Live state moved on with the spilled data.
    snap = harness.live.snapshot("wmq-01")
    assert snap.devices["outlet-01"].ts == TS + 29_000

    harness.store.up = True
    wait_for(lambda: harness.spill.batches == 0, timeout=15, message="spill not drained")
    assert len(harness.store.points) == 30
    # And live batches go straight to the store again.
    more = harness.send(5, first_ts=TS + 10_000_000)
    wait_for(lambda: harness.acks[-5:] == more, timeout=5)
    assert len(harness.store.points) == 35


def test_full_spill_withholds_acks_until_the_store_is_back(tmp_path: Path) -> None:
    store, spill = ControlledStore(up=False), MemorySpill(1)
    with running(tmp_path, store, spill, max_points=5) as h:
        mids = h.send(10)  # two batches: the first fills the one-batch budget
        wait_for(lambda: h.acks == mids[:5], timeout=5)
        assert spill.batches == 1
        assert h.acks == mids[:5]  # the second batch is neither stored nor acknowledged
        store.up = True  # the second batch goes straight to the store now
        wait_for(lambda: h.acks == mids, timeout=5)


def test_a_refused_point_is_dead_lettered_and_the_rest_lands(harness: Harness) -> None:
    harness.store.poisoned_ts = {TS + 3000}
    mids = harness.send(10)
    wait_for(lambda: harness.acks == mids, timeout=5)
    assert len(harness.store.points) == 9
    assert harness.dead.counts() == {"store_rejected": 1}
    assert harness.metrics.rejected() == {"store_rejected": 1}


def test_a_refused_point_in_the_spill_is_dead_lettered_on_replay(harness: Harness) -> None:
    harness.store.up = False
    mids = harness.send(10)
    wait_for(lambda: harness.acks == mids, timeout=5)
    harness.store.poisoned_ts = {TS + 7000}
    harness.store.up = True
    wait_for(lambda: harness.spill.batches == 0, timeout=15)
    assert len(harness.store.points) == 9
    assert harness.dead.counts() == {"store_rejected": 1}


def test_close_stores_what_is_held_and_takes_nothing_new(harness: Harness) -> None:
    mids = harness.send(7)
    harness.pipeline.close()
    late = harness.send(3)  # arrives while closing: not taken, so not acknowledged
    wait_for(lambda: harness.acks == mids, timeout=5)
    assert not set(late) & set(harness.acks)
    assert len(harness.store.points) == 7


def test_live_state_takes_a_reading_before_its_batch_is_stored(tmp_path: Path) -> None:
    store = SlowStore()
    with running(tmp_path, store) as h:
        live = h.live
        mids = h.send(3)
        wait_for(lambda: "outlet-01" in live.snapshot("wmq-01").devices, timeout=5)
        assert h.acks == []  # riders see it; the broker still holds it
        assert store.points == {}
        wait_for(lambda: live.snapshot("wmq-01").devices["outlet-01"].ts == TS + 2000)

        late = h.send(1, first_ts=TS - 60_000)  # an older reading, arriving later
        store.release.set()
        wait_for(lambda: h.acks == [*mids, *late], timeout=5)
        assert len(store.points) == 4  # stored all the same
        assert live.snapshot("wmq-01").devices["outlet-01"].ts == TS + 2000  # no rollback


def test_live_state_does_not_wait_for_the_write_of_an_earlier_batch(tmp_path: Path) -> None:
    store = SlowStore()
    with running(tmp_path, store) as h:
        first = h.send(2)
        assert store.writing.wait(5)  # the first batch's write hangs (a slow InfluxDB)
        second = h.send(1, first_ts=TS + 60_000)
        # Riders see the newer reading while the earlier batch is still being written.
        wait_for(lambda: h.live.snapshot("wmq-01").devices["outlet-01"].ts == TS + 60_000)
        assert h.acks == []
        store.release.set()
        wait_for(lambda: h.acks == [*first, *second], timeout=5)
        assert len(store.points) == 3


def test_after_abort_no_later_batch_is_acknowledged_before_an_earlier_one(
    tmp_path: Path,
) -> None:
    class FirstAppendFull(MemorySpill):
        """Full when the first batch comes, room again for the next one."""

        def __init__(self) -> None:
            super().__init__(1 << 20)
            self.refused = 0

        def append(
            self, points: Sequence[Point], origins: Sequence[Origin | None] | None = None
        ) -> None:
            if not self.refused:
                self.refused += 1
                raise SpillFullError("full for the first batch")
            super().append(points, origins)

    spill = FirstAppendFull()
    with running(tmp_path, ControlledStore(up=False), spill, max_points=3) as h:
        h.send(3)  # batch 1: store down, spill full: waits, not acknowledged
        wait_for(lambda: h.metrics.get("spill_full") == 1, timeout=5)
        h.send(3, first_ts=TS + 60_000)  # batch 2: waits for the writer
        wait_for(lambda: h.pipeline.backlog == 0, timeout=5)
        h.pipeline.abort()  # batch 1 is given up: batch 2 must not be acknowledged
        h.runner.join(5)
        assert not h.runner.is_alive()
        assert h.acks == []
        assert spill.batches == 0
