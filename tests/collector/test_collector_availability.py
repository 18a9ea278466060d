"""What riders see: per-device status, hot water, free seats, offline vs unknown, and
staleness, all derived from live state at an injected time."""

import random
from typing import Any

import pytest

from collector.availability.live import DeviceLive, LiveState, StationLive
from collector.availability.summary import Layout, Visible, encode, summarize, summary_dict, visible
from testbed.availability_reference import random_reading, reference_summarize
from warmnet.kinds import DeviceKind, DeviceStatus
from warmnet.messages import (
    ChargingOutletTelemetry,
    GatewayState,
    GatewayStatus,
    MicrowaveTelemetry,
    OccupancySensorTelemetry,
    StationAvailability,
    Telemetry,
    WaterHeaterTelemetry,
    dump_json,
    parse_availability,
)
from warmnet.registry import Station, load_fleet, parse_fleet, synthetic_fleet

NOW = 1_767_225_600_000
FRESH_MS = 60_000


@pytest.fixture(scope="module")
def station() -> Station:
    fleet = parse_fleet(
        {
            "network": "test",
            "name_zh": "测试",
            "name_en": "Test",
            "timezone": "Asia/Shanghai",
            "stations": [
                {
                    "id": "st-a",
                    "name_zh": "测试驿站",
                    "name_en": "Test",
                    "setting": "park",
                    "area": "panmen",
                    "lat": 31.29,
                    "lon": 120.61,
                    "address_zh": "测试路",
                    "address_en": "Test Road",
                    "hours": "24h",
                    "devices": [
                        {"id": "outlet-01", "kind": "charging_outlet"},
                        {"id": "outlet-02", "kind": "charging_outlet"},
                        {"id": "heater-1", "kind": "water_heater", "target_temp_c": 95},
                        {"id": "microwave-1", "kind": "microwave"},
                        {"id": "occupancy", "kind": "occupancy_sensor", "capacity": 8},
                    ],
                }
            ],
        }
    )
    return fleet.stations[0]


def outlet(state: str = "idle", ts: int = NOW) -> ChargingOutletTelemetry:
    return ChargingOutletTelemetry(
        ts=ts,
        seq=1,
        state=state,
        power_w=0.0,
        voltage_v=230.0,
        current_a=0.0,
        energy_wh=0.0,
        temp_c=25.0,
    )


def heater(ts: int = NOW, **overrides: Any) -> WaterHeaterTelemetry:
    fields: dict[str, Any] = {
        "water_temp_c": 93.0,
        "target_temp_c": 95.0,
        "heating": False,
        "level_pct": 80.0,
        "power_w": 0.0,
        "fault_code": None,
    }
    return WaterHeaterTelemetry(ts=ts, seq=1, **(fields | overrides))


def microwave(state: str = "idle", ts: int = NOW) -> MicrowaveTelemetry:
    return MicrowaveTelemetry(ts=ts, seq=1, state=state, power_w=0.0, remaining_s=0)


def occupancy(occupied: int, capacity: int = 8, ts: int = NOW) -> OccupancySensorTelemetry:
    return OccupancySensorTelemetry(ts=ts, seq=1, occupied=occupied, capacity=capacity)


def live(devices: dict[str, Telemetry], gateway: GatewayState | None = None) -> StationLive:
    """Live state holding `devices` (device id -> latest reading)."""
    return StationLive(
        devices={device: DeviceLive.of(r) for device, r in devices.items()},
        gateway=None if gateway is None else GatewayStatus(state=gateway, session=1, ts=NOW),
        newest_ts=max((r.ts for r in devices.values()), default=None),
    )


def summary(station: Station, state: StationLive, now: int = NOW) -> StationAvailability:
    return summarize(station, state, now_ms=now, freshness_ms=FRESH_MS, open_now=True)


def status_of(result: StationAvailability, device: str) -> DeviceStatus:
    return next(d.status for d in result.devices if d.device == device)


