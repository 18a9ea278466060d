"""The availability publisher, without a broker: what riders see changing goes out on
the next tick, times-only changes with the refresh (spread over it), time-driven
changes (stale data, opening hours) and maintenance silences show up, and at most one
summary per station is ever on its way."""

from dataclasses import dataclass, field
from typing import Any

import pytest

from collector.availability.live import LiveState
from collector.availability.publisher import AvailabilityPublisher, Silences
from collector.metrics.counters import Metrics
from warmnet import topics
from warmnet.kinds import DeviceKind
from warmnet.messages import (
    ChargingOutletTelemetry,
    GatewayState,
    GatewayStatus,
    StationAvailability,
    parse_availability,
)
from warmnet.registry import Fleet, parse_fleet, synthetic_fleet

NOW = 1_767_225_600_000  # 2026-01-01T00:00Z, 08:00 in Asia/Shanghai
INTERVAL_S = 0.1
REFRESH_S = 10.0
FRESHNESS_S = 120.0
OUTLET = DeviceKind.CHARGING_OUTLET


@dataclass
class FakeInfo:
    published: bool = False

    def is_published(self) -> bool:
        return self.published


@dataclass
class FakeClient:
    connected: bool = True
    auto_ack: bool = True
    sent: list[tuple[str, bytes, FakeInfo]] = field(default_factory=list)
    infos: list[FakeInfo] = field(default_factory=list)

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> FakeInfo:
        assert (qos, retain) == (0, True)  # superseded soon, refreshed: no PUBACK wait
        info = FakeInfo(published=self.auto_ack)
        self.sent.append((topic, payload, info))
        self.infos.append(info)
        return info

    def ack_all(self) -> None:
        """The broker acknowledges everything sent so far."""
        for info in self.infos:
            info.published = True

    def is_connected(self) -> bool:
        return self.connected

    def take(self) -> list[StationAvailability]:
        """Summaries published since the last call, parsed as riders parse them."""
        out = [parse_availability(p) for _, p, _ in self.sent]
        for topic, _, _ in self.sent:
            assert topic.endswith("/availability")
        self.sent.clear()
        return out


@dataclass
class Rig:
    publisher: AvailabilityPublisher
    live: LiveState
    client: FakeClient
    silences: dict[str, Any]
    now_ms: int = NOW
    mono_s: float = 1000.0

    def tick(self, seconds: float = INTERVAL_S) -> list[StationAvailability]:
        """Let `seconds` pass, tick, and return what was published."""
        self.now_ms += int(seconds * 1000)
        self.mono_s += seconds
        self.publisher.tick(self.now_ms, self.mono_s)
        return self.client.take()

    def run(self, seconds: float) -> list[StationAvailability]:
        """Tick every INTERVAL_S for `seconds`; everything published meanwhile."""
        out = []
        for _ in range(round(seconds / INTERVAL_S)):
            out += self.tick()
        return out

    def outlet(
        self, station: str, state: str = "idle", *, age_ms: int = 0, device: str = "outlet-01"
    ) -> None:
        reading = ChargingOutletTelemetry(
            ts=self.now_ms - age_ms,
            seq=1,
            state=state,
            power_w=0.0,
            voltage_v=230.0,
            current_a=0.0,
            energy_wh=0.0,
            temp_c=25.0,
        )
        assert self.live.update(station, device, OUTLET, reading)

    def gateway(self, station: str, state: GatewayState, session: int = 1) -> None:
        status = GatewayStatus(state=state, session=session, ts=self.now_ms)
        assert self.live.set_gateway(station, status)


def make_rig(fleet: Fleet, **kwargs: Any) -> Rig:
    live, client = LiveState(), FakeClient()
    silences: dict[str, Any] = {"now": {}}

    def current_silences(_now_ms: int) -> Silences:
        result: Silences = silences["now"]
        return result

    publisher = AvailabilityPublisher(
        fleet,
        live,
        client,
        Metrics(),
        freshness_s=FRESHNESS_S,
        refresh_s=REFRESH_S,
        silences=current_silences,
        **kwargs,
    )
    rig = Rig(publisher, live, client, silences)
    rig.tick()  # the refresh starts here
    return rig


@pytest.fixture
def rig() -> Rig:
    return make_rig(synthetic_fleet(100))


def device(summary: StationAvailability, device_id: str = "outlet-01") -> Any:
    return next(d for d in summary.devices if d.device == device_id)


# --- what riders see: on the next tick ----------------------------------------------


def test_a_visible_change_is_published_on_the_next_tick(rig: Rig) -> None:
    rig.outlet("s00007", "idle")
    (first,) = rig.tick()
    assert first.station == "s00007"
    assert device(first).status == "available"
    assert device(first).observed_at == rig.now_ms - 100

    rig.outlet("s00007", "charging")
    (second,) = rig.tick()
    assert device(second).status == "in_use"
    assert second.counts[OUTLET].in_use == 1


