"""Availability alone, no network: the cost of live state, of building and encoding a
station summary, of what the publisher sends at 2,000 readings/s, and of the API
parsing it, on synthetic_fleet(3600) (50,400 devices). Before (the pydantic
summary from full readings, commit f5d0f85, kept in
testbed/availability_reference.py) and after (collector/availability/summary.py).

    .venv/bin/python bench/availability.py [--stations 3600] [--rate 2000] [--seconds 20]

Results are recorded in bench/README.md. The last line is machine-readable.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
from api.live import LiveAvailability  # noqa: E402
from collector.availability.live import LiveState  # noqa: E402
from collector.availability.publisher import AvailabilityPublisher  # noqa: E402
from collector.availability.summary import Layout, encode, summary_dict, visible  # noqa: E402
from collector.metrics.counters import Metrics  # noqa: E402
from testbed.availability_reference import random_reading, reference_summarize  # noqa: E402
from warmnet.kinds import DeviceKind  # noqa: E402
from warmnet.messages import (  # noqa: E402
    TELEMETRY_MODELS,
    GatewayState,
    GatewayStatus,
    StationAvailability,
    Telemetry,
    dump_json,
    parse_availability,
)
from warmnet.registry import Fleet, Station, synthetic_fleet  # noqa: E402

NOW = 1_767_225_600_000
FRESHNESS_MS = 120_000


def per_item_us(fn: Callable[[], int], repeat: int = 3) -> float:
    """Best of `repeat` runs of `fn` (which returns how many items it did), us/item."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        n = fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best * 1e6


def fleet_readings(fleet: Fleet, rng: random.Random) -> dict[str, dict[str, Telemetry]]:
    """One current reading for every device (from the last 25 s before the steady load
    starts), parsed from JSON as the collector does."""
    out: dict[str, dict[str, Telemetry]] = {}
    for st in fleet.stations:
        readings = {}
        for spec in st.devices:
            r = random_reading(spec.kind, NOW + 60_000 - rng.randrange(25_000), rng)
            readings[spec.id] = TELEMETRY_MODELS[spec.kind].model_validate_json(r.model_dump_json())
        out[st.id] = readings
    return out


def measure_memory(fleet: Fleet, rng: random.Random) -> tuple[float, float]:
    """MB held by live state for every device: full readings (before) vs compact."""
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    readings = fleet_readings(fleet, rng)
    before = (tracemalloc.get_traced_memory()[0] - base) / 1e6
    live = LiveState()
    mid = tracemalloc.get_traced_memory()[0]
    for st in fleet.stations:
        for spec in st.devices:
            live.update(st.id, spec.id, spec.kind, readings[st.id][spec.id])
    after = (tracemalloc.get_traced_memory()[0] - mid) / 1e6
    tracemalloc.stop()
    return before, after


class NullClient:
    """Counts what would be published; the broker acknowledges at once."""

    class Info:
        def is_published(self) -> bool:
            return True

    def __init__(self) -> None:
        self.published = 0
        self.bytes = 0
        self.payloads: list[bytes] = []

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> Any:
        self.published += 1
        self.bytes += len(payload)
        if len(self.payloads) < 2000:
            self.payloads.append(payload)
        return self.Info()

    def is_connected(self) -> bool:
        return True


def next_reading(spec_kind: DeviceKind, held: Telemetry, ts: int, rng: random.Random) -> Telemetry:
    """A plausible next reading: most keep their state, a few change what riders see."""
    change = 0.3 if spec_kind is DeviceKind.OCCUPANCY_SENSOR else 0.05
    if rng.random() < change:
        return random_reading(spec_kind, ts, rng)
    return held.model_copy(update={"ts": ts, "seq": held.seq + 1})


