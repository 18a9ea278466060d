"""What a misbehaving device or gateway puts on the wire, bypassing the real gateway:
garbage on a station's topics, and copies of good messages sent again (duplicates)
or much later (out of order). Shared by the live runner (real MQTT) and the offline
player, so both produce the same messages for the same seed."""

import json
import random
from dataclasses import dataclass
from typing import Any

from simulators.fault_types import DuplicatesParams
from warmnet import topics
from warmnet.registry import DeviceSpec, Station

MS = 1000


@dataclass(frozen=True, slots=True)
class Garbage:
    topic: str
    payload: bytes
    reason: str  # the collector's dead-letter reason for it


def encode_telemetry(ts_ms: int, seq: int, fields: dict[str, Any]) -> bytes:
    """The payload exactly as the gateway encodes it (same keys, same order)."""
    body = {"ts": ts_ms, "seq": seq, **fields}
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


def _outlet(station: Station) -> DeviceSpec:
    return station.devices[0]


def garbage(station: Station, n: int, ts_ms: int) -> Garbage:
    """The `n`-th garbage message of a station (a fixed cycle of kinds of breakage),
    topics the collector subscribes to, each one refused with a known reason."""
    device = _outlet(station)
    topic = topics.telemetry(station.id, device.id)
    seq = 1_000_000 + n
    valid = {
        "ts": ts_ms,
        "seq": seq,
        "state": "idle",
        "power_w": 0.0,
        "voltage_v": 230.0,
        "current_a": 0.0,
        "energy_wh": 0.0,
        "temp_c": 25.0,
    }
    heater = next((d for d in station.devices if d.kind.value == "water_heater"), device)

    def dump(body: Any) -> bytes:
        return json.dumps(body, separators=(",", ":")).encode()

    catalogue = [
        Garbage(topic, b'{"ts": 17', "malformed_json"),
        Garbage(topic, b"\xff\xfe\x00garbage", "malformed_json"),
        Garbage(topic, dump([1, 2, 3]), "schema"),
        Garbage(topic, dump({"ts": ts_ms, "seq": seq}), "schema"),
        Garbage(topic, dump({**valid, "temp_c": "hot"}), "schema"),
        Garbage(topic, dump({**valid, "temp_c": 900.0}), "out_of_range"),
        Garbage(topic, dump({**valid, "seq": -1}), "out_of_range"),
        Garbage(topic, dump({**valid, "extra_w": 1.0}), "schema"),
        Garbage(topics.telemetry(station.id, "outlet-99"), dump(valid), "unknown_device"),
        Garbage(topic, dump({**valid, "pad": "x" * 5000}), "oversized"),
        Garbage(f"{topics.ROOT}/{station.id}/Outlet_01/telemetry", dump(valid), "bad_topic"),
        Garbage(
            topics.event(station.id, heater.id),
            dump({"ts": ts_ms, "seq": seq, "type": "exploded"}),
            "schema",
        ),
    ]
    return catalogue[n % len(catalogue)]


class DuplicatePolicy:
    """Decides, per accepted reading, whether a copy goes out at once and whether one
    goes out late (`late_by_s` later): deterministic given the seed key."""

    def __init__(self, params: DuplicatesParams, seed_key: str) -> None:
        self.params = params
        self.rng = random.Random(f"{seed_key}:duplicates")

    def decide(self) -> tuple[bool, int | None]:
        p = self.params
        duplicate = self.rng.random() < p.duplicate_share
        late = self.rng.random() < p.late_share
        delay_ms = int(self.rng.uniform(*p.late_by_s) * MS) if late else None
        return duplicate, delay_ms
