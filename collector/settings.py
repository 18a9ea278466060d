"""Collector settings (env prefix WARMNET_). Build with `load_collector_settings()`."""

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

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
        default=10000,
        ge=100,
        description="messages between MQTT and writer; full: backpressure",
    )
    freshness_s: float = Field(
        default=120.0, gt=0, description="data older than this no longer counts as current"
    )
    spill_max_bytes: int = Field(
        default=1 << 30,
        ge=1 << 20,
        description="disk budget of the spill queue (batches kept while the store is down); "
        "when full the collector stops acknowledging and the broker holds the messages",
    )
    shutdown_timeout_s: float = Field(
        default=15.0, gt=0, description="on SIGTERM, how long to try storing what we hold"
    )
    stations: str | None = Field(
        default=None,
        description="shard by explicit list: comma-separated station ids this collector owns",
    )
    shard_count: int = Field(default=1, ge=1, description="shard by hash: number of collectors")
    shard_index: int = Field(default=0, ge=0, description="shard by hash: this collector's index")
    alerts_enabled: bool = Field(default=True, description="run the alert engine")
    alert_db: Path = Field(
        default=Path("var/alerts.sqlite"),
        description="the alert store shared with the API (SQLite, WAL)",
    )
    notify_targets: Path | None = Field(
        default=None, description="webhook targets YAML (see collector/notify); unset: none"
    )
    demo_mode: bool = Field(
        default=False, description="demo: placeholder webhook targets only log their messages"
    )
    rules: Path | None = Field(
        default=None, description="alert rules YAML; default: the bundled collector/rules.yaml"
    )
    availability_interval_s: float = Field(
        default=0.05,
        gt=0,
        description="how often stations whose availability changed as riders see it are "
        "published (the delay a visible change may wait)",
    )
    availability_refresh_s: float = Field(
        default=10.0,
        gt=0,
        description="every station's availability is recomputed once per this period (spread "
        "over it) and republished if anything changed (also times only) or to keep it fresh",
    )
    # -- self-metrics (collector/metrics/http.py, collector/metrics/series.py)
    metrics_port: int | None = Field(
        default=9108,
        ge=0,
        le=65535,
        description="Prometheus /metrics port; 0: any free port; empty, 'off' or 'none': no "
        "endpoint",
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="address /metrics listens on (0.0.0.0: all)"
    )
    self_metrics_interval_s: float = Field(
        default=10.0, gt=0, description="how often the `collector` measurement is written"
    )

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _metrics_off(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("", "off", "none"):
            return None
        return value

    @model_validator(mode="after")
    def _shards(self) -> "CollectorSettings":
        if self.shard_index >= self.shard_count:
            raise ValueError(f"shard_index {self.shard_index} must be < shard_count")
        if self.stations is not None and self.shard_count > 1:
            raise ValueError("shard either by an explicit station list or by hash, not both")
        return self

    @property
    def session_client_id(self) -> str:
        """The MQTT client id: one persistent session per shard."""
        if self.shard_count > 1:
            return f"{self.client_id}-{self.shard_index}of{self.shard_count}"
        return self.client_id


def load_collector_settings() -> CollectorSettings:
    return CollectorSettings()
