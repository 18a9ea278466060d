"""The alert engine inside a running collector (real mosquitto + InfluxDB): an
overheating socket fires a critical alert, a cut-power command goes to the outlet
and is repeated until the gateway confirms it, the alert is charted in InfluxDB,
and the engine's timers are on disk when the collector stops."""

import json
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from services import InfluxServer, MosquittoServer, clear_session, wait_for

from collector.alerts import EngineState
from collector.service import Collector
from collector.settings import CollectorSettings
from warmnet import topics
from warmnet.registry import load_fleet

pytestmark = pytest.mark.integration

FLEET = load_fleet()


def outlet(seq: int, ts: int, temp_c: float) -> bytes:
    return json.dumps(
        {
            "ts": ts,
            "seq": seq,
            "state": "charging",
            "power_w": 300.0,
            "voltage_v": 230.0,
            "current_a": 1.3,
            "energy_wh": 50.0 + seq,
            "temp_c": temp_c,
        }
    ).encode()


def test_overheating_socket_fires_once_and_cuts_power(
    mosquitto: MosquittoServer,
    influxdb: InfluxServer,
    influx_db: str,
    tmp_path: Path,
    unique_id: str,
) -> None:
    settings = CollectorSettings(
        mqtt_url=mosquitto.url,
        influx_url=influxdb.url,
        influx_db=influx_db,
        data_dir=tmp_path,
        client_id=f"alert-{unique_id}",
        metrics_port=None,
    )
    collector = Collector(settings, FLEET)
    commands: list[dict[str, Any]] = []
    gw = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"gw-{unique_id}")
    gw.on_message = lambda _c, _u, m: commands.append(json.loads(m.payload))
    gw.connect(mosquitto.host, mosquitto.port)
    gw.subscribe(topics.command("wmq-03", "outlet-02"), 1)
    gw.loop_start()
    collector.start()
    try:
        now = int(time.time() * 1000)
        # A minute of readings, 5 s apart, the socket at 66 degC the whole time.
        for i in range(13):
            ts = now - 60_000 + i * 5_000
            raw = outlet(i, ts, 66.0)
            gw.publish(topics.telemetry("wmq-03", "outlet-02"), raw, qos=1).wait_for_publish(5)
        wait_for(lambda: commands, timeout=15, message="no cut_power command")
        cmd = commands[0]
        assert cmd["command"] == "cut_power"
        assert "outlet-socket-overheat" in cmd["reason"]
        assert collector.alerts is not None
        active = [k for k, _ in collector.alerts.state.alerts()]
        assert [(k.rule, k.station, k.device) for k in active] == [
            ("outlet-socket-overheat", "wmq-03", "outlet-02")
        ]

        # The gateway answers; the collector stops repeating the command.
        result = {
            "ts": int(time.time() * 1000),
            "seq": 0,
            "type": "command_result",
            "code": "OK",
            "command_id": cmd["id"],
        }
        gw.publish(topics.event("wmq-03", "outlet-02"), json.dumps(result), qos=1)
        wait_for(lambda: collector.metrics.get("commands_confirmed") == 1, timeout=10)
        assert collector.commands.pending == 0

        # Charted for Grafana: one fire and one action point.
        wait_for(
            lambda: len(influxdb.rows("SELECT * FROM alert", influx_db)) == 2,
            timeout=10,
            message=lambda: f"alert points: {influxdb.rows('SELECT * FROM alert', influx_db)}",
        )
        kinds = sorted(r["transition"] for r in influxdb.rows("SELECT * FROM alert", influx_db))
        assert kinds == ["action", "fire"]
    finally:
        collector.stop()
        gw.loop_stop()
        gw.disconnect()
        clear_session(mosquitto.host, mosquitto.port, settings.session_client_id)

    # The timers and the alert are on disk for the next start.
    saved = EngineState.from_json((tmp_path / "alert_state.json").read_text())
    assert [k.rule for k, _ in saved.alerts()] == ["outlet-socket-overheat"]