# --- per device --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("idle", DeviceStatus.AVAILABLE),
        ("charging", DeviceStatus.IN_USE),
        ("fault", DeviceStatus.OUT_OF_ORDER),
    ],
)
def test_outlet_status(station: Station, state: str, expected: DeviceStatus) -> None:
    result = summary(station, live({"outlet-01": outlet(state)}))

    assert status_of(result, "outlet-01") is expected


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("idle", DeviceStatus.AVAILABLE),
        ("running", DeviceStatus.IN_USE),
        ("door_open", DeviceStatus.IN_USE),
        ("fault", DeviceStatus.OUT_OF_ORDER),
    ],
)
def test_microwave_status(station: Station, state: str, expected: DeviceStatus) -> None:
    result = summary(station, live({"microwave-1": microwave(state)}))

    assert status_of(result, "microwave-1") is expected


@pytest.mark.parametrize(
    ("overrides", "expected", "hot"),
    [
        pytest.param({}, DeviceStatus.AVAILABLE, True, id="hot"),
        pytest.param({"water_temp_c": 90.0}, DeviceStatus.AVAILABLE, True, id="exactly-5C-below"),
        pytest.param({"water_temp_c": 98.0}, DeviceStatus.AVAILABLE, True, id="above-target"),
        pytest.param({"level_pct": 10.0}, DeviceStatus.AVAILABLE, True, id="exactly-10pct"),
        pytest.param(
            {"water_temp_c": 89.9, "heating": True}, DeviceStatus.IN_USE, False, id="heating-up"
        ),
        pytest.param({"water_temp_c": 20.0}, DeviceStatus.IN_USE, False, id="cold"),
        pytest.param({"level_pct": 9.9}, DeviceStatus.IN_USE, False, id="almost-empty"),
        pytest.param({"fault_code": "E_DRY"}, DeviceStatus.OUT_OF_ORDER, False, id="fault"),
    ],
)
def test_water_heater_status_and_hot_water(
    station: Station, overrides: dict[str, Any], expected: DeviceStatus, hot: bool
) -> None:
    result = summary(station, live({"heater-1": heater(**overrides)}))

    assert status_of(result, "heater-1") is expected
    assert result.hot_water_ready is hot


def test_occupancy_sensor_reports_free_seats(station: Station) -> None:
    result = summary(station, live({"occupancy": occupancy(3)}))

    assert status_of(result, "occupancy") is DeviceStatus.AVAILABLE
    assert result.seats_total == 8
    assert result.seats_free == 5


def test_free_seats_never_go_negative(station: Station) -> None:
    assert summary(station, live({"occupancy": occupancy(12)})).seats_free == 0


def test_free_seats_use_the_registry_capacity(station: Station) -> None:
    # The sensor is misconfigured with 30 seats; the registry says 8.
    assert summary(station, live({"occupancy": occupancy(3, capacity=30)})).seats_free == 5


def test_full_room_has_no_free_seats(station: Station) -> None:
    assert summary(station, live({"occupancy": occupancy(8)})).seats_free == 0


# --- no data, old data -------------------------------------------------------------


def test_no_data_is_unknown_without_observed_at(station: Station) -> None:
    result = summary(station, StationLive())

    assert {d.status for d in result.devices} == {DeviceStatus.UNKNOWN}
    assert all(d.observed_at is None for d in result.devices)
    assert result.stale is True
    assert result.newest_data_at is None
    assert result.online is None
    assert result.seats_free is None
    assert result.hot_water_ready is False


def test_device_without_data_is_unknown_while_others_report(station: Station) -> None:
    result = summary(station, live({"outlet-01": outlet()}))

    assert status_of(result, "outlet-01") is DeviceStatus.AVAILABLE
    assert status_of(result, "outlet-02") is DeviceStatus.UNKNOWN


def test_old_data_is_unknown_but_keeps_its_observed_at(station: Station) -> None:
    old = NOW - FRESH_MS - 1
    result = summary(
        station, live({"outlet-01": outlet("charging", ts=old), "outlet-02": outlet()})
    )

    device = next(d for d in result.devices if d.device == "outlet-01")
    assert device.status is DeviceStatus.UNKNOWN
    assert device.observed_at == old


def test_data_exactly_at_the_freshness_limit_is_current(station: Station) -> None:
    result = summary(station, live({"outlet-01": outlet("charging", ts=NOW - FRESH_MS)}))

    assert status_of(result, "outlet-01") is DeviceStatus.IN_USE
    assert result.stale is False


