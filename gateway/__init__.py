"""The station gateway: per-device seq, on-disk outbox (store-and-forward), status with
sessions and last will, downlink commands. What other components may use of it:"""

from gateway.downlink import DeviceControl
from gateway.outbox_sqlite import SqliteOutbox
from gateway.service import Gateway
from gateway.settings import GatewaySettings, load_gateway_settings
from gateway.uplink import ClientFactory, make_client

__all__ = [
    "ClientFactory",
    "DeviceControl",
    "Gateway",
    "GatewaySettings",
    "SqliteOutbox",
    "load_gateway_settings",
    "make_client",
]
