"""Gateway settings (env prefix WARMNET_). Build with `load_gateway_settings()`."""

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from warmnet.ids import Id
from warmnet.settings import CommonSettings, MqttUrl

PLACEHOLDER_PASSWORDS = frozenset({"change-me", "changeme"})  # gateway.env.example


class GatewaySettings(CommonSettings):
    station: Id = Field(description="the station this gateway serves (`--station` on the CLI)")
    data_dir: Path = Field(
        default=Path("var/gateway"),
        description="outbox and state live in DATA_DIR/STATION/ (one directory per gateway)",
    )
    outbox: Literal["sqlite", "memory"] = Field(
        default="sqlite",
        description="sqlite: survives restarts and kill -9; memory: tests and throwaway runs",
    )
    outbox_max_bytes: int = Field(
        default=256 << 20,
        ge=64 << 10,
        description="outbox budget (payload + topic bytes); over it old telemetry is thinned",
    )
    freshness_s: float = Field(
        default=120.0,
        gt=0,
        description="a message older than this when sent is flagged historical: true",
    )
    drain_rate: float = Field(
        default=500.0, gt=0, description="historical backlog: at most this many messages/s"
    )
    heartbeat_s: float = Field(
        default=30.0, gt=0, description="republish the retained `online` status this often"
    )
    local_mqtt_url: MqttUrl | None = Field(
        default=None,
        description="local broker of devices with their own radios (local/{device}/telemetry)",
    )
    max_clock_skew_s: float = Field(
        default=300.0,
        gt=0,
        description="a device ts further than this from the gateway clock is replaced",
    )
    client_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="uplink MQTT client id; default gw-STATION",
    )
    inflight: int = Field(
        default=100, ge=1, le=1000, description="unacknowledged publishes at once (QoS 1)"
    )
    keepalive_s: int = Field(default=30, ge=2, le=600, description="MQTT keepalive, s")
    reconnect_min_s: float = Field(default=0.5, gt=0, description="first reconnect delay")
    reconnect_max_s: float = Field(default=10.0, gt=0, description="longest reconnect delay")

    @field_validator("local_mqtt_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("", "off", "none"):
            return None
        return value

    @model_validator(mode="after")
    def _checks(self) -> "GatewaySettings":
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        for url in (self.mqtt_url, self.local_mqtt_url):
            if url is not None and url.password in PLACEHOLDER_PASSWORDS:
                raise ValueError(f"{url.host}: replace the placeholder password of the example")
        return self

    @property
    def uplink_client_id(self) -> str:
        return self.client_id or f"gw-{self.station}"

    @property
    def station_dir(self) -> Path:
        return self.data_dir / self.station


def load_gateway_settings(**overrides: Any) -> GatewaySettings:
    """Settings from the environment; `overrides` (e.g. station from the CLI) win."""
    return GatewaySettings(**overrides)
