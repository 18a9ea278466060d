"""The gateway against the real Mosquitto: data in order with the status protocol
(online + heartbeats, stopped on a clean stop), commands end to end with dedup, the
local MQTT intake, and the simulator feeding gateways through `GatewaySink`."""

import json
from pathlib import Path
from typing import Any

import pytest
from gateway_support import (
    Recorder,
    clear_session,
    fields_for,
    plain_client,
    retained,
    unique_fleet,
)

from gateway.downlink import MemoryDeviceControl
from gateway.service import Gateway
from gateway.settings import GatewaySettings
from gateway.sink import gateway_sink_factory
from simulators.runner import run
from testbed.services import MosquittoServer, wait_for
from warmnet import topics
from warmnet.clock import SimulatedClock
from warmnet.kinds import DeviceKind
from warmnet.messages import CommandName, DeviceCommand, GatewayState

pytestmark = pytest.mark.integration


def settings(
    mosquitto: MosquittoServer, station: str, tmp_path: Path, **kw: Any
) -> GatewaySettings:
    return GatewaySettings(station=station, mqtt_url=mosquitto.url, data_dir=tmp_path / "gw", **kw)


def test_data_in_order_with_online_heartbeat_and_stopped(
    mosquitto: MosquittoServer, tmp_path: Path, unique_id: str
) -> None:
    station = f"gw-{unique_id}"
    fleet = unique_fleet(station)
    devices = fleet.stations[0].devices
    rec = Recorder(mosquitto.host, mosquitto.port, f"rec-{unique_id}", [f"warm/v1/{station}/#"])
    gateway = Gateway(settings(mosquitto, station, tmp_path, heartbeat_s=0.3), fleet)
    try:
        gateway.start()
        assert gateway.wait_online(10)
        for n in range(60):
            spec = devices[n % len(devices)]
            assert gateway.submit(spec.id, fields_for(spec, n)) == n // len(devices)
        wait_for(
            lambda: len(rec.payloads("/telemetry")) >= 60,
            message=lambda: f"{len(rec.payloads('/telemetry'))} of 60 arrived",
        )
        got = rec.payloads("/telemetry")
        for spec in devices:
            seqs = [p["seq"] for t, p in got if t == topics.telemetry(station, spec.id)]
            assert seqs == sorted(seqs) and len(seqs) == len(set(seqs)), spec.id
            assert not any(p.get("historical") for _, p in got)
        beats = wait_for(
            lambda: [p for _, p in rec.payloads("/gateway/status") if p["outbox_depth"] == 0][2:],
            message="fewer than 3 heartbeats with an empty outbox",
        )
        assert {b["state"] for b in beats} == {"online"}
        assert {b["session"] for b in beats} == {gateway.session}
        assert beats[-1]["uplink_reconnects"] == 0
        session = gateway.session
    finally:
        gateway.stop()
    status = retained(mosquitto.host, mosquitto.port, topics.gateway_status(station))
    assert (status["state"], status["session"]) == (GatewayState.STOPPED.value, session)
    rec.close()
    assert gateway.stats().outbox.depth == 0


def test_command_result_round_trip_and_redelivery_executed_once(
    mosquitto: MosquittoServer, tmp_path: Path, unique_id: str
) -> None:
    station = f"gw-{unique_id}"
    fleet = unique_fleet(station)
    outlet = fleet.stations[0].devices_of(DeviceKind.CHARGING_OUTLET)[0].id
    control = MemoryDeviceControl([d.id for d in fleet.stations[0].devices])
    rec = Recorder(
        mosquitto.host, mosquitto.port, f"rec-{unique_id}", [f"warm/v1/{station}/+/event"]
    )
    ops = plain_client(f"ops-{unique_id}")
    ops.connect(mosquitto.host, mosquitto.port)
    ops.loop_start()
    try:
        with Gateway(settings(mosquitto, station, tmp_path), fleet, control=control) as gateway:
            assert gateway.wait_online(10)
            assert gateway.uplink.wait_commands_ready(10)
            cmd = DeviceCommand(
                id=f"cmd-{unique_id}", ts=1_767_225_600_000, command=CommandName.CUT_POWER
            )
            for _ in range(3):  # the same command id three times: executed once
                ops.publish(topics.command(station, outlet), cmd.model_dump_json(), qos=1)
            ghost = DeviceCommand(
                id=f"ghost-{unique_id}", ts=1_767_225_600_000, command=CommandName.RESET
            )
            ops.publish(topics.command(station, "ghost"), ghost.model_dump_json(), qos=1)
            wait_for(lambda: len(rec.payloads("/event")) >= 2, message="no command results")
            wait_for(lambda: gateway.commands.counts["duplicate"] == 2)
        events = {p["command_id"]: (t, p) for t, p in rec.payloads("/event")}
        assert len(rec.payloads("/event")) == 2
        topic, ok = events[cmd.id]
        assert topic == topics.event(station, outlet)
        assert (ok["type"], ok["code"]) == ("command_result", "OK")
        assert events[ghost.id][1]["code"] == "UNKNOWN_DEVICE"
        assert len(control.executed) == 1 and control.powered[outlet] is False
    finally:
        ops.disconnect()
        ops.loop_stop()
        rec.close()


