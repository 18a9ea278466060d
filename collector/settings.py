"""Collector settings (env prefix WARMNET_). Build with `load_collector_settings()`."""

from pathlib import Path

from pydantic import Field, SecretStr

from warmnet.settings import CommonSettings, HttpUrl


class CollectorSettings(CommonSettings):
    influx_url: HttpUrl | None = Field(
        default=None,
        description="InfluxDB base URL (v1-compatible API). Unset: embedded SQLite store",
    )
    influx_db: str = Field(
        default="warmnet", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="database / bucket"
    )
    influx_user: str | None = None
    influx_password: SecretStr | None = Field(default=None, description="password or token")
    influx_timeout_s: float = Field(default=10.0, gt=0)

    data_dir: Path = Field(
        default=Path("var"), description="SQLite time series (embedded mode) and dead letters"
    )
    client_id: str = Field(
        default="warmnet-collector",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="stable MQTT client id: the broker keeps this session's queue while away",
    )
    batch_max_points: int = Field(default=5000, ge=1, description="flush at this many points")
    batch_max_age_s: float = Field(default=0.2, gt=0, description="or when the oldest is this old")
    queue_max: int = Field(
        default=20000,
        ge=100,
        description="messages between MQTT and writer; full: backpressure",
    )
    freshness_s: float = Field(
        default=120.0, gt=0, description="data older than this no longer counts as current"
    )
    availability_interval_s: float = Field(
        default=1.0, gt=0, description="how often changed stations' availability is published"
    )


def load_collector_settings() -> CollectorSettings:
    return CollectorSettings()
