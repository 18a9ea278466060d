"""Rate limits with a fake clock (per subject, per target), silenced alerts, selection
end to end, and a full queue: drops counted, the more important message kept."""

import logging
from dataclasses import asdict

import pytest
from notify_support import Receiver, config, note

from collector.notify import Event, Notifier
from collector.notify.limits import SubjectGate, WindowLimiter
from testbed.services import wait_for
from warmnet.clock import FakeClock
from warmnet.severity import Severity


def stats_of(notifier: Notifier, target: str) -> dict[str, int]:
    return asdict(notifier.stats().targets[target])


def test_window_limiter_allows_n_per_window(clock: FakeClock) -> None:
    limiter = WindowLimiter(20, 60, clock)
    assert [limiter.reserve() for _ in range(20)] == [0.0] * 20
    assert limiter.reserve() == pytest.approx(60)
    clock.advance(30)
    assert limiter.reserve() == pytest.approx(30), "a sliding window, not a bucket"
    clock.advance(30)
    assert [limiter.reserve() for _ in range(20)] == [0.0] * 20
    assert limiter.reserve() == pytest.approx(60)


def test_subject_gate_holds_update_noise_but_never_fire_or_resolve(clock: FakeClock) -> None:
    gate = SubjectGate(300, clock)
    assert gate.admit(note(Event.FIRED)) == (True, 0)
    assert gate.admit(note(Event.FIRED)) == (False, 0), "the same fire twice: a repeat"
    assert gate.admit(note(Event.UPDATED)) == (False, 0)
    clock.advance(100)
    assert gate.admit(note(Event.UPDATED)) == (False, 0)
    assert gate.admit(note(Event.UPDATED, device="outlet-04")) == (True, 0), "another subject"
    clock.advance(200)
    assert gate.admit(note(Event.UPDATED)) == (True, 3), "stands for the 3 held back"
    assert gate.admit(note(Event.RESOLVED)) == (True, 0), "resolve always goes"
    assert gate.admit(note(Event.REOPENED)) == (True, 0)
    assert gate.admit(note(Event.ACKNOWLEDGED, who="li")) == (True, 0)
    assert gate.admit(note(Event.RESOLVED)) == (True, 0), "a second resolve after a reopen"


def test_subject_gate_forgets_old_subjects(clock: FakeClock) -> None:
    gate = SubjectGate(60, clock, max_subjects=10)
    for i in range(50):
        gate.admit(note(device=f"outlet-{i}"))
    assert len(gate) == 10, "bounded"
    clock.advance(61)
    gate.admit(note(device="outlet-x"))
    assert len(gate) == 1, "older than the interval: no longer matters"


def test_update_noise_is_coalesced_end_to_end(receiver: Receiver, clock: FakeClock) -> None:
    target = {
        "name": "ops",
        "type": "generic",
        "url": receiver.url(),
        "events": ["fire", "update", "resolve"],
    }
    with Notifier(config(target, update_interval_s=300), clock=clock) as notifier:
        assert notifier.submit(note(Event.FIRED)) == 1
        assert [notifier.submit(note(Event.UPDATED, value=v)) for v in (73, 74, 75)] == [0, 0, 0]
        clock.advance(300)
        assert notifier.submit(note(Event.UPDATED, value=76)) == 1
        assert notifier.submit(note(Event.RESOLVED, who="li")) == 1, "right after: still goes"
        wait_for(lambda: receiver.count("ok") == 3, timeout=5)
        assert notifier.stats().coalesced == 3
    bodies = [r.json() for r in receiver.requests]
    assert [b["event"] for b in bodies] == ["fired", "updated", "resolved"]
    assert bodies[1]["value"] == 76 and bodies[1]["repeats"] == 3


