"""Device behaviour models, one module per device kind."""

from simulators.env import StationEnv
from simulators.models.base import DeviceModel, Fields
from simulators.models.charging_outlet import ChargingOutletModel
from simulators.models.microwave import MicrowaveModel
from simulators.models.occupancy_sensor import OccupancySensorModel
from simulators.models.water_heater import WaterHeaterModel
from warmnet.kinds import DeviceKind
from warmnet.registry import DeviceSpec

MODELS: dict[DeviceKind, type[DeviceModel]] = {
    m.kind: m for m in (ChargingOutletModel, WaterHeaterModel, MicrowaveModel, OccupancySensorModel)
}


def build_model(spec: DeviceSpec, env: StationEnv, seed_key: str, start_ms: int) -> DeviceModel:
    """The model for `spec.kind`, starting at `start_ms`."""
    try:
        model = MODELS[spec.kind]
    except KeyError:
        raise ValueError(f"no simulator model for device kind {spec.kind!r}") from None
    return model(spec, env, seed_key, start_ms)


__all__ = [
    "MODELS",
    "ChargingOutletModel",
    "DeviceModel",
    "Fields",
    "MicrowaveModel",
    "OccupancySensorModel",
    "WaterHeaterModel",
    "build_model",
]