def test_local_mqtt_devices_are_read_in_also_across_a_restart(
    mosquitto: MosquittoServer, tmp_path: Path, unique_id: str
) -> None:
    station = f"gw-{unique_id}"
    fleet = unique_fleet(station)
    heater = fleet.stations[0].devices_of(DeviceKind.WATER_HEATER)[0]
    local = f"local/{heater.id}/telemetry"
    rec = Recorder(
        mosquitto.host, mosquitto.port, f"rec-{unique_id}", [f"warm/v1/{station}/+/telemetry"]
    )
    radio = plain_client(f"radio-{unique_id}")
    radio.connect(mosquitto.host, mosquitto.port)
    radio.loop_start()
    cfg = settings(mosquitto, station, tmp_path, local_mqtt_url=mosquitto.url)
    try:
        with Gateway(cfg, fleet) as gateway:
            assert gateway.local is not None
            assert gateway.local.subscribed.wait(10)
            radio.publish(local, json.dumps(fields_for(heater, 1)), qos=1)
            radio.publish(local, b"garbage", qos=1)
            wait_for(lambda: rec.payloads("/telemetry"), message="nothing forwarded")
            wait_for(lambda: gateway.stats().intake.rejected == {"malformed_json": 1})
        # While the gateway is down the local broker keeps its session's messages.
        radio.publish(local, json.dumps(fields_for(heater, 2)), qos=1).wait_for_publish(5)
        with Gateway(cfg, fleet):
            wait_for(lambda: len(rec.payloads("/telemetry")) >= 2, message="restart lost it")
        got = rec.payloads("/telemetry")
        assert {t for t, _ in got} == {topics.telemetry(station, heater.id)}
        assert [b["seq"] for _, b in got] == [0, 1]
        assert [b["water_temp_c"] for _, b in got] == [
            fields_for(heater, n)["water_temp_c"] for n in (1, 2)
        ]
    finally:
        radio.disconnect()
        radio.loop_stop()
        rec.close()
        clear_session(mosquitto.host, mosquitto.port, f"{cfg.uplink_client_id}-local")


def test_simulator_runs_through_gateways(
    mosquitto: MosquittoServer, tmp_path: Path, unique_id: str
) -> None:
    station = f"gw-{unique_id}"
    fleet = unique_fleet(station)
    rec = Recorder(mosquitto.host, mosquitto.port, f"rec-{unique_id}", [f"warm/v1/{station}/#"])
    clock = SimulatedClock(speed=60)
    factory = gateway_sink_factory(
        lambda sid: settings(mosquitto, sid, tmp_path, freshness_s=600), fleet, clock
    )
    try:
        stats = run(fleet, [station], factory, clock, seed=7, duration_s=120)
        assert stats.readings > 0
        wait_for(
            lambda: len(rec.payloads("/telemetry")) >= stats.readings,
            message=lambda: f"{len(rec.payloads('/telemetry'))} of {stats.readings} arrived",
        )
        seqs = [(t, b["seq"]) for t, b in rec.payloads("/telemetry")]
        assert len(seqs) == len(set(seqs)) == stats.readings
        status = retained(mosquitto.host, mosquitto.port, topics.gateway_status(station))
        assert status["state"] == "stopped"
    finally:
        rec.close()
