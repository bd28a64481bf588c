"""One adaptive rate budget per provider account, learned from the provider's own headers.

* **Whose budget.** A provider counts requests per account (per API key), for every endpoint of
  it. So commlog keeps one `RateLimiter` per (provider, a fingerprint of the key, base URL):
  `account_limiter(...)`. SendGrid's Email Logs, suppression and global-unsubscribe lookups all
  draw from it. A stricter bucket the provider documents for some endpoints (SendGrid Email
  Activity: 6 a minute) is a second limiter (`bucket_limiter`) that such a request must ALSO pass.
  The key itself is never stored, shown or logged: only `key_fingerprint` (a SHA-256 prefix).
* **Starting guess, then learned.** The configured rate (`COMMLOG_SENDGRID_RATE_PER_MIN`, ...) is
  only the starting guess: a token bucket plus a sliding window. Every answer's
  `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (SendGrid: Unix time) teach
  the limiter the provider's window: how many requests are left in it and when it ends. No window
  length is assumed: it is learned from the step between two windows' reset times. Once known,
  the learned limit and window replace the guess.
* **After a 429** the limiter closes, for every thread of the process, until the LONGER of
  `Retry-After` (seconds or an HTTP date) and the reset; a 2xx saying Remaining 0 makes every
  thread wait for the reset too. Threads then go on from there instead of retrying on their own.
  Across processes sharing one key (app replicas, the CLI), each process learns from its own
  answers: the server's Remaining counts every process's requests, so a 429 costs a process at
  most one request per thread already on the wire.
* **Waiting is visible**: `RateLimiter.closed_for()` says how long the limiter is closed;
  `waiting_text` words it ("waiting 43 s for SendGrid's rate limit") for the bulk check's progress
  bar, the Check button and the CLI's progress line.
* **A run's time budget**: `wait_budget(seconds)` bounds, for the calls made inside it (one worker
  thread of a page's check), how long they may wait in total; the command line sets none.
"""

from __future__ import annotations

import contextlib
import contextvars
import email.utils
import hashlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass


class WouldWait(Exception):
    """The next request would have to wait `seconds`, longer than the caller may."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


# --- what the provider's headers say ----------------------------------------------------------------


@dataclass(frozen=True)
class RateHeaders:
    """The rate-limit headers of one answer. `reset_at` is the Unix time the window ends."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None
    retry_after: float | None = None  # seconds

    def wait_after_429(self, now: float) -> float | None:
        """Seconds to wait after a 429: the longer of Retry-After and the reset; None when neither is said."""
        waits = [w for w in (self.retry_after, None if self.reset_at is None else self.reset_at - now) if w is not None]
        return max(0.0, *waits) if waits else None


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        n = float(value.strip())
    except ValueError:
        return None
    return n if math.isfinite(n) else None


