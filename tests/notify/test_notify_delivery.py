"""Delivery against a real local HTTP receiver: bodies as sent, the DingTalk signature,
retries and giving up, robot errcodes, and a dead or hanging webhook that never holds
up `submit()` or another target."""

import logging
import time
from dataclasses import asdict

import pytest
from notify_support import Receiver, config, note

from collector.notify import Event, Notifier
from testbed.services import free_port, wait_for

WECOM_PATH, WECOM_QUERY = "/cgi-bin/webhook/send", "key=k-1"
DING_PATH, DING_QUERY = "/robot/send", "access_token=tok-1"


def wecom(receiver: Receiver, **kw: object) -> dict[str, object]:
    return {"name": "wecom", "type": "wecom", "url": receiver.url(WECOM_PATH, WECOM_QUERY), **kw}


def stats_of(notifier: Notifier, target: str) -> dict[str, int]:
    return asdict(notifier.stats().targets[target])


def test_wecom_message_arrives_as_the_robot_expects(receiver: Receiver) -> None:
    with Notifier(config(wecom(receiver))) as notifier:
        assert notifier.submit(note()) == 1
        wait_for(lambda: receiver.count("ok") == 1, timeout=5)
        wait_for(lambda: stats_of(notifier, "wecom")["sent"] == 1, timeout=5)
    (req,) = receiver.requests
    assert req.path == WECOM_PATH and req.query == {"key": "k-1"}
    assert req.headers["Content-Type"] == "application/json; charset=utf-8"
    body = req.json()
    assert body["msgtype"] == "markdown"
    assert "吴门桥骑手暖心驿站（wmq-01）" in body["markdown"]["content"]
    assert "充电插座过热" in req.body.decode("utf-8"), "UTF-8 JSON, not \\u escapes"


def test_dingtalk_signature_verified_by_the_receiver(receiver: Receiver) -> None:
    receiver.dingtalk_secret = "SEC0f3a9e"
    target = {
        "name": "ding",
        "type": "dingtalk",
        "url": receiver.url(DING_PATH, DING_QUERY),
        "secret": "SEC0f3a9e",
    }
    with Notifier(config(target)) as notifier:
        notifier.submit(note(Event.REOPENED))
        wait_for(lambda: stats_of(notifier, "ding")["sent"] == 1, timeout=5)
    (req,) = receiver.requests
    assert req.answer == "ok", "the receiver checked timestamp + HMAC-SHA256 like DingTalk"
    assert req.query["access_token"] == "tok-1", "the robot's own query is kept"
    assert abs(int(req.query["timestamp"]) - time.time() * 1000) < 60_000
    md = req.json()["markdown"]
    assert md["title"].startswith("🔴【严重】告警再次触发") and "### " in md["text"]


def test_a_wrong_dingtalk_secret_fails_without_retrying(receiver: Receiver) -> None:
    receiver.dingtalk_secret = "SEC-right"
    target = {"name": "ding", "type": "dingtalk", "url": receiver.url(DING_PATH, DING_QUERY)}
    with Notifier(config({**target, "secret": "SECwrong"})) as notifier:
        notifier.submit(note())
        wait_for(lambda: stats_of(notifier, "ding")["failed"] == 1, timeout=5)
    assert [r.answer for r in receiver.requests] == ["bad-sign"]
    assert stats_of(notifier, "ding")["retried"] == 0


def test_generic_json_with_headers(receiver: Receiver) -> None:
    target = {
        "name": "ops",
        "type": "generic",
        "url": receiver.url("/ops"),
        "headers": {"Authorization": "Bearer s3cr3t"},
        "events": ["acknowledge"],
    }
    with Notifier(config(target)) as notifier:
        notifier.submit(note(Event.ACKNOWLEDGED, who="张师傅", note="马上到"))
        wait_for(lambda: stats_of(notifier, "ops")["sent"] == 1, timeout=5)
    (req,) = receiver.requests
    assert req.headers["Authorization"] == "Bearer s3cr3t"
    body = req.json()
    assert body["event"] == "acknowledged" and body["who"] == "张师傅" and body["note"] == "马上到"


@pytest.mark.parametrize("fault", ["500", "429", "errcode:45009", "errcode:-1"])
def test_retries_then_success(receiver: Receiver, fault: str) -> None:
    receiver.fail_next(2, fault)
    with Notifier(config(wecom(receiver))) as notifier:
        notifier.submit(note())
        wait_for(lambda: stats_of(notifier, "wecom")["sent"] == 1, timeout=5)
        s = stats_of(notifier, "wecom")
    assert [r.answer for r in receiver.requests] == [fault, fault, "ok"]
    assert s["retried"] == 2 and s["failed"] == 0


def test_dingtalk_rate_limit_errcode_is_retried(receiver: Receiver) -> None:
    receiver.fail_next(1, "errcode:130101")
    target = {"name": "ding", "type": "dingtalk", "url": receiver.url(DING_PATH, DING_QUERY)}
    with Notifier(config(target)) as notifier:
        notifier.submit(note())
        wait_for(lambda: stats_of(notifier, "ding")["sent"] == 1, timeout=5)
    assert [r.answer for r in receiver.requests] == ["errcode:130101", "ok"]


