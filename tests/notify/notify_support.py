"""A real local webhook receiver for the notifier tests, and notification factories.

`Receiver` is a threaded `http.server` on a free loopback port. It records every
request and answers like a WeCom/DingTalk robot (`{"errcode": 0, "errmsg": "ok"}`),
or, for the next N requests, with a fault: HTTP 500 / 429 / 404, a robot errcode, or
no answer at all (hang until the receiver is closed). With a DingTalk secret set it
checks the 加签 signature like DingTalk does (errcode 310000 when it does not match).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from collector.notify import Event, Notification, NotifyConfig, parse_targets
from warmnet.severity import Severity

# 2026-01-01 00:00:00 UTC = 08:00:00 in Asia/Shanghai
AT_MS = 1_767_225_600_000


@dataclass
class Request:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    answer: str  # "ok" or the fault it got

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class _Fault:
    mode: str  # "500" | "429" | "404" | "hang" | "errcode:45009" | "html"
    remaining: int


@dataclass
class Receiver:
    dingtalk_secret: str | None = None
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else ~40 ms per answer (Nagle + delayed ACK)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                receiver._handle(self, body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/hook", query: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}" + (f"?{query}" if query else "")

    def fail_next(self, n: int, mode: str) -> None:
        """Answer the next `n` requests with `mode` instead of success."""
        with self._lock:
            self._faults.append(_Fault(mode, n))

    def count(self, answer: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if answer is None or r.answer == answer)

    def ok(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.answer == "ok"]

    def _fault(self) -> str | None:
        with self._lock:
            while self._faults and self._faults[0].remaining <= 0:
                self._faults.pop(0)
            if not self._faults:
                return None
            self._faults[0].remaining -= 1
            return self._faults[0].mode

    def _check_sign(self, query: dict[str, str]) -> bool:
        if self.dingtalk_secret is None:
            return True
        ts, sign = query.get("timestamp"), query.get("sign")
        if ts is None or sign is None:
            return False
        mac = hmac.new(
            self.dingtalk_secret.encode(), f"{ts}\n{self.dingtalk_secret}".encode(), hashlib.sha256
        )
        return hmac.compare_digest(base64.b64encode(mac.digest()).decode(), sign)

    def _handle(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        split = urlsplit(h.path)
        query = {k: v[0] for k, v in parse_qs(split.query).items()}
        fault = self._fault()
        answer = fault or ("ok" if self._check_sign(query) else "bad-sign")
        with self._lock:
            self.requests.append(Request(split.path, query, dict(h.headers), body, answer))
        if answer == "hang":
            self._release.wait(60)
            return
        status, payload, headers = 200, {"errcode": 0, "errmsg": "ok"}, {}
        if answer in ("500", "404"):
            status, payload = int(answer), {"error": answer}
        elif answer == "429":
            status, payload, headers = 429, {"error": "slow down"}, {"Retry-After": "0"}
        elif answer.startswith("errcode:"):
            payload = {"errcode": int(answer.split(":")[1]), "errmsg": "simulated"}
        elif answer == "bad-sign":
            payload = {"errcode": 310000, "errmsg": "sign not match"}
        raw = b"<html>proxy</html>" if answer == "html" else json.dumps(payload).encode()
        try:
            h.send_response(status)
            for k, v in headers.items():
                h.send_header(k, v)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(raw)))
            h.end_headers()
            h.wfile.write(raw)
        except OSError:
            pass

    def close(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()


def note(
    event: Event = Event.FIRED,
    *,
    severity: Severity = Severity.CRITICAL,
    alert_id: str | None = None,
    rule: str = "outlet-socket-overheat",
    station: str = "wmq-01",
    device: str | None = "outlet-03",
    area: str = "panmen",
    at_ms: int = AT_MS,
    **kw: Any,
) -> Notification:
    """A realistic notification; keyword arguments override any field."""
    fields: dict[str, Any] = {
        "event": event,
        "alert_id": alert_id or f"{rule}:{station}/{device or '*'}@{AT_MS}",
        "rule": rule,
        "severity": severity,
        "station": station,
        "station_name_zh": "吴门桥骑手暖心驿站",
        "station_name_en": "Wumen Bridge Rider Warm Station",
        "area": area,
        "device": device,
        "title_zh": "充电插座过热（已请求断电）",
        "title_en": "Charging socket overheating (power cut requested)",
        "at_ms": at_ms,
        "value": 72.456,
        "detail": "temp_c 72.5 >= 60 for 30 s",
    }
    fields.update(kw)
    return Notification(**fields)


FAST_RETRY = {
    "max_attempts": 3,
    "base_delay_s": 0.01,
    "max_delay_s": 0.05,
    "rate_limited_delay_s": 0.02,
}


def config(*targets: dict[str, Any], **top: Any) -> NotifyConfig:
    """A validated config with fast retries (tests wait milliseconds, not minutes)."""
    data: dict[str, Any] = {"timeout_s": 2, "retry": FAST_RETRY, **top, "targets": list(targets)}
    return parse_targets(data, "test")
