"""Live state: latest-by-timestamp wins, historical data never drives it, a stale
last will cannot mark a reconnected gateway offline, and per device only what riders
see of the reading is kept."""

import pytest

from collector.availability.live import DeviceLive, LiveState
from warmnet.kinds import DeviceKind, DeviceStatus
from warmnet.messages import (
    GatewayState,
    GatewayStatus,
    MicrowaveTelemetry,
    OccupancySensorTelemetry,
    WaterHeaterTelemetry,
)

TS = 1_767_225_600_000
MW = DeviceKind.MICROWAVE


def reading(ts: int = TS, *, state: str = "idle", historical: bool = False) -> MicrowaveTelemetry:
    return MicrowaveTelemetry(
        ts=ts, seq=1, state=state, power_w=0.0, remaining_s=0, historical=historical
    )


def gateway(state: GatewayState, session: int, ts: int = TS) -> GatewayStatus:
    return GatewayStatus(state=state, session=session, ts=ts)


ONLINE, OFFLINE, STOPPED = GatewayState.ONLINE, GatewayState.OFFLINE, GatewayState.STOPPED


@pytest.fixture
def live() -> LiveState:
    return LiveState()


def held(live: LiveState, device: str = "microwave-1") -> DeviceLive:
    return live.snapshot("wmq-01").devices[device]


# --- device readings ---------------------------------------------------------------


def test_first_reading_is_taken(live: LiveState) -> None:
    assert live.update("wmq-01", "microwave-1", MW, reading())

    assert held(live).ts == TS
    assert live.snapshot("wmq-01").newest_ts == TS


def test_newer_reading_wins(live: LiveState) -> None:
    live.update("wmq-01", "microwave-1", MW, reading(TS))

    assert live.update("wmq-01", "microwave-1", MW, reading(TS + 1_000, state="running"))

    assert held(live).status is DeviceStatus.IN_USE


@pytest.mark.parametrize("late_ts", [TS - 1, TS - 3_600_000, TS])
def test_older_or_equal_reading_is_ignored(live: LiveState, late_ts: int) -> None:
    live.update("wmq-01", "microwave-1", MW, reading(TS, state="running"))

    assert not live.update("wmq-01", "microwave-1", MW, reading(late_ts, state="fault"))

    assert held(live).status is DeviceStatus.IN_USE
    assert held(live).ts == TS


def test_historical_reading_is_ignored_even_when_newer(live: LiveState) -> None:
    live.update("wmq-01", "microwave-1", MW, reading(TS))

    assert not live.update("wmq-01", "microwave-1", MW, reading(TS + 5_000, historical=True))

    assert held(live).ts == TS
    assert live.snapshot("wmq-01").newest_ts == TS


def test_historical_reading_alone_creates_no_state(live: LiveState) -> None:
    assert not live.update("wmq-01", "microwave-1", MW, reading(historical=True))

    assert live.snapshot("wmq-01").devices == {}
    assert live.take_dirty() == set()


def test_newest_ts_is_the_newest_of_all_devices(live: LiveState) -> None:
    live.update("wmq-01", "microwave-1", MW, reading(TS + 9_000))
    live.update("wmq-01", "microwave-2", MW, reading(TS + 2_000))

    assert live.snapshot("wmq-01").newest_ts == TS + 9_000


def test_devices_and_stations_are_independent(live: LiveState) -> None:
    live.update("wmq-01", "microwave-1", MW, reading(TS + 9_000))

    # Same device id, other station; and another device at the same station.
    assert live.update("wmq-02", "microwave-1", MW, reading(TS))
    assert live.update("wmq-01", "microwave-2", MW, reading(TS))
    assert live.known_stations() == {"wmq-01", "wmq-02"}


def test_snapshot_of_an_unknown_station_is_empty(live: LiveState) -> None:
    snap = live.snapshot("wmq-36")

    assert snap.devices == {}
    assert snap.gateway is None
    assert snap.newest_ts is None
    assert live.known_stations() == set()


def test_snapshot_is_a_copy(live: LiveState) -> None:
    live.update("wmq-01", "microwave-1", MW, reading(TS))
    snap = live.snapshot("wmq-01")

    live.update("wmq-01", "microwave-1", MW, reading(TS + 1_000))
    live.update("wmq-01", "microwave-2", MW, reading(TS + 1_000))

    assert snap.devices["microwave-1"].ts == TS
    assert set(snap.devices) == {"microwave-1"}
    assert snap.newest_ts == TS