def test_old_hot_water_is_not_ready(station: Station) -> None:
    assert (
        summary(station, live({"heater-1": heater(ts=NOW - FRESH_MS - 1)})).hot_water_ready is False
    )


def test_old_occupancy_gives_no_free_seat_count(station: Station) -> None:
    result = summary(station, live({"occupancy": occupancy(3, ts=NOW - FRESH_MS - 1)}))

    assert result.seats_free is None
    assert result.seats_total == 8


def test_station_is_stale_when_its_newest_data_is_too_old(station: Station) -> None:
    old = NOW - FRESH_MS - 1
    result = summary(
        station, live({"outlet-01": outlet(ts=old), "heater-1": heater(ts=old - 5_000)})
    )

    assert result.stale is True
    assert result.newest_data_at == old


def test_station_is_fresh_when_any_device_is_current(station: Station) -> None:
    result = summary(
        station, live({"outlet-01": outlet(ts=NOW - 10 * FRESH_MS), "heater-1": heater()})
    )

    assert result.stale is False
    assert result.newest_data_at == NOW


# --- gateway -----------------------------------------------------------------------


@pytest.mark.parametrize("gateway", [GatewayState.OFFLINE, GatewayState.STOPPED])
def test_gateway_down_makes_every_device_offline_never_unknown(
    station: Station, gateway: GatewayState
) -> None:
    # Fresh hot water and seats, one old reading, and devices that never reported.
    down = live(
        {
            "heater-1": heater(),
            "occupancy": occupancy(2),
            "outlet-01": outlet(ts=NOW - 10 * FRESH_MS),
        },
        gateway=gateway,
    )

    result = summary(station, down)

    assert {d.status for d in result.devices} == {DeviceStatus.OFFLINE}
    assert result.online is False
    assert result.hot_water_ready is False
    assert result.seats_free is None
    assert all(c.unknown == 0 for c in result.counts.values())


def test_offline_device_keeps_the_time_of_its_last_data(station: Station) -> None:
    result = summary(
        station, live({"outlet-01": outlet(ts=NOW - 5_000)}, gateway=GatewayState.OFFLINE)
    )

    by_id = {d.device: d for d in result.devices}
    assert by_id["outlet-01"].observed_at == NOW - 5_000
    assert by_id["outlet-02"].observed_at is None


def test_gateway_online_is_reported(station: Station) -> None:
    result = summary(station, live({"heater-1": heater()}, gateway=GatewayState.ONLINE))

    assert result.online is True
    assert result.hot_water_ready is True


# --- the summary as a whole --------------------------------------------------------


def test_summary_carries_time_open_flag_and_registry_order(station: Station) -> None:
    result = summarize(
        station,
        live({"outlet-01": outlet()}),
        now_ms=NOW + 7,
        freshness_ms=FRESH_MS,
        open_now=False,
    )

    assert result.station == "st-a"
    assert result.updated_at == NOW + 7
    assert result.open_now is False
    assert [d.device for d in result.devices] == [d.id for d in station.devices]
    assert [d.kind for d in result.devices] == [d.kind for d in station.devices]


def test_readings_of_unregistered_devices_are_ignored(station: Station) -> None:
    result = summary(station, live({"outlet-99": outlet()}))

    assert "outlet-99" not in {d.device for d in result.devices}
    assert result.counts[DeviceKind.CHARGING_OUTLET].unknown == 2


def test_counts_per_kind_match_the_device_list(station: Station) -> None:
    result = summary(
        station,
        live({"outlet-01": outlet("charging"), "outlet-02": outlet("fault"), "heater-1": heater()}),
    )

    outlets = result.counts[DeviceKind.CHARGING_OUTLET]
    assert (outlets.available, outlets.in_use, outlets.out_of_order) == (0, 1, 1)
    assert result.counts[DeviceKind.WATER_HEATER].available == 1
    assert result.counts[DeviceKind.MICROWAVE].unknown == 1