def test_wecom_rate_limit_20_a_minute_with_a_fake_clock(
    receiver: Receiver, clock: FakeClock
) -> None:
    target = {"name": "wecom", "type": "wecom", "url": receiver.url("/send", "key=k")}
    with Notifier(config(target), clock=clock) as notifier:
        for i in range(25):
            notifier.submit(note(device=f"outlet-{i}"))
        wait_for(lambda: stats_of(notifier, "wecom")["throttled"] == 1, timeout=5)
        # The worker now waits for the clock: nothing more goes until it moves.
        assert receiver.count("ok") == 20
        assert stats_of(notifier, "wecom")["queued"] == 4
        clock.advance(60)
        wait_for(lambda: receiver.count("ok") == 25, timeout=5)
        assert stats_of(notifier, "wecom")["sent"] == 25


def test_silenced_alerts_are_not_notified(receiver: Receiver) -> None:
    target = {"name": "ops", "type": "generic", "url": receiver.url()}
    with Notifier(config(target)) as notifier:
        assert notifier.submit(note(silenced=True)) == 0
        assert notifier.submit(note(device="outlet-09")) == 1
        wait_for(lambda: receiver.count("ok") == 1, timeout=5)  # FIFO: the silenced one first
        assert notifier.stats().silenced == 1
    assert [r.json()["device"] for r in receiver.requests] == ["outlet-09"]


def test_selection_by_severity_area_and_event(receiver: Receiver) -> None:
    panmen = {"min_severity": "major", "areas": ["panmen"]}
    acks = {"events": ["acknowledge", "resolve"]}
    targets = [
        {"name": "panmen", "type": "generic", "url": receiver.url("/panmen"), **panmen},
        {"name": "acks", "type": "generic", "url": receiver.url("/acks"), **acks},
    ]
    with Notifier(config(*targets)) as notifier:
        sent = [
            notifier.submit(note(alert_id="a1", severity=Severity.CRITICAL)),  # panmen
            notifier.submit(note(alert_id="a2", severity=Severity.MINOR, device="x")),  # nobody
            notifier.submit(note(alert_id="a3", area="nanmen", device="y")),  # nobody
            notifier.submit(note(Event.ACKNOWLEDGED, alert_id="a4", who="li", device="z")),  # acks
            notifier.submit(note(Event.RESOLVED, alert_id="a5", device="w")),  # both
        ]
        assert sent == [1, 0, 0, 1, 2]
        wait_for(lambda: receiver.count("ok") == 4, timeout=5)
        assert notifier.stats().unselected == 2
    got = sorted((r.path, r.json()["alert_id"]) for r in receiver.requests)
    assert got == [("/acks", "a4"), ("/acks", "a5"), ("/panmen", "a1"), ("/panmen", "a5")]


def test_a_full_queue_drops_and_counts_keeping_the_more_important(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.fail_next(10**6, "hang")
    target = {"name": "ops", "type": "generic", "url": receiver.url(), "events": ["fire", "update"]}
    notifier = Notifier(config(target, queue_size=3, timeout_s=30))
    try:
        notifier.submit(note(alert_id="in-flight"))
        wait_for(lambda: receiver.count() == 1, timeout=5)  # the worker is stuck on it
        with caplog.at_level(logging.WARNING, logger="collector.notify"):
            minor = [
                note(alert_id=f"m{i}", severity=Severity.MINOR, device=f"d{i}") for i in range(5)
            ]
            took = [notifier.submit(n) for n in minor]
            assert took == [1, 1, 1, 0, 0]
            assert notifier.submit(note(Event.UPDATED, alert_id="u", device="du")) == 0
            assert notifier.submit(note(alert_id="crit", device="dc")) == 1, "outranks a minor"
        s = stats_of(notifier, "ops")
        assert s["dropped"] == 4 and s["queued"] == 3
        (logged,) = [r for r in caplog.records if r.getMessage() == "notification dropped"]
        assert logged.target == "ops" and logged.alert_id == "m3"  # type: ignore[attr-defined]
    finally:
        notifier.stop(timeout=0.1)
    assert stats_of(notifier, "ops")["dropped"] == 7, "the 3 queued ones at the deadline"
