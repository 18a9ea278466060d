"""Device kinds and the per-device availability vocabulary riders see."""

from enum import StrEnum


class DeviceKind(StrEnum):
    CHARGING_OUTLET = "charging_outlet"
    WATER_HEATER = "water_heater"
    MICROWAVE = "microwave"
    OCCUPANCY_SENSOR = "occupancy_sensor"


class DeviceStatus(StrEnum):
    """What a rider sees for one device.

    `offline` means we know the device is unreachable (its gateway said so);
    `unknown` means we have no fresh data. The two are never folded together.
    """

    AVAILABLE = "available"
    IN_USE = "in_use"
    OUT_OF_ORDER = "out_of_order"
    OFFLINE = "offline"
    UNKNOWN = "unknown"