def test_counts_add_up_to_the_registry_for_a_bundled_station() -> None:
    st = load_fleet().station("wmq-01")
    assert st is not None
    outlets = st.devices_of(DeviceKind.CHARGING_OUTLET)
    state = live(
        {
            outlets[0].id: outlet("charging"),
            outlets[1].id: outlet("fault", ts=NOW - 10 * FRESH_MS),
            outlets[2].id: outlet("idle"),
            "heater-1": heater(),
            "occupancy": occupancy(4, capacity=30),
        },
        gateway=GatewayState.ONLINE,
    )

    result = summary(st, state)

    for kind in DeviceKind:
        c = result.counts[kind]
        total = c.available + c.in_use + c.out_of_order + c.offline + c.unknown
        assert total == len(st.devices_of(kind)), kind
    assert len(result.devices) == len(st.devices)


# --- the plain-dict builder is the pydantic one, byte for byte ----------------------


def random_case(
    st: Station, rng: random.Random
) -> tuple[dict[str, Telemetry], GatewayStatus | None, frozenset[str | None], bool]:
    readings = {}
    for spec in st.devices:
        if rng.random() < 0.8:
            age = rng.choice([0, 1_000, FRESH_MS, FRESH_MS + 1, 10 * FRESH_MS])
            readings[spec.id] = random_reading(spec.kind, NOW - age, rng)
    state = rng.choice([None, GatewayState.ONLINE, GatewayState.ONLINE, GatewayState.OFFLINE])
    gateway = None if state is None else GatewayStatus(state=state, session=1, ts=NOW)
    silenced: frozenset[str | None] = rng.choice(
        [
            frozenset(),
            frozenset(),
            frozenset({None}),
            frozenset({st.devices[0].id, "not-a-device"}),
        ]
    )
    return readings, gateway, silenced, rng.random() < 0.8


@pytest.mark.parametrize("seed", range(4))
def test_summary_bytes_equal_the_pydantic_reference(seed: int) -> None:
    rng = random.Random(seed)
    stations = [*load_fleet().stations, *synthetic_fleet(20).stations]
    for _ in range(300):
        st = rng.choice(stations)
        readings, gateway, silenced, open_now = random_case(st, rng)
        newest = max((r.ts for r in readings.values()), default=None)
        state = StationLive({d: DeviceLive.of(r) for d, r in readings.items()}, gateway, newest)
        kwargs: dict[str, Any] = {
            "now_ms": NOW,
            "freshness_ms": FRESH_MS,
            "open_now": open_now,
            "under_maintenance": silenced,
        }

        got = encode(summary_dict(Layout.of(st), state, **kwargs))

        want = dump_json(reference_summarize(st, readings, gateway, newest, **kwargs))
        assert got == want
        assert parse_availability(got) == summarize(st, state, **kwargs)


def test_live_state_feeds_the_same_summary_as_the_readings() -> None:
    st = synthetic_fleet(1).stations[0]
    rng = random.Random(5)
    live_state, readings = LiveState(), {}
    for step in range(2_000):
        spec = rng.choice(st.devices)
        r = random_reading(spec.kind, NOW - rng.randrange(3 * FRESH_MS), rng)
        if live_state.update(st.id, spec.id, spec.kind, r):
            readings[spec.id] = r
        if step % 50:
            continue
        newest = max(x.ts for x in readings.values())
        got = encode(
            summary_dict(
                Layout.of(st),
                live_state.snapshot(st.id),
                now_ms=NOW,
                freshness_ms=FRESH_MS,
                open_now=True,
            )
        )
        want = reference_summarize(
            st, readings, None, newest, now_ms=NOW, freshness_ms=FRESH_MS, open_now=True
        )
        assert got == dump_json(want)


def test_visible_ignores_times_only() -> None:
    st = synthetic_fleet(1).stations[0]
    layout = Layout.of(st)
    before = StationLive({"outlet-01": DeviceLive.of(outlet(ts=NOW - 5_000))})
    later = StationLive({"outlet-01": DeviceLive.of(outlet(ts=NOW))}, newest_ts=NOW)
    charging = StationLive({"outlet-01": DeviceLive.of(outlet("charging"))}, newest_ts=NOW)

    def view(state: StationLive, now: int = NOW) -> Visible:
        return visible(
            summary_dict(layout, state, now_ms=now, freshness_ms=FRESH_MS, open_now=True)
        )

    before.newest_ts = NOW - 5_000
    assert view(before) == view(later)
    assert view(before) == view(later, NOW + 1_000)
    assert view(later) != view(charging)
    assert view(later) != view(later, NOW + FRESH_MS + 1)  # stale: unknown
