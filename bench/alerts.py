"""The alert engine alone: `synthetic_fleet(3600)` (50,400 devices), the bundled rules,
every device reporting at its interval with plausible values, a `Tick` every simulated
second and a save every 5 simulated seconds. Pure Python, no network, no disk.

Measured twice on the same input stream in the same run:
- reference: `evaluate(..., sweep=True)` (every owned station evaluated on every tick,
  as before deadline scheduling) and `EngineState.to_json()` (the whole state);
- engine: `evaluate(...)` (only stations whose due time has come) and the runner's
  streamed save (`write_state`, station by station, into a string here).
The transitions of the two must be identical (checked).

Prints us per telemetry input, ms per Tick, ms per save and the state JSON size.

    .venv/bin/python bench/alerts.py [--stations 3600] [--seconds 60] [--seed 1]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from collector.alerts import (
    EngineState,
    GatewayInput,
    Input,
    RuleSet,
    TelemetryInput,
    Tick,
    Transition,
    evaluate,
    load_rules,
)
from warmnet.kinds import DeviceKind
from warmnet.messages import (
    ChargingOutletTelemetry,
    GatewayState,
    GatewayStatus,
    MicrowaveTelemetry,
    OccupancySensorTelemetry,
    Telemetry,
    WaterHeaterTelemetry,
)
from warmnet.registry import Fleet, synthetic_fleet

T0 = 1_767_225_600_000
SAVE_EVERY_S = 5


# --- the input stream -----------------------------------------------------------------


@dataclass
class Device:
    station: str
    id: str
    kind: DeviceKind
    interval_ms: int
    next_ms: int
    seq: int = 0
    # plausible running values
    charging: bool = False
    temp: float = 24.0
    energy: float = 0.0
    level: float = 80.0
    heating: bool = False
    remaining: int = 0
    occupied: int = 3
    stops_at_ms: int | None = None  # goes silent from then on (a dead device)


def build_devices(fleet: Fleet, rng: random.Random, seconds: int) -> list[Device]:
    out = []
    for st in fleet.stations:
        for spec in st.devices:
            interval_ms = int(spec.report_interval_s * 1000)
            d = Device(st.id, spec.id, spec.kind, interval_ms, T0 + rng.randrange(interval_ms))
            d.charging = spec.kind is DeviceKind.CHARGING_OUTLET and rng.random() < 0.3
            d.energy = rng.uniform(0, 400) if d.charging else 0.0
            d.temp = rng.uniform(28, 38) if d.charging else rng.uniform(18, 26)
            d.level = rng.uniform(40, 95)
            d.occupied = rng.randrange(0, 10)
            if rng.random() < 0.002:  # one device in 500 dies during the run
                d.stops_at_ms = T0 + rng.randrange(max(1, seconds // 2) * 1000)
            out.append(d)
    return out


def reading(d: Device, ts: int, rng: random.Random) -> Telemetry:
    d.seq += 1
    if d.kind is DeviceKind.CHARGING_OUTLET:
        if d.charging:
            d.energy = min(4999.0, d.energy + 0.8)
            d.temp = min(45.0, d.temp + rng.uniform(-0.05, 0.08))
        else:
            d.temp = max(15.0, min(30.0, d.temp + rng.uniform(-0.1, 0.1)))
        power = rng.uniform(180, 320) if d.charging else 0.0
        return ChargingOutletTelemetry.model_construct(
            ts=ts, seq=d.seq, historical=False, state="charging" if d.charging else "idle",
            power_w=round(power, 1), voltage_v=round(rng.uniform(225, 235), 1),
            current_a=round(power / 230, 2), energy_wh=round(d.energy, 1),
            temp_c=round(d.temp, 1),
        )  # fmt: skip
    if d.kind is DeviceKind.WATER_HEATER:
        d.heating = d.temp < 92 if not d.heating else d.temp < 95
        d.temp = 70.0 if d.temp < 50 else d.temp  # start warm
        d.temp = d.temp + (0.4 if d.heating else -0.1) + rng.uniform(-0.05, 0.05)
        d.level = max(30.0, d.level - 0.02)
        return WaterHeaterTelemetry.model_construct(
            ts=ts, seq=d.seq, historical=False, water_temp_c=round(d.temp, 1),
            target_temp_c=95.0, heating=d.heating, level_pct=round(d.level, 1),
            power_w=2500.0 if d.heating else 0.0, fault_code=None,
        )  # fmt: skip
    if d.kind is DeviceKind.MICROWAVE:
        if d.remaining <= 0 and rng.random() < 0.05:
            d.remaining = rng.choice((60, 90, 120, 180))
        running = d.remaining > 0
        d.remaining = max(0, d.remaining - d.interval_ms // 1000)
        return MicrowaveTelemetry.model_construct(
            ts=ts, seq=d.seq, historical=False, state="running" if running else "idle",
            power_w=1100.0 if running else 2.0, remaining_s=d.remaining,
        )  # fmt: skip
    d.occupied = max(0, min(12, d.occupied + rng.choice((-1, 0, 0, 0, 1))))
    return OccupancySensorTelemetry.model_construct(
        ts=ts, seq=d.seq, historical=False, occupied=d.occupied, capacity=12
    )


def stream(fleet: Fleet, seconds: int, seed: int) -> Iterator[tuple[int, list[Input]]]:
    """Per simulated second: its end time and the inputs that arrived during it (each
    evaluated at its own ts). A few stations' gateways go offline and come back."""
    rng = random.Random(seed)
    devices = build_devices(fleet, rng, seconds)
    by_station = sorted({d.station for d in devices})
    flaky = rng.sample(by_station, max(1, len(by_station) // 400))
    sessions = dict.fromkeys(flaky, 1)
    for sec in range(seconds):
        end = T0 + (sec + 1) * 1000
        due: list[tuple[int, Input]] = []
        for d in devices:
            while d.next_ms < end:
                ts = d.next_ms
                d.next_ms += d.interval_ms
                if d.stops_at_ms is not None and ts >= d.stops_at_ms:
                    continue
                due.append((ts, TelemetryInput(d.station, d.id, d.kind, reading(d, ts, rng))))
        if sec in (seconds // 4, seconds // 2):  # offline, then back with a new session
            state = GatewayState.OFFLINE if sec == seconds // 4 else GatewayState.ONLINE
            for sid in flaky:
                if state is GatewayState.ONLINE:
                    sessions[sid] += 1
                ts = end - 500
                status = GatewayStatus(state=state, session=sessions[sid], ts=ts)
                due.append((ts, GatewayInput(sid, status)))
        due.sort(key=lambda x: x[0])
        yield end, [inp for _, inp in due]


def time_of(inp: Input) -> int:
    if isinstance(inp, TelemetryInput):
        return inp.reading.ts
    assert isinstance(inp, GatewayInput)
    return inp.status.ts


# --- one run --------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    telemetry_us: list[float]
    tick_ms: list[float]
    save_ms: list[float]
    json_bytes: int
    transitions: list[Transition]


def run(
    name: str,
    rules: RuleSet,
    fleet: Fleet,
    seconds: int,
    seed: int,
    owned: frozenset[str],
    sweep: bool,
    save: Callable[[EngineState], str],
) -> Result:
    state = EngineState()
    tele_s: list[float] = []
    tick_ms: list[float] = []
    save_ms: list[float] = []
    transitions: list[Transition] = []
    size = 0
    perf = time.perf_counter
    gc.collect()
    for sec, (end, inputs) in enumerate(stream(fleet, seconds, seed)):
        for inp in inputs:
            t0 = perf()
            state, out = evaluate(rules, fleet, state, inp, time_of(inp), sweep=sweep)
            if isinstance(inp, TelemetryInput):
                tele_s.append(perf() - t0)
            transitions += out
        t0 = perf()
        state, out = evaluate(rules, fleet, state, Tick(owned), end, sweep=sweep)
        tick_ms.append((perf() - t0) * 1000)
        transitions += out
        if (sec + 1) % SAVE_EVERY_S == 0:
            t0 = perf()
            text = save(state)
            save_ms.append((perf() - t0) * 1000)
            size = len(text.encode())
    us = [s * 1e6 for s in tele_s]
    return Result(name, us, tick_ms, save_ms, size, transitions)


def summary(r: Result, stations: int, skip_s: int) -> str:
    ticks = r.tick_ms[skip_s:] or r.tick_ms
    saves = r.save_ms[1:] or r.save_ms
    return (
        f"{r.name:<10} telemetry {statistics.fmean(r.telemetry_us):6.1f} us/input "
        f"(p50 {statistics.median(r.telemetry_us):5.1f}, n={len(r.telemetry_us)})  "
        f"tick {statistics.fmean(ticks):7.2f} ms (p50 {statistics.median(ticks):6.2f}, "
        f"max {max(ticks):7.2f}, {stations} stations)  "
        f"save {statistics.fmean(saves):7.1f} ms (max {max(saves):7.1f})  "
        f"state JSON {r.json_bytes / 1e6:.1f} MB"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--stations", type=int, default=3600)
    ap.add_argument("--seconds", type=int, default=60, help="simulated seconds (default 60)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", choices=("reference", "engine"), help="run one of the two")
    args = ap.parse_args()

    t0 = time.perf_counter()
    fleet = synthetic_fleet(args.stations)
    rules = load_rules()
    owned = frozenset(s.id for s in fleet.stations)
    devices = sum(len(s.devices) for s in fleet.stations)
    print(
        f"alert engine bench: Python {sys.version.split()[0]}, {args.stations} stations / "
        f"{devices} devices, {len(rules.enabled)} rules, {args.seconds} simulated s "
        f"(fleet built in {time.perf_counter() - t0:.1f} s)"
    )
    print("  first ticks evaluate every station (no due times yet); tick stats skip 5 s")

    results = []
    if args.only != "engine":
        results.append(
            run("reference", rules, fleet, args.seconds, args.seed, owned, True,
                lambda s: s.to_json())
        )  # fmt: skip
        print(summary(results[-1], len(owned), 5), flush=True)
    if args.only != "reference":
        dump: Callable[[EngineState], str] = EngineState.to_json
        results.append(
            run("engine", rules, fleet, args.seconds, args.seed, owned, False, dump)
        )  # fmt: skip
        print(summary(results[-1], len(owned), 5), flush=True)
    if len(results) == 2:
        a, b = results
        same = a.transitions == b.transitions
        print(f"transitions: {len(a.transitions)} reference, {len(b.transitions)} engine, "
              f"identical: {same}")  # fmt: skip
        if not same:
            raise SystemExit("the engine's transitions differ from the reference")
    r = results[-1]
    print(
        f"alerts us_per_input={statistics.fmean(r.telemetry_us):.1f} "
        f"ms_per_tick={statistics.fmean(r.tick_ms[5:] or r.tick_ms):.2f} "
        f"ms_per_save={statistics.fmean(r.save_ms[1:] or r.save_ms):.1f} "
        f"state_mb={r.json_bytes / 1e6:.1f}"
    )


if __name__ == "__main__":
    main()
