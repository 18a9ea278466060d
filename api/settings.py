"""Settings of the API process (env prefix `WARMNET_`), built by `load_api_settings()`."""

import secrets

from pydantic import Field

from warmnet.settings import CommonSettings


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


def load_api_settings() -> ApiSettings:
    """Read the API settings from the environment (`WARMNET_API_PORT`, ...)."""
    return ApiSettings()
