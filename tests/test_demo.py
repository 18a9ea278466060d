"""`warmnet demo` as a rider and an operator meet it: one command, live availability
of every station within seconds, Ctrl-C stops everything cleanly."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from testbed.services import free_port, wait_for

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("broker", ["amqtt", "mosquitto"])
def test_demo_serves_every_station_live_and_stops_cleanly(broker: str, tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARMNET_")}
    env["WARMNET_API_PORT"] = str(port)
    log_path = tmp_path / "demo.err"
    with open(log_path, "wb") as err:
        started = time.monotonic()
        demo = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "launcher",
                "demo",
                "--broker",
                broker,
                "--data-dir",
                str(tmp_path / "demo"),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:

            def all_live() -> bool:
                r = httpx.get(f"http://127.0.0.1:{port}/stations", timeout=2)
                body = r.json()
                return len(body) == 36 and all(
                    s["availability"] and s["availability"]["online"] for s in body
                )

            wait_for(
                all_live,
                timeout=45,
                ignore=(httpx.HTTPError,),
                message=lambda: log_path.read_text(),
            )
            elapsed = time.monotonic() - started
            print(f"demo ({broker}): all 36 stations live {elapsed:.1f} s after start")
            wait_for(
                lambda: "all stations live after" in log_path.read_text(),
                timeout=10,
                message="the demo never told the user it was ready",
            )
            nearby = httpx.get(
                f"http://127.0.0.1:{port}/stations/nearby",
                params={"lat": 31.2903, "lon": 120.6121, "need": "seat"},
                timeout=5,
            ).json()
            assert nearby, "no open station with a free seat in the whole network"
            assert [s["distance_m"] for s in nearby] == sorted(s["distance_m"] for s in nearby)
            assert "附近驿站" in httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text
        finally:
            demo.send_signal(signal.SIGINT)
            code = demo.wait(timeout=60)
    text = log_path.read_text()
    pids = [int(p) for p in re.findall(r"started child=\w+ pid=(\d+)", text)]
    assert len(pids) == 4
    assert code == 0, text
    assert not [p for p in pids if _alive(p)], "children left running"
    assert "child did not stop" not in text, text