def test_first_summary_of_a_station_goes_out_at_once(rig: Rig) -> None:
    rig.gateway("s00042", GatewayState.ONLINE)
    (summary,) = rig.tick()
    assert summary.online is True
    assert {d.status for d in summary.devices} == {"unknown"}


def test_many_changes_within_a_tick_give_one_summary(rig: Rig) -> None:
    for i, state in enumerate(["idle", "charging", "fault", "charging"]):
        rig.now_ms += 1
        rig.outlet("s00001", state, device=f"outlet-{i + 1:02d}")
    (summary,) = rig.tick()
    assert summary.counts[OUTLET].in_use == 2


# --- times only: with the refresh, at most once a period ----------------------------


def test_times_only_changes_wait_for_the_refresh(rig: Rig) -> None:
    rig.outlet("s00003", "idle")
    (first,) = rig.tick()

    published = []
    waited = 0.0
    while not published:
        rig.outlet("s00003", "idle")  # newer ts, same status: nothing riders see
        published = rig.tick()
        waited += INTERVAL_S
        assert waited <= REFRESH_S + INTERVAL_S, "times-only change never published"
    (later,) = published
    assert waited > INTERVAL_S
    assert device(later).observed_at > device(first).observed_at
    assert later.newest_data_at == device(later).observed_at

    # A reading every tick for two refresh periods: two summaries, not 200.
    count = 0
    for _ in range(round(2 * REFRESH_S / INTERVAL_S)):
        rig.outlet("s00003", "idle")
        count += len(rig.tick())
    assert count == 2


def test_the_refresh_is_spread_over_the_period(rig: Rig) -> None:
    for i in range(100):
        rig.outlet(f"s{i:05d}", "idle")
    assert len(rig.tick()) == 100  # all new: at once

    rig.run(REFRESH_S)  # some were just published: skipped in this first round
    per_tick = [rig.tick() for _ in range(round(REFRESH_S / INTERVAL_S))]
    # Then each station is republished (updated_at) once per refresh period, ~1 a tick.
    stations = [s.station for tick in per_tick for s in tick]
    assert sorted(stations) == [f"s{i:05d}" for i in range(100)]
    assert max(len(tick) for tick in per_tick) <= 2


def test_stations_without_any_data_are_not_published(rig: Rig) -> None:
    assert rig.run(REFRESH_S) == []


# --- changes time alone makes -------------------------------------------------------


def test_data_going_stale_is_published_within_the_refresh(rig: Rig) -> None:
    rig.outlet("s00009", "charging")
    (fresh,) = rig.tick()
    assert fresh.stale is False

    rig.run(FRESHNESS_S)  # no new data
    summaries = rig.run(REFRESH_S)
    assert summaries, "stale state never published"
    last = summaries[-1]
    assert last.stale is True
    assert device(last).status == "unknown"
    assert device(last).observed_at == device(fresh).observed_at


def test_a_reading_after_silence_is_a_visible_change(rig: Rig) -> None:
    rig.outlet("s00009", "idle")
    rig.tick()
    rig.run(FRESHNESS_S + REFRESH_S)  # gone stale, and published so
    rig.outlet("s00009", "idle")  # same status as before the silence
    (summary,) = rig.tick()
    assert device(summary).status == "available"
    assert summary.stale is False


def test_opening_hours_are_published_when_they_change() -> None:
    fleet = parse_fleet(
        {
            "network": "t",
            "name_zh": "测试",
            "name_en": "Test",
            "timezone": "Asia/Shanghai",
            "stations": [
                {
                    "id": "day",
                    "name_zh": "日间驿站",
                    "name_en": "Day",
                    "setting": "park",
                    "area": "panmen",
                    "lat": 31.29,
                    "lon": 120.61,
                    "address_zh": "测试路",
                    "address_en": "Test Road",
                    "hours": "08:00-08:01",  # NOW is 08:00 local
                    "devices": [{"id": "outlet-01", "kind": "charging_outlet"}],
                }
            ],
        }
    )
    rig = make_rig(fleet)
    rig.outlet("day", "idle")
    (summary,) = rig.tick()
    assert summary.open_now is True
    later = rig.run(60 + REFRESH_S)
    assert later[-1].open_now is False


# --- gateway and maintenance --------------------------------------------------------


