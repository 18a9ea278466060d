"""LiveAvailability (newest wins, thread-safe) and the feed's message handling,
without a broker."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable

import pytest

from api.live import LiveAvailability, MqttAvailabilityFeed
from api.settings import ApiSettings, load_api_settings
from warmnet import topics
from warmnet.messages import StationAvailability, dump_json
from warmnet.registry import Fleet

MakeSummary = Callable[..., StationAvailability]


def test_update_keeps_newest_and_ignores_older(
    live: LiveAvailability, make_summary: MakeSummary
) -> None:
    first = make_summary("near", updated_at=2_000_000_000_000)
    assert live.update(first)
    older = make_summary("near", updated_at=1_999_999_999_000, outlets_free=0)
    assert not live.update(older)
    assert live.get("near") is first
    assert live.ignored_older == 1

    same = make_summary("near", updated_at=2_000_000_000_000, outlets_free=2)
    assert live.update(same)  # equal timestamps: a redelivery, harmless to keep
    newer = make_summary("near", updated_at=2_000_000_001_000)
    assert live.update(newer)
    assert live.get("near") is newer
    assert live.get("far") is None
    assert live.all() == {"near": newer}
    assert len(live) == 1


def test_concurrent_updates_end_with_the_newest(
    live: LiveAvailability, make_summary: MakeSummary
) -> None:
    stamps = [2_000_000_000_000 + i for i in range(200)]
    summaries = [make_summary("mid", updated_at=t) for t in stamps]
    rng = random.Random(7)

    def writer() -> None:
        batch = summaries[:]
        rng.shuffle(batch)
        for s in batch:
            live.update(s)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    held = live.get("mid")
    assert held is not None and held.updated_at == max(stamps)


def _feed(settings: ApiSettings, live: LiveAvailability, fleet: Fleet) -> MqttAvailabilityFeed:
    return MqttAvailabilityFeed(settings, live, fleet=fleet)


def test_feed_handles_valid_summary(
    settings: ApiSettings, live: LiveAvailability, fleet: Fleet, make_summary: MakeSummary
) -> None:
    feed = _feed(settings, live, fleet)
    summary = make_summary("near")
    assert feed.handle(topics.availability("near"), dump_json(summary))
    assert live.get("near") == summary
    assert feed.invalid_total == 0
    assert not feed.connected  # never started


def test_feed_counts_and_drops_invalid_messages(
    settings: ApiSettings, live: LiveAvailability, fleet: Fleet, make_summary: MakeSummary
) -> None:
    feed = _feed(settings, live, fleet)
    good = json.loads(dump_json(make_summary("near")))
    cases = {
        "malformed_json": (topics.availability("near"), b"{not json"),
        "schema": (topics.availability("near"), json.dumps({**good, "extra": 1}).encode()),
        "station_mismatch": (topics.availability("far"), json.dumps(good).encode()),
        "bad_topic": ("warm/v1/NOPE/availability", json.dumps(good).encode()),
        "oversized": (topics.availability("near"), b" " * (257 * 1024)),
    }
    for topic, payload in cases.values():
        assert not feed.handle(topic, payload)
    unknown = {**good, "station": "ghost"}
    assert not feed.handle(topics.availability("ghost"), json.dumps(unknown).encode())
    assert feed.invalid == {reason: 1 for reason in cases} | {"unknown_station": 1}
    assert len(live) == 0


def test_feed_ignores_cleared_retained_topic(
    settings: ApiSettings, live: LiveAvailability, fleet: Fleet
) -> None:
    feed = _feed(settings, live, fleet)
    assert not feed.handle(topics.availability("near"), b"")
    assert feed.invalid_total == 0


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARMNET_API_PORT", "8123")
    monkeypatch.setenv("WARMNET_FRESHNESS_S", "30")
    a, b = load_api_settings(), load_api_settings()
    assert a.api_port == 8123 and a.freshness_s == 30 and a.api_host == "127.0.0.1"
    assert a.api_client_id.startswith("warmnet-api-")
    assert a.api_client_id != b.api_client_id  # each replica unique
