"""The HTTP layer every provider adapter goes through.

* One `httpx.Client` per process (`shared_client()`; httpx clients are thread-safe), explicit
  timeouts, a bounded connection pool.
* Every request passes its account's rate budget (`commlog.providers.rate_limit`: one adaptive
  limiter per provider account, plus a stricter bucket where the provider documents one) and
  reports its answer's rate-limit headers back to it.
* A 429 closes the budget for every thread until the longer of `Retry-After` and
  `X-RateLimit-Reset`; the request then goes again from there. 429s are not failures: they are
  retried while the time budget allows (the policy's `max_total_wait` and `max_wait`, and the
  run's `rate_limit.wait_budget`); past it the call gives up with "rate limited, try again in N s"
  instead of blocking a page. The command line's policy has no time cap.
* Retries with exponential backoff on 5xx, timeouts and dropped connections (`max_attempts`).

Secrets: keys travel only in request headers, never in URLs; `commlog.settings.Secret` hides its
value from repr, str and f-strings; log lines carry method, path and status only; httpx exceptions are never turned
into text (their messages can quote request details).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from commlog.providers import errors
from commlog.providers.rate_limit import RateLimiter as RateLimiter  # re-exported
from commlog.providers.rate_limit import WouldWait, budget_left
from commlog.providers.rate_limit import limiter_for as limiter_for  # re-exported
from commlog.providers.rate_limit import retry_after_seconds as retry_after_seconds  # re-exported
from commlog.settings import settings

log = logging.getLogger("commlog.providers")

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=20.0, write=10.0, pool=30.0)
USER_AGENT = "commlog/1 (+delivery-status)"


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
    """How long one logical call may keep trying. None: no cap (the command line waits as long as
    the provider's rate limit asks)."""

    max_attempts: int = 4  # failed answers (5xx, network, a 429 that names no wait) before giving up
    max_total_wait: float | None = 90.0  # seconds of waiting (rate limits, backoff) for one logical call
    max_wait: float | None = 65.0  # one wait longer than this (a page should not block): give up, say when to retry
    base_backoff: float = 0.5
    max_backoff: float = 8.0


def log_path(url: str) -> str:
    """The URL path fit for a log line: the endpoint, without message ids or email addresses."""
    parts = httpx.URL(url).path.split("/")
    keep = 4 if len(parts) > 2 and parts[1] == "v3" and parts[2] in ("suppression", "asm") else 3
    return "/".join(parts[:keep]) + ("/…" if len(parts) > keep else "")


class ProviderHttp:
    """Sends one logical request through its rate budget with the retry policy; returns an
    `Answer` or raises a `ProviderError`. Thread-safe."""

    def __init__(
        self,
        client: httpx.Client | None = None,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._client = client
        self.policy = policy or RetryPolicy()
        self._injected_sleep = sleep  # tests: also used for the limiters' waits
        self._sleep = sleep or time.sleep

    @property
    def client(self) -> httpx.Client:
        return self._client if self._client is not None else shared_client()

    def __repr__(self) -> str:
        return f"ProviderHttp(policy={self.policy!r})"

    def _backoff(self, attempt: int) -> float:
        p = self.policy
        return min(p.max_backoff, p.base_backoff * (2 ** (attempt - 1))) * (1 + random.random() * 0.25)

    def _may_wait(self, waited: float) -> float | None:
        """How long the next wait may be: the policy's caps and the run's budget."""
        p = self.policy
        caps = [c for c in (
            None if p.max_total_wait is None else max(0.0, p.max_total_wait - waited),
            p.max_wait,
            budget_left(),
        ) if c is not None]
        return min(caps) if caps else None

    def _pass(self, provider: str, gates: list[RateLimiter], waited: float) -> float:
        """Wait for every gate in turn; returns the seconds waited. Raises RateLimited (no gate kept)."""
        total = 0.0
        for i, gate in enumerate(gates):
            try:
                total += gate.acquire(max_wait=self._may_wait(waited + total), sleep=self._injected_sleep)
            except WouldWait as ww:
                for taken in gates[:i]:
                    taken.learn(None, None)
                raise errors.rate_limited(provider, ww.seconds) from None
        return total

    def request(
        self,
        provider: str,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        limiter: RateLimiter | None = None,
        bucket: RateLimiter | None = None,
        json_body: Any = None,
    ) -> Answer:
        """`limiter`: the account's budget; `bucket`: a stricter one this endpoint must also pass.
        The innermost of them learns from the answer's rate-limit headers."""
        waited = 0.0
        notes: list[str] = []
        path = log_path(url)
        gates = [g for g in (limiter, bucket) if g is not None]
        teacher = gates[-1] if gates else None
        attempt = 0  # failed answers so far
        sent = 0
        while True:
            waited += self._pass(provider, gates, waited)
            sent += 1
            failure: errors.ProviderError
            try:
                resp = self.client.request(method, url, headers=headers, json=json_body)
            except (httpx.TimeoutException, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError,
                    httpx.ConnectError, httpx.TransportError, httpx.InvalidURL) as exc:
                for gate in gates:
                    gate.learn(None, None)
                if isinstance(exc, httpx.InvalidURL):
                    raise errors.unavailable(provider, "its base URL is not valid") from None
                failure = errors.unavailable(provider, _transport_failure(exc))
            else:
                status = resp.status_code
                asked = None
                for gate in gates:
                    told = gate.learn(status, resp.headers if gate is teacher else None)
                    asked = told if gate is teacher else asked
                if status == 429:
                    log.info("%s %s %s -> HTTP 429 (request %s)", provider, method, path, sent)
                    if asked is not None:
                        may = self._may_wait(waited)
                        if may is not None and asked > may:
                            log.warning("%s %s %s -> 429, asked to wait %.0f s: giving up", provider, method, path, asked)
                            raise errors.rate_limited(provider, asked)
                        notes.append(f"rate limited by {_label(provider)}, retried after {errors.seconds_text(asked)}")
                        continue  # the gates wait until the moment the provider named, for every thread
                    failure = errors.rate_limited(provider, self._backoff(attempt + 1))
                elif status >= 500:
                    failure = errors.unavailable(provider, f"HTTP {status}, a server error at the provider")
                else:
                    return Answer(status, resp.headers, resp.content, sent, waited, notes)
                log.info("%s %s %s -> HTTP %s (attempt %s)", provider, method, path, status, attempt + 1)
            attempt += 1
            delay = self._backoff(attempt)
            may = self._may_wait(waited)
            if attempt >= self.policy.max_attempts or (may is not None and delay > may):
                log.warning("%s %s %s: giving up after %s attempt(s): %s", provider, method, path, attempt, failure.kind)
                raise failure
            log.info("%s %s %s: retrying in %.1f s", provider, method, path, delay)
            if isinstance(failure, errors.RateLimited) and teacher is not None:
                teacher.close_for(delay)  # a 429 that named no wait: every thread backs off
                notes.append(f"rate limited by {_label(provider)}, retried after {errors.seconds_text(delay)}")
                continue
            self._sleep(delay)
            waited += delay


def _transport_failure(exc: Exception) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "it did not answer in time"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return "the connection was dropped"
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect to it"
    return "a network error"


def _label(provider: str) -> str:
    """"SendGrid", "the sandbox email provider": the provider's name inside a sentence."""
    return errors.provider_in_sentence(provider)
