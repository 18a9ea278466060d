"""One suite for both spill implementations (memory and SQLite): order, durability
across reopen (SQLite), the byte budget, and exact round-trip of field types."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from collector.ingest.points import Point
from collector.ingest.spill import (
    ORIGIN_PAYLOAD_BYTES,
    MemorySpill,
    Origin,
    SpillFullError,
    SpillQueue,
    SqliteSpill,
)

MakeSpill = Callable[[int], SpillQueue]


def batch(first_ts: int, n: int = 3) -> list[Point]:
    return [
        Point(
            "charging_outlet",
            "wmq-01",
            "outlet-01",
            "panmen",
            first_ts + i,
            {"seq": first_ts + i, "power_w": 0.0, "state": "idle", "historical": False},
        )
        for i in range(n)
    ]


@pytest.fixture(params=["memory", "sqlite"])
def make_spill(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeSpill]:
    opened: list[SpillQueue] = []

    def make(max_bytes: int = 1 << 20) -> SpillQueue:
        spill: SpillQueue = (
            MemorySpill(max_bytes)
            if request.param == "memory"
            else SqliteSpill(tmp_path / "spill.sqlite", max_bytes)
        )
        opened.append(spill)
        return spill

    yield make
    for spill in opened:
        spill.close()


def test_batches_come_back_oldest_first_until_removed(make_spill: MakeSpill) -> None:
    spill = make_spill(1 << 20)
    assert spill.oldest() is None
    spill.append(batch(100))
    spill.append(batch(200))
    assert spill.batches == 2
    first = spill.oldest()
    assert first is not None
    assert [p.ts_ms for p in first.points] == [100, 101, 102]
    assert spill.oldest() == first  # peeking does not consume
    spill.remove(first.id)
    second = spill.oldest()
    assert second is not None and second.points[0].ts_ms == 200
    spill.remove(second.id)
    assert spill.oldest() is None
    assert spill.batches == 0 and spill.bytes == 0


def test_field_types_survive_exactly(make_spill: MakeSpill) -> None:
    spill = make_spill(1 << 20)
    spill.append(batch(5, n=1))
    got = spill.oldest()
    assert got is not None
    fields = got.points[0].fields
    # 0.0 must stay a float and seq an int: InfluxDB refuses a field that changes type.
    assert fields == {"seq": 5, "power_w": 0.0, "state": "idle", "historical": False}
    assert [type(v) for v in fields.values()] == [int, float, str, bool]


def test_budget_refuses_appends_and_frees_on_remove(make_spill: MakeSpill) -> None:
    spill = make_spill(1)  # any second batch is over budget
    spill.append(batch(1))  # an empty spill always takes one batch: never stuck
    with pytest.raises(SpillFullError):
        spill.append(batch(2))
    first = spill.oldest()
    assert first is not None
    spill.remove(first.id)
    spill.append(batch(2))
    assert spill.batches == 1


def test_removing_an_unknown_batch_is_harmless(make_spill: MakeSpill) -> None:
    spill = make_spill(1 << 20)
    spill.append(batch(1))
    spill.remove(999)
    assert spill.batches == 1


def test_sqlite_spill_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "spill.sqlite"
    spill = SqliteSpill(path, 1 << 20)
    spill.append(batch(1))
    spill.append(batch(10))
    spill.close()
    reopened = SqliteSpill(path, 1 << 20)
    assert reopened.batches == 2 and reopened.bytes > 0
    got = reopened.oldest()
    assert got is not None and got.points[0].ts_ms == 1
    reopened.close()


def test_origins_keep_topic_raw_bytes_and_receive_time(make_spill: MakeSpill) -> None:
    spill = make_spill(1 << 20)
    raw = b'{"ts": 1, "x": "\xff\x00 not utf-8"}' + bytes(range(256)) * 8
    origins = [Origin("warm/v1/wmq-01/outlet-01/telemetry", raw, 42), None, None]
    spill.append(batch(1), origins)
    got = spill.oldest()
    assert got is not None
    first = got.origins[0]
    assert first is not None
    assert first.topic == "warm/v1/wmq-01/outlet-01/telemetry"
    assert first.payload == raw[:ORIGIN_PAYLOAD_BYTES]  # what a dead letter keeps
    assert first.received_at_ms == 42
    assert got.origins[1:] == [None, None]
