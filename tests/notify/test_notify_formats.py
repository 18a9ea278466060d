"""Message bodies, read the way a crew member's phone shows them: severity first, what
(Chinese, then English), which station and device, the value, when (Beijing time),
who resolved it and why; WeCom content within 4096 bytes."""

from zoneinfo import ZoneInfo

from notify_support import AT_MS, note

from collector.notify import Event, Notification
from collector.notify.formats import (
    MAX_BYTES,
    cut_utf8,
    dingtalk_body,
    format_value,
    generic_body,
    local_time,
    wecom_body,
)
from warmnet.severity import Severity

TZ = ZoneInfo("Asia/Shanghai")


def test_wecom_fire_says_what_where_and_when_chinese_first() -> None:
    body = wecom_body(note(), TZ)
    assert body["msgtype"] == "markdown" and set(body) == {"msgtype", "markdown"}
    content = body["markdown"]["content"]
    lines = content.split("\n")
    assert lines[0].startswith('<font color="warning">**🔴【严重】告警**</font>')
    assert "CRITICAL · FIRING" in lines[0]
    assert lines[1] == "**充电插座过热（已请求断电）**"
    assert lines[2] == "Charging socket overheating (power cut requested)"
    assert "> 驿站：吴门桥骑手暖心驿站（wmq-01）" in lines
    assert "> 设备 Device：outlet-03" in lines
    assert "> 数值 Value：72.46" in lines
    assert "> 时间 Time：2026-01-01 08:00:00 +08" in lines
    assert "> 详情 Detail：temp_c 72.5 ≥ 60 for 30 s" in lines
    forged = wecom_body(note(detail='<font color="info">ok</font> level < 10'), TZ)
    assert '＜font color="info">ok＜/font> level ＜ 10' in forged["markdown"]["content"]
    assert content.index("吴门桥") < content.index("Wumen Bridge")
    assert "outlet-socket-overheat:wmq-01/outlet-03@" in lines[-1]


def test_wecom_colours_by_event_and_severity() -> None:
    def colour(n: Notification) -> str:
        content: str = wecom_body(n, TZ)["markdown"]["content"]
        return content.split('"')[1]

    assert colour(note(severity=Severity.MINOR)) == "warning"
    assert colour(note(severity=Severity.INFO)) == "comment"
    assert colour(note(Event.RESOLVED)) == "info"
    assert colour(note(Event.ACKNOWLEDGED, who="张师傅")) == "comment"


def test_resolves_say_who_and_why_or_that_it_cleared_itself() -> None:
    by_hand = wecom_body(note(Event.RESOLVED, who="张师傅", note="更换插座 replaced socket"), TZ)
    content = by_hand["markdown"]["content"]
    assert content.startswith(
        '<font color="info">**✅【严重】告警已恢复**</font> CRITICAL · RESOLVED'
    )
    assert "> 处理人 By：张师傅" in content
    assert "> 备注 Note：更换插座 replaced socket" in content
    auto = wecom_body(note(Event.RESOLVED), TZ)["markdown"]["content"]
    assert "> 处理 By：自动恢复 cleared by itself" in auto


def test_station_alerts_and_missing_values() -> None:
    content = wecom_body(note(device=None, value=None), TZ)["markdown"]["content"]
    assert "> 设备 Device：整站 whole station" in content
    assert "数值" not in content


def test_coalesced_updates_are_counted_in_the_message() -> None:
    content = wecom_body(note(Event.UPDATED, repeats=4), TZ)["markdown"]["content"]
    assert "告警更新" in content and "STILL FIRING" in content
    assert "期间另有 4 次更新" in content


def test_wecom_content_stays_within_4096_bytes_and_keeps_the_facts() -> None:
    long = note(
        Event.RESOLVED, who="张" * 500, note="插座烧焦，" * 2000, detail="很长的说明" * 2000
    )
    content = wecom_body(long, TZ)["markdown"]["content"]
    size = len(content.encode("utf-8"))
    assert MAX_BYTES - 200 < size <= MAX_BYTES
    content.encode("utf-8").decode("utf-8")  # never cut mid-character
    for fact in (
        "告警已恢复",
        "充电插座过热",
        "吴门桥骑手暖心驿站（wmq-01）",
        "outlet-03",
        "08:00:00",
    ):
        assert fact in content
    assert "> 备注 Note：插座烧焦" in content and "> 详情 Detail：很长的说明" in content
    assert content.endswith("</font>"), "the footer survives: only note and detail shrink"


def test_dingtalk_markdown_title_and_text() -> None:
    body = dingtalk_body(note(Event.REOPENED, severity=Severity.MAJOR), TZ)
    assert body["msgtype"] == "markdown"
    md = body["markdown"]
    assert md["title"] == "🟠【重要】告警再次触发 充电插座过热（已请求断电） · 吴门桥骑手暖心驿站"
    blocks = md["text"].split("\n\n")
    assert blocks[0] == "### 🟠【重要】告警再次触发 MAJOR · REOPENED"
    assert blocks[1] == "**充电插座过热（已请求断电）**"
    assert "- **驿站**：吴门桥骑手暖心驿站（wmq-01）" in blocks
    assert "- **时间 Time**：2026-01-01 08:00:00 +08" in blocks
    assert "告警" in md["text"], "DingTalk keyword robots: every message carries 告警"
    huge = dingtalk_body(note(detail="细节" * 5000), TZ)["markdown"]["text"]
    assert len(huge.encode()) <= MAX_BYTES


def test_generic_json_has_every_field() -> None:
    body = generic_body(note(Event.ACKNOWLEDGED, who="li", note="on my way"), TZ)
    assert body["source"] == "warmnet" and body["version"] == 1
    assert body["event"] == "acknowledged" and body["severity"] == "critical"
    assert body["station"] == "wmq-01" and body["device"] == "outlet-03"
    assert body["station_name_zh"] == "吴门桥骑手暖心驿站" and body["area"] == "panmen"
    assert body["title_zh"] == "充电插座过热（已请求断电）"
    assert body["at_ms"] == AT_MS and body["at"] == "2026-01-01T08:00:00.000+08:00"
    assert body["who"] == "li" and body["note"] == "on my way"
    assert body["value"] == 72.456 and body["silenced"] is False


def test_helpers() -> None:
    assert cut_utf8("驿站驿站", 9) == "驿站驿站"[:2] + "…"
    assert cut_utf8("abc", 2) == ""
    assert format_value(True) == "是 yes" and format_value(3) == "3"
    assert format_value(71.0) == "71" and format_value("E07") == "E07"
    assert local_time(AT_MS, ZoneInfo("Asia/Kolkata")) == "2026-01-01 05:30:00 +05:30"
