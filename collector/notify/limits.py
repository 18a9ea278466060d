"""Rate limits, pure and clocked (an injected `Clock`: tests move time by hand).

- `WindowLimiter`: at most `limit` sends in any `window_s` (WeCom: 20 a minute per
  robot). A sliding window, not a token bucket: a bucket would allow 20 at once and
  then one every 3 s, which is 21 within a minute and earns errcode 45009.
- `SubjectGate`: per subject (rule, station, device), `update` noise passes at most
  once per `interval_s` after anything was sent about that subject; the updates held
  back are counted and the next one that goes says how many it stands for. Fire,
  acknowledge, resolve and reopen always pass, except an exact repeat of the last
  event of the same alert (the same fire submitted twice).
"""

from collections import OrderedDict, deque
from dataclasses import dataclass

from collector.notify.model import Event, Notification
from warmnet.clock import Clock


class WindowLimiter:
    def __init__(self, limit: int, window_s: float, clock: Clock) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("limit must be >= 1 and window_s > 0")
        self.limit = limit
        self.window_ms = int(window_s * 1000)
        self._clock = clock
        self._sent: deque[int] = deque()

    def reserve(self) -> float:
        """Take a slot now and return 0, or return how many seconds (of the clock) to
        wait before asking again."""
        now = self._clock.now_ms()
        while self._sent and self._sent[0] <= now - self.window_ms:
            self._sent.popleft()
        if len(self._sent) < self.limit:
            self._sent.append(now)
            return 0.0
        return max(0.001, (self._sent[0] + self.window_ms - now) / 1000)


@dataclass(slots=True)
class _Subject:
    last_ms: int  # when something about this subject was last let through
    last: tuple[str, Event]  # (alert id, event) let through last
    held: int = 0  # updates held back since


class SubjectGate:
    def __init__(self, interval_s: float, clock: Clock, max_subjects: int = 100_000) -> None:
        self.interval_ms = int(interval_s * 1000)
        self._clock = clock
        self._max = max_subjects
        # Ordered by last_ms (entries move to the end when they pass): pruning pops from
        # the front only what is older than the interval, where it no longer matters.
        self._subjects: OrderedDict[tuple[str, str, str | None], _Subject] = OrderedDict()

    def admit(self, n: Notification) -> tuple[bool, int]:
        """(let it through?, how many held-back updates it stands for)."""
        now = self._clock.now_ms()
        key = n.subject
        s = self._subjects.get(key)
        recent = s is not None and now - s.last_ms < self.interval_ms
        if (
            s is not None
            and recent
            and (n.event is Event.UPDATED or s.last == (n.alert_id, n.event))
        ):
            s.held += 1
            return False, 0
        held = s.held if s is not None and n.event is Event.UPDATED else 0
        self._subjects[key] = _Subject(now, (n.alert_id, n.event))
        self._subjects.move_to_end(key)
        self._prune(now)
        return True, held

    def _prune(self, now: int) -> None:
        subjects = self._subjects
        while subjects:
            first = next(iter(subjects.values()))
            if now - first.last_ms < self.interval_ms and len(subjects) <= self._max:
                break
            subjects.popitem(last=False)

    def __len__(self) -> int:
        return len(self._subjects)
