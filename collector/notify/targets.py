"""Notification targets are data: a YAML file (see `targets.example.yaml`, commented)
loaded and validated here. Errors name the target and the field at fault.

Placeholder URLs and secrets (the example's `REPLACE-ME`, `example.com` hosts...) are
refused unless the loader is told it runs a demo; in a demo such targets are kept
but only render and log what they would send (`Target.dry_run`).
"""

import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AnyUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    UrlConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from collector.notify.model import Event, Notification
from warmnet.explain import explain
from warmnet.severity import Severity

WebhookUrl = Annotated[AnyUrl, UrlConstraints(allowed_schemes=["http", "https"])]
TargetType = Literal["generic", "wecom", "dingtalk"]
EventName = Literal["fire", "update", "acknowledge", "resolve", "reopen"]

EVENTS: dict[EventName, Event] = {
    "fire": Event.FIRED,
    "update": Event.UPDATED,
    "acknowledge": Event.ACKNOWLEDGED,
    "resolve": Event.RESOLVED,
    "reopen": Event.REOPENED,
}
# WeCom allows 20 messages a minute per robot; DingTalk documents the same.
DEFAULT_RATE_PER_MIN: dict[str, int] = {"wecom": 20, "dingtalk": 20, "generic": 600}

_PLACEHOLDER_TEXT = re.compile(r"replace|change-?me|your[-_]|x{6,}|<[^>]*>", re.IGNORECASE)
_PLACEHOLDER_HOSTS = ("example.com", "example.org", "example.net")
_PLACEHOLDER_TLDS = (".example", ".invalid", ".test")


def is_placeholder_url(url: str) -> bool:
    host = (AnyUrl(url).host or "").lower().rstrip(".")
    return (
        bool(_PLACEHOLDER_TEXT.search(url))
        or host in _PLACEHOLDER_HOSTS
        or host.endswith(tuple("." + h for h in _PLACEHOLDER_HOSTS) + _PLACEHOLDER_TLDS)
    )


def _demo(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("demo"))


class TargetsError(ValueError):
    """The targets file is unreadable or invalid; the message names target and field."""


class RetryPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(default=5, ge=1, le=20, description="attempts per message")
    base_delay_s: float = Field(default=1.0, gt=0, le=600, description="first backoff")
    max_delay_s: float = Field(default=60.0, gt=0, le=3600, description="backoff cap")
    rate_limited_delay_s: float = Field(
        default=20.0, ge=0, le=3600, description="least wait after a robot says 'too fast'"
    )


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,47}$")
    type: TargetType
    url: WebhookUrl
    secret: SecretStr | None = Field(default=None, description="DingTalk 加签 secret (SEC...)")
    headers: dict[str, str] = Field(default_factory=dict, description="generic only")
    min_severity: Severity | None = None
    severities: tuple[Severity, ...] | None = None
    areas: tuple[str, ...] = Field(default=(), description="empty: every area")
    events: tuple[EventName, ...] = ("fire", "resolve", "reopen")
    rate_per_min: int | None = Field(default=None, ge=1, le=6000, description="default by type")
    enabled: bool = True
    dry_run: bool = Field(default=False, description="set for placeholder targets in a demo")

    @model_validator(mode="before")
    @classmethod
    def _demo_placeholders(cls, data: Any, info: ValidationInfo) -> Any:
        """In a demo, a placeholder target is kept as a dry run (renders and logs)."""
        if isinstance(data, dict) and _demo(info):
            url, secret = data.get("url"), data.get("secret")
            try:
                placeholder = isinstance(url, str) and is_placeholder_url(url)
            except ValueError:
                placeholder = False  # not a URL: the field check says so
            texts = [secret, *(data.get("headers") or {}).values()]
            if any(isinstance(t, str) and _PLACEHOLDER_TEXT.search(t) for t in texts):
                placeholder = True
            if placeholder:
                data = {**data, "dry_run": True}
        return data

    @field_validator("url")
    @classmethod
    def _url(cls, url: AnyUrl, info: ValidationInfo) -> AnyUrl:
        if is_placeholder_url(str(url)) and not _demo(info):
            raise ValueError(
                "placeholder URL: paste the robot's real webhook address (placeholders are "
                "only accepted in the demo)"
            )
        return url

    @field_validator("secret")
    @classmethod
    def _secret(cls, secret: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        placeholder = secret is not None and _PLACEHOLDER_TEXT.search(secret.get_secret_value())
        if placeholder and not _demo(info):
            raise ValueError("placeholder secret: paste the robot's real signing secret")
        return secret

    @field_validator("headers")
    @classmethod
    def _headers(cls, headers: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        for key, value in headers.items():
            if _PLACEHOLDER_TEXT.search(value) and not _demo(info):
                raise ValueError(f"{key}: placeholder value: paste the real one")
        return headers

    @model_validator(mode="after")
    def _consistent(self) -> "Target":
        if self.secret is not None and self.type != "dingtalk":
            raise ValueError("secret: only DingTalk robots sign requests")
        if self.headers and self.type != "generic":
            raise ValueError("headers: only for generic targets")
        if self.type == "wecom" and "key=" not in (self.url.query or ""):
            raise ValueError("url: a WeCom robot URL ends in /cgi-bin/webhook/send?key=...")
        if self.type == "dingtalk" and "access_token=" not in (self.url.query or ""):
            raise ValueError("url: a DingTalk robot URL ends in /robot/send?access_token=...")
        if self.min_severity is not None and self.severities is not None:
            raise ValueError("give min_severity or severities, not both")
        if not self.events:
            raise ValueError("events: empty; list at least one (or set enabled: false)")
        return self

    @property
    def rate_limit_per_min(self) -> int:
        return self.rate_per_min or DEFAULT_RATE_PER_MIN[self.type]

    @cached_property
    def event_set(self) -> frozenset[Event]:
        return frozenset(EVENTS[e] for e in self.events)

    def selects(self, n: Notification) -> bool:
        """Does this target want this notification (event, severity, area)?"""
        if n.event not in self.event_set:
            return False
        if self.severities is not None and n.severity not in self.severities:
            return False
        if self.min_severity is not None and n.severity.rank > self.min_severity.rank:
            return False
        return not self.areas or n.area in self.areas


class NotifyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    update_interval_s: float = Field(
        default=300, ge=0, le=86_400, description="per subject, at most one `update` this often"
    )
    queue_size: int = Field(default=1000, ge=1, le=1_000_000, description="per target")
    timeout_s: float = Field(default=5.0, gt=0, le=120, description="per HTTP request")
    retry: RetryPolicy = RetryPolicy()
    targets: tuple[Target, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> "NotifyConfig":
        seen: set[str] = set()
        for t in self.targets:
            if t.name in seen:
                raise ValueError(f"duplicate target name {t.name!r}")
            seen.add(t.name)
        return self

    @property
    def enabled_targets(self) -> tuple[Target, ...]:
        return tuple(t for t in self.targets if t.enabled)


def load_targets(path: str | Path, *, demo: bool = False) -> NotifyConfig:
    """Load and validate a targets file. `demo`: accept placeholders (as dry runs)."""
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TargetsError(f"{where}: cannot read targets (UTF-8 YAML): {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TargetsError(f"{where}: not valid YAML: {exc}") from None
    return parse_targets(data, where, demo=demo)


def parse_targets(data: Any, where: str = "targets", *, demo: bool = False) -> NotifyConfig:
    """Validate targets one by one so that every message names its target."""
    if data is None:
        data = {}
    if not isinstance(data, dict) or not isinstance(data.get("targets", []), list):
        raise TargetsError(f"{where}: expected a mapping with a 'targets' list")
    context = {"demo": demo}
    problems: list[str] = []
    targets: list[Target] = []
    for i, raw in enumerate(data.get("targets") or []):
        name = f"target {raw.get('name')!r} (targets[{i}])" if isinstance(raw, dict) else f"[{i}]"
        try:
            targets.append(Target.model_validate(raw, context=context))
        except ValidationError as exc:
            problems += [f"  {name}: {line}" for line in explain(exc, limit=100)]
    if problems:
        raise TargetsError(f"{where}: invalid targets:\n" + "\n".join(problems[:30]))
    try:
        return NotifyConfig.model_validate({**data, "targets": targets}, context=context)
    except ValidationError as exc:
        lines = "\n".join(f"  {line}" for line in explain(exc, limit=100))
        raise TargetsError(f"{where}: invalid targets file:\n{lines}") from None
