"""Urgent work ahead of bulk work: a checkpoint waits while urgent work runs, and only
then (bounded, so that a stuck tick cannot stop alerting)."""

import threading
import time

from collector.precedence import Precedence
from testbed.services import wait_for


def test_a_checkpoint_passes_at_once_when_nothing_urgent_runs() -> None:
    p = Precedence(max_wait_s=5)
    t0 = time.monotonic()
    for _ in range(1000):
        p.checkpoint()
    assert time.monotonic() - t0 < 1
    assert not p.urgent_running


def test_bulk_work_waits_at_its_checkpoint_until_urgent_work_is_done() -> None:
    p = Precedence(max_wait_s=10)
    passed = threading.Event()

    def bulk() -> None:
        p.checkpoint()
        passed.set()

    with p.urgent():
        assert p.urgent_running
        worker = threading.Thread(target=bulk, daemon=True)
        worker.start()
        assert not passed.wait(0.2)  # held while the urgent work runs
    assert passed.wait(5)  # and let through once it is done
    worker.join(5)


def test_nested_urgent_work_holds_bulk_work_until_the_last_is_done() -> None:
    p = Precedence(max_wait_s=10)
    with p.urgent():
        with p.urgent():
            pass
        assert p.urgent_running
    assert not p.urgent_running


def test_urgent_work_that_overruns_holds_bulk_work_up_only_once() -> None:
    p = Precedence(max_wait_s=0.2)
    done = threading.Event()
    waits: list[float] = []

    def bulk() -> None:
        for _ in range(20):
            t0 = time.monotonic()
            p.checkpoint()
            waits.append(time.monotonic() - t0)
        done.set()

    with p.urgent():  # a tick that never ends
        threading.Thread(target=bulk, daemon=True).start()
        wait_for(done.is_set, timeout=5, message="bulk work stayed stuck behind the tick")
        assert waits[0] >= 0.2  # the first checkpoint waited its bound
        assert max(waits[1:]) < 0.1  # and none waited for that section again
    with p.urgent():  # the next section holds bulk work again
        t0 = time.monotonic()
        p.checkpoint()
        assert time.monotonic() - t0 >= 0.2
