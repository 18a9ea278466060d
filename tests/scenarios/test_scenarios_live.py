"""Alert quality, live: an in-process collector (SQLite, alert store in tmp_path) and
simulated stations behind in-process gateways on the real Mosquitto, sharing ONE
SimulatedClock so that data timestamps and the engine's `now` agree. Shortened
scenarios, each well under 40 s of real time."""

import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from scenario_support import Recorder, clear_retained, renamed_fleet

from alertstore import AlertStore
from collector.alerts import Transition, TransitionKind
from collector.service import Collector
from collector.settings import CollectorSettings
from simulators.gateways import GatewayFleet, GatewayOptions
from simulators.runner import RunStats, drive, make_stations
from simulators.scenario import Scenario, parse_scenario
from simulators.sink import parse_mqtt_url
from testbed.services import MosquittoServer, clear_session, wait_for
from warmnet import topics
from warmnet.clock import SimulatedClock
from warmnet.mqtt import connect, new_client
from warmnet.registry import Fleet

pytestmark = [pytest.mark.scenarios, pytest.mark.integration]


def collector_settings(
    mosquitto: MosquittoServer, tmp_path: Path, name: str, sids: list[str]
) -> CollectorSettings:
    return CollectorSettings(
        mqtt_url=mosquitto.url,
        data_dir=tmp_path / "collector",
        client_id=name,
        metrics_port=None,
        alert_db=tmp_path / "alerts.sqlite",
        stations=",".join(sids),  # subscribe to this test's stations only
        availability_interval_s=0.2,
    )


class _Record:
    """A transition sink beside the collector's own: every transition, in order."""

    def __init__(self, into: list[Transition]) -> None:
        self.into = into

    def handle(self, transitions: Sequence[Transition]) -> None:
        self.into.extend(transitions)


class LiveRun:
    """A scenario through gateways on a thread, a collector, a recorder; cleaned up."""

    def __init__(
        self,
        mosquitto: MosquittoServer,
        tmp_path: Path,
        uid: str,
        fleet: Fleet,
        scenario: Scenario,
        clock: SimulatedClock,
    ) -> None:
        self.mosquitto, self.uid, self.fleet, self.scenario = mosquitto, uid, fleet, scenario
        self.sids = scenario.station_ids(fleet)
        self.clock = clock
        self.settings = collector_settings(mosquitto, tmp_path, f"scn-{uid}", self.sids)
        self.collector = Collector(self.settings, fleet, clock=clock)
        self.rec = Recorder(mosquitto.url, f"rec-{uid}", [f"warm/v1/{s}/#" for s in self.sids])
        self.stations = make_stations(fleet, self.sids, scenario.seed, clock, scenario)
        self.gateways = GatewayFleet(
            fleet,
            self.sids,
            GatewayOptions(mosquitto.url, tmp_path / "gw", outbox="memory"),
            clock=clock,
            controls={s.id: s for s in self.stations},
        )
        self.transitions: list[Transition] = []
        assert self.collector.alerts is not None
        self.collector.alerts.sinks.append(_Record(self.transitions))
        self.stats: list[RunStats] = []
        self.start_ms = 0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.collector.start()
        wait_for(self.collector.subscribed.is_set, timeout=10, message="collector not subscribed")
        self.gateways.start()
        for sid in self.sids:
            gw = wait_for(lambda sid=sid: self.gateways.gateways.get(sid), timeout=10)
            assert gw.uplink.wait_commands_ready(10), f"{sid}: gateway not subscribed to commands"
        self.start_ms = self.clock.now_ms()
        self._thread = threading.Thread(
            target=lambda: self.stats.append(
                drive(
                    self.stations,
                    self.gateways,
                    self.clock,
                    duration_s=self.scenario.duration,
                    scenario=self.scenario,
                )
            ),
            name="scenario-drive",
            daemon=True,
        )
        self._thread.start()

    def offset_s(self, at_ms: int) -> float:
        return (at_ms - self.start_ms) / 1000

    def wait_done(self, timeout: float) -> RunStats:
        assert self._thread is not None
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the scenario did not finish in time"
        return self.stats[0]

    def close(self) -> None:
        try:
            self.gateways.close(drain_timeout=5)
        finally:
            self.collector.stop()
            self.rec.close()
            host, port = self.mosquitto.host, self.mosquitto.port
            clear_session(host, port, self.settings.session_client_id)
            for sid in self.sids:
                clear_session(host, port, f"gw-{sid}")
            retained = [topics.gateway_status(s) for s in self.sids]
            retained += [topics.availability(s) for s in self.sids]
            clear_retained(self.mosquitto.url, f"clean-{self.uid}", retained)


