"""One suite for both outbox implementations: order, removal on ack, lanes by age,
seq memory, restart survival (SQLite), and the budget policy (thin old telemetry,
never drop events, count everything)."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.outbox import (
    ROW_OVERHEAD,
    BaseOutbox,
    Envelope,
    MemoryOutbox,
    Row,
    plan_thinning,
)
from gateway.outbox_sqlite import SqliteOutbox
from warmnet.topics import Channel

T0 = 1_767_225_600_000
Factory = Callable[..., BaseOutbox]


def msg(
    device: str, seq: int, *, channel: Channel = Channel.TELEMETRY, at: int = T0, size: int = 20
) -> Envelope:
    topic = f"warm/v1/s/{device}/{channel.value}"
    return Envelope(device, channel, seq, topic, b"x" * size, at)


@pytest.fixture(params=["memory", "sqlite"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make(kind: str, tmp_path: Path) -> Iterator[Factory]:
    opened: list[BaseOutbox] = []

    def factory(max_bytes: int = 1 << 20) -> BaseOutbox:
        box: BaseOutbox
        if kind == "memory":
            box = MemoryOutbox(max_bytes)
        else:
            # NORMAL: this suite is about behaviour, not fsync (test_sqlite_survives_restart)
            box = SqliteOutbox(tmp_path / "outbox.sqlite", max_bytes, synchronous="NORMAL")
        opened.append(box)
        return box

    yield factory
    for box in opened:
        box.close()


def put(box: BaseOutbox, m: Envelope) -> int:
    msg_id = box.put(m)
    assert msg_id is not None
    return msg_id


def ids_of(box: BaseOutbox, **kw: int) -> list[tuple[str, int]]:
    return [(e.msg.device, e.msg.seq) for e in box.scan(0, 10_000, **kw)]


def test_keeps_order_and_content(make: Factory) -> None:
    box = make()
    sent = [msg(d, s, at=T0 + s) for s in range(5) for d in ("a", "b")]
    ids = [put(box, m) for m in sent]
    assert ids == sorted(ids)
    entries = box.scan(0, 100)
    assert [e.msg for e in entries] == sent
    assert box.last_id == ids[-1]
    # Paging from a cursor continues where the last page ended.
    first = box.scan(0, 3)
    rest = box.scan(first[-1].id, 100)
    assert [e.id for e in first + rest] == [e.id for e in entries]


def test_message_leaves_only_when_removed(make: Factory) -> None:
    box = make()
    ids = [put(box, msg("a", s)) for s in range(4)]
    assert box.stats().depth == 4
    assert box.remove([ids[1], ids[2], 999_999]) == 2  # unknown ids are ignored
    assert ids_of(box) == [("a", 0), ("a", 3)]
    assert box.remove([ids[1]]) == 0
    st = box.stats()
    assert st.depth == 2 and st.bytes == 2 * (len("warm/v1/s/a/telemetry") + 20 + ROW_OVERHEAD)
    assert box.last_id == ids[-1]  # ids are never reused
    new_id = box.put(msg("a", 4))
    assert new_id is not None and new_id > ids[-1]


def test_scan_by_age_splits_backlog_and_live(make: Factory) -> None:
    box = make()
    for s in range(6):
        box.put(msg("a", s, at=T0 + s * 1000))
    assert ids_of(box, before_ms=T0 + 3000) == [("a", 0), ("a", 1), ("a", 2)]
    assert ids_of(box, since_ms=T0 + 3000) == [("a", 3), ("a", 4), ("a", 5)]
    third = box.scan(0, 10)[2].id
    assert [e.msg.seq for e in box.scan(third, 10, since_ms=T0)] == [3, 4, 5]
    assert box.scan(0, 10, since_ms=T0 + 99_000) == []


def test_enqueue_time_never_goes_back(make: Factory) -> None:
    box = make()
    box.put(msg("a", 0, at=T0 + 5000))
    box.put(msg("a", 1, at=T0))  # the clock stepped back: clamped
    assert [e.msg.enqueued_ms for e in box.scan(0, 10)] == [T0 + 5000, T0 + 5000]


def test_remembers_last_seq_per_device_and_channel(make: Factory) -> None:
    box = make()
    assert box.last_seq("a", Channel.TELEMETRY) is None
    ids = [box.put(msg("a", s)) for s in range(3)]
    box.put(msg("a", 7, channel=Channel.EVENT))
    box.remove([i for i in ids if i is not None])  # acknowledged: still remembered
    assert box.last_seq("a", Channel.TELEMETRY) == 2
    assert box.last_seq("a", Channel.EVENT) == 7
    assert box.last_seq("b", Channel.TELEMETRY) is None


def test_only_telemetry_and_events(make: Factory) -> None:
    with pytest.raises(ValueError):
        make().put(msg("a", 0, channel=Channel.COMMAND))


def test_sqlite_survives_restart(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    box = SqliteOutbox(path)
    ids = [put(box, msg("a", s, at=T0 + s)) for s in range(5)]
    box.remove([ids[0]])
    box.close()  # a kill -9 leaves the same on disk: every put is committed
    box = SqliteOutbox(path)
    try:
        assert ids_of(box) == [("a", 1), ("a", 2), ("a", 3), ("a", 4)]
        assert box.last_seq("a", Channel.TELEMETRY) == 4
        assert box.last_id == ids[-1]
        assert box.stats().depth == 4
        nxt = box.put(msg("a", 5, at=T0))  # enqueue time clamped to the newest on disk
        assert nxt is not None and nxt > ids[-1]
        assert box.scan(ids[-1], 1)[0].msg.enqueued_ms == T0 + 4
    finally:
        box.close()


# -- budget ---------------------------------------------------------------------------


def test_plan_thinning_keeps_first_last_and_events() -> None:
    tele, ev = Channel.TELEMETRY, Channel.EVENT
    rows = [Row(i, "a", tele, 1) for i in range(1, 8)]  # a: 1..7
    rows += [Row(10, "b", tele, 1), Row(11, "b", tele, 1)]  # b: only two
    rows += [Row(20, "a", ev, 1), Row(21, "c", tele, 1)]
    victims = plan_thinning(sorted(rows))
    assert victims == [2, 4, 6]  # a keeps 1 and 7; b and c untouched; the event kept


def test_over_budget_thins_old_telemetry_never_events(make: Factory) -> None:
    one = msg("a", 0).size
    box = make(one * 200)
    events = []
    for s in range(600):
        box.put(msg("a", s, at=T0 + s))
        box.put(msg("b", s, at=T0 + s))
        if s % 50 == 0:
            events.append(box.put(msg("a", s // 50, channel=Channel.EVENT, at=T0 + s)))
    st = box.stats()
    assert st.bytes <= box.max_bytes
    assert st.thinned > 0 and st.refused == 0
    assert st.thinned + st.depth == 1200 + len(events)
    kept = box.scan(0, 100_000)
    assert sum(1 for e in kept if e.msg.channel is Channel.EVENT) == len(events)
    for device in ("a", "b"):
        tele = [
            e.msg.seq for e in kept if e.msg.device == device and e.msg.channel is Channel.TELEMETRY
        ]
        assert tele == sorted(tele)
        assert tele[0] == 0 and tele[-1] == 599, device  # first and last kept
        assert tele[-20:] == list(range(580, 600)), device  # the newest data is complete
        assert len(tele) < 600


def test_events_are_kept_over_budget_and_telemetry_refused(make: Factory) -> None:
    one = msg("a", 0, channel=Channel.EVENT).size
    box = make(one * 3)
    for s in range(5):
        assert box.put(msg("a", s, channel=Channel.EVENT)) is not None
    st = box.stats()
    assert st.depth == 5 and st.over_budget_events == 2 and st.thinned == 0
    assert box.put(msg("a", 0)) is None  # nothing to thin: telemetry refused, counted
    assert box.stats().refused == 1
    assert box.last_seq("a", Channel.TELEMETRY) is None  # a refused message takes no seq