def read_rate_headers(headers: Mapping[str, str], now: float | None = None) -> RateHeaders:
    """Parse X-RateLimit-Limit/Remaining/Reset and Retry-After. `now`: Unix time (default the clock).
    A Reset below 1e9 is taken as seconds from now (some servers send a delta)."""
    now = time.time() if now is None else now
    limit = _number(headers.get("x-ratelimit-limit"))
    remaining = _number(headers.get("x-ratelimit-remaining"))
    reset = _number(headers.get("x-ratelimit-reset"))
    if reset is not None and reset < 1e9:
        reset = now + max(0.0, reset)
    retry_after = None
    raw = headers.get("retry-after")
    if raw:
        retry_after = _number(raw)
        if retry_after is None:
            try:
                retry_after = email.utils.parsedate_to_datetime(raw.strip()).timestamp() - now
            except (TypeError, ValueError, IndexError):
                retry_after = None
        if retry_after is not None:
            retry_after = max(0.0, retry_after)
    return RateHeaders(
        limit=int(limit) if limit is not None and limit >= 1 else None,
        remaining=max(0, int(remaining)) if remaining is not None else None,
        reset_at=reset,
        retry_after=retry_after,
    )


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds a 429 asks us to wait: the longer of Retry-After and X-RateLimit-Reset."""
    now = time.time() if now is None else now
    return read_rate_headers(headers, now).wait_after_429(now)


def waiting_text(provider_label: str, seconds: float) -> str:
    """The notice of a wait, e.g. "waiting 43 s for SendGrid's rate limit"."""
    if provider_label.startswith("The "):
        provider_label = "the " + provider_label[4:]
    return f"waiting {max(1, math.ceil(seconds))} s for {provider_label}'s rate limit"


# --- the limiter ----------------------------------------------------------------------------------


class RateLimiter:
    """One rate budget, shared by every thread of the process.

    `acquire()` reserves the next moment a request may go and sleeps until it; every request must
    then report its answer with `learn(status, headers)` (headers None: no answer came). Reserved
    moments are handed out in order, so the bounds hold across threads:

    * a token bucket (rate limit/window, capacity `burst`) and a sliding window of `limit`
      requests per window (+ a margin for network jitter): the configured guess, until the
      provider's headers teach the real limit and window;
    * the provider's own count: the requests left in its current window (Remaining, less the
      requests of ours it may not have counted yet) and when the window ends (Reset);
    * `closed_until`: after a 429, nobody goes before the moment it named.
    """

    def __init__(
        self,
        per_minute: float,
        burst: int | None = None,
        *,
        window: float = 60.0,
        margin: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall: Callable[[], float] = time.time,
        name: str = "rate limiter",
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.name = name  # never a key: see account_limiter
        self.configured_per_minute = per_minute
        self.margin = margin
        self._clock = clock
        self._sleep = sleep
        self._wall = wall
        self._lock = threading.Lock()
        self._slots: deque[float] = deque()
        self._shape(max(1, int(per_minute * window / 60.0)), window, burst if burst is not None else max(1, min(20, int(per_minute // 6))))
        self._tokens = float(self.burst)
        self._last = clock()
        # learned from headers
        self.learned_limit: int | None = None
        self.learned_window: float | None = None
        self._last_reset_wall: float | None = None  # the newest Reset the provider sent
        self._window_wall: float | None = None  # Reset of the window our count refers to
        self._window_known = False  # False after a roll into a window whose end we do not know yet
        self._remaining: int | None = None  # requests we may still send before _reset_at
        self._reset_at: float | None = None  # on our clock, margin included
        self._closed_until = 0.0
        # Requests sent and not answered yet, by the order they were reserved in: an answer's
        # Remaining has counted the ones sent before it, maybe not the ones sent after it.
        self._in_flight: set[int] = set()
        self._sent = 0
        self._mine = threading.local()  # the ticket of this thread's request (acquire, then learn)

    def _shape(self, limit: int, window: float, burst: int) -> None:
        self.window_limit = max(1, limit)
        self.window_seconds = window
        self.window = window + self.margin
        self.rate = self.window_limit / window
        self.per_minute = self.rate * 60.0
        self.burst = max(1, burst)

    def __repr__(self) -> str:
        learned = f", learned {self.learned_limit}/{self.learned_window:g} s" if self.learned_limit and self.learned_window else ""
        return f"RateLimiter({self.name}, per_minute={self.per_minute:g}, burst={self.burst}{learned})"

    # -- reserving -----------------------------------------------------------------------------------

    def _roll(self, at: float) -> None:
        """Move the provider's window forward to the one `at` falls in."""
        if self._reset_at is not None and at >= self._reset_at:
            self._remaining = self.learned_limit
            if self.learned_window and self._window_known:
                ended = math.floor((at - self._reset_at) / self.learned_window) + 1  # windows gone by
                self._reset_at += ended * self.learned_window
                self._window_wall = (self._window_wall or 0.0) + ended * self.learned_window
            else:  # a new window: its count and end come with its first answer
                self._remaining = None
                self._reset_at = None
                self._window_known = False

    def _plan(self, now: float) -> float:
        """When the next request may go (moves the provider's window on; takes nothing)."""
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
        self._last = now
        self._roll(max(now, self._closed_until))
        if self._window_known and self._remaining is not None and self._reset_at is not None:
            # The provider's own count of its current window decides (what is left, and when it
            # starts again): our sliding window would still hold the past window's requests and
            # hold back requests the provider allows.
            at = max(now, self._closed_until, self._slots[-1] if self._slots else now)
        else:  # the configured guess, or what was learned, until the provider's headers say more
            at = now if self._tokens >= 1 else now + (1 - self._tokens) / self.rate
            if len(self._slots) >= self.window_limit:
                at = max(at, self._slots[-self.window_limit] + self.window)
            if self._slots:
                at = max(at, self._slots[-1])
            at = max(at, self._closed_until)
        self._roll(at)
        if self._remaining is not None and self._remaining <= 0 and self._reset_at is not None:
            at = max(at, self._reset_at)
            self._roll(at)
        return at

    def reserve(self, max_wait: float | None = None) -> float:
        """Reserve the next slot; return how long to wait for it. Raises WouldWait (nothing
        reserved) when that exceeds max_wait."""
        with self._lock:
            now = self._clock()
            at = self._plan(now)
            wait = max(0.0, at - now)
            if max_wait is not None and wait > max_wait:
                raise WouldWait(wait)
            self._tokens -= 1
            self._slots.append(at)
            while len(self._slots) > self.window_limit:
                self._slots.popleft()
            if self._remaining is not None:
                self._remaining -= 1
            self._sent += 1
            self._in_flight.add(self._sent)
            self._mine.ticket = self._sent
            return wait

    def acquire(self, max_wait: float | None = None, *, sleep: Callable[[float], None] | None = None) -> float:
        """Wait for a slot and take it; returns the seconds waited. Raises WouldWait (nothing taken)."""
        wait = self.reserve(max_wait)
        if wait > 0:
            (sleep or self._sleep)(wait)
        return wait

    # -- learning --------------------------------------------------------------------------------------

    def learn(self, status: int | None, headers: Mapping[str, str] | None) -> float | None:
        """Report the answer of an acquired request (status and headers None: no answer came).
        Returns, for a 429, the seconds every thread now waits (None when the answer named none)."""
        with self._lock:
            ticket = getattr(self._mine, "ticket", None)
            self._mine.ticket = None
            self._in_flight.discard(ticket)
            # sent after this request: the provider may not have counted them in this answer
            later = sum(1 for t in self._in_flight if ticket is None or t > ticket)
            if headers is None:
                return None
            wall = self._wall()
            now = self._clock()
            h = read_rate_headers(headers, wall)
            if h.limit is not None:
                self.learned_limit = h.limit
            if h.reset_at is not None:
                self._learn_window(h, wall, now, step_ok=status != 429, sent_later=later)
            if status != 429:
                return None
            wait = h.wait_after_429(wall)
            if wait is not None:
                self._close(now + wait + (self.margin if h.reset_at is not None and h.reset_at - wall >= wait else 0.0))
            return wait

    def _learn_window(self, h: RateHeaders, wall: float, now: float, *, step_ok: bool, sent_later: int = 0) -> None:
        """Learn where the provider's window ends and what is left in it. The window's length is
        learned only from answers that went through (a server that sends its headers only with
        429s, as the demo sandbox does, says when to come back, not how long its window is)."""
        reset = h.reset_at
        if step_ok and (self._last_reset_wall is None or reset > self._last_reset_wall + 0.5):
            if self._last_reset_wall is not None:  # the step between two windows' ends is the window
                step = reset - self._last_reset_wall
                self.learned_window = step if self.learned_window is None else min(self.learned_window, step)
                if self.learned_limit:
                    self._shape(self.learned_limit, self.learned_window, self.learned_limit)
            self._last_reset_wall = reset
        newer = self._window_wall is None or reset > self._window_wall + 0.5
        same = self._window_known and self._window_wall is not None and abs(reset - self._window_wall) <= 0.5
        if not (newer or same):
            return  # an answer from a window that has already ended
        estimate = None
        if h.remaining is not None:  # requests sent after this one may not be counted yet
            estimate = h.remaining - sent_later
        if newer:
            self._window_wall = reset
            self._window_known = True
            self._reset_at = now + max(0.0, reset - wall) + self.margin
            self._remaining = estimate if estimate is not None else self._remaining
        elif estimate is not None:
            self._remaining = estimate if self._remaining is None else min(self._remaining, estimate)

    def _close(self, until: float) -> None:
        self._closed_until = max(self._closed_until, until)

    def close_for(self, seconds: float) -> None:
        """Nobody goes for `seconds` (a 429 that named no wait: the backoff)."""
        with self._lock:
            self._close(self._clock() + max(0.0, seconds))

    def closed_for(self) -> float:
        """Seconds until the next request may go because of the provider's limit (a 429, or no
        requests left in its window); 0 when open."""
        with self._lock:
            now = self._clock()
            until = self._closed_until
            if self._remaining is not None and self._remaining <= 0 and self._reset_at is not None:
                until = max(until, self._reset_at)
            return max(0.0, until - now)


