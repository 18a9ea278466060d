"""Feeding gateways from the simulator: `GatewaySink` has the shape of the simulator's
`ReadingSink` (`submit(reading)`, `close()`), so

    run(fleet, [station], gateway_sink_factory(settings_for, fleet, clock), clock, seed=7)

runs simulated stations through real gateways. This package does not import
`simulators`: a reading is anything with station, device, ts_ms and fields.
"""

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from gateway.downlink import DeviceControl
from gateway.service import Gateway
from gateway.settings import GatewaySettings
from warmnet.clock import Clock
from warmnet.registry import Fleet

log = logging.getLogger(__name__)


class ReadingLike(Protocol):
    @property
    def station(self) -> str: ...

    @property
    def device(self) -> str: ...

    @property
    def ts_ms(self) -> int: ...

    @property
    def fields(self) -> Mapping[str, Any]: ...


class GatewaySink:
    """Routes each reading to its station's gateway. `close()` stops the gateways."""

    def __init__(self, gateways: Mapping[str, Gateway]) -> None:
        self.gateways = dict(gateways)
        self.not_enqueued = 0  # invalid (a simulator bug) or refused by a full outbox

    def submit(self, reading: ReadingLike) -> None:
        gateway = self.gateways.get(reading.station)
        if gateway is None:
            raise ValueError(f"station {reading.station!r} has no gateway in this sink")
        if gateway.submit(reading.device, dict(reading.fields), reading.ts_ms) is None:
            self.not_enqueued += 1

    def close(self) -> None:
        for gateway in self.gateways.values():
            gateway.stop()
        if self.not_enqueued:
            log.error("readings not enqueued", extra={"not_enqueued": self.not_enqueued})


def gateway_sink_factory(
    settings_for: Callable[[str], GatewaySettings],
    fleet: Fleet,
    clock: Clock | None = None,
    control_for: Callable[[str], DeviceControl | None] | None = None,
) -> Callable[[Sequence[str]], GatewaySink]:
    """A `SinkFactory` for `simulators.runner.run`: one started gateway per station,
    with `settings_for(station)`; the runner closes the sink (stopping them)."""

    def factory(station_ids: Sequence[str]) -> GatewaySink:
        gateways: dict[str, Gateway] = {}
        try:
            for sid in station_ids:
                control = control_for(sid) if control_for is not None else None
                gateway = Gateway(settings_for(sid), fleet, clock=clock, control=control)
                gateway.start()
                gateways[sid] = gateway
        except Exception:
            for gateway in gateways.values():
                gateway.stop()
            raise
        return GatewaySink(gateways)

    return factory
