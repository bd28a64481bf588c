"""A fake SendGrid + Postmark server on 127.0.0.1 for the adapter tests and the checks bench
(`commlog.bench.checks`). Never used by the app itself.

Real loopback HTTP (a threaded `http.server`, HTTP/1.1 keep-alive), so the adapters' httpx client,
timeouts, retries and rate limiter run for real. It serves what tests put in its dicts, or, with
`auto=True`, a generated "delivered" answer for any SendGrid Logs id. Fault modes (`fault`, for the
next `fault_count` requests, then normal again; None = forever):

    "slow"       sleep `slow_seconds` before answering
    "429"        429 with Retry-After `retry_after` (and X-RateLimit-Reset)
    "500"        500 {"errors": [...]}
    "malformed"  200 with a body that is not JSON
    "drop"       headers promising a body, half of it, then the connection is closed
    "401"/"403"  refuse as a wrong key / a key without the scope would

Removals: SendGrid `DELETE /v3/suppression/{list}/{email}` (and the global unsubscribe's
`DELETE /v3/asm/suppressions/global/{email}`) answer 204 and drop the entry from `suppressions` when
it is held, else 404; Postmark `POST /message-streams/{stream}/suppressions/delete` answers per
address (Deleted, dropping it from `postmark_suppressions`; Failed for a SpamComplaint). They go
through the same fault modes and enforced limit as every route.

Every request is counted (`requests`: (monotonic time, method, path)); `max_in_window(60)` is the
most requests in any sliding 60-second window, to check a client-side rate limit. `api_key` is the
only key accepted (SendGrid `Authorization: Bearer`, Postmark `X-Postmark-Server-Token`).

A rate limit as SendGrid enforces one (`enforce_limit(limit, window, retry_after)`): fixed windows
of `window` seconds aligned to the Unix epoch (to now with `from_now=True`), `limit` answered
requests in each (the whole budget may go at once: the burst is the window's budget); every answer
carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (the window's end,
Unix seconds); a request over the budget gets 429 with `Retry-After: retry_after` (default 2,
deliberately shorter than the reset, as SendGrid was seen to send) and the reset. `request_log`
keeps (Unix time, path, status) of every answer; `windows()` counts requests and 429s per window,
for tests and the bench.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from bisect import bisect_left
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, status: int, body, headers: dict | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.server.fake._log_answer(urlsplit(self.path).path, status)
        self.send_response(status)
        if status == 204:  # no body and no Content-Length (RFC 9110 15.3.5): keep-alive stays in step
            data = b""
        else:
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        # Headers and body in one write: no small-packet / delayed-ACK stall inflating latency.
        self._headers_buffer.append(b"\r\n")
        self._headers_buffer.append(data)
        self.flush_headers()

    def setup(self) -> None:
        super().setup()
        import socket

        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        fault = fake._record(method, parts.path, self.path, self.headers, body)
        if fake.latency:
            time.sleep(fake.latency)
        if fault == "slow":
            time.sleep(fake.slow_seconds)
        elif fault == "429":
            return self._send(
                429,
                {"errors": [{"message": "too many requests"}]},
                {"Retry-After": str(fake.retry_after), "X-RateLimit-Reset": str(int(time.time() + fake.retry_after))},
            )
        elif fault == "500":
            return self._send(500, {"errors": [{"message": "internal server error"}]})
        elif fault == "malformed":
            return self._send(200, b'{"messages": [ {"sg_message_id": "abc", "events": [ <html>oops')
        elif fault == "drop":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "4096")
            self.end_headers()
            self.wfile.write(b'{"sg_message_id": "half')
            self.wfile.flush()
            self.close_connection = True
            try:
                import socket

                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        elif fault in ("401", "403"):
            if parts.path.startswith("/v3/"):
                msg = "authorization required" if fault == "401" else "access forbidden"
                return self._send(int(fault), {"errors": [{"message": msg}]})
            refused = "The Server Token you provided in the X-Postmark-Server-Token request header was invalid."
            return self._send(401, {"ErrorCode": 10, "Message": refused})
        allowed, rate_headers = fake._take_budget()
        if not allowed:
            return self._send(429, {"errors": [{"message": "too many requests"}]}, rate_headers)
        status, payload = fake.route(method, parts.path, parse_qs(parts.query), body, self.headers)
        self._send(status, payload, rate_headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class FakeProvider:
    def __init__(self, *, api_key: str = "fake-sendgrid-key-for-tests", postmark_token: str = "pm-test-token-123",
                 auto: bool = False, latency: float = 0.0) -> None:
        self.api_key = api_key
        self.postmark_token = postmark_token
        self.auto = auto
        self.latency = latency
        self.lock = threading.Lock()
        self.requests: list[tuple[float, str, str]] = []
        self.raw_paths: list[str] = []
        self.bodies: list[bytes] = []
        self.fault: str | None = None
        self.fault_count: int | None = None
        self.retry_after = 1
        self.slow_seconds = 2.0
        self.window_limit: int | None = None  # enforce_limit: answered requests per window
        self.window_seconds = 60.0
        self.window_origin = 0.0  # the Unix time windows are aligned to (0: the epoch, as SendGrid's)
        self.limit_retry_after = 2
        self._window_index: int | None = None
        self._window_used = 0
        self.server_429s = 0  # 429s of the enforced limit
        self.request_log: list[tuple[float, str, int]] = []  # (Unix time, path, status) of every answer
        self.sendgrid_logs: dict[str, dict] = {}  # sg_message_id -> GET /v3/logs/{id} body
        self.logs_search: list[dict] = []  # rows POST /v3/logs may return (filtered crudely)
        self.activity_list: list[dict] = []  # rows of GET /v3/messages
        self.activity_detail: dict[str, dict] = {}
        self.postmark_details: dict[str, dict] = {}
        self.postmark_outbound: list[dict] = []
        # (list, email) -> body; lists: bounces, blocks, invalid_emails, spam_reports, and
        # "unsubscribes" for GET /v3/asm/suppressions/global/{email} (default {} = not listed)
        self.suppressions: dict[tuple[str, str], list | dict] = {}
        self.postmark_suppressions: dict[str, list] = {}
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self
        # a short poll: stop() returns at once instead of after serve_forever's default half second
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-provider", daemon=True)

    # -- lifecycle --
    def start(self) -> FakeProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # -- the enforced rate limit --
    def enforce_limit(self, limit: int | None, window: float = 60.0, retry_after: int = 2, *, from_now: bool = False) -> None:
        """Answer at most `limit` requests per fixed `window` seconds (None: no limit), as SendGrid would.

        Windows are aligned to the epoch; `from_now` starts the first one now instead, so that its reset
        is a whole window away whatever the time of day (a test of a long wait must not meet midnight)."""
        with self.lock:
            self.window_limit, self.window_seconds, self.limit_retry_after = limit, float(window), retry_after
            self.window_origin = time.time() if from_now else 0.0
            self._window_index, self._window_used = None, 0

    def _take_budget(self) -> tuple[bool, dict[str, str]]:
        """Count one request against the current window: (answer it?, the rate-limit headers)."""
        with self.lock:
            if self.window_limit is None:
                return True, {}
            now = time.time()
            index = int((now - self.window_origin) // self.window_seconds)
            if index != self._window_index:
                self._window_index, self._window_used = index, 0
            reset = self.window_origin + (index + 1) * self.window_seconds
            allowed = self._window_used < self.window_limit
            if allowed:
                self._window_used += 1
            else:
                self.server_429s += 1
            headers = {
                "X-RateLimit-Limit": str(self.window_limit),
                "X-RateLimit-Remaining": str(self.window_limit - self._window_used),
                "X-RateLimit-Reset": str(math.ceil(reset)),
            }
            if not allowed:
                headers["Retry-After"] = str(self.limit_retry_after)
            return allowed, headers

    def _log_answer(self, path: str, status: int) -> None:
        with self.lock:
            self.request_log.append((time.time(), path, status))

    def windows(self) -> list[tuple[float, int, int]]:
        """Per rate window that saw requests: (its start, Unix time; requests; 429s), in order."""
        with self.lock:
            log = list(self.request_log)
        out: dict[int, list[int]] = {}
        for t, _, status in log:
            counts = out.setdefault(int((t - self.window_origin) // self.window_seconds), [0, 0])
            counts[0] += 1
            counts[1] += status == 429
        return [(self.window_origin + i * self.window_seconds, n, n429) for i, (n, n429) in sorted(out.items())]

    def max_429s_per_window(self) -> int:
        return max((n429 for _, _, n429 in self.windows()), default=0)

    # -- faults and counting --
    def set_fault(self, fault: str | None, count: int | None = None) -> None:
        with self.lock:
            self.fault, self.fault_count = fault, count

    def _record(self, method: str, path: str, raw_path: str, headers, body: bytes) -> str | None:
        with self.lock:
            self.requests.append((time.monotonic(), method, path))
            self.raw_paths.append(raw_path)
            self.bodies.append(body)
            fault = self.fault
            if fault is not None and self.fault_count is not None:
                self.fault_count -= 1
                if self.fault_count <= 0:
                    self.fault, self.fault_count = None, None
        if fault is None:
            if path.startswith("/v3/"):
                if headers.get("Authorization") != f"Bearer {self.api_key}":
                    return "401"
            elif headers.get("X-Postmark-Server-Token") != self.postmark_token:
                return "401"
        return fault

    def count(self) -> int:
        with self.lock:
            return len(self.requests)

    def count_last(self, seconds: float) -> int:
        now = time.monotonic()
        with self.lock:
            times = [t for t, _, _ in self.requests]
        return len(times) - bisect_left(times, now - seconds)

    def max_in_window(self, seconds: float = 60.0) -> int:
        with self.lock:
            times = sorted(t for t, _, _ in self.requests)
        best = 0
        j = 0
        for i, t in enumerate(times):
            while times[j] <= t - seconds:
                j += 1
            best = max(best, i - j + 1)
        return best

    def reset_counts(self) -> None:
        with self.lock:
            self.requests.clear()
            self.raw_paths.clear()
            self.bodies.clear()
            self.request_log.clear()
            self.server_429s = 0

    # -- routes --
    def route(self, method: str, path: str, query: dict, body: bytes, headers) -> tuple[int, object]:
        nf = {"errors": [{"message": "not found", "field": "message_id"}]}
        if method == "GET" and path.startswith("/v3/logs/"):
            mid = unquote(path[len("/v3/logs/") :])
            if mid in self.sendgrid_logs:
                return 200, self.sendgrid_logs[mid]
            if self.auto:
                return 200, auto_logs_message(mid)
            return 404, nf
        if method == "POST" and path == "/v3/logs":
            q = json.loads(body or b"{}").get("query", "")
            rows = self.logs_search
            m = re.search(r'to_email = "([^"]+)"', q)
            if m:
                rows = [r for r in rows if r.get("to_email") == m.group(1)]
            return 200, {"messages": rows}
        if method == "GET" and path == "/v3/messages":
            q = query.get("query", [""])[0]
            m = re.search(r"msg_id LIKE '([^%']+)%'", q)
            rows = self.activity_list
            if m:
                rows = [r for r in rows if r["msg_id"].startswith(m.group(1))]
            return 200, {"messages": rows}
        if method == "GET" and path.startswith("/v3/messages/"):
            mid = unquote(path[len("/v3/messages/") :])
            return (200, self.activity_detail[mid]) if mid in self.activity_detail else (404, nf)
        m = re.fullmatch(r"/v3/suppression/(bounces|blocks|invalid_emails|spam_reports)/(.+)", path)
        if method == "DELETE" and m:
            return self._delete_suppression((m.group(1), unquote(m.group(2))))
        m = re.fullmatch(r"/v3/asm/suppressions/global/(.+)", path)
        if method == "DELETE" and m:
            return self._delete_suppression(("unsubscribes", unquote(m.group(1))))
        m = re.fullmatch(r"/message-streams/([^/]+)/suppressions/delete", path)
        if method == "POST" and m:
            return self._postmark_delete(body)
        m = re.fullmatch(r"/v3/suppression/(\w+)/(.+)", path)
        if method == "GET" and m:
            key = (m.group(1), unquote(m.group(2)))
            return 200, self.suppressions.get(key, [])
        m = re.fullmatch(r"/v3/asm/suppressions/global/(.+)", path)
        if method == "GET" and m:
            return 200, self.suppressions.get(("unsubscribes", unquote(m.group(1))), {})
        m = re.fullmatch(r"/messages/outbound/([^/]+)/details", path)
        if method == "GET" and m:
            mid = unquote(m.group(1))
            if mid in self.postmark_details:
                return 200, self.postmark_details[mid]
            return 422, {"ErrorCode": 701, "Message": "This message was not found."}
        if method == "GET" and path == "/messages/outbound":
            count = int(query.get("count", ["100"])[0])
            offset = int(query.get("offset", ["0"])[0])
            rows = self.postmark_outbound
            return 200, {"TotalCount": len(rows), "Messages": rows[offset : offset + count]}
        m = re.fullmatch(r"/message-streams/([^/]+)/suppressions/dump", path)
        if method == "GET" and m:
            email = query.get("EmailAddress", [""])[0]
            return 200, {"Suppressions": self.postmark_suppressions.get(email, [])}
        return 404, {"errors": [{"message": "no such route"}]}

    def _delete_suppression(self, key: tuple[str, str]) -> tuple[int, object]:
        """SendGrid's DELETE of one address from one list: 204 when the list held it (now gone),
        404 when it did not."""
        with self.lock:
            if self.suppressions.get(key):
                del self.suppressions[key]
                return 204, b""
        return 404, {"errors": [{"message": "not found"}]}

    def _postmark_delete(self, body: bytes) -> tuple[int, object]:
        """Postmark's suppressions/delete: one result per address asked. A SpamComplaint row is
        Failed (the customer may not delete those); anything else held is Deleted and dropped. An
        address with no suppression is Deleted too: Postmark answers Deleted for addresses it does
        not hold (providers.md, "Suppression management": per address Deleted|Failed, only
        SpamComplaints fail), so "Deleted" does not prove the address was listed."""
        try:
            asked = json.loads(body or b"{}").get("Suppressions")
        except (ValueError, AttributeError):
            asked = None
        if not isinstance(asked, list):
            return 422, {"ErrorCode": 1224, "Message": "The 'Suppressions' field is required."}
        out = []
        with self.lock:
            for item in asked:
                email = str(item.get("EmailAddress", "")) if isinstance(item, dict) else ""
                rows = self.postmark_suppressions.get(email, [])
                if any(isinstance(r, dict) and r.get("SuppressionReason") == "SpamComplaint" for r in rows):
                    out.append({"EmailAddress": email, "Status": "Failed",
                                "Message": "You do not have permission to delete SpamComplaint suppressions."})
                    continue
                self.postmark_suppressions.pop(email, None)
                out.append({"EmailAddress": email, "Status": "Deleted", "Message": None})
        return 200, {"Suppressions": out}


def auto_logs_message(sg_message_id: str, to_email: str = "someone@example.com", ts: int = 1795000000) -> dict:
    """A plain delivered Email Logs answer (the bench's default)."""
    base = sg_message_id.replace(".", "-")[:40]
    return {
        "from_email": "no-reply@portal.example",
        "sg_message_id": sg_message_id,
        "subject": "Confirm your new account",
        "to_email": to_email,
        "reason": None,
        "status": "delivered",
        "sg_message_id_created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)),
        "events": [
            {"event": "processed", "sg_event_id": f"p-{base}", "timestamp": ts + 1},
            {"event": "delivered", "sg_event_id": f"d-{base}", "timestamp": ts + 3, "response": "250 2.0.0 OK", "attempt": "0"},
        ],
        "custom_args": {},
        "category": ["account_confirmation"],
        "outbound_ip": "168.245.1.2",
    }
