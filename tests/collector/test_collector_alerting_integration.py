"""The alert engine inside a running collector (real mosquitto + InfluxDB): an
overheating socket fires a critical alert, a cut-power command goes to the outlet
and is repeated until the gateway confirms it, the alert is charted in InfluxDB,
and the engine's timers are on disk when the collector stops."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from alertstore import AlertStore
from collector.alerts.runner import parse_saved
from collector.service import Collector
from collector.settings import CollectorSettings
from testbed.services import InfluxServer, MosquittoServer, clear_session, wait_for
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
    saved, _cursors = parse_saved((tmp_path / "alert_state.json").read_text())
    assert [k.rule for k, _ in saved.alerts()] == ["outlet-socket-overheat"]


class Webhook:
    """A real HTTP endpoint on loopback that records what the notifier posts."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[tuple[str, str | None]]:
        return [(b["event"], b.get("who")) for b in self.bodies]


def test_store_round_trip_reports_silences_and_crew_resolve(
    mosquitto: MosquittoServer, tmp_path: Path, unique_id: str
) -> None:
    """The collector and the API share the alert store: a rider report becomes an
    alert and is notified, a crew resolve reaches the engine and the crews' group,
    and planned maintenance shows riders the device out of order."""
    hook = Webhook()
    targets = tmp_path / "targets.yaml"
    targets.write_text(
        f"version: 1\ntargets:\n  - name: crew\n    type: generic\n    url: {hook.url}\n"
        "    events: [fire, acknowledge, resolve, reopen]\n"
    )
    settings = CollectorSettings(
        mqtt_url=mosquitto.url,
        data_dir=tmp_path,
        client_id=f"store-{unique_id}",
        metrics_port=None,
        alert_db=tmp_path / "alerts.sqlite",
        availability_interval_s=0.1,
        notify_targets=targets,
    )
    collector = Collector(settings, FLEET)
    api_side = AlertStore(tmp_path / "alerts.sqlite")  # as the API process opens it
    seen: list[dict[str, Any]] = []
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sub-{unique_id}")
    sub.on_message = lambda _c, _u, m: seen.append(json.loads(m.payload)) if m.payload else None
    sub.connect(mosquitto.host, mosquitto.port)
    sub.subscribe(topics.availability("wmq-05"), 1)
    sub.loop_start()
    collector.start()
    try:
        # A rider reports smoke at an outlet (through the API's store).
        api_side.add_report("wmq-05", "outlet-01", "smoke", "冒烟了", "client-hash")
        wait_for(
            lambda: api_side.list_alerts(station="wmq-05"),
            timeout=10,
            message="rider report never became an alert",
        )
        alert = api_side.list_alerts(station="wmq-05")[0]
        assert (alert.rule, alert.device, alert.severity) == (
            "rider-report-danger",
            "outlet-01",
            "critical",
        )
        assert alert.title_zh and alert.status == "firing"

        # A crew member resolves it; the engine learns (its cursor moves on).
        api_side.resolve(alert.id, "alice", "checked: steam from the kettle, not smoke")
        assert collector.alerts is not None
        runner = collector.alerts
        wait_for(
            lambda: runner.cursors.get("manual", 0) > 0,
            timeout=10,
            message="crew resolve never reached the engine",
        )

        # Planned maintenance on outlet-02: riders see it out of order.
        until = int(time.time() * 1000) + 3_600_000
        api_side.silence("wmq-05", "outlet-02", until, "bob", "replacing the socket")
        gw = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"gw-{unique_id}")
        gw.connect(mosquitto.host, mosquitto.port)
        gw.loop_start()
        gw.publish(
            topics.telemetry("wmq-05", "outlet-02"),
            outlet(0, int(time.time() * 1000), 25.0),
            qos=1,
        ).wait_for_publish(5)
        gw.loop_stop()
        gw.disconnect()

        def outlet_02() -> str | None:
            for summary in reversed(seen):
                for d in summary["devices"]:
                    if d["device"] == "outlet-02" and d["observed_at"] is not None:
                        return str(d["status"])
            return None

        wait_for(
            lambda: outlet_02() == "out_of_order",
            timeout=15,
            message=lambda: f"outlet-02 shown as {outlet_02()}",
        )
    finally:
        collector.stop()
        sub.loop_stop()
        sub.disconnect()
        api_side.close()
        hook.server.shutdown()
        clear_session(mosquitto.host, mosquitto.port, settings.session_client_id)
