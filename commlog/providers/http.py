"""The HTTP layer every provider adapter goes through.

* One `httpx.Client` per process (`shared_client()`; httpx clients are thread-safe), explicit
  timeouts, a bounded connection pool.
* Retries with exponential backoff on 429 and 5xx, timeouts and dropped connections. A 429's
  `Retry-After` (seconds or an HTTP date) or `X-RateLimit-Reset` (Unix time, SendGrid) is honoured;
  when the wait it asks for would be long (more than `max_wait` seconds, or past the total budget),
  the call gives up at once with "rate limited, try again in N s" instead of blocking a page.
* A client-side rate limit per provider endpoint family (`RateLimiter`): a token bucket for
  smoothing plus a sliding 60-second window, so no minute ever sees more than `per_minute` requests
  (SendGrid Email Activity: 6 a minute). Limiters are shared process-wide by key (`limiter_for`).

Secrets: keys travel only in request headers, never in URLs; `commlog.settings.Secret` hides its
value from repr, str and f-strings; log lines carry method, path and status only; httpx exceptions are never turned
into text (their messages can quote request details).
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from commlog.providers import errors
from commlog.settings import settings

log = logging.getLogger("commlog.providers")

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=20.0, write=10.0, pool=30.0)
USER_AGENT = "commlog/1 (+delivery-status)"


# --- rate limiting -----------------------------------------------------------------------------


class WouldWait(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


class RateLimiter:
    """Token bucket (rate `per_minute`/60 per second, capacity `burst`) plus a sliding window of
    `per_minute` requests per `window` seconds. `acquire()` reserves the next free slot and sleeps
    until it; reservations are handed out in order, so the window bound holds across threads.
    The window is widened by a small margin so network jitter cannot push two minutes' worth of
    requests into one minute as the server counts them."""

    def __init__(
        self,
        per_minute: float,
        burst: int | None = None,
        *,
        window: float = 60.0,
        margin: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.per_minute = per_minute
        self.window_limit = max(1, int(per_minute))
        self.rate = per_minute / 60.0
        self.burst = burst if burst is not None else max(1, min(20, int(per_minute // 6)))
        self.window = window + margin
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(self.burst)
        self._last = clock()
        self._slots: deque[float] = deque(maxlen=self.window_limit)

    def __repr__(self) -> str:
        return f"RateLimiter(per_minute={self.per_minute}, burst={self.burst})"

    def reserve(self, max_wait: float | None = None) -> float:
        """Reserve a slot; return how long to wait for it. Raises WouldWait when that exceeds max_wait."""
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
            self._last = now
            at = now if self._tokens >= 1 else now + (1 - self._tokens) / self.rate
            if len(self._slots) >= self.window_limit:
                at = max(at, self._slots[0] + self.window)
            if self._slots:
                at = max(at, self._slots[-1])
            wait = max(0.0, at - now)
            if max_wait is not None and wait > max_wait:
                raise WouldWait(wait)
            self._tokens -= 1
            self._slots.append(at)
            return wait

    def acquire(self, max_wait: float | None = None) -> float:
        wait = self.reserve(max_wait)
        if wait > 0:
            self._sleep(wait)
        return wait


_limiters: dict[str, RateLimiter] = {}
_limiters_lock = threading.Lock()


def limiter_for(key: str, per_minute: float, burst: int | None = None) -> RateLimiter:
    """The process-wide limiter for one provider endpoint family (created on first use)."""
    with _limiters_lock:
        lim = _limiters.get(key)
        if lim is None or lim.per_minute != per_minute:
            lim = _limiters[key] = RateLimiter(per_minute, burst)
        return lim


# --- the shared client ---------------------------------------------------------------------------

_client: httpx.Client | None = None
_client_lock = threading.Lock()


def _timeout_from_settings() -> httpx.Timeout:
    read = settings().provider_timeout  # COMMLOG_PROVIDER_TIMEOUT, seconds; None: the defaults above
    if read is not None:
        return httpx.Timeout(connect=min(5.0, read), read=read, write=read, pool=max(30.0, read))
    return DEFAULT_TIMEOUT


def new_client(transport: httpx.BaseTransport | None = None, timeout: httpx.Timeout | None = None) -> httpx.Client:
    return httpx.Client(
        transport=transport,
        timeout=timeout or _timeout_from_settings(),
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        follow_redirects=False,
        trust_env=False,
    )


def shared_client() -> httpx.Client:
    """The process's one client for real provider HTTP."""
    global _client
    with _client_lock:
        if _client is None or _client.is_closed:
            _client = new_client()
        return _client


# --- requests with retries -----------------------------------------------------------------------


