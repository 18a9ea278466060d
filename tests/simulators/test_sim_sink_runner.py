"""Payload numbering and validation, and the run loop on a fake clock (no network)."""

import threading
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from simulators.runner import drive, make_stations, run, select_stations
from simulators.scenario import load_scenario
from simulators.sink import MemorySink, MqttSink, PayloadEncoder, ReadingSink, SimulatorBug
from simulators.station import Reading
from warmnet.clock import FakeClock
from warmnet.ids import InvalidIdError
from warmnet.kinds import DeviceKind
from warmnet.registry import load_fleet

TZ = ZoneInfo("Asia/Shanghai")
FLEET = load_fleet()
START = int(datetime(2026, 1, 15, 12, 0, tzinfo=TZ).timestamp() * 1000)


def mw(ts: int, device: str = "microwave-1", fields: dict[str, object] | None = None) -> Reading:
    base: dict[str, object] = {"state": "idle", "power_w": 2.0, "remaining_s": 0}
    return Reading("wmq-01", device, DeviceKind.MICROWAVE, ts, {**base, **(fields or {})})


def test_encoder_numbers_each_device_from_zero() -> None:
    enc = PayloadEncoder()
    seqs = [enc.encode(mw(START + i, dev))[1]["seq"] for i, dev in enumerate("aabab")]
    assert seqs == [0, 1, 0, 2, 1]
    topic, payload, raw = enc.encode(mw(START, "microwave-2"))
    assert topic == "warm/v1/wmq-01/microwave-2/telemetry"
    assert payload == {"ts": START, "seq": 0, "state": "idle", "power_w": 2.0, "remaining_s": 0}
    assert raw == b'{"ts":%d,"seq":0,"state":"idle","power_w":2.0,"remaining_s":0}' % START


@pytest.mark.parametrize(
    "fields",
    [
        {"power_w": -1.0},  # out of range
        {"state": "exploded"},  # not in the contract
        {"power_w": float("nan")},
        {"extra_c": 1.0},  # unknown field
        {"seq": 5},  # the gateway numbers, not the model
    ],
)
def test_encoder_fails_loudly_on_a_model_bug_and_leaves_no_gap(fields: dict[str, object]) -> None:
    enc = PayloadEncoder()
    with pytest.raises(SimulatorBug, match="wmq-01/microwave-1"):
        enc.encode(mw(START, fields=fields))
    assert enc.encode(mw(START))[1]["seq"] == 0


def test_mqtt_sink_checks_station_ids_and_needs_start() -> None:
    with pytest.raises(InvalidIdError):
        MqttSink("mqtt://127.0.0.1:1883", ["bad/id"])
    sink = MqttSink("mqtt://127.0.0.1:1883", ["wmq-01"], record=True)
    with pytest.raises(RuntimeError, match="start"):
        sink.submit(mw(START))
    sink.close()  # never started: nothing to flush
    assert sink.published == []


def test_select_stations() -> None:
    assert len(select_stations(FLEET, "all")) == 36
    assert select_stations(FLEET, " wmq-02, wmq-01 ,wmq-02") == ["wmq-02", "wmq-01"]
    with pytest.raises(ValueError, match="wmq-99"):
        select_stations(FLEET, "wmq-01,wmq-99")
    with pytest.raises(ValueError):
        select_stations(FLEET, " , ")


class Sinks:
    """A factory that remembers the sinks it made."""

    def __init__(self) -> None:
        self.made: list[MemorySink] = []

    def __call__(self, station_ids: Sequence[str]) -> ReadingSink:
        self.made.append(MemorySink())
        return self.made[-1]


