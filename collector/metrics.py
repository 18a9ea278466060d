"""The collector's own counters (thread-safe). Exposed in-process now; written as a
`collector` measurement and served to Prometheus in a later step."""

import threading
from collections import Counter


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._rejected: Counter[str] = Counter()

    def inc(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def reject(self, reason: str) -> None:
        with self._lock:
            self._rejected[reason] += 1
            self._counts["rejected"] += 1

    def get(self, name: str) -> int:
        with self._lock:
            return self._counts[name]

    def rejected(self) -> dict[str, int]:
        with self._lock:
            return dict(self._rejected)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            snap = dict(self._counts)
            snap.update({f"rejected.{k}": v for k, v in self._rejected.items()})
            return snap