# --- one limiter per account, process-wide ------------------------------------------------------------

_limiters: dict[str, RateLimiter] = {}
_limiters_lock = threading.Lock()


def key_fingerprint(api_key: object) -> str:
    """A short SHA-256 prefix of a key (a `Secret` or text): names an account without holding its key."""
    reveal = getattr(api_key, "reveal", None)
    raw = reveal() if callable(reveal) else str(api_key or "")
    if not raw:
        return "no-key"
    return hashlib.sha256(b"commlog-rate-budget\0" + raw.encode()).hexdigest()[:16]


def limiter_for(key: str, per_minute: float, burst: int | None = None) -> RateLimiter:
    """The process-wide limiter under `key` (created on first use; a new starting guess makes a new one)."""
    with _limiters_lock:
        lim = _limiters.get(key)
        if lim is None or lim.configured_per_minute != per_minute:
            lim = _limiters[key] = RateLimiter(per_minute, burst, name=key)
        return lim


def account_key(provider: str, api_key: object, base_url: str) -> str:
    return f"{provider}:{key_fingerprint(api_key)}@{base_url.rstrip('/')}"


def account_limiter(provider: str, api_key: object, base_url: str, per_minute: float) -> RateLimiter:
    """The one budget of a provider account: every endpoint of that key at that base URL."""
    return limiter_for(account_key(provider, api_key, base_url), per_minute)


def bucket_limiter(account: RateLimiter, bucket: str, per_minute: float) -> RateLimiter:
    """A stricter bucket inside an account (e.g. SendGrid Email Activity, 6 a minute)."""
    return limiter_for(f"{account.name}#{bucket}", per_minute, burst=1 if per_minute < 60 else None)


# --- a run's time budget ------------------------------------------------------------------------------

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("commlog_rate_wait_deadline", default=None)


@contextlib.contextmanager
def wait_budget(seconds: float | None) -> Iterator[None]:
    """Calls made inside may wait (for rate limits and retries) until `seconds` from now at most;
    None: no bound (the command line)."""
    token = _deadline.set(None if seconds is None else time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def budget_left() -> float | None:
    """Seconds the current run may still wait; None when unbounded."""
    deadline = _deadline.get()
    return None if deadline is None else max(0.0, deadline - time.monotonic())
