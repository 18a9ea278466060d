"""`warmnet simulate`: scenario listing and argument errors (in-process), and the load
mode against the real Mosquitto."""

import json
import threading
from collections import defaultdict
from itertools import pairwise
from pathlib import Path

import pytest
from sim_support import Recorder

from launcher.cli import main
from simulators.load import load_fleet_for, run_load
from simulators.scenario import list_scenarios
from testbed.services import MosquittoServer, wait_for
from warmnet.messages import parse_telemetry
from warmnet.registry import load_fleet, write_fleet


def test_simulate_lists_the_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list_scenarios()
    assert any(line.startswith("outlet-thermal-runaway") and "socket" in line for line in lines)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "nope"], "no scenario named 'nope'"),
        (["--scenario", "device-silent", "--stations", "wmq-01"], "targets wmq-04"),
        (["--stations", "wmq-99"], "unknown station(s) wmq-99"),
        (["--load", "--stations", "2", "--devices", "3"], "--devices > 4"),
    ],
)
def test_simulate_refuses_bad_arguments_before_connecting(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", *args]) == 1
    assert message in capsys.readouterr().err


def test_load_fleet_has_the_asked_size(tmp_path: Path) -> None:
    fleet = load_fleet_for(3, 7)
    assert [len(s.devices) for s in fleet.stations] == [7, 7, 7]
    write_fleet(fleet, tmp_path / "load.yaml")
    assert load_fleet(tmp_path / "load.yaml") == fleet


@pytest.mark.integration
def test_load_mode_publishes_valid_distinct_points_at_the_rate(
    mosquitto: MosquittoServer, unique_id: str
) -> None:
    fleet = load_fleet_for(3, 6)
    rec = Recorder(mosquitto.url, f"rec-{unique_id}", ["warm/v1/+/+/telemetry"])
    try:
        stats = run_load(mosquitto.url, fleet, 400.0, threading.Event(), duration_s=1.0)
        assert 300 <= stats.sent <= 450 and stats.acked == stats.sent
        got = wait_for(lambda: (m := rec.json("/telemetry")) and len(m) >= stats.sent and m)
    finally:
        rec.close()
    points: dict[str, list[dict[str, int]]] = defaultdict(list)
    for topic, payload in got:
        _, _, station, device, _ = topic.split("/")
        spec = fleet.device(station, device)
        assert spec is not None
        parse_telemetry(spec.kind, json.dumps(payload).encode())
        points[topic].append(payload)
    assert len(points) == 18  # every device of every station
    for seq in points.values():
        assert [p["seq"] for p in seq] == list(range(len(seq)))
        assert all(a["ts"] < b["ts"] for a, b in pairwise(seq))
