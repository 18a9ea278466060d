"""Network faults between the gateway and the broker, made with a real TCP proxy:

- a partition at a steady rate: afterwards every (device, seq) reaches the broker, in
  order per device, and is stored exactly once by a real collector;
- a long partition with a small freshness limit: the replayed backlog is stored as
  historical and never moves live availability;
- a half-open connection: the reconnecting gateway takes its session over, the broker
  publishes the stale last will of the earlier session, and the gateway still ends up
  online for every observer.
"""

import json
import os
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from gateway_support import (
    Feeder,
    Recorder,
    retained,
    running_collector,
    stored_rows,
    unique_fleet,
)
from tcpproxy import TcpProxy

from collector.availability.live import LiveState
from collector.availability.summary import summarize
from gateway.service import Gateway
from gateway.settings import GatewaySettings
from testbed.services import MosquittoServer, wait_for
from warmnet import topics
from warmnet.messages import GatewayState, parse_gateway_status

pytestmark = [pytest.mark.faults, pytest.mark.integration]


def via(settings: GatewaySettings, url: str) -> GatewaySettings:
    """The same settings, with the uplink pointed at `url` (the proxy)."""
    return GatewaySettings.model_validate({**settings.model_dump(), "mqtt_url": url})


# The 60 s (the whole gateway suite stays under ~2 min); override for a quick run.
PARTITION_S = float(os.environ.get("WARMNET_GATEWAY_PARTITION_S", "60"))
RATE = 40.0  # readings per second into the gateway, all the time


def test_partition_then_every_message_arrives_in_order_and_is_stored_once(
    mosquitto: MosquittoServer, tmp_path: Path, unique_id: str
) -> None:
    station = f"gw-{unique_id}"
    fleet = unique_fleet(station)
    devices = fleet.stations[0].devices
    status_topic = topics.gateway_status(station)
    settings = GatewaySettings(
        station=station, data_dir=tmp_path / "gw", reconnect_max_s=2.0, heartbeat_s=5.0
    )
    with (
        TcpProxy(mosquitto.host, mosquitto.port) as proxy,
        running_collector(mosquitto.url, fleet, tmp_path / "col", f"col-{unique_id}") as collector,
    ):
        rec = Recorder(
            mosquitto.host,
            mosquitto.port,
            f"rec-{unique_id}",
            [f"warm/v1/{station}/+/telemetry", status_topic],
        )
        gateway = Gateway(via(settings, proxy.url), fleet)
        feeder = Feeder(gateway, devices, RATE)
        try:
            gateway.start()
            assert gateway.wait_online(10)
            first_session = gateway.session
            feeder.start()
            wait_for(lambda: len(rec.payloads("/telemetry")) >= RATE, message="no live flow")

            proxy.cut()
            wait_for(lambda: not gateway.online, message="gateway did not notice the cut")
            threading.Event().wait(PARTITION_S)  # the partition itself: a deliberate wait
            backlog = gateway.stats().outbox.depth
            assert backlog >= RATE * (PARTITION_S - 2), backlog
            proxy.restore()
            restored = time.monotonic()
            wait_for(lambda: gateway.online and gateway.session != first_session, timeout=15)
            sent_at_restore = len(feeder.sent)
            stored: Counter[tuple[str, str, int]] = Counter()

            def stored_all(expected: set[tuple[str, str, int]]) -> bool:
                rows = stored_rows(collector, station)
                stored.clear()
                stored.update((r["station"], r["device"], r["seq"]) for r in rows)
                return expected <= set(stored)

            backlog_keys = {(station, d, s) for d, s, _ in feeder.sent[:sent_at_restore]}
            wait_for(
                lambda: stored_all(backlog_keys),
                timeout=60,
                message=lambda: f"{len(backlog_keys - set(stored))} of the backlog not stored",
            )
            drained_s = time.monotonic() - restored
            wait_for(lambda: len(feeder.sent) >= sent_at_restore + 2 * RATE)  # live, after
            feeder.stop()
            expected = {(station, d, s) for d, s, _ in feeder.sent}
            wait_for(
                lambda: stored_all(expected),
                timeout=30,
                message=lambda: f"{len(expected - set(stored))} of {len(expected)} not stored",
            )
            wait_for(lambda: gateway.stats().outbox.depth == 0, message="outbox not drained")
        finally:
            feeder.stop()
            gateway.stop()
            rec.close()

    # Each exactly once in the store, nothing else.
    assert set(stored) == expected
    assert max(stored.values()) == 1
    # At the broker: everything arrived; first arrivals in order per device; none of it
    # historical (a 60 s partition is within the 120 s freshness limit).
    arrivals: dict[str, list[int]] = defaultdict(list)
    telemetry = rec.payloads("/telemetry")
    for topic, body in telemetry:
        arrivals[topic.split("/")[3]].append(body["seq"])
        assert not body.get("historical"), body
    for device, seqs in arrivals.items():
        first = list(dict.fromkeys(seqs))
        assert first == sorted(first), f"{device}: out of order {first[:20]}"
    assert {(station, d, s) for d, seqs in arrivals.items() for s in seqs} == expected
    # The broker published the will of the first session during the partition; the
    # last word is `online` of a later session.
    statuses = rec.statuses()
    assert any(s.state is GatewayState.OFFLINE and s.session == first_session for s in statuses)
    stats = gateway.stats()
    print(
        f"\n[gateway partition] partition={PARTITION_S:.0f}s rate={RATE:.0f}/s "
        f"submitted={len(expected)} backlog={backlog} backlog_stored_after={drained_s:.1f}s "
        f"broker_arrivals={len(telemetry)} duplicates_at_broker={len(telemetry) - len(expected)} "
        f"published={stats.uplink.published} reconnects={stats.uplink.reconnects}"
    )