def test_gives_up_after_max_attempts_and_logs_the_alert_id(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.fail_next(100, "500")
    n = note(alert_id="outlet-socket-overheat:wmq-07/outlet-01@1")
    with (
        caplog.at_level(logging.INFO, logger="collector.notify"),
        Notifier(config(wecom(receiver))) as notifier,
    ):
        notifier.submit(n)
        wait_for(lambda: stats_of(notifier, "wecom")["failed"] == 1, timeout=5)
        s = stats_of(notifier, "wecom")
    assert receiver.count() == 3, "retry.max_attempts"
    assert s["sent"] == 0 and s["retried"] == 2
    (err,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert err.getMessage() == "notification failed"
    assert err.alert_id == n.alert_id and err.attempts == 3  # type: ignore[attr-defined]
    assert err.reason == "http 500"  # type: ignore[attr-defined]


@pytest.mark.parametrize("fault", ["404", "errcode:93000", "html"])
def test_permanent_errors_are_not_retried(receiver: Receiver, fault: str) -> None:
    receiver.fail_next(5, fault)
    with Notifier(config(wecom(receiver))) as notifier:
        notifier.submit(note())
        wait_for(lambda: stats_of(notifier, "wecom")["failed"] == 1, timeout=5)
    assert receiver.count() == 1


def test_a_timeout_is_retried(receiver: Receiver) -> None:
    receiver.fail_next(1, "hang")
    with Notifier(config(wecom(receiver), timeout_s=0.2)) as notifier:
        notifier.submit(note())
        wait_for(lambda: stats_of(notifier, "wecom")["sent"] == 1, timeout=5)
        assert stats_of(notifier, "wecom")["retried"] == 1
    assert [r.answer for r in receiver.requests] == ["hang", "ok"]


# A submit takes microseconds; the bounds leave room for a loaded CI machine and stay
# far below what blocking would cost (the hanging webhook's 30 s, a connect timeout).
SLOWEST_S, TOTAL_S = 0.5, 1.0


def timed_submits(notifier: Notifier, count: int) -> tuple[float, float]:
    """Submit `count` distinct fires; return (slowest single call, total), seconds."""
    slowest, start = 0.0, time.perf_counter()
    for i in range(count):
        t0 = time.perf_counter()
        notifier.submit(note(device=f"outlet-{i % 100}", station=f"wmq-{i // 100}"))
        slowest = max(slowest, time.perf_counter() - t0)
    return slowest, time.perf_counter() - start


def test_a_dead_webhook_never_blocks_submit() -> None:
    dead = {"name": "dead", "type": "generic", "url": f"http://127.0.0.1:{free_port()}/hook"}
    notifier = Notifier(config(dead, queue_size=100))
    try:
        slowest, total = timed_submits(notifier, 1000)
        assert slowest < SLOWEST_S and total < TOTAL_S, (slowest, total)
        wait_for(lambda: stats_of(notifier, "dead")["failed"] >= 1, timeout=5)
    finally:
        t0 = time.monotonic()
        notifier.stop(timeout=0.5)
        assert time.monotonic() - t0 < 1.0
    # The message in flight at the deadline is counted when its attempt ends.
    s = wait_for(
        lambda: (s := stats_of(notifier, "dead"))["failed"] + s["dropped"] == 1000 and s,
        timeout=5,
    )
    assert s["sent"] == 0 and s["dropped"] >= 800


def test_a_hanging_webhook_never_blocks_submit_nor_stop(receiver: Receiver) -> None:
    receiver.fail_next(10**6, "hang")
    notifier = Notifier(config(wecom(receiver), queue_size=100, timeout_s=30))
    try:
        notifier.submit(note(device="first"))
        wait_for(lambda: receiver.count() == 1, timeout=5)
        slowest, total = timed_submits(notifier, 1000)
        assert slowest < SLOWEST_S and total < TOTAL_S, (slowest, total)
    finally:
        t0 = time.monotonic()
        drained = notifier.stop(timeout=0.3)
        assert time.monotonic() - t0 < 1.0
    assert not drained
    s = stats_of(notifier, "wecom")
    assert s["sent"] == 0 and s["dropped"] == 1000, "queued ones are dropped at the deadline"
    assert s["queued"] == 0


def test_one_hanging_target_does_not_hold_up_another(receiver: Receiver) -> None:
    hanging = Receiver()
    hanging.fail_next(10**6, "hang")
    targets = [
        {"name": "stuck", "type": "generic", "url": hanging.url()},
        {"name": "fine", "type": "generic", "url": receiver.url()},
    ]
    notifier = Notifier(config(*targets, timeout_s=30))
    try:
        for i in range(50):
            notifier.submit(note(device=f"outlet-{i}"))
        wait_for(lambda: hanging.count() == 1, timeout=5)  # stuck on its first message
        wait_for(lambda: receiver.count("ok") == 50, timeout=5)
        assert hanging.count() == 1
    finally:
        notifier.stop(timeout=0.2)
        hanging.close()


def test_stop_delivers_what_is_queued_including_retries(receiver: Receiver) -> None:
    receiver.fail_next(2, "500")
    notifier = Notifier(config(wecom(receiver)))
    for i in range(5):
        notifier.submit(note(device=f"outlet-{i}"))
    assert notifier.stop(timeout=5) is True
    s = stats_of(notifier, "wecom")
    assert s["sent"] == 5 and s["dropped"] == 0 and notifier.pending() == 0
    assert receiver.count("ok") == 5
    assert notifier.submit(note()) == 0, "stopped: takes no more"
