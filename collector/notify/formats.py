"""Message bodies: generic JSON, WeCom group robot markdown, DingTalk robot markdown.

The robot messages are for a crew member woken at night: the first lines say how
bad (severity), what (Chinese, then English), where (station name and id, device),
the value and when (local time); resolves and acknowledgements say who and why.
WeCom content is capped at 4096 bytes of UTF-8 (the robot's limit); DingTalk text
gets the same cap (phones show the start only). Crew notes and engine details are
shortened first; the facts above always fit.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from collector.notify.model import Event, Notification, Value
from warmnet.severity import Severity

MAX_BYTES = 4096  # WeCom markdown.content limit, UTF-8 bytes

SEVERITY_ZH = {
    Severity.CRITICAL: "严重",
    Severity.MAJOR: "重要",
    Severity.MINOR: "次要",
    Severity.WARNING: "警告",
    Severity.INFO: "提示",
}
SEVERITY_ICON = {
    Severity.CRITICAL: "🔴",
    Severity.MAJOR: "🟠",
    Severity.MINOR: "🟡",
    Severity.WARNING: "🟡",
    Severity.INFO: "🔵",
}
EVENT_ZH = {
    Event.FIRED: "告警",
    Event.UPDATED: "告警更新",
    Event.ACKNOWLEDGED: "告警已确认",
    Event.RESOLVED: "告警已恢复",
    Event.REOPENED: "告警再次触发",
}
EVENT_EN = {
    Event.FIRED: "FIRING",
    Event.UPDATED: "STILL FIRING",
    Event.ACKNOWLEDGED: "ACKNOWLEDGED",
    Event.RESOLVED: "RESOLVED",
    Event.REOPENED: "REOPENED",
}

_SPACE = re.compile(r"\s+")


def clean(text: str, max_chars: int = 2000) -> str:
    """One line, no markup of ours can be forged (`<font>`), at most `max_chars`."""
    text = _SPACE.sub(" ", text).strip().replace("<=", "≤").replace(">=", "≥")
    text = text.replace("<", "＜")  # a `<font ...>` in a note must not become ours
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def cut_utf8(text: str, max_bytes: int) -> str:
    """`text` shortened (with "…") to at most `max_bytes` of UTF-8, never mid-character."""
    raw = text.encode("utf-8")
    if len(raw) <= max_bytes:
        return text
    if max_bytes < 3:
        return ""
    return raw[: max_bytes - 3].decode("utf-8", errors="ignore") + "…"


def format_value(value: Value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "是 yes" if value else "否 no"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return clean(str(value), 200)


def local_time(at_ms: int, tz: ZoneInfo) -> str:
    """`2026-01-01 08:00:00 +08` in the fleet's time zone."""
    t = datetime.fromtimestamp(at_ms / 1000, tz=tz)
    offset = t.strftime("%z")  # +0800
    short = offset[:3] if offset.endswith("00") else f"{offset[:3]}:{offset[3:]}"
    return t.strftime("%Y-%m-%d %H:%M:%S ") + short


@dataclass(frozen=True, slots=True)
class Card:
    """The facts of one message, in reading order, before any markup."""

    headline_zh: str  # 🔴【严重】告警
    headline_en: str  # CRITICAL · FIRING
    title_zh: str
    title_en: str
    rows: tuple[tuple[str, str], ...]  # (label, text)
    footer: str


