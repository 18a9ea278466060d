"""`warmnet demo`: the whole system as one process tree, no root, no servers to install.

Starts, as child processes: an MQTT broker (mosquitto if a binary is available, else
the embedded amqtt), the collector (SQLite unless WARMNET_INFLUX_URL is set), the
simulator for every station (through one in-process gateway per station, optionally
playing a scenario), and the API. With WARMNET_MQTT_URL set it uses that
broker instead. SIGINT/SIGTERM stops every child cleanly, simulator first so that
the collector stores everything it was sent.
"""

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from broker import find_mosquitto, mosquitto_config
from warmnet.clock import shared_clock_env

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 60.0
DEMO_SCENARIO_MAX_SPEED = 10.0


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def _wait_tcp(host: str, port: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)  # polling a port that is not open yet
    return False


def _spawn(name: str, args: list[str], env: dict[str, str], log_dir: Path) -> Child:
    out = open(log_dir / f"{name}.log", "ab")  # noqa: SIM115  (owned by the child)
    # A session of its own: Ctrl-C in the terminal reaches only this supervisor, which
    # then stops the children in order (simulator first, broker last).
    proc = subprocess.Popen(
        args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    log.info("started", extra={"child": name, "pid": proc.pid, "log": str(log_dir / f"{name}.log")})
    return Child(name, proc)


def _warmnet(sub: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "launcher", sub, *extra]


def _simulate_args(speed: float | None, scenario: str | None, data_dir: Path) -> list[str]:
    """Every station through in-process gateways; a scenario's faults on its stations,
    then the simulation goes on (the demo keeps running)."""
    args = ["--stations", "all", "--data-dir", str(data_dir / "gateways")]
    if scenario is not None:
        args += ["--scenario", scenario, "--keep-running"]
    if speed is not None or scenario is None:
        args += ["--speed", str(speed if speed is not None else 1.0)]
    return _warmnet("simulate", *args)


def run_demo(
    *, speed: float | None, data_dir: Path, broker: str = "auto", scenario: str | None = None
) -> int:
    """Run until SIGINT/SIGTERM. `broker`: auto (mosquitto if installed, else amqtt),
    mosquitto or amqtt; ignored when WARMNET_MQTT_URL is set. `speed` None: 1, or the
    scenario's own speed."""
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    # A demo starts from a clean slate; its data is kept until the next run.
    shutil.rmtree(data_dir, ignore_errors=True)
    log_dir = data_dir / "logs"
    log_dir.mkdir(parents=True)
    env = dict(os.environ)
    env["WARMNET_DATA_DIR"] = str(data_dir / "collector")
    # The alert store is shared by the collector and the API. Demo mode: the API takes
    # the tokens `demo-crew` / `demo-operator`, webhook placeholders only log.
    env.setdefault("WARMNET_ALERT_DB", str(data_dir / "alerts.sqlite"))
    env.setdefault("WARMNET_DEMO_MODE", "true")
    if speed is None and scenario is not None:
        from simulators.scenario import load_scenario  # the CLI composes components

        # All 36 stations at a scenario's 60x are ~2,500 msg/s: more than one 2-core
        # machine simulates, stores and evaluates at once. 10x keeps up.
        speed = min(load_scenario(scenario).speed, DEMO_SCENARIO_MAX_SPEED)
    if speed is not None and speed != 1:
        # One fast clock for all: otherwise the collector would judge minutes of
        # simulated data by seconds of wall time (false "heating fast" alerts).
        env.update(shared_clock_env(speed, time.time_ns() // 1_000_000))
    api_port = int(env.get("WARMNET_API_PORT", "8000"))
    children: list[Child] = []
    started = time.monotonic()
    deadline = started + READY_TIMEOUT_S

    try:
        if "WARMNET_MQTT_URL" not in env:
            port = _free_port()
            mosquitto = find_mosquitto() if broker in ("auto", "mosquitto") else None
            if broker == "mosquitto" and mosquitto is None:
                log.error("--broker mosquitto: no mosquitto binary on PATH")
                return 1
            if mosquitto:
                broker_dir = data_dir / "mosquitto"
                broker_dir.mkdir()
                conf = broker_dir / "mosquitto.conf"
                conf.write_text(mosquitto_config("127.0.0.1", port, broker_dir.resolve()))
                children.append(_spawn("broker", [mosquitto, "-c", str(conf)], env, log_dir))
            else:
                children.append(
                    _spawn("broker", _warmnet("broker", "--port", str(port)), env, log_dir)
                )
            env["WARMNET_MQTT_URL"] = f"mqtt://127.0.0.1:{port}"
            if not _wait_tcp("127.0.0.1", port, deadline):
                log.error("broker did not start; see its log", extra={"log_dir": str(log_dir)})
                return 1
        mqtt_url = env["WARMNET_MQTT_URL"]
        children.append(_spawn("collector", _warmnet("collector"), env, log_dir))
        children.append(_spawn("api", _warmnet("api"), env, log_dir))
        children.append(
            _spawn("simulator", _simulate_args(speed, scenario, data_dir), env, log_dir)
        )
        store = env.get("WARMNET_INFLUX_URL") or f"SQLite in {data_dir / 'collector'}"
        log.info("demo starting", extra={"mqtt": mqtt_url, "store": store})

        if _wait_ready(api_port, deadline, stop, children):
            sys.stderr.write(
                f"\nwarmnet demo is running: all stations live after "
                f"{time.monotonic() - started:.1f} s ({len(children)} processes; logs: {log_dir})\n"
                f"  rider page:     http://127.0.0.1:{api_port}/\n"
                f"  stations JSON:  http://127.0.0.1:{api_port}/stations\n"
                f"  API docs:       http://127.0.0.1:{api_port}/docs\n"
                f"  MQTT broker:    {mqtt_url}\n"
                f"  time series:    {store}\n"
                "Press Ctrl-C to stop.\n\n"
            )
        elif not stop.is_set():
            log.error("demo did not become ready; see the logs", extra={"log_dir": str(log_dir)})
            return 1

        while not stop.wait(0.5):
            for child in children:
                if child.proc.poll() is not None:
                    log.error(
                        "child exited; stopping the demo",
                        extra={"child": child.name, "code": child.proc.returncode},
                    )
                    return 1
        return 0
    finally:
        _stop_all(children)


def _wait_ready(port: int, deadline: float, stop: threading.Event, children: list[Child]) -> bool:
    """Until the API has live availability for every station, or the deadline."""
    with httpx.Client(timeout=2.0) as http:
        while time.monotonic() < deadline and not stop.is_set():
            if any(c.proc.poll() is not None for c in children):
                return False
            try:
                r = http.get(f"http://127.0.0.1:{port}/stations")
                if r.status_code == 200 and all(s.get("availability") for s in r.json()):
                    return True
            except httpx.HTTPError:
                pass
            stop.wait(0.25)
    return False


def _stop_all(children: list[Child]) -> None:
    # Simulator first, broker last: in-flight messages are still delivered and stored.
    for child in reversed(children):
        if child.proc.poll() is None:
            child.proc.send_signal(signal.SIGTERM)
            try:
                child.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                log.warning("child did not stop; killing", extra={"child": child.name})
                child.proc.kill()
                child.proc.wait()
        log.info("stopped", extra={"child": child.name, "code": child.proc.returncode})
