"""Durable stores in tmp_path: the dead-letter store keeps every refused message with
its reason; the SQLite time-series store is idempotent like InfluxDB."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.ingest.deadletter import MAX_RAW_BYTES, DeadLetter, DeadLetterStore
from collector.ingest.points import FieldValue, Point, from_telemetry
from collector.stores.sqlite import SqliteStore
from warmnet.kinds import DeviceKind
from warmnet.messages import MicrowaveTelemetry

TS = 1_767_225_600_000


def letter(
    reason: str = "schema", payload: bytes = b'{"ts": "x"}', at: int = TS, topic: str = ""
) -> DeadLetter:
    return DeadLetter(
        received_at=at,
        topic=topic or "warm/v1/wmq-01/outlet-01/telemetry",
        reason=reason,
        detail=f"{reason}: something is wrong",
        payload=payload,
    )


def point(
    ts: int = TS, device: str = "outlet-01", station: str = "wmq-01", **fields: FieldValue
) -> Point:
    return Point("charging_outlet", station, device, "panmen", ts, fields or {"power_w": 1.0})


@pytest.fixture
def deadletters(tmp_path: Path) -> Iterator[DeadLetterStore]:
    store = DeadLetterStore(tmp_path / "sub" / "deadletter.db")
    yield store
    store.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "sub" / "points.db")
    yield s
    s.close()


# --- dead letters ------------------------------------------------------------------


def test_dead_letter_keeps_reason_topic_detail_and_payload(deadletters: DeadLetterStore) -> None:
    original = letter(
        "out_of_range", b'{"temp_c": 900}', topic="warm/v1/wmq-02/outlet-03/telemetry"
    )

    deadletters.add([original])

    assert deadletters.recent() == [original]


def test_dead_letter_payload_is_truncated_to_1024_bytes(deadletters: DeadLetterStore) -> None:
    big = bytes(range(256)) * 20  # 5120 bytes, not valid UTF-8

    deadletters.add([letter("oversized", big)])

    (kept,) = deadletters.recent()
    assert MAX_RAW_BYTES == 1024
    assert kept.payload == big[:1024]
    assert kept.reason == "oversized"


def test_dead_letter_detail_is_truncated(deadletters: DeadLetterStore) -> None:
    deadletters.add([DeadLetter(TS, "t", "schema", "x" * 10_000, b"")])

    assert len(deadletters.recent()[0].detail) == 500


def test_dead_letters_are_counted_per_reason(deadletters: DeadLetterStore) -> None:
    deadletters.add([letter("schema"), letter("bad_topic"), letter("schema")])
    deadletters.add([letter("malformed_json")])
    deadletters.add([])

    assert deadletters.counts() == {"schema": 2, "bad_topic": 1, "malformed_json": 1}


def test_empty_store_has_no_counts(deadletters: DeadLetterStore) -> None:
    assert deadletters.counts() == {}
    assert deadletters.recent() == []


def test_recent_is_newest_first_limited_and_filterable(deadletters: DeadLetterStore) -> None:
    deadletters.add([letter("schema", at=TS + i) for i in range(5)])
    deadletters.add([letter("bad_topic", at=TS + 10)])

    assert [d.received_at for d in deadletters.recent(limit=3)] == [TS + 10, TS + 4, TS + 3]
    assert [d.received_at for d in deadletters.recent(reason="schema", limit=2)] == [
        TS + 4,
        TS + 3,
    ]
    assert deadletters.recent(reason="unknown_device") == []


def test_dead_letters_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "deadletter.db"
    first = DeadLetterStore(path)
    first.add([letter("schema")])
    first.close()

    again = DeadLetterStore(path)
    try:
        assert again.counts() == {"schema": 1}
    finally:
        again.close()


# --- SQLite time series ------------------------------------------------------------


def test_written_points_are_selected_with_their_fields(store: SqliteStore) -> None:
    store.write([point(state="charging", power_w=180.5, seq=3, historical=False)])

    assert store.select("charging_outlet") == [
        {
            "station": "wmq-01",
            "device": "outlet-01",
            "ts": TS,
            "state": "charging",
            "power_w": 180.5,
            "seq": 3,
            "historical": False,
        }
    ]


def test_writing_the_same_point_twice_keeps_one_row_with_the_latest_fields(
    store: SqliteStore,
) -> None:
    store.write([point(power_w=1.0)])
    store.write([point(power_w=2.0)])

    rows = store.select("charging_outlet")
    assert len(rows) == 1
    assert rows[0]["power_w"] == 2.0


def test_redelivery_within_one_batch_keeps_the_last(store: SqliteStore) -> None:
    store.write([point(power_w=1.0), point(power_w=2.0)])

    assert [r["power_w"] for r in store.select("charging_outlet")] == [2.0]


def test_same_ts_on_other_devices_and_stations_are_separate_points(store: SqliteStore) -> None:
    store.write([point(), point(device="outlet-02"), point(station="wmq-02")])

    assert len(store.select("charging_outlet")) == 3


def test_select_returns_points_oldest_first(store: SqliteStore) -> None:
    store.write([point(TS + 2_000), point(TS), point(TS + 1_000)])
    store.write([point(TS - 5_000)])  # a late replay

    assert [r["ts"] for r in store.select("charging_outlet")] == [
        TS - 5_000,
        TS,
        TS + 1_000,
        TS + 2_000,
    ]


def test_select_filters_by_measurement_station_and_device(store: SqliteStore) -> None:
    store.write([point(), point(device="outlet-02"), point(station="wmq-02")])
    store.write([Point("microwave", "wmq-01", "microwave-1", "panmen", TS, {"power_w": 800.0})])

    assert len(store.select("microwave")) == 1
    assert {r["station"] for r in store.select("charging_outlet", station="wmq-02")} == {"wmq-02"}
    assert [r["device"] for r in store.select("charging_outlet", "wmq-01", "outlet-02")] == [
        "outlet-02"
    ]
    assert store.select("water_heater") == []


def test_points_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "points.db"
    first = SqliteStore(path)
    first.write([point(power_w=3.5)])
    first.close()

    again = SqliteStore(path)
    try:
        assert [r["power_w"] for r in again.select("charging_outlet")] == [3.5]
    finally:
        again.close()


def test_point_built_from_telemetry_is_stored_under_its_kind(store: SqliteStore) -> None:
    reading = MicrowaveTelemetry(ts=TS, seq=4, state="running", power_w=800.0, remaining_s=30)

    store.write([from_telemetry(DeviceKind.MICROWAVE, "wmq-01", "microwave-1", "panmen", reading)])

    (row,) = store.select("microwave", "wmq-01", "microwave-1")
    assert (row["ts"], row["state"], row["remaining_s"]) == (TS, "running", 30)


def test_empty_write_is_a_no_op(store: SqliteStore) -> None:
    store.write([])

    assert store.select("charging_outlet") == []


def test_sqlite_keeps_two_events_of_one_device_in_the_same_millisecond(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "ts.sqlite")
    stop = Point(
        "event", "wmq-01", "outlet-01", "panmen", 5, {"seq": 1}, (("type", "session_stopped"),)
    )
    fault = Point(
        "event", "wmq-01", "outlet-01", "panmen", 5, {"seq": 2}, (("type", "fault_raised"),)
    )
    store.write([stop, fault, fault])
    rows = store.select("event")
    store.close()

    assert sorted((r["type"], r["seq"]) for r in rows) == [
        ("fault_raised", 2),
        ("session_stopped", 1),
    ]
