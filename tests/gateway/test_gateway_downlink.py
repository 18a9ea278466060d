"""Commands without a broker: validation, execution through DeviceControl, the
command_result event, and a redelivered command id executed once (also after a
restart)."""

import json
from pathlib import Path

from gateway_support import unique_fleet

from gateway.downlink import CommandHandler, DeviceControl, MemoryDeviceControl
from gateway.outbox import MemoryOutbox
from gateway.southbound import Intake
from gateway.state import StateStore
from warmnet import topics
from warmnet.clock import FakeClock
from warmnet.kinds import DeviceKind
from warmnet.messages import CommandName, DeviceCommand, EventType, parse_event

FLEET = unique_fleet("gw-cmd")
STATION = FLEET.stations[0]
OUTLET = STATION.devices_of(DeviceKind.CHARGING_OUTLET)[0].id
DEVICES = [d.id for d in STATION.devices]


def command(cid: str, name: CommandName = CommandName.CUT_POWER) -> bytes:
    return DeviceCommand(id=cid, ts=1_767_225_600_000, command=name).model_dump_json().encode()


def make(control: DeviceControl, state: StateStore) -> tuple[CommandHandler, MemoryOutbox]:
    box = MemoryOutbox()
    intake = Intake(STATION, box, FakeClock(), max_skew_ms=300_000, skew_window_ms=30_000)
    return CommandHandler(STATION.id, DEVICES, control, intake, state), box


def results(box: MemoryOutbox) -> list[tuple[str, str | None, str | None]]:
    out = []
    for entry in box.scan(0, 100):
        event = parse_event(entry.msg.payload)
        assert event.type is EventType.COMMAND_RESULT
        assert entry.msg.topic == topics.event(STATION.id, entry.msg.device)
        out.append((entry.msg.device, event.code, event.command_id))
    return out


def test_executes_and_reports_ok_failed_unknown_device() -> None:
    control = MemoryDeviceControl(DEVICES, fail=[CommandName.RESET])
    handler, box = make(control, StateStore(None))
    assert handler.handle(topics.command(STATION.id, OUTLET), command("c-1")) == "OK"
    assert control.powered[OUTLET] is False
    assert handler.handle(topics.command(STATION.id, OUTLET), command("c-2", CommandName.RESET))
    assert handler.handle(topics.command(STATION.id, "ghost"), command("c-3")) == "UNKNOWN_DEVICE"
    assert results(box) == [
        (OUTLET, "OK", "c-1"),
        (OUTLET, "FAILED", "c-2"),
        ("ghost", "UNKNOWN_DEVICE", "c-3"),
    ]
    assert handler.counts == {"ok": 1, "failed": 1, "unknown_device": 1}


def test_duplicate_command_id_is_executed_once_even_after_restart(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    control = MemoryDeviceControl(DEVICES)
    handler, box = make(control, StateStore(path))
    topic = topics.command(STATION.id, OUTLET)
    assert handler.handle(topic, command("once")) == "OK"
    assert handler.handle(topic, command("once")) is None  # redelivery (DUP)
    handler.state.close()
    handler, _ = make(control, StateStore(path))  # the gateway restarted
    assert handler.handle(topic, command("once")) is None
    assert len(control.executed) == 1
    assert len(results(box)) == 1
    assert handler.counts["duplicate"] == 1
    handler.state.close()


def test_invalid_commands_are_counted_not_executed() -> None:
    control = MemoryDeviceControl(DEVICES)
    handler, box = make(control, StateStore(None))
    topic = topics.command(STATION.id, OUTLET)
    assert handler.handle(topic, b"{}") is None
    stale = json.dumps({"id": "x", "ts": 1, "command": "cut_power"}).encode()  # ts < 2020
    assert handler.handle(topic, stale) is None
    assert handler.handle(topic, b'{"id": "a b", "ts": 1767225600000, "command": "x"}') is None
    assert handler.handle(topics.command("other-station", OUTLET), command("y")) is None
    assert handler.handle(f"warm/v1/{STATION.id}/{OUTLET}/telemetry", command("z")) is None
    assert control.executed == [] and box.stats().depth == 0
    assert handler.counts == {"invalid": 5}


class Exploding:
    def execute(self, device_id: str, command: DeviceCommand) -> tuple[bool, str]:
        raise RuntimeError("relay stuck")


def test_a_raising_device_is_a_failed_command() -> None:
    handler, box = make(Exploding(), StateStore(None))
    assert handler.handle(topics.command(STATION.id, OUTLET), command("boom")) == "FAILED"
    event = parse_event(box.scan(0, 1)[0].msg.payload)
    assert event.detail == "error: relay stuck"
