"""The simulator through real in-process gateways against the real Mosquitto: a short
partition and a crash lose no reading, and a downlink command reaches a device."""

import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from sim_support import Recorder, clear_retained

from simulators.gateways import GatewayFleet, GatewayOptions
from simulators.models import ChargingOutletModel
from simulators.runner import RunStats, drive, make_stations
from simulators.scenario import parse_scenario
from simulators.sink import parse_mqtt_url
from testbed.services import MosquittoServer, wait_for
from warmnet import topics
from warmnet.clock import SimulatedClock
from warmnet.messages import CommandName, DeviceCommand, dump_json
from warmnet.mqtt import connect, new_client
from warmnet.registry import Fleet, load_fleet, parse_fleet

pytestmark = pytest.mark.integration


def fleet_of(ids: list[str], templates: tuple[str, ...] = ("wmq-05", "wmq-07")) -> Fleet:
    data = load_fleet().model_dump(mode="json")
    data["stations"] = [s for s in data["stations"] if s["id"] in templates]
    for station, sid in zip(data["stations"], ids, strict=True):
        station["id"] = sid
    return parse_fleet(data)


def test_a_partition_and_a_crash_through_gateways_lose_no_reading(
    mosquitto: MosquittoServer, tmp_path: Path, unique_id: str
) -> None:
    a, b = f"p{unique_id[:8]}", f"c{unique_id[:8]}"
    fleet = fleet_of([a, b])
    scenario = parse_scenario(
        f"""
name: short-outages
description: gateway-partition and gateway-crash-restart, shortened
stations: [{a}, {b}]
start: "12:00"
duration: 4m
speed: 60
faults:
  - {{at: 1m, station: {a}, type: partition, duration: 90s}}
  - {{at: 1m, station: {b}, type: gateway_crash, duration: 1m}}
"""
    )
    scenario.check(fleet)
    rec = Recorder(mosquitto.url, f"rec-{unique_id}", [f"warm/v1/{a}/#", f"warm/v1/{b}/#"])
    clock = SimulatedClock(speed=scenario.speed)
    stations = make_stations(fleet, [a, b], 7, clock, scenario)
    gateways = GatewayFleet(
        fleet,
        [a, b],
        # A 90 s partition: what waited more than 30 s is replayed as historical.
        GatewayOptions(mosquitto.url, tmp_path / "gw", freshness_s=30.0),
        clock=clock,
        controls={s.id: s for s in stations},
        record=True,
    )
    try:
        gateways.start()
        stats: RunStats = drive(
            stations, gateways, clock, duration_s=scenario.duration, scenario=scenario
        )
        accepted = gateways.accepted
        assert accepted is not None and stats.readings == len(accepted) > 400
        assert stats.delivery["held"] > 50  # readings kept by b's devices while it was down

        def received() -> set[tuple[str, int]]:
            return {(t, p["seq"]) for t, p in rec.json("/telemetry")}

        wait_for(
            lambda: set(accepted) <= received(),
            timeout=30,
            message=lambda: f"{len(set(accepted) - received())} of {len(accepted)} missing",
        )
        seqs: dict[str, list[int]] = defaultdict(list)
        for topic, payload in rec.json("/telemetry"):
            seqs[topic].append(payload["seq"])
        for topic, seq in seqs.items():
            assert sorted(set(seq)) == list(range(len(set(seq)))), topic  # no gap, no reuse
        assert any(p.get("historical") for t, p in rec.json("/telemetry") if f"/{a}/" in t)

        def states(station: str) -> list[str]:
            status = topics.gateway_status(station)
            return [p["state"] for t, p in rec.json("/status") if t == status]

        wait_for(lambda: states(a)[-1:] == ["stopped"] and states(b)[-1:] == ["stopped"])
        for station in (a, b):  # the will while cut off, a new session after
            sequence = [s for i, s in enumerate(states(station)) if s != states(station)[i - 1]]
            assert sequence == ["online", "offline", "online", "stopped"], states(station)
    finally:
        gateways.close()
        rec.close()
        clear_retained(mosquitto.url, f"clean-{unique_id}", [a, b])


def test_a_downlink_command_cuts_a_charging_outlet(
    mosquitto: MosquittoServer, tmp_path: Path, unique_id: str
) -> None:
    sid = f"d{unique_id[:8]}"
    fleet = fleet_of([sid], ("wmq-01",))
    clock = SimulatedClock(speed=10)
    stations = make_stations(fleet, [sid], 3, clock)
    gateways = GatewayFleet(
        fleet,
        [sid],
        GatewayOptions(mosquitto.url, tmp_path / "gw"),
        clock=clock,
        controls={sid: stations[0]},
    )
    rec = Recorder(mosquitto.url, f"rec-{unique_id}", [f"warm/v1/{sid}/#"])
    stop = threading.Event()
    result: list[RunStats] = []
    gateways.start()
    runner = threading.Thread(
        target=lambda: result.append(drive(stations, gateways, clock, stop=stop))
    )
    runner.start()
    try:
        gateway = wait_for(lambda: gateways.gateways.get(sid))
        assert gateway.uplink.wait_commands_ready(10)
        models = stations[0].models
        outlet = next(
            d for d, m in models.items() if isinstance(m, ChargingOutletModel) and m.session
        )
        command = DeviceCommand(
            id=f"cut-{unique_id}", ts=clock.now_ms(), command=CommandName.CUT_POWER
        )
        client = new_client(parse_mqtt_url(mosquitto.url), f"crew-{unique_id}")
        connect(client, parse_mqtt_url(mosquitto.url))
        client.publish(topics.command(sid, outlet), dump_json(command), qos=1).wait_for_publish(5)
        client.disconnect()
        client.loop_stop()

        def answered() -> list[dict[str, Any]]:
            return [
                p
                for t, p in rec.json(f"/{outlet}/event")
                if p["type"] in ("command_result", "session_stopped")
            ]

        events = wait_for(lambda: len(answered()) >= 2 and answered(), timeout=10)
        assert {(e["type"], e["code"]) for e in events} >= {
            ("session_stopped", "POWER_CUT"),
            ("command_result", "OK"),
        }
        cut_at = min(e["ts"] for e in events)

        def idle_after() -> bool:
            readings = [p for t, p in rec.json(f"/{outlet}/telemetry") if p["ts"] > cut_at]
            return bool(readings) and all(
                p["state"] == "idle" and p["power_w"] == 0 for p in readings
            )

        wait_for(idle_after, timeout=10, message="the outlet kept charging")
    finally:
        stop.set()
        runner.join(30)
        rec.close()
        clear_retained(mosquitto.url, f"clean-{unique_id}", [sid])
    assert not runner.is_alive() and result