def card(n: Notification, tz: ZoneInfo, detail: str, note: str) -> Card:
    icon = "✅" if n.event is Event.RESOLVED else SEVERITY_ICON[n.severity]
    rows: list[tuple[str, str]] = [
        ("驿站", f"{clean(n.station_name_zh, 64)}（{n.station}）"),
        ("Station", f"{clean(n.station_name_en, 128)} · 片区 area {n.area}"),
        ("设备 Device", n.device or "整站 whole station"),
    ]
    if (value := format_value(n.value)) is not None:
        rows.append(("数值 Value", value))
    rows.append(("时间 Time", local_time(n.at_ms, tz)))
    if n.event is Event.RESOLVED and n.who is None:
        rows.append(("处理 By", "自动恢复 cleared by itself"))
    elif n.who is not None:
        rows.append(("处理人 By", clean(n.who, 64)))
    if note:
        rows.append(("备注 Note", note))
    if detail:
        rows.append(("详情 Detail", detail))
    if n.repeats:
        rows.append(("合并 Coalesced", f"期间另有 {n.repeats} 次更新 {n.repeats} more updates"))
    return Card(
        headline_zh=f"{icon}【{SEVERITY_ZH[n.severity]}】{EVENT_ZH[n.event]}",
        headline_en=f"{n.severity.value.upper()} · {EVENT_EN[n.event]}",
        title_zh=clean(n.title_zh, 80),
        title_en=clean(n.title_en, 160),
        rows=tuple(rows),
        footer=f"warmnet · {clean(n.alert_id, 200)}",
    )


def _fitted(n: Notification, tz: ZoneInfo, render: Callable[[Card], str]) -> str:
    """Render; if over MAX_BYTES, shorten the crew note and the detail to what fits."""
    detail, note = clean(n.detail), clean(n.note or "")
    text = render(card(n, tz, detail, note))
    if len(text.encode()) <= MAX_BYTES:
        return text
    base = len(render(card(n, tz, "", "")).encode())
    budget = max(0, MAX_BYTES - base - 96)  # 96: the two rows' labels and markup
    note = cut_utf8(note, budget // 2 if detail else budget)
    detail = cut_utf8(detail, budget - len(note.encode()))
    return cut_utf8(render(card(n, tz, detail, note)), MAX_BYTES)


def wecom_colour(n: Notification) -> str:
    """WeCom markdown has three colours: warning (orange), info (green), comment (grey)."""
    if n.event is Event.RESOLVED:
        return "info"
    if n.event is Event.ACKNOWLEDGED or n.severity is Severity.INFO:
        return "comment"
    return "warning"


def wecom_body(n: Notification, tz: ZoneInfo) -> dict[str, Any]:
    colour = wecom_colour(n)

    def render(c: Card) -> str:
        lines = [
            f'<font color="{colour}">**{c.headline_zh}**</font> {c.headline_en}',
            f"**{c.title_zh}**",
            c.title_en,
            *(f"> {label}：{text}" for label, text in c.rows),
            f'<font color="comment">{c.footer}</font>',
        ]
        return "\n".join(lines)

    return {"msgtype": "markdown", "markdown": {"content": _fitted(n, tz, render)}}


def dingtalk_body(n: Notification, tz: ZoneInfo) -> dict[str, Any]:
    c = card(n, tz, "", "")
    # The title is what the chat list and the phone's notification banner show.
    title = cut_utf8(f"{c.headline_zh} {c.title_zh} · {clean(n.station_name_zh, 64)}", 256)

    def render(c: Card) -> str:
        blocks = [
            f"### {c.headline_zh} {c.headline_en}",
            f"**{c.title_zh}**",
            c.title_en,
            *(f"- **{label}**：{text}" for label, text in c.rows),
            f"###### {c.footer}",
        ]
        return "\n\n".join(blocks)  # DingTalk needs blank lines for line breaks

    return {"msgtype": "markdown", "markdown": {"title": title, "text": _fitted(n, tz, render)}}


def generic_body(n: Notification, tz: ZoneInfo) -> dict[str, Any]:
    """The notification's fields as JSON, plus `at` (ISO 8601, local time with offset)."""
    at = datetime.fromtimestamp(n.at_ms / 1000, tz=tz).isoformat(timespec="milliseconds")
    return {"source": "warmnet", "version": 1, **n.to_json(), "at": at}


RENDERERS: dict[str, Callable[[Notification, ZoneInfo], dict[str, Any]]] = {
    "generic": generic_body,
    "wecom": wecom_body,
    "dingtalk": dingtalk_body,
}


def render(target_type: str, n: Notification, tz: ZoneInfo) -> dict[str, Any]:
    return RENDERERS[target_type](n, tz)
