"""Urgent work ahead of bulk work: a checkpoint waits while urgent work runs, and only
then (bounded, so that a stuck tick cannot stop alerting)."""

import threading
import time

from services import wait_for

from collector.precedence import Precedence


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


def test_a_checkpoint_waits_at_most_max_wait() -> None:
    p = Precedence(max_wait_s=0.05)
    passed = threading.Event()
    with p.urgent():  # a tick that never ends
        threading.Thread(target=lambda: (p.checkpoint(), passed.set()), daemon=True).start()
        wait_for(passed.is_set, timeout=5, message="checkpoint did not give up waiting")