FRESHNESS_S = 2.0


def test_replayed_backlog_is_historical_and_never_drives_availability(
    mosquitto: MosquittoServer, tmp_path: Path, unique_id: str
) -> None:
    station = f"gw-{unique_id}"
    fleet = unique_fleet(station)
    devices = fleet.stations[0].devices[:4]
    settings = GatewaySettings(
        station=station,
        data_dir=tmp_path / "gw",
        freshness_s=FRESHNESS_S,
        drain_rate=20.0,
        reconnect_max_s=1.0,
    )
    with (
        TcpProxy(mosquitto.host, mosquitto.port) as proxy,
        running_collector(mosquitto.url, fleet, tmp_path / "col", f"col-{unique_id}") as collector,
    ):
        rec = Recorder(
            mosquitto.host, mosquitto.port, f"rec-{unique_id}", [f"warm/v1/{station}/+/telemetry"]
        )
        gateway = Gateway(via(settings, proxy.url), fleet)
        feeder = Feeder(gateway, devices, RATE)
        try:
            gateway.start()
            assert gateway.wait_online(10)
            before = {d.id: feeder.submit_one(d, 0) for d in devices}
            assert set(before.values()) == {0}
            live_ts = {d: ts for d, _, ts in feeder.sent}

            def live_view() -> dict[str, int]:
                snap = collector.live.snapshot(station)
                return {d: r.ts for d, r in snap.devices.items()}

            wait_for(lambda: live_view() == live_ts, message="live state never saw the readings")
            wait_for(lambda: gateway.stats().outbox.depth == 0)

            proxy.cut()
            wait_for(lambda: not gateway.online)
            for n in range(1, 9):  # newer than the live state, but replayed late
                for spec in devices:
                    assert feeder.submit_one(spec, n) == n
            # Let the backlog age past the freshness limit (a deliberate wait).
            threading.Event().wait(FRESHNESS_S + 0.5)
            proxy.restore()
            wait_for(lambda: gateway.online, timeout=15)
            fresh = devices[0]
            fresh_seq = feeder.submit_one(fresh, 100)  # live data after the outage
            assert fresh_seq == 9
            expected = {(d, s) for d, s, _ in feeder.sent}
            wait_for(
                lambda: (
                    {(r["device"], r["seq"]) for r in stored_rows(collector, station)} >= expected
                ),
                timeout=20,
                message="backlog not stored",
            )
            rows = stored_rows(collector, station)
            snap = collector.live.snapshot(station)
        finally:
            gateway.stop()
            rec.close()

    by_key = {(r["device"], r["seq"]): r for r in rows}
    for device, seq, _ in feeder.sent:
        historical = 1 <= seq <= 8
        assert bool(by_key[(device, seq)].get("historical")) is historical, (device, seq)
    fresh_ts = feeder.sent[-1][2]
    assert snap.devices[fresh.id].ts == fresh_ts
    for spec in devices[1:]:
        # Replayed readings are newer than what live state holds, but historical: the
        # device stays as last seen live.
        assert snap.devices[spec.id].ts == live_ts[spec.id], spec.id
    summary = summarize(
        fleet.stations[0], snap, now_ms=fresh_ts, freshness_ms=120_000, open_now=True
    )
    observed = {d.device: d.observed_at for d in summary.devices}
    assert observed[fresh.id] == fresh_ts
    assert all(observed[s.id] == live_ts[s.id] for s in devices[1:])
    # Live data was not starved by the backlog: it arrived before the backlog finished.
    order = [(t.split("/")[3], b["seq"]) for t, b in rec.payloads("/telemetry")]
    last_historical = max(i for i, (d, s) in enumerate(order) if 1 <= s <= 8)
    assert order.index((fresh.id, fresh_seq)) < last_historical


