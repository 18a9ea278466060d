"""Settings shared by every process. Each process has its own `BaseSettings`
subclass (in its component, e.g. `collector/settings.py`) built by a function, never
at import time. Environment variables use the prefix `WARMNET_`.
"""

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AnyUrl, Field, UrlConstraints
from pydantic_settings import BaseSettings, SettingsConfigDict

MqttUrl = Annotated[AnyUrl, UrlConstraints(allowed_schemes=["mqtt", "mqtts"], default_port=1883)]
HttpUrl = Annotated[AnyUrl, UrlConstraints(allowed_schemes=["http", "https"])]

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class CommonSettings(BaseSettings):
    """What every warmnet process needs."""

    model_config = SettingsConfigDict(env_prefix="WARMNET_", extra="ignore")

    mqtt_url: MqttUrl = Field(
        default=MqttUrl("mqtt://127.0.0.1:1883"),
        description="broker, mqtt://[user:password@]host[:port] (mqtts:// for TLS)",
    )
    registry: Path | None = Field(
        default=None, description="fleet registry YAML; default: the bundled first network"
    )
    log_level: LogLevel = "INFO"
    log_json: bool = Field(default=False, description="one JSON object per log line")
