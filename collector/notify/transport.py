"""One HTTP attempt to one target, and what its answer means: sent, try again, or give up.

- Connection errors, timeouts, HTTP 5xx and 429 are worth another try.
- Other HTTP 4xx are not (wrong URL, bad request): retrying cannot help.
- WeCom and DingTalk robots answer HTTP 200 with `{"errcode": 0, "errmsg": "ok"}`;
  a non-zero errcode is a failure. 45009 (WeCom) and 130101 (DingTalk) mean "sending
  too fast" and -1 "system busy": try again later; any other errcode is permanent
  (invalid key/token 93000/300001, bad signature 310000, keyword missing...).
- DingTalk 加签: `timestamp` (ms) and `sign` = base64(HMAC-SHA256(key=secret,
  msg="{timestamp}\\n{secret}")) added as query parameters (URL-encoded).
"""

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx

from collector.notify.targets import Target

RATE_LIMITED_ERRCODES = frozenset({45009, 130101})
BUSY_ERRCODES = frozenset({-1})

Outcome = Literal["sent", "retry", "fail"]


@dataclass(frozen=True, slots=True)
class Attempt:
    outcome: Outcome
    reason: str  # for logs: "ok", "timeout", "http 503", "errcode 45009: ..."
    retry_after_s: float | None = None  # the server's Retry-After, if any
    rate_limited: bool = False  # 429 or a robot's "too fast" errcode


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """The DingTalk robot signature (base64; URL-encoding is left to the URL builder)."""
    digest = hmac.new(
        secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def request_url(target: Target, wall_ms: int | None = None) -> httpx.URL:
    """The target's URL; for a signing DingTalk robot with `timestamp` and `sign` added
    to the query it already has (`access_token`)."""
    url = httpx.URL(str(target.url))
    if target.type == "dingtalk" and target.secret is not None:
        ts = wall_ms if wall_ms is not None else time.time_ns() // 1_000_000
        sign = dingtalk_sign(target.secret.get_secret_value(), ts)
        url = url.copy_merge_params({"timestamp": str(ts), "sign": sign})
    return url


def post(client: httpx.Client, target: Target, body: dict[str, Any]) -> Attempt:
    """POST `body` as JSON to the target once and classify the result. Never raises
    for network trouble."""
    content = json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8", **target.headers}
    try:
        response = client.post(request_url(target), content=content, headers=headers)
    except httpx.TimeoutException as exc:
        return Attempt("retry", f"timeout ({type(exc).__name__})")
    except httpx.TransportError as exc:
        return Attempt("retry", f"connection: {type(exc).__name__}: {str(exc)[:120]}")
    return classify(target.type, response)


def classify(target_type: str, response: httpx.Response) -> Attempt:
    status = response.status_code
    if status == 429:
        return Attempt("retry", "http 429", _retry_after(response), rate_limited=True)
    if status >= 500:
        return Attempt("retry", f"http {status}", _retry_after(response))
    if not 200 <= status < 300:
        return Attempt("fail", f"http {status}: {response.text[:200]}")
    if target_type == "generic":
        return Attempt("sent", f"http {status}")
    return _robot_answer(response)


def _robot_answer(response: httpx.Response) -> Attempt:
    try:
        answer = response.json()
        errcode = int(answer["errcode"])
    except (ValueError, KeyError, TypeError):
        return Attempt("fail", f"not a robot answer: {response.text[:200]!r}")
    if errcode == 0:
        return Attempt("sent", "ok")
    reason = f"errcode {errcode}: {str(answer.get('errmsg', ''))[:200]}"
    if errcode in RATE_LIMITED_ERRCODES:
        return Attempt("retry", reason, rate_limited=True)
    if errcode in BUSY_ERRCODES:
        return Attempt("retry", reason)
    return Attempt("fail", reason)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