def test_run_publishes_every_due_reading_and_closes_the_sink() -> None:
    sinks, clock = Sinks(), FakeClock(START)
    ids = ["wmq-01", "wmq-02"]
    stats = run(FLEET, ids, sinks, clock, seed=7, duration_s=120)
    (sink,) = sinks.made
    assert sink.closed
    assert stats.readings == len(sink.published) > 0
    assert stats.start_ms == START and stats.end_ms == START + 120_000
    assert sum(stats.by_kind.values()) == stats.readings and stats.skipped == 0
    seqs: dict[str, list[int]] = defaultdict(list)
    for topic, payload in sink.published:
        assert START <= payload["ts"] <= START + 120_000
        seqs[topic].append(payload["seq"])
    expected = {
        f"warm/v1/{sid}/{d.id}/telemetry": 120 // d.report_interval_s
        for sid in ids
        for d in FLEET.station(sid).devices  # type: ignore[union-attr]
    }
    assert set(seqs) == set(expected)
    for topic, got in seqs.items():
        assert got == list(range(len(got)))
        assert expected[topic] <= len(got) <= expected[topic] + 1


def test_run_is_deterministic_on_a_fake_clock() -> None:
    a, b = Sinks(), Sinks()
    run(FLEET, ["wmq-05"], a, FakeClock(START), seed=3, duration_s=60)
    run(FLEET, ["wmq-05"], b, FakeClock(START), seed=3, duration_s=60)
    assert a.made[0].published == b.made[0].published


def test_run_honours_the_stop_event_and_still_closes() -> None:
    stop = threading.Event()

    class StopAfter(MemorySink):
        def submit(self, reading: Reading) -> None:
            super().submit(reading)
            if len(self.published) == 50:
                stop.set()

    sink = StopAfter()
    stats = run(FLEET, ["wmq-01"], lambda ids: sink, FakeClock(START), seed=1, stop=stop)
    assert sink.closed
    assert 50 <= stats.readings < 100  # stopped at the end of the tick


def test_run_closes_the_sink_when_a_model_misbehaves() -> None:
    class Broken(MemorySink):
        def submit(self, reading: Reading) -> None:
            raise SimulatorBug("boom")

    sink = Broken()
    with pytest.raises(SimulatorBug):
        run(FLEET, ["wmq-01"], lambda ids: sink, FakeClock(START), seed=1, duration_s=10)
    assert sink.closed


def test_run_rejects_unknown_stations() -> None:
    with pytest.raises(ValueError, match="nope"):
        run(FLEET, ["nope"], Sinks(), FakeClock(START), seed=1, duration_s=1)


def test_run_plays_a_scenario_deterministically_with_events() -> None:
    scenario = load_scenario("outlet-thermal-runaway", FLEET)

    def once() -> MemorySink:
        sink = MemorySink()
        run(FLEET, ["wmq-01"], lambda ids: sink, FakeClock(START), seed=7, scenario=scenario,
            duration_s=20 * 60)  # fmt: skip
        return sink

    a, b = once(), once()
    assert a.published == b.published and a.events == b.events
    temps = [p["temp_c"] for t, p in a.published if t == "warm/v1/wmq-01/outlet-03/telemetry"]
    assert max(temps) > 75  # +5 degC/min from minute 5
    kinds = {(p["type"], p["code"]) for t, p in a.events if "/outlet-03/" in t}
    assert ("session_started", None) in kinds and ("fault_raised", "OVERTEMP") in kinds
    assert any(t.endswith("/microwave-1/event") for t, _ in a.events)  # door events too


def test_a_scenario_run_shifts_local_time_to_its_start() -> None:
    at_3am = int(datetime(2026, 1, 15, 3, 0, tzinfo=TZ).timestamp() * 1000)
    scenario = load_scenario("lunch-rush", FLEET)
    stations = make_stations(FLEET, ["wmq-01"], 1, scenario=scenario)
    drive(stations, MemorySink(), FakeClock(at_3am), duration_s=10, scenario=scenario)
    env = stations[0].env
    assert env is not None and env.local_hour(at_3am) == pytest.approx(10.5)  # "10:30"
    assert env.max_factor == 1.6


def test_run_refuses_gateway_faults_without_gateways() -> None:
    with pytest.raises(ValueError, match="needs gateways"):
        run(FLEET, ["wmq-05", "wmq-06"], Sinks(), FakeClock(START), seed=1,
            scenario=load_scenario("gateway-partition"), duration_s=10)  # fmt: skip
