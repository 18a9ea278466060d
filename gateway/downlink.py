"""Downlink: commands from `warm/v1/{station}/{device}/command` executed on the device.

The uplink subscribes (QoS 1) and hands each message to `CommandHandler.handle` on
the gateway thread. A command is validated with `parse_command`, executed once per
command id (ids are remembered in the state store, so a redelivery is not executed
again), and answered with a `command_result` event (code OK / FAILED /
UNKNOWN_DEVICE, `command_id`) through the outbox like any other message.

Devices are driven through `DeviceControl`; in-process device models implement it.
`execute` runs on the gateway thread: it must return quickly.
"""

import logging
import threading
from collections import Counter
from collections.abc import Iterable
from typing import Protocol

from gateway.southbound import Intake
from gateway.state import StateStore
from warmnet.messages import CommandName, DeviceCommand, EventType, InvalidPayloadError
from warmnet.messages import parse_command as parse_command_payload
from warmnet.topics import Channel, TopicError
from warmnet.topics import parse as parse_topic

log = logging.getLogger(__name__)

DETAIL_MAX = 200


class DeviceControl(Protocol):
    def execute(self, device_id: str, command: DeviceCommand) -> tuple[bool, str]:
        """Carry out `command` on the device: (succeeded, a short human-readable note)."""
        ...


class NoDeviceControl:
    """For stations whose devices take no commands: every command fails, and says so."""

    def execute(self, device_id: str, command: DeviceCommand) -> tuple[bool, str]:
        return False, "this gateway has no control over its devices"


class MemoryDeviceControl:
    """A simple in-memory implementation (tests, demos): devices with a power switch
    and a fault flag. `fail` names commands that fail on purpose."""

    def __init__(self, devices: Iterable[str], *, fail: Iterable[CommandName] = ()) -> None:
        self.powered: dict[str, bool] = dict.fromkeys(devices, True)
        self.faulted: dict[str, bool] = dict.fromkeys(self.powered, False)
        self.fail = set(fail)
        self.executed: list[tuple[str, DeviceCommand]] = []
        self._lock = threading.Lock()

    def execute(self, device_id: str, command: DeviceCommand) -> tuple[bool, str]:
        with self._lock:
            if device_id not in self.powered:
                return False, f"no such device {device_id}"
            self.executed.append((device_id, command))
            if command.command in self.fail:
                return False, f"{command.command} failed (simulated)"
            if command.command is CommandName.CUT_POWER:
                self.powered[device_id] = False
                return True, "power cut"
            if command.command is CommandName.RESTORE_POWER:
                self.powered[device_id] = True
                return True, "power restored"
            self.faulted[device_id] = False
            return True, "controller reset"


class CommandHandler:
    def __init__(
        self,
        station: str,
        devices: Iterable[str],
        control: DeviceControl,
        intake: Intake,
        state: StateStore,
    ) -> None:
        self.station = station
        self.devices = set(devices)
        self.control = control
        self.intake = intake
        self.state = state
        self.counts: Counter[str] = Counter()  # ok, failed, unknown_device, duplicate, invalid

    def handle(self, topic: str, payload: bytes) -> str | None:
        """One command message; the result code it was answered with, or None if it was
        invalid or a duplicate."""
        try:
            where = parse_topic(topic)
        except TopicError as exc:
            self._invalid(topic, str(exc))
            return None
        if where.channel is not Channel.COMMAND or where.device is None:
            self._invalid(topic, "not a command topic")
            return None
        if where.station != self.station:
            self._invalid(topic, f"command for station {where.station}")
            return None
        device = where.device
        try:
            command = parse_command_payload(payload)
        except InvalidPayloadError as exc:
            self._invalid(topic, f"{exc.reason}: {exc.detail}")
            return None
        context = {"station": self.station, "device": device, "command_id": command.id}
        if self.state.command_seen(command.id):
            self.counts["duplicate"] += 1
            log.info("duplicate command ignored (already executed)", extra=context)
            return None
        if device not in self.devices:
            ok, code, detail = False, "UNKNOWN_DEVICE", f"no device {device} at {self.station}"
        else:
            try:
                ok, detail = self.control.execute(device, command)
            except Exception as exc:  # a device error is a failed command, not a crash
                log.exception("device control raised", extra=context)
                ok, detail = False, f"error: {exc}"
            code = "OK" if ok else "FAILED"
        self.intake.submit_event(
            device,
            EventType.COMMAND_RESULT,
            code=code,
            detail=detail[:DETAIL_MAX] or None,
            command_id=command.id,
            registered_only=False,
        )
        self.state.remember_command(command.id, device, self.intake.clock.now_ms(), code)
        self.counts[code.lower()] += 1
        log.info(
            "command executed",
            extra={**context, "command": command.command.value, "code": code, "detail": detail},
        )
        return code

    def _invalid(self, topic: str, detail: str) -> None:
        self.counts["invalid"] += 1
        log.warning("invalid command dropped", extra={"topic": topic, "detail": detail[:300]})
        return None