def steady_load(
    fleet: Fleet, readings: dict[str, dict[str, Telemetry]], rate: int, seconds: int, seed: int
) -> dict[str, float]:
    """`rate` readings/s for `seconds` of simulated time, every device in turn (a
    shuffled round: at 2,000/s each of the 50,400 reports every ~25 s, as they do);
    the publisher ticks every 0.1 s (after), or every dirty station is summarised
    with pydantic every 1 s and every station every 10 s (before). CPU time of the
    availability work only (not paho, not the broker)."""
    rng = random.Random(seed)
    devices = [(st, spec) for st in fleet.stations for spec in st.devices]
    rng.shuffle(devices)  # each device reports once a round, in this order
    by_id = {st.id: st for st in fleet.stations}
    steps: list[tuple[int, list[tuple[Station, str, DeviceKind, Telemetry]]]] = []
    held = {st.id: dict(r) for st, r in ((s, readings[s.id]) for s in fleet.stations)}
    ticks = seconds * 10
    n = 0
    for tick in range(ticks):
        now = NOW + 60_000 + tick * 100
        batch = []
        for i in range(rate // 10):
            st, spec = devices[n % len(devices)]
            n += 1
            r = next_reading(spec.kind, held[st.id][spec.id], now - 100 + i * 1000 // rate, rng)
            held[st.id][spec.id] = r
            batch.append((st, spec.id, spec.kind, r))
        steps.append((now, batch))

    # after: live state updated per reading, the publisher ticking every 0.1 s
    live = LiveState()
    for st in fleet.stations:
        live.set_gateway(st.id, GatewayStatus(state=GatewayState.ONLINE, session=1, ts=NOW))
        for spec in st.devices:
            live.update(st.id, spec.id, spec.kind, readings[st.id][spec.id])
    client = NullClient()
    pub = AvailabilityPublisher(fleet, live, client, Metrics(), freshness_s=FRESHNESS_MS / 1000)
    pub.tick(NOW + 60_000, 0.0)
    client.published = client.bytes = 0
    update_s = tick_s = 0.0
    for tick, (now, batch) in enumerate(steps, start=1):
        t0 = time.perf_counter()
        for st, device, kind, r in batch:
            live.update(st.id, device, kind, r)
        t1 = time.perf_counter()
        pub.tick(now, tick * 0.1)
        tick_s += time.perf_counter() - t1
        update_s += t1 - t0

    # before: every dirty station, every 1 s, pydantic from full readings
    full: dict[str, dict[str, Telemetry]] = {s: dict(r) for s, r in readings.items()}
    newest = {s: max(r.ts for r in rs.values()) for s, rs in full.items()}
    gateway = GatewayStatus(state=GatewayState.ONLINE, session=1, ts=NOW)
    old_published = old_bytes = 0
    old_s = 0.0
    dirty: set[str] = set()
    for tick, (now, batch) in enumerate(steps, start=1):
        for st, device, _kind, r in batch:
            if r.ts > full[st.id][device].ts:
                full[st.id][device] = r
                newest[st.id] = max(newest[st.id], r.ts)
                dirty.add(st.id)
        if tick % 10:
            continue
        if tick % 100 == 0:  # and every station every 10 s, all at once
            dirty = set(by_id)
        t0 = time.perf_counter()
        for sid in sorted(dirty):
            st = by_id[sid]
            payload = dump_json(
                reference_summarize(
                    st,
                    full[sid],
                    gateway,
                    newest[sid],
                    now_ms=now,
                    freshness_ms=FRESHNESS_MS,
                    open_now=fleet.is_open(st, now),
                )
            )
            old_published += 1
            old_bytes += len(payload)
        old_s += time.perf_counter() - t0
        dirty = set()
    return {
        "after_per_s": client.published / seconds,
        "after_kb_per_s": client.bytes / seconds / 1000,
        "after_cpu_pct": 100 * tick_s / seconds,
        "after_update_us": 1e6 * update_s / (rate * seconds),
        "before_per_s": old_published / seconds,
        "before_kb_per_s": old_bytes / seconds / 1000,
        "before_cpu_pct": 100 * old_s / seconds,
        "payloads": client.payloads,  # type: ignore[dict-item]
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--stations", type=int, default=3600)
    p.add_argument("--rate", type=int, default=2000, help="readings/s in the steady load")
    p.add_argument("--seconds", type=int, default=20, help="simulated seconds of steady load")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)

    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    fleet = synthetic_fleet(args.stations)
    print(
        f"availability bench: Python {sys.version.split()[0]}, fleet {len(fleet.stations)} "
        f"stations / {fleet.device_count} devices (built in {time.perf_counter() - t0:.1f} s)"
    )
    readings = fleet_readings(fleet, rng)
    stations = fleet.stations
    gateway = GatewayStatus(state=GatewayState.ONLINE, session=1, ts=NOW)
    newest = {s.id: max(r.ts for r in readings[s.id].values()) for s in stations}

    # live state
    live = LiveState()

    def feed() -> int:
        fresh = LiveState()
        for st in stations:
            for spec in st.devices:
                fresh.update(st.id, spec.id, spec.kind, readings[st.id][spec.id])
        return fleet.device_count

    update_us = per_item_us(feed)
    for st in stations:
        for spec in st.devices:
            live.update(st.id, spec.id, spec.kind, readings[st.id][spec.id])
        live.set_gateway(st.id, gateway)
    mem_before, mem_after = measure_memory(fleet, random.Random(args.seed))
    print(f"[1/4] live state: update {update_us:.2f} us a reading (status computed then)")
    print(
        f"  held for {fleet.device_count} devices: full readings {mem_before:.1f} MB "
        f"(before), compact {mem_after:.1f} MB (after; tracemalloc)"
    )

    # one summary per station
    def reference(st: Station, open_now: bool) -> StationAvailability:
        """The summary as commit f5d0f85 made it (pydantic models)."""
        return reference_summarize(
            st,
            readings[st.id],
            gateway,
            newest[st.id],
            now_ms=NOW + 60_000,
            freshness_ms=FRESHNESS_MS,
            open_now=open_now,
        )

    def before() -> int:
        for st in stations:
            dump_json(reference(st, fleet.is_open(st, NOW + 60_000)))
        return len(stations)

    def before_build_only() -> int:
        for st in stations:
            reference(st, True)
        return len(stations)

    layouts = {st.id: Layout.of(st) for st in stations}
    snaps = {st.id: live.snapshot(st.id) for st in stations}
    built = {
        st.id: summary_dict(
            layouts[st.id],
            snaps[st.id],
            now_ms=NOW + 60_000,
            freshness_ms=FRESHNESS_MS,
            open_now=True,
        )
        for st in stations
    }

    def after_build() -> int:
        for st in stations:
            summary_dict(
                layouts[st.id],
                live.snapshot(st.id),
                now_ms=NOW + 60_000,
                freshness_ms=FRESHNESS_MS,
                open_now=True,
            )
        return len(stations)

    def after_visible() -> int:
        for s in built.values():
            visible(s)
        return len(built)

    def after_encode() -> int:
        for s in built.values():
            encode(s)
        return len(built)

    b_total, b_build = per_item_us(before), per_item_us(before_build_only)
    a_build, a_visible, a_encode = (
        per_item_us(after_build),
        per_item_us(after_visible),
        per_item_us(after_encode),
    )
    same = all(encode(built[st.id]) == dump_json(reference(st, True)) for st in stations[:200])
    size = sum(len(encode(s)) for s in built.values()) / len(built)
    print(f"[2/4] one station summary ({size:.0f} bytes of JSON, 14 devices)")
    print(
        f"  before: pydantic models {b_build:.1f} us + dump_json {b_total - b_build:.1f} us "
        f"(+ is_open) = {b_total:.1f} us"
    )
    print(
        f"  after:  dicts (snapshot + summary_dict) {a_build:.1f} us + orjson "
        f"{a_encode:.1f} us = {a_build + a_encode:.1f} us; visible() {a_visible:.1f} us"
    )
    print(f"  same bytes as before (200 stations): {same}")

    # steady load
    print(
        f"[3/4] steady load: {args.rate} readings/s, every device in turn, for {args.seconds} s "
        "(5 % change an outlet/heater/microwave status, 30 % an occupancy count)"
    )
    load = steady_load(fleet, readings, args.rate, args.seconds, args.seed)
    print(
        f"  before (1 s loop, every dirty station, pydantic): {load['before_per_s']:.0f} "
        f"summaries/s, {load['before_kb_per_s']:.0f} kB/s, {load['before_cpu_pct']:.1f} % "
        "of a core to build them"
    )
    print(
        f"  after (0.1 s ticks, visible changes + spread refresh): {load['after_per_s']:.0f} "
        f"summaries/s, {load['after_kb_per_s']:.0f} kB/s, {load['after_cpu_pct']:.1f} % of a "
        f"core for the ticks (+ {load['after_update_us']:.2f} us a reading in live state)"
    )

    # the API
    payloads: list[bytes] = load["payloads"]  # type: ignore[assignment]
    api = LiveAvailability()

    def api_parse() -> int:
        for raw in payloads:
            api.update(parse_availability(raw))
        return len(payloads)

    parse_us = per_item_us(api_parse)
    print(f"[4/4] API: parse_availability + LiveAvailability.update {parse_us:.1f} us a summary")
    print(
        f"  at 2,000 summaries/s: {parse_us * 2000 / 1e4:.1f} % of a core; at the "
        f"{load['after_per_s']:.0f}/s published here: "
        f"{parse_us * load['after_per_s'] / 1e4:.1f} %"
    )
    print(
        f"availability summary_us_before={b_total:.1f} summary_us_after={a_build + a_encode:.1f} "
        f"live_mb_before={mem_before:.1f} live_mb_after={mem_after:.1f} "
        f"published_per_s_before={load['before_per_s']:.0f} "
        f"published_per_s_after={load['after_per_s']:.0f} api_parse_us={parse_us:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