@pytest.fixture
def live(mosquitto: MosquittoServer, tmp_path: Path, unique_id: str) -> Iterator[list[LiveRun]]:
    runs: list[LiveRun] = []
    yield runs
    for run in runs:
        run.close()


def alert_rows(run: LiveRun) -> list[tuple[str, str, str | None]]:
    assert run.collector.alert_store is not None
    return [(a.rule, a.station, a.device) for a in run.collector.alert_store.list_alerts()]


def test_live_thermal_runaway_cuts_power_and_the_outlet_confirms(
    mosquitto: MosquittoServer, tmp_path: Path, unique_id: str, live: list[LiveRun]
) -> None:
    sid = f"r{unique_id[:8]}"
    fleet = renamed_fleet([sid], ("wmq-01",))
    # outlet-03 runs away after 20 s at 10 degC/min: 60 degC within a few minutes, the
    # 30 s for-duration, cut well before the 90 degC cutoff. 6 simulated min at 60x.
    scenario = parse_scenario(
        f"""
name: outlet-thermal-runaway-short
description: outlet-thermal-runaway, started early and faster
stations: [{sid}]
start: "14:00"
duration: 6m
speed: 60
faults:
  - at: 20s
    station: {sid}
    device: outlet-03
    type: thermal_runaway
    params: {{rate_c_per_min: 10, trip_c: 90}}
"""
    )
    scenario.check(fleet)
    clock = SimulatedClock(speed=scenario.speed)
    run = LiveRun(mosquitto, tmp_path, unique_id, fleet, scenario, clock)
    live.append(run)
    run.start()
    collector = run.collector
    assert collector.alerts is not None

    key = ("outlet-socket-overheat", sid, "outlet-03")
    wait_for(
        lambda: key in alert_rows(run), timeout=20, message=lambda: f"alerts: {alert_rows(run)}"
    )
    commands = wait_for(
        lambda: [p for t, p in run.rec.json("/command") if t == topics.command(sid, "outlet-03")],
        timeout=10,
        message="no cut_power published",
    )
    assert commands[0]["command"] == "cut_power"
    wait_for(
        lambda: collector.metrics.get("commands_confirmed") >= 1,
        timeout=15,
        message=lambda: f"metrics: {collector.metrics.get('commands_confirmed')}",
    )
    events = [p for t, p in run.rec.json("/event") if t == topics.event(sid, "outlet-03")]
    results = [e for e in events if e["type"] == "command_result"]
    assert results and results[0]["code"] == "OK" and results[0]["command_id"] == commands[0]["id"]
    cut_ts = results[0]["ts"]

    def idle_after_cut() -> list[dict[str, object]]:
        readings = [
            p
            for t, p in run.rec.json("/telemetry")
            if t == topics.telemetry(sid, "outlet-03") and int(p["ts"]) > cut_ts  # type: ignore[call-overload]
        ]
        return readings if len(readings) >= 3 else []

    after = wait_for(idle_after_cut, timeout=15, message="no readings after the cut")
    assert all(r["state"] == "idle" and r["power_w"] == 0 for r in after), after[:3]
    temps = [
        p["temp_c"]
        for t, p in run.rec.json("/telemetry")
        if t == topics.telemetry(sid, "outlet-03")
    ]
    assert max(temps) < 90, "the outlet's own cutoff had to trip"  # type: ignore[operator]
    assert not any(e["type"] == "fault_raised" for e in events)

    # The engine holds exactly that alert as critical (and maybe heating-fast), and it
    # fired on data time: the first reading >= 60 + 30 s.
    run.wait_done(30)
    store = AlertStore(tmp_path / "alerts.sqlite")
    stored = {(a.rule, a.station, a.device): a for a in store.list_alerts()}
    assert key in stored and stored[key].severity == "critical"
    assert set(stored) <= {key, ("outlet-socket-heating-fast", sid, "outlet-03")}, sorted(stored)


