"""Device commands the alert engine asks for (e.g. cut power to an overheating
outlet), published to `warm/v1/{station}/{device}/command` and repeated until the
gateway answers with a `command_result` event carrying the command id.

The gateway executes an id at most once, so repeating is safe; it is needed because a
gateway that was offline when the command was sent never saw it.
"""

import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from collector.alerts import Transition, TransitionKind
from collector.metrics.counters import Metrics
from warmnet import topics
from warmnet.clock import Clock
from warmnet.messages import DeviceCommand, DeviceEvent, EventType, dump_json
from warmnet.mqtt import Publisher

log = logging.getLogger(__name__)

RETRY_EVERY_MS = 15_000
MAX_ATTEMPTS = 8  # about two minutes of trying


@dataclass
class Pending:
    command: DeviceCommand
    station: str
    device: str
    attempts: int
    last_sent_ms: int


def command_id(t: Transition) -> str:
    """A stable id for the command an alert transition asks for ([A-Za-z0-9_-])."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{t.key.rule}-{t.key.station}-{t.key.device}-{t.at_ms}")[
        :64
    ]


class CommandPublisher:
    def __init__(self, publisher: Publisher, clock: Clock, metrics: Metrics) -> None:
        self._publisher = publisher
        self._clock = clock
        self._metrics = metrics
        self._pending: dict[str, Pending] = {}
        self._lock = threading.Lock()

    def handle(self, transitions: Sequence[Transition]) -> None:
        for t in transitions:
            if t.kind is not TransitionKind.ACTION or t.command is None or t.key.device is None:
                continue
            cmd = DeviceCommand(
                id=command_id(t),
                ts=self._clock.now_ms(),
                command=t.command,
                reason=f"alert {t.key.rule}: {t.detail}"[:200],
            )
            pending = Pending(cmd, t.key.station, t.key.device, 0, 0)
            with self._lock:
                self._pending[cmd.id] = pending
            self._send(pending)

    def result(self, station: str, device: str, event: DeviceEvent) -> None:
        """A `command_result` event arrived: stop repeating that command."""
        if event.type is not EventType.COMMAND_RESULT or event.command_id is None:
            return
        with self._lock:
            done = self._pending.pop(event.command_id, None)
        if done is not None:
            self._metrics.inc("commands_confirmed")
            log.info(
                "command confirmed",
                extra={
                    "command_id": event.command_id,
                    "station": station,
                    "device": device,
                    "code": event.code,
                },
            )

    def retry_due(self) -> None:
        now = self._clock.now_ms()
        with self._lock:
            due = [p for p in self._pending.values() if now - p.last_sent_ms >= RETRY_EVERY_MS]
        for p in due:
            if p.attempts >= MAX_ATTEMPTS:
                with self._lock:
                    self._pending.pop(p.command.id, None)
                self._metrics.inc("commands_unconfirmed")
                log.error(
                    "command never confirmed; giving up",
                    extra={"command_id": p.command.id, "station": p.station, "device": p.device},
                )
                continue
            self._send(p)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def _send(self, p: Pending) -> None:
        p.attempts += 1
        p.last_sent_ms = self._clock.now_ms()
        self._publisher.publish(
            topics.command(p.station, p.device), dump_json(p.command), qos=1, retain=False
        )
        self._metrics.inc("commands_sent")
        log.warning(
            "device command sent",
            extra={
                "command": p.command.command.value,
                "station": p.station,
                "device": p.device,
                "command_id": p.command.id,
                "attempt": p.attempts,
            },
        )
