"""Urgent work ahead of bulk work inside one Python process.

The collector's threads share one GIL, and the GIL knows no priorities: while the
alert engine evaluates a backlog or saves its state (bulk: nobody waits for it by the
millisecond), the availability tick (urgent: riders wait for it) gets only a share of
the interpreter, and each of its system calls (paho writes a wake-up byte per publish)
hands the GIL away for up to a switch interval. In bench-ingest's latency run a tick
took 42 ms at the median (p99 146 ms); with the tick going first, summaries reached
the broker with p50 108 ms instead of 164, p99 256 instead of ~400 (bench/README.md).

So bulk work passes `checkpoint()` between its small steps, and urgent work runs inside
`urgent()`: a checkpoint reached meanwhile waits until the urgent work is done. A
stuck tick cannot stop alerting: once a checkpoint has waited `max_wait_s` for one
urgent section, no checkpoint waits for that section again. Bulk work loses nothing,
it only moves to the gaps between ticks; its queue and backpressure take the delay.
"""

import contextlib
import threading
from collections.abc import Iterator

MAX_WAIT_S = 0.5


class Precedence:
    def __init__(self, max_wait_s: float = MAX_WAIT_S) -> None:
        self._max_wait_s = max_wait_s
        self._lock = threading.Lock()
        self._urgent = 0
        self._clear = threading.Event()  # set: no urgent work running
        self._clear.set()
        self._section = 0  # counts urgent sections begun
        self._overran = -1  # the last section a checkpoint gave up waiting for

    @contextlib.contextmanager
    def urgent(self) -> Iterator[None]:
        with self._lock:
            self._urgent += 1
            self._section += 1
            self._clear.clear()
        try:
            yield
        finally:
            with self._lock:
                self._urgent -= 1
                if not self._urgent:
                    self._clear.set()

    def checkpoint(self) -> None:
        """Called by bulk work between steps: wait while urgent work runs."""
        if self._clear.is_set():  # the common case costs one attribute read
            return
        section = self._section
        if section == self._overran:
            return  # it has held bulk work up long enough
        if not self._clear.wait(self._max_wait_s):
            self._overran = section

    @property
    def urgent_running(self) -> bool:
        return not self._clear.is_set()
