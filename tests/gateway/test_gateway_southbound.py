"""The southbound intake without a broker: validation against the registry's kind,
seq assignment and its persistence, ts stamping and clock skew, the local MQTT
payload format, and the state store's session numbers."""

import json
from pathlib import Path

import pytest
from gateway_support import fields_for, unique_fleet

from gateway.outbox import MemoryOutbox, Outbox
from gateway.outbox_sqlite import SqliteOutbox
from gateway.southbound import Intake, LocalListener, SkewTracker
from gateway.state import StateStore
from warmnet.clock import FakeClock
from warmnet.kinds import DeviceKind
from warmnet.messages import EventType, parse_event, parse_telemetry
from warmnet.registry import Station
from warmnet.topics import Channel

FLEET = unique_fleet("gw-unit")
STATION: Station = FLEET.stations[0]
OUTLET = STATION.devices_of(DeviceKind.CHARGING_OUTLET)[0]
HEATER = STATION.devices_of(DeviceKind.WATER_HEATER)[0]
MAX_SKEW_MS = 300_000


def make_intake(outbox: Outbox, clock: FakeClock) -> Intake:
    return Intake(STATION, outbox, clock, max_skew_ms=MAX_SKEW_MS, skew_window_ms=30_000)


def payloads(outbox: Outbox) -> list[dict[str, object]]:
    return [json.loads(e.msg.payload) for e in outbox.scan(0, 10_000)]


def test_valid_reading_gets_seq_and_is_enqueued_as_its_kind_model() -> None:
    clock, box = FakeClock(), MemoryOutbox()
    intake = make_intake(box, clock)
    assert intake.submit(OUTLET.id, fields_for(OUTLET, 1)) == 0
    assert intake.submit(OUTLET.id, fields_for(OUTLET, 2)) == 1
    assert intake.submit(HEATER.id, fields_for(HEATER, 1)) == 0  # seq is per device
    entries = box.scan(0, 10)
    assert [e.msg.topic for e in entries] == [
        f"warm/v1/{STATION.id}/{OUTLET.id}/telemetry",
        f"warm/v1/{STATION.id}/{OUTLET.id}/telemetry",
        f"warm/v1/{STATION.id}/{HEATER.id}/telemetry",
    ]
    reading = parse_telemetry(OUTLET.kind, entries[1].msg.payload)
    assert (reading.seq, reading.ts, reading.historical) == (1, clock.now_ms(), False)
    assert intake.stats().accepted == 3


@pytest.mark.parametrize(
    ("device", "fields", "reason"),
    [
        ("no-such-device", {"occupied": 1, "capacity": 3}, "unknown_device"),
        (OUTLET.id, fields_for(HEATER, 1), "schema"),  # the kind comes from the registry
        (OUTLET.id, {**fields_for(OUTLET, 1), "temp_c": 900.0}, "out_of_range"),
        (OUTLET.id, {**fields_for(OUTLET, 1), "temp_c": float("nan")}, "malformed_json"),
        (OUTLET.id, {**fields_for(OUTLET, 1), "seq": 5}, "reserved_field"),
        (OUTLET.id, {**fields_for(OUTLET, 1), "power_w": "12"}, "schema"),
    ],
)
def test_invalid_input_is_counted_never_enqueued(
    device: str, fields: dict[str, object], reason: str
) -> None:
    box = MemoryOutbox()
    intake = make_intake(box, FakeClock())
    assert intake.submit(device, fields) is None
    assert intake.stats().rejected == {reason: 1}
    assert box.stats().depth == 0
    assert intake.submit(OUTLET.id, fields_for(OUTLET, 1)) == 0  # no seq was used up


