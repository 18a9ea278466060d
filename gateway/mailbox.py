"""What paho callbacks hand to the gateway thread: small immutable items in a
`Mailbox` that never blocks the poster (callbacks run on paho's network thread, some
while paho holds its own locks) and wakes the gateway thread."""

import threading
from collections import deque
from dataclasses import dataclass

COMMAND_BACKLOG = 1000  # commands waiting for the gateway thread; more are dropped


@dataclass(frozen=True, slots=True)
class Connected:
    session: int
    ok: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Disconnected:
    session: int
    reason: str


@dataclass(frozen=True, slots=True)
class Acked:
    session: int
    mid: int


@dataclass(frozen=True, slots=True)
class Subscribed:
    session: int
    ok: bool


@dataclass(frozen=True, slots=True)
class Command:
    session: int
    topic: str
    payload: bytes


Item = Connected | Disconnected | Acked | Subscribed | Command


class Mailbox:
    """Items for the gateway thread, plus a wake-up flag. `post` never blocks (it runs
    in paho callbacks). Only commands can pile up (acks are bounded by the window):
    beyond `command_limit` waiting commands, new ones are dropped and counted."""

    def __init__(self, command_limit: int = COMMAND_BACKLOG) -> None:
        self._cond = threading.Condition()
        self._items: deque[Item] = deque()
        self._kicked = False
        self._commands = 0
        self.command_limit = command_limit
        self.dropped_commands = 0

    def post(self, item: Item) -> None:
        with self._cond:
            if isinstance(item, Command):
                if self._commands >= self.command_limit:
                    self.dropped_commands += 1
                    return
                self._commands += 1
            self._items.append(item)
            self._cond.notify()

    def kick(self) -> None:
        with self._cond:
            self._kicked = True
            self._cond.notify()

    def wait(self, timeout: float) -> list[Item]:
        with self._cond:
            if not self._items and not self._kicked and timeout > 0:
                self._cond.wait(timeout)
            items = list(self._items)
            self._items.clear()
            self._kicked = False
            self._commands = 0
            return items
