"""Settings of the API process (env prefix `WARMNET_`), built by `load_api_settings()`."""

import secrets
from pathlib import Path

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator

from alertstore import DEFAULT_ALERT_DB
from api.auth import TokenTable, build_table
from warmnet.settings import CommonSettings, HttpUrl


def _random_client_id() -> str:
    # Each replica needs its own MQTT client id: a duplicate id makes the broker kick
    # the other replica off. 20 chars keeps within MQTT 3.1.1's recommended 23.
    return f"warmnet-api-{secrets.token_hex(4)}"


class ApiSettings(CommonSettings):
    """What the API process needs on top of the common settings."""

    api_host: str = Field(default="127.0.0.1", description="interface to listen on")
    api_port: int = Field(default=8000, ge=1, le=65535, description="TCP port to listen on")
    api_client_id: str = Field(
        default_factory=_random_client_id,
        min_length=1,
        max_length=64,
        description="MQTT client id; random per replica unless set",
    )
    freshness_s: float = Field(
        default=120.0,
        gt=0,
        description="a summary whose updated_at is older than this is reported stale "
        "(the collector may have died)",
    )
    # -- crews (api/README.md: "Crew API")
    alert_db: Path = Field(
        default=DEFAULT_ALERT_DB, description="alert store (SQLite), shared with the collector"
    )
    api_tokens: str | None = Field(
        default=None,
        description="API tokens: name:role:sha256-hex entries, comma or newline separated",
    )
    api_tokens_file: Path | None = Field(
        default=None, description="file of name:role:sha256-hex lines (# comments)"
    )
    demo_mode: bool = Field(
        default=False,
        description="allow placeholder tokens; with no tokens configured, use demo-crew and "
        "demo-operator",
    )
    report_limit: int = Field(
        default=5, ge=1, le=1000, description="rider reports per client per report_window_s"
    )
    report_ip_limit: int | None = Field(
        default=30,
        ge=1,
        description="rider reports per IP address per window (riders behind one carrier NAT "
        "share an address); empty: no per-address limit",
    )
    report_window_s: float = Field(default=600, gt=0, le=86_400, description="rate-limit window")
    client_key_salt: SecretStr | None = Field(
        default=None,
        description="secret for hashing client IPs/ids; unset: random per process (set it when "
        "running several replicas)",
    )
    # -- recent telemetry in alert details: InfluxDB (as the collector), else its SQLite
    influx_url: HttpUrl | None = Field(
        default=None, description="InfluxDB base URL; unset: the collector's SQLite in data_dir"
    )
    influx_db: str = Field(default="warmnet", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    influx_user: str | None = None
    influx_password: SecretStr | None = Field(default=None, description="password or token")
    influx_timeout_s: float = Field(default=5.0, gt=0, description="per telemetry query")
    data_dir: Path = Field(
        default=Path("var"), description="the collector's data dir (timeseries.sqlite)"
    )

    _tokens: TokenTable = PrivateAttr(default_factory=TokenTable)

    @field_validator("report_ip_limit", mode="before")
    @classmethod
    def _no_ip_limit(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("", "off", "none"):
            return None
        return value

    @model_validator(mode="after")
    def _load_tokens(self) -> "ApiSettings":
        # Parsed here so that a bad entry or a placeholder fails at start-up.
        self._tokens = build_table(self.api_tokens, self.api_tokens_file, demo_mode=self.demo_mode)
        return self

    @property
    def tokens(self) -> TokenTable:
        return self._tokens

    @property
    def timeseries_sqlite(self) -> Path:
        return self.data_dir / "timeseries.sqlite"


def load_api_settings() -> ApiSettings:
    """Read the API settings from the environment (`WARMNET_API_PORT`, ...)."""
    return ApiSettings()