def test_seq_continues_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    clock = FakeClock()
    box = SqliteOutbox(path)
    intake = make_intake(box, clock)
    seqs = [intake.submit(OUTLET.id, fields_for(OUTLET, n)) for n in range(3)]
    event_seq = intake.submit_event(OUTLET.id, EventType.SESSION_STARTED)
    box.remove([e.id for e in box.scan(0, 100)])  # all acknowledged: the outbox is empty
    box.close()
    box = SqliteOutbox(path)  # the restarted gateway
    try:
        intake = make_intake(box, clock)
        assert seqs == [0, 1, 2] and event_seq == 0
        assert intake.submit(OUTLET.id, fields_for(OUTLET, 3)) == 3
        assert intake.submit_event(OUTLET.id, EventType.SESSION_STOPPED) == 1
        assert intake.submit(HEATER.id, fields_for(HEATER, 0)) == 0
    finally:
        box.close()


def test_device_ts_kept_when_plausible_replaced_when_not() -> None:
    clock, box = FakeClock(), MemoryOutbox()
    intake = make_intake(box, clock)
    now = clock.now_ms()
    intake.submit(OUTLET.id, fields_for(OUTLET, 0), now - 4_000)  # 4 s slow: kept
    intake.submit(OUTLET.id, fields_for(OUTLET, 1), now + MAX_SKEW_MS + 1)  # too far ahead
    intake.submit(OUTLET.id, fields_for(OUTLET, 2), 86_400_000)  # 1970: clock never set
    intake.submit(OUTLET.id, fields_for(OUTLET, 3))  # no clock at all
    intake.submit(OUTLET.id, fields_for(OUTLET, 4), "soon")  # type: ignore[arg-type]
    assert [p["ts"] for p in payloads(box)] == [now - 4_000, now, now, now, now]
    stats = intake.stats()
    assert stats.restamped == 3 and stats.accepted == 5  # missing ts is not a restamp
    assert intake.clock_skew_ms() == now - 86_400_000  # the largest |skew| seen


def test_skew_is_the_max_over_a_sliding_window() -> None:
    tracker = SkewTracker(window_ms=1000)
    assert tracker.value(0) is None
    tracker.record(-700, 100)
    tracker.record(300, 900)
    assert tracker.value(900) == 700
    assert tracker.value(1500) == 700  # the previous window still counts
    tracker.record(50, 1600)
    assert tracker.value(2500) == 50  # 700 (window 0) is gone; 50 (window 1) remains
    assert tracker.value(3100) is None


def test_events_are_enqueued_as_events() -> None:
    box = MemoryOutbox()
    intake = make_intake(box, FakeClock())
    assert intake.submit_event(HEATER.id, EventType.FAULT_RAISED, code="DRY_BURN") == 0
    assert intake.submit_event("ghost", EventType.FAULT_RAISED) is None  # unregistered
    (entry,) = box.scan(0, 10)
    assert entry.msg.channel is Channel.EVENT
    event = parse_event(entry.msg.payload)
    assert (event.type, event.code, event.seq) == (EventType.FAULT_RAISED, "DRY_BURN", 0)


def test_local_payload_format() -> None:
    clock, box = FakeClock(), MemoryOutbox()
    intake = make_intake(box, clock)
    local = LocalListener.__new__(LocalListener)  # only `handle`: no broker involved
    local.intake = intake
    body = {**fields_for(OUTLET, 1), "ts": clock.now_ms() - 1000}
    assert local.handle(f"local/{OUTLET.id}/telemetry", json.dumps(body).encode()) == 0
    assert payloads(box)[0]["ts"] == clock.now_ms() - 1000
    assert local.handle(f"local/{OUTLET.id}/telemetry", b"{not json") is None
    assert local.handle(f"local/{OUTLET.id}/telemetry", b"[1, 2]") is None
    assert local.handle("local/Bad Id/telemetry", b"{}") is None
    assert intake.stats().rejected == {"malformed_json": 1, "schema": 1, "bad_topic": 1}


def test_session_numbers_grow_across_restarts_and_clock_steps(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    state = StateStore(path)
    first = state.next_session(5_000)
    assert first == 5_000
    assert state.next_session(5_000) == 5_001  # same ms: still grows
    state.close()
    state = StateStore(path)
    try:
        assert state.next_session(1_000) == 5_002  # the clock stepped back: still grows
        assert state.next_session(9_000) == 9_000
        assert state.last_session() == 9_000
    finally:
        state.close()