def test_gateway_offline_and_back_online_on_the_next_tick(rig: Rig) -> None:
    rig.gateway("s00005", GatewayState.ONLINE, session=1)
    rig.outlet("s00005", "charging")
    (online,) = rig.tick()
    assert online.online is True

    rig.gateway("s00005", GatewayState.OFFLINE, session=1)  # the last will
    (offline,) = rig.tick()
    assert offline.online is False
    assert {d.status for d in offline.devices} == {"offline"}
    assert device(offline).observed_at == device(online).observed_at

    rig.gateway("s00005", GatewayState.ONLINE, session=2)
    (back,) = rig.tick()
    assert back.online is True
    assert device(back).status == "in_use"


def test_gateway_heartbeat_alone_is_not_a_visible_change(rig: Rig) -> None:
    rig.gateway("s00005", GatewayState.ONLINE)
    rig.tick()
    rig.gateway("s00005", GatewayState.ONLINE)  # heartbeat: newer ts, same session
    assert rig.tick() == []


def test_maintenance_silences_are_published_on_the_next_tick(rig: Rig) -> None:
    rig.outlet("s00002", "idle")
    rig.outlet("s00004", "idle")
    assert len(rig.tick()) == 2

    rig.silences["now"] = {"s00002": frozenset({"outlet-01"}), "s00004": frozenset({None})}
    silenced = {s.station: s for s in rig.tick()}
    assert set(silenced) == {"s00002", "s00004"}
    assert device(silenced["s00002"]).status == "out_of_order"
    assert device(silenced["s00002"], "outlet-02").status == "unknown"
    assert {d.status for d in silenced["s00004"].devices} == {"out_of_order"}

    rig.silences["now"] = {"s00004": frozenset({None})}  # s00002's maintenance is over
    (over,) = rig.tick()
    assert over.station == "s00002"
    assert device(over).status == "available"


# --- bounded: one summary per station on its way, none while disconnected ----------


def test_one_summary_per_station_in_flight(rig: Rig) -> None:
    rig.client.auto_ack = False
    rig.outlet("s00006", "idle")
    assert len(rig.tick()) == 1
    for state in ["charging", "fault", "charging", "idle", "fault"]:
        rig.outlet("s00006", state)
        assert rig.tick() == []  # the first is not acknowledged yet
    assert rig.publisher.outstanding == 1

    rig.client.ack_all()
    (newest,) = rig.tick()
    assert device(newest).status == "out_of_order"  # the newest, not the ones between


def test_outstanding_summaries_are_capped() -> None:
    rig = make_rig(synthetic_fleet(100), max_outstanding=10)
    rig.client.auto_ack = False
    for i in range(30):
        rig.outlet(f"s{i:05d}", "idle")
    assert len(rig.tick()) == 10
    assert rig.tick() == []
    rig.client.ack_all()
    assert len(rig.tick()) == 10


def test_nothing_is_published_while_disconnected(rig: Rig) -> None:
    rig.client.connected = False
    rig.outlet("s00008", "charging")
    rig.gateway("s00010", GatewayState.ONLINE)
    assert rig.run(2 * REFRESH_S) == []

    rig.client.connected = True
    published = {s.station: s for s in rig.tick()}
    assert set(published) == {"s00008", "s00010"}
    assert device(published["s00008"]).status == "in_use"


def test_after_a_reconnect_every_published_station_is_published_again(rig: Rig) -> None:
    # QoS 0: summaries paho held when the connection dropped may be lost.
    rig.outlet("s00003", "charging")
    rig.outlet("s00004", "idle")
    assert {s.station for s in rig.tick()} == {"s00003", "s00004"}
    rig.client.connected = False
    rig.outlet("s00005", "idle")
    assert rig.tick() == []

    rig.client.connected = True
    rig.publisher.reconnected()
    again = {s.station: s for s in rig.tick()}
    assert set(again) == {"s00003", "s00004", "s00005"}
    assert device(again["s00003"]).status == "in_use"
    assert rig.tick() == []  # once, not on every tick


def test_resends_held_back_by_the_cap_go_out_on_the_next_ticks() -> None:
    rig = make_rig(synthetic_fleet(100), max_outstanding=10)
    for i in range(25):
        rig.outlet(f"s{i:05d}", "idle")
    while rig.tick():
        pass  # all 25 published, 10 at a time
    rig.publisher.reconnected()
    again: set[str] = set()
    for _ in range(3):
        again |= {s.station for s in rig.tick()}
    assert again == {f"s{i:05d}" for i in range(25)}


def test_flush_publishes_what_waits_for_the_refresh(rig: Rig) -> None:
    rig.outlet("s00011", "idle")
    rig.tick()
    rig.outlet("s00011", "idle")
    assert rig.tick() == []

    infos = rig.publisher.flush(rig.now_ms, rig.mono_s)

    (summary,) = rig.client.take()
    assert len(infos) == 1
    assert device(summary).observed_at == rig.now_ms - 100
    assert rig.client.sent == []
    assert topics.availability("s00011").endswith("s00011/availability")