def test_only_what_riders_see_is_kept(live: LiveState) -> None:
    heater = WaterHeaterTelemetry(
        ts=TS,
        seq=3,
        water_temp_c=60.0,
        target_temp_c=95.0,
        heating=True,
        level_pct=80.0,
        power_w=3000.0,
    )
    sensor = OccupancySensorTelemetry(ts=TS + 1, seq=4, occupied=3, capacity=12)
    live.update("wmq-01", "heater-1", DeviceKind.WATER_HEATER, heater)
    live.update("wmq-01", "occupancy", DeviceKind.OCCUPANCY_SENSOR, sensor)
    live.update("wmq-01", "microwave-1", MW, reading(TS + 2, state="fault"))

    devices = live.snapshot("wmq-01").devices
    assert devices["heater-1"] == DeviceLive(TS, DeviceStatus.IN_USE)  # heating up
    assert devices["occupancy"] == DeviceLive(TS + 1, DeviceStatus.AVAILABLE, 3, 12)
    assert devices["microwave-1"] == DeviceLive(TS + 2, DeviceStatus.OUT_OF_ORDER)
    assert live.has("wmq-01")
    assert not live.has("wmq-02")


# --- dirty set ---------------------------------------------------------------------


def test_take_dirty_returns_changed_stations_once(live: LiveState) -> None:
    live.update("wmq-01", "microwave-1", MW, reading())
    live.update("wmq-02", "microwave-1", MW, reading())
    live.set_gateway("wmq-03", gateway(ONLINE, 1))

    assert live.take_dirty() == {"wmq-01", "wmq-02", "wmq-03"}
    assert live.take_dirty() == set()


def test_ignored_updates_do_not_mark_a_station_dirty(live: LiveState) -> None:
    live.update("wmq-01", "microwave-1", MW, reading(TS))
    live.set_gateway("wmq-01", gateway(ONLINE, 2))
    live.take_dirty()

    live.update("wmq-01", "microwave-1", MW, reading(TS))
    live.update("wmq-01", "microwave-1", MW, reading(TS + 1, historical=True))
    live.set_gateway("wmq-01", gateway(OFFLINE, 1))

    assert live.take_dirty() == set()


# --- gateway status ----------------------------------------------------------------


def gateway_state(live: LiveState, station: str = "wmq-01") -> tuple[GatewayState, int] | None:
    g = live.snapshot(station).gateway
    return None if g is None else (g.state, g.session)


def test_first_gateway_status_is_taken(live: LiveState) -> None:
    assert live.set_gateway("wmq-01", gateway(ONLINE, 1))

    assert gateway_state(live) == (ONLINE, 1)


def test_stale_last_will_of_an_older_session_is_ignored(live: LiveState) -> None:
    live.set_gateway("wmq-01", gateway(ONLINE, 5, TS + 60_000))

    # The broker delivers session 4's will late (e.g. keepalive timeout after reconnect).
    assert not live.set_gateway("wmq-01", gateway(OFFLINE, 4, TS + 90_000))

    assert gateway_state(live) == (ONLINE, 5)


def test_same_session_last_will_after_online_is_taken(live: LiveState) -> None:
    live.set_gateway("wmq-01", gateway(ONLINE, 5, TS))

    assert live.set_gateway("wmq-01", gateway(OFFLINE, 5, TS))

    assert gateway_state(live) == (OFFLINE, 5)


def test_clean_stop_after_online_is_taken(live: LiveState) -> None:
    live.set_gateway("wmq-01", gateway(ONLINE, 5, TS))

    assert live.set_gateway("wmq-01", gateway(STOPPED, 5, TS + 1_000))

    assert gateway_state(live) == (STOPPED, 5)


def test_reconnect_with_a_new_session_comes_back_online(live: LiveState) -> None:
    live.set_gateway("wmq-01", gateway(ONLINE, 5, TS))
    live.set_gateway("wmq-01", gateway(OFFLINE, 5, TS))

    assert live.set_gateway("wmq-01", gateway(ONLINE, 6, TS + 120_000))

    assert gateway_state(live) == (ONLINE, 6)


def test_newer_session_wins_even_with_a_skewed_clock(live: LiveState) -> None:
    live.set_gateway("wmq-01", gateway(OFFLINE, 5, TS + 60_000))

    assert live.set_gateway("wmq-01", gateway(ONLINE, 6, TS))

    assert gateway_state(live) == (ONLINE, 6)


def test_replayed_online_of_the_same_session_does_not_undo_offline(live: LiveState) -> None:
    live.set_gateway("wmq-01", gateway(ONLINE, 5, TS))
    live.set_gateway("wmq-01", gateway(OFFLINE, 5, TS + 1_000))

    assert not live.set_gateway("wmq-01", gateway(ONLINE, 5, TS + 1_000))

    assert gateway_state(live) == (OFFLINE, 5)


def test_same_session_last_will_with_the_session_start_ts_is_taken(live: LiveState) -> None:
    session_start = TS
    live.set_gateway("wmq-01", gateway(ONLINE, 5, session_start + 250))  # after CONNACK

    assert live.set_gateway("wmq-01", gateway(OFFLINE, 5, session_start))

    assert gateway_state(live) == (OFFLINE, 5)
