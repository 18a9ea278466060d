"""The offline player: scenarios as the collector would receive them, no broker."""

import json
from collections import Counter, defaultdict
from itertools import pairwise
from typing import Any

from collector.ingest.classify import Rejected, classify
from simulators.offline import Delivery, OfflinePlayer
from simulators.scenario import load_scenario, parse_scenario
from warmnet.messages import CommandName
from warmnet.registry import load_fleet

FLEET = load_fleet()
MIN = 60_000


def play(name: str, **kw: Any) -> tuple[OfflinePlayer, list[Delivery]]:
    player = OfflinePlayer(load_scenario(name, FLEET), FLEET, **kw)
    return player, list(player.run())


def body(d: Delivery) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(d.payload)
    return parsed


def telemetry_seqs(deliveries: list[Delivery]) -> dict[str, list[int]]:
    seqs: dict[str, list[int]] = defaultdict(list)
    for d in deliveries:
        if d.topic.endswith("/telemetry"):
            seqs[d.topic].append(body(d)["seq"])
    return seqs


def test_same_seed_same_deliveries_other_seed_others() -> None:
    _, a = play("device-silent")
    _, b = play("device-silent")
    _, c = play("device-silent", seed=8)
    assert a == b and [d.payload for d in a] == [d.payload for d in b]
    assert [d.payload for d in a] != [d.payload for d in c]
    assert [d.at_ms for d in a] == sorted(d.at_ms for d in a)


def test_a_partition_sends_the_will_then_replays_everything_flagged_historical() -> None:
    player, out = play("gateway-partition")
    start = player.start_ms
    status = [(d.at_ms - start, body(d)) for d in out if d.topic == "warm/v1/wmq-05/gateway/status"]
    assert [(t, s["state"]) for t, s in status] == [
        (0, "online"),
        (5 * MIN, "offline"),
        (15 * MIN, "online"),
    ]
    assert status[2][1]["session"] > status[1][1]["session"] == status[0][1]["session"]
    wmq05 = [d for d in out if d.topic.startswith("warm/v1/wmq-05/")]
    assert not [d for d in wmq05 if 5 * MIN < d.at_ms - start < 15 * MIN]  # nothing gets out
    replay = [body(d) for d in wmq05 if d.at_ms - start == 15 * MIN and "telemetry" in d.topic]
    assert len(replay) > 500
    old = [b for b in replay if b["ts"] < start + 13 * MIN]
    assert old and all(b.get("historical") for b in old)
    for seq in telemetry_seqs(out).values():
        assert seq == list(range(len(seq)))  # nothing lost, nothing reordered per device


def test_a_crash_loses_nothing_the_devices_kept() -> None:
    player, out = play("gateway-crash-restart")
    start = player.start_ms
    states = [body(d)["state"] for d in out if d.topic.endswith("/gateway/status")]
    assert states == ["online", "offline", "online"]
    expected = (20 * 60) // 10  # an outlet reports every 10 s for 20 min
    seqs = telemetry_seqs(out)
    assert expected <= len(seqs["warm/v1/wmq-07/outlet-01/telemetry"]) <= expected + 1
    for seq in seqs.values():
        assert seq == list(range(len(seq)))
    held = [d for d in out if d.at_ms - start == 7 * MIN and d.topic.endswith("/telemetry")]
    assert all(body(d)["ts"] < d.at_ms for d in held) and len(held) > 100


def test_clock_skew_beyond_tolerance_is_restamped_within_is_kept() -> None:
    player, out = play("clock-skew")
    start = player.start_ms
    for d in out:
        if not d.topic.endswith("/telemetry") or d.at_ms - start < 5 * MIN:
            continue
        skew = body(d)["ts"] - d.at_ms  # the player delivers within a 1 s step
        if d.topic == "warm/v1/wmq-08/outlet-02/telemetry":
            assert 89_000 < skew <= 90_000
        elif d.topic == "warm/v1/wmq-08/heater-1/telemetry":
            assert -21_000 < skew <= -20_000
        else:
            assert -1000 < skew <= 0  # +15 min was replaced by the gateway's clock


def test_duplicates_are_identical_and_late_copies_arrive_after_newer_data() -> None:
    _, out = play("duplicate-out-of-order")
    counts = Counter((d.topic, d.payload) for d in out if d.topic.endswith("/telemetry"))
    copies = [k for k, n in counts.items() if n > 1]
    readings = len(counts)
    assert 0.15 * readings < len(copies) < 0.45 * readings
    late = 0
    newest: dict[str, int] = {}
    for d in out:
        if d.topic.endswith("/telemetry"):
            ts = body(d)["ts"]
            late += ts < newest.get(d.topic, 0) - 30_000
            newest[d.topic] = max(ts, newest.get(d.topic, 0))
    assert late > 0.05 * readings


def test_garbage_is_refused_by_the_collector_for_the_documented_reasons() -> None:
    _, out = play("malformed-payloads")
    reasons = Counter(
        o.reason for d in out if isinstance(o := classify(d.topic, d.payload, FLEET), Rejected)
    )
    scenario = load_scenario("malformed-payloads")
    assert sum(reasons.values()) == 20 * 12 >= scenario.expect.data.dead_letters_min
    assert set(reasons) == set(scenario.expect.data.dead_letter_reasons)


def test_commands_reach_the_device_and_are_answered() -> None:
    text = """
name: cut
description: one outlet runs away; the test cuts it
stations: [wmq-01]
start: "14:00"
duration: 20m
faults:
  - {at: 1m, station: wmq-01, device: outlet-03, type: thermal_runaway}
"""
    player = OfflinePlayer(parse_scenario(text), FLEET)
    temps: list[tuple[int, str, float]] = []
    results: list[object] = []
    for d in player.run():
        if d.topic == "warm/v1/wmq-01/outlet-03/telemetry":
            b = body(d)
            temps.append((d.at_ms, b["state"], b["temp_c"]))
            if b["temp_c"] > 60 and not results:
                results.append(player.command("wmq-01", "outlet-03", CommandName.CUT_POWER))
        if d.topic == "warm/v1/wmq-01/outlet-03/event" and body(d)["type"] == "command_result":
            results.append(body(d)["code"])
    assert results == [(True, "power cut"), "OK"]
    after = [(s, t) for at, s, t in temps if at > player.start_ms + 15 * MIN]
    assert after and {s for s, _ in after} == {"idle"}
    assert all(b <= a + 0.3 for (_, a), (_, b) in pairwise(after))  # cooling down