@dataclass
class Answer:
    status_code: int
    headers: httpx.Headers
    content: bytes
    attempts: int = 1
    waited: float = 0.0  # seconds spent waiting on 429 / backoff / the limiter
    notes: list[str] = field(default_factory=list)

    def json(self, provider: str) -> Any:
        try:
            return json.loads(self.content.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise errors.bad_response(provider) from None


@dataclass
class RetryPolicy:
    max_attempts: int = 4
    max_total_wait: float = 20.0  # seconds of backoff/429 waiting for one logical call
    max_wait: float = 10.0  # a single Retry-After longer than this: give up, tell the user
    base_backoff: float = 0.5
    max_backoff: float = 8.0


def retry_after_seconds(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds a 429 asks us to wait: Retry-After (seconds or HTTP date), else X-RateLimit-Reset."""
    now = time.time() if now is None else now
    value = headers.get("retry-after")
    if value:
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
                return max(0.0, when.timestamp() - now)
            except (TypeError, ValueError, IndexError):
                pass
    reset = headers.get("x-ratelimit-reset")
    if reset:
        try:
            r = float(reset.strip())
        except ValueError:
            return None
        # SendGrid sends a Unix time; tolerate a delta in seconds too.
        return max(0.0, r - now) if r > 1e9 else max(0.0, r)
    return None


def log_path(url: str) -> str:
    """The URL path fit for a log line: the endpoint, without message ids or email addresses."""
    parts = httpx.URL(url).path.split("/")
    keep = 4 if len(parts) > 2 and parts[1] == "v3" and parts[2] in ("suppression", "asm") else 3
    return "/".join(parts[:keep]) + ("/…" if len(parts) > keep else "")


class ProviderHttp:
    """Sends one logical request with the limiter and the retry policy; returns an `Answer` or
    raises a `ProviderError`. Thread-safe."""

    def __init__(
        self,
        client: httpx.Client | None = None,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self.policy = policy or RetryPolicy()
        self._sleep = sleep

    @property
    def client(self) -> httpx.Client:
        return self._client if self._client is not None else shared_client()

    def __repr__(self) -> str:
        return f"ProviderHttp(policy={self.policy!r})"

    def _backoff(self, attempt: int) -> float:
        p = self.policy
        return min(p.max_backoff, p.base_backoff * (2 ** (attempt - 1))) * (1 + random.random() * 0.25)

    def request(
        self,
        provider: str,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        limiter: RateLimiter | None = None,
        json_body: Any = None,
    ) -> Answer:
        p = self.policy
        waited = 0.0
        notes: list[str] = []
        path = log_path(url)
        attempt = 0
        while True:
            attempt += 1
            if limiter is not None:
                try:
                    waited += limiter.acquire(max_wait=max(0.0, p.max_total_wait - waited))
                except WouldWait as ww:
                    raise errors.rate_limited(provider, ww.seconds) from None
            failure: errors.ProviderError
            retry_in: float | None = None
            try:
                resp = self.client.request(method, url, headers=headers, json=json_body)
            except httpx.TimeoutException:
                failure = errors.unavailable(provider, "it did not answer in time")
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
                failure = errors.unavailable(provider, "the connection was dropped")
            except httpx.ConnectError:
                failure = errors.unavailable(provider, "cannot connect to it")
            except httpx.TransportError:
                failure = errors.unavailable(provider, "a network error")
            except httpx.InvalidURL:
                raise errors.unavailable(provider, "its base URL is not valid") from None
            else:
                status = resp.status_code
                if status == 429:
                    asked = retry_after_seconds(resp.headers)
                    retry_in = asked if asked is not None else self._backoff(attempt)
                    failure = errors.rate_limited(provider, retry_in)
                    if asked is not None and (asked > p.max_wait or waited + asked > p.max_total_wait):
                        log.warning("%s %s %s -> 429, asked to wait %.0f s: giving up", provider, method, path, asked)
                        raise failure
                    label = errors.provider_label(provider)
                    label = label[0].lower() + label[1:] if label.startswith("The ") else label
                    notes.append(f"rate limited by {label}, retried after {errors.seconds_text(retry_in)}")
                elif status >= 500:
                    failure = errors.unavailable(provider, f"HTTP {status}, a server error at the provider")
                else:
                    return Answer(status, resp.headers, resp.content, attempt, waited, notes)
                log.info("%s %s %s -> HTTP %s (attempt %s)", provider, method, path, status, attempt)
            delay = retry_in if retry_in is not None else self._backoff(attempt)
            if attempt >= p.max_attempts or waited + delay > p.max_total_wait:
                log.warning("%s %s %s: giving up after %s attempt(s): %s", provider, method, path, attempt, failure.kind)
                raise failure
            log.info("%s %s %s: retrying in %.1f s", provider, method, path, delay)
            self._sleep(delay)
            waited += delay