def test_stale_last_will_never_marks_a_reconnected_gateway_offline(
    mosquitto: MosquittoServer, tmp_path: Path, unique_id: str
) -> None:
    station = f"gw-{unique_id}"
    fleet = unique_fleet(station)
    status_topic = topics.gateway_status(station)
    settings = GatewaySettings(
        station=station, data_dir=tmp_path / "gw", outbox="memory", reconnect_min_s=0.2
    )
    with TcpProxy(mosquitto.host, mosquitto.port) as proxy:
        rec = Recorder(mosquitto.host, mosquitto.port, f"rec-{unique_id}", [status_topic])
        gateway = Gateway(via(settings, proxy.url), fleet)
        try:
            gateway.start()
            assert gateway.wait_online(10)
            first = gateway.session
            assert first is not None
            wait_for(rec.statuses, message="no online status")
            # The gateway's side of the connection dies; the broker's side stays open.
            # The gateway reconnects under the same client id: mosquitto closes the old
            # connection (a takeover) and only then publishes session 1's will
            # `offline`, while it accepts session 2.
            assert proxy.half_open() == 1
            wait_for(lambda: gateway.online and (gateway.session or 0) > first, timeout=15)
            second = gateway.session
            wait_for(
                lambda: any(s.state is GatewayState.OFFLINE for s in rec.statuses()),
                message="the stale will was never published",
            )
            wait_for(lambda: any(s.session == second for s in rec.statuses()))
            statuses = rec.statuses()
            # What a late subscriber (a collector starting now) reads: the retained status.
            late = parse_gateway_status(
                json.dumps(retained(mosquitto.host, mosquitto.port, status_topic)).encode()
            )
        finally:
            gateway.stop()
            rec.close()
    log = mosquitto.log_path.read_text(errors="replace")
    assert f"Client {settings.uplink_client_id} already connected, closing old connection" in log
    (will,) = [s for s in statuses if s.state is GatewayState.OFFLINE]
    assert will.session == first < second  # type: ignore[operator]
    # Every observer ends with the gateway online, whatever order the statuses take:
    # as they arrived, with the stale will delivered last, and reversed.
    others = [s for s in statuses if s is not will]
    for order in (statuses, [*others, will], statuses[::-1]):
        live = LiveState()
        for status in order:
            live.set_gateway(station, status)
        held = live.snapshot(station).gateway
        assert held is not None, order
        assert (held.state, held.session) == (GatewayState.ONLINE, second), order
    # The retained status is session 2's `online`; a collector's live state fed from
    # it (after or before the stale will) says online.
    assert (late.state, late.session) == (GatewayState.ONLINE, second)
    for order in ([will, late], [late, will]):
        live = LiveState()
        for status in order:
            live.set_gateway(station, status)
        assert live.snapshot(station).gateway == late
    final = retained(mosquitto.host, mosquitto.port, status_topic)
    assert (final["state"], final["session"]) == ("stopped", second)