def test_live_gateway_partition_raises_one_station_alert_and_no_device_alerts(
    mosquitto: MosquittoServer, tmp_path: Path, unique_id: str, live: list[LiveRun]
) -> None:
    a, b = f"p{unique_id[:8]}", f"n{unique_id[:8]}"
    fleet = renamed_fleet([a, b], ("wmq-05", "wmq-06"))
    # gateway-partition shortened: a's uplink cut 1 min in for 3 min, b next door fine.
    scenario = parse_scenario(
        f"""
name: gateway-partition-short
description: gateway-partition, shortened
stations: [{a}, {b}]
start: "12:00"
duration: 6m
speed: 60
faults:
  - {{at: 1m, station: {a}, type: partition, duration: 3m}}
"""
    )
    scenario.check(fleet)
    clock = SimulatedClock(speed=scenario.speed)
    run = LiveRun(mosquitto, tmp_path, unique_id, fleet, scenario, clock)
    live.append(run)
    run.start()
    run.wait_done(30)

    def resolved() -> bool:
        return any(
            t.kind is TransitionKind.RESOLVE and t.key.rule == "station-offline"
            for t in run.transitions
        )

    wait_for(
        resolved,
        timeout=10,
        message=lambda: f"{[(t.kind.value, str(t.key)) for t in run.transitions]}",
    )
    raised = [
        (t.kind.value, str(t.key), round(run.offset_s(t.at_ms)))
        for t in run.transitions
        if t.kind in (TransitionKind.FIRE, TransitionKind.REOPEN, TransitionKind.SUPPRESS)
    ]
    assert [(k, key) for k, key, _ in raised] == [("fire", f"station-offline:{a}/*")], raised
    fire = next(t for t in run.transitions if t.kind is TransitionKind.FIRE)
    resolve = next(t for t in run.transitions if t.kind is TransitionKind.RESOLVE)
    assert 55 <= run.offset_s(fire.at_ms) <= 2 * 60 + 30, raised  # the cut is at 60 s
    assert run.offset_s(resolve.at_ms) >= 4 * 60 - 5, "resolved before the link came back"
    rows = [
        (r.rule, r.station, r.device, r.status) for r in run.collector.alert_store.list_alerts()
    ]  # type: ignore[union-attr]
    assert rows == [("station-offline", a, None, "resolved")], rows


def test_live_restart_mid_for_duration_fires_on_data_time(
    mosquitto: MosquittoServer, tmp_path: Path, unique_id: str
) -> None:
    """A socket at 65 degC; the collector stops 15 simulated s into the 30 s
    for-duration and a new one starts on the same data dir: the alert fires ~30 s
    after the first hot reading, not 30 s after the restart."""
    sid = f"h{unique_id[:8]}"
    fleet = renamed_fleet([sid], ("wmq-01",))
    clock = SimulatedClock(speed=10)  # 1 real s = 10 simulated s
    settings = collector_settings(mosquitto, tmp_path, f"rst-{unique_id}", [sid])
    url = parse_mqtt_url(mosquitto.url)
    pub = new_client(url, f"pub-{unique_id}")
    connect(pub, url)
    seq = 0
    first_hot: int | None = None

    def publish_until(stop_at_ms: int, every_ms: int = 2_500) -> None:
        """Readings of outlet-01 at 65 degC on the shared clock until `stop_at_ms`."""
        nonlocal seq, first_hot
        while (now := clock.now_ms()) < stop_at_ms:
            first_hot = now if first_hot is None else first_hot
            body = {
                "ts": now,
                "seq": seq,
                "state": "charging",
                "power_w": 300.0,
                "voltage_v": 230.0,
                "current_a": 1.3,
                "energy_wh": 50.0 + seq,
                "temp_c": 65.0,
            }
            pub.publish(
                topics.telemetry(sid, "outlet-01"), json.dumps(body), qos=1
            ).wait_for_publish(5)
            seq += 1
            clock.sleep(every_ms / 1000)  # paces the device: simulated time, not synchronisation

    first = Collector(settings, fleet, clock=clock)
    second: Collector | None = None
    try:
        first.start()
        wait_for(first.subscribed.is_set, timeout=10)
        publish_until(clock.now_ms() + 15_000)
        assert first.alerts is not None
        wait_for(lambda: first.metrics.get("stored") >= seq, timeout=10, message="not stored")
        assert not list(first.alerts.state.alerts()), "fired before the for-duration"
        first.stop()
        assert first_hot is not None
        restart_ms = clock.now_ms()

        second = Collector(settings, fleet, clock=clock)
        seen: list[Transition] = []
        assert second.alerts is not None
        second.alerts.sinks.append(_Record(seen))
        second.start()
        wait_for(second.subscribed.is_set, timeout=10)
        publish_until(clock.now_ms() + 40_000)

        fires = wait_for(
            lambda: [t for t in seen if t.kind is TransitionKind.FIRE],
            timeout=10,
            message="never fired after the restart",
        )
        assert fires[0].key.rule == "outlet-socket-overheat"
        delay_s = (fires[0].at_ms - first_hot) / 1000
        assert 30 <= delay_s <= 40, (
            f"fired {delay_s:.1f} s after the first hot reading "
            f"({(fires[0].at_ms - restart_ms) / 1000:.1f} s after the restart)"
        )
    finally:
        pub.disconnect()
        pub.loop_stop()
        if second is not None:
            second.stop()
        else:
            first.stop()
        clear_session(mosquitto.host, mosquitto.port, settings.session_client_id)
        clear_retained(mosquitto.url, f"clean-{unique_id}", [topics.availability(sid)])
