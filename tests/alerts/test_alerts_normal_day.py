"""A normal day raises nothing: healthy simulated stations (lunch and dinner rushes,
back-to-back microwave use, long charging sessions, heaters working hard, a station
that closes at night) fed through the default rules give zero alerts."""

from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

from collector.alerts import EngineState, TelemetryInput, Tick, Transition, evaluate, load_rules
from simulators.station import SimulatedStation
from warmnet.messages import TELEMETRY_MODELS
from warmnet.registry import Fleet, load_fleet, parse_fleet

TZ = ZoneInfo("Asia/Shanghai")
STEP_MS = 10_000
COARSE_S = 60.0  # microwaves keep their real 10 s: a use takes minutes, its door seconds


def _fleet(station_ids: set[str]) -> Fleet:
    """The first network's stations, reporting coarsely to keep the day fast."""
    data = load_fleet().model_dump(mode="json")
    data["stations"] = [s for s in data["stations"] if s["id"] in station_ids]
    for station in data["stations"]:
        for device in station["devices"]:
            if device["kind"] != "microwave":
                device["interval_s"] = COARSE_S
    return parse_fleet(data)


def _run_day(fleet: Fleet, seed: int) -> tuple[list[Transition], Counter[str]]:
    rules = load_rules()
    start = int(datetime(2026, 1, 15, 0, 0, tzinfo=TZ).timestamp() * 1000)
    sims = [SimulatedStation(s, fleet.tz, seed=seed, start_ms=start) for s in fleet.stations]
    state, seq, out = EngineState(), Counter[tuple[str, str]](), []
    seen = Counter[str]()  # what the day contained, so that "no alerts" means something
    for now in range(start, start + 86_400_000 + 1, STEP_MS):
        for sim in sims:
            for r in sim.due(now):
                seq[(r.station, r.device)] += 1
                model = TELEMETRY_MODELS[r.kind]
                reading = model(ts=r.ts_ms, seq=seq[(r.station, r.device)], **r.fields)
                inp = TelemetryInput(r.station, r.device, r.kind, reading)
                state, transitions = evaluate(rules, fleet, state, inp, now)
                out += transitions
                seen["readings"] += 1
                seen[str(r.fields.get("state", ""))] += 1
                seen["heating"] += r.fields.get("heating") is True
                seen["crowded"] += r.fields.get("occupied", 0) > r.fields.get("capacity", 1000)
        if now % 60_000 == 0:
            state, transitions = evaluate(rules, fleet, state, Tick(), now)
            out += transitions
    return out, seen


def test_a_normal_day_at_a_busy_24h_station_and_a_park_station_raises_no_alerts() -> None:
    fleet = _fleet({"wmq-01", "wmq-15"})  # 30 seats, 24 h; 6 seats, closes at 21:00

    transitions, seen = _run_day(fleet, seed=8)

    assert seen["readings"] > 50_000
    assert min(seen["charging"], seen["running"], seen["door_open"], seen["heating"]) > 100
    assert seen["crowded"] > 0  # brief overcrowding at peaks is normal, not an alert
    assert [(t.kind.value, str(t.key), t.detail) for t in transitions] == []
