"""The account's adaptive rate budget (commlog.providers.rate_limit) with an injected clock: it
learns the provider's limit and window from its headers, waits the longer of Retry-After and the
reset after a 429 (every caller, not only the one that got it), waits for the reset when a 2xx
says nothing is left, and names an account by a fingerprint of its key, never the key."""

from __future__ import annotations

import email.utils
import threading

import pytest

from commlog.providers.rate_limit import (
    RateLimiter,
    WouldWait,
    account_limiter,
    key_fingerprint,
    read_rate_headers,
    retry_after_seconds,
    waiting_text,
)
from commlog.providers.sendgrid import SendGridProvider
from commlog.settings import Secret

EPOCH = 1_795_000_000.0  # the provider's Unix time when the fake clock reads 0


class Clock:
    """Monotonic and wall clocks that move only when something sleeps."""

    def __init__(self) -> None:
        self.t = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    def wall(self) -> float:
        return EPOCH + self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


def limiter(clock: Clock, per_minute: float = 600, **kw) -> RateLimiter:
    return RateLimiter(per_minute, clock=clock, sleep=clock.sleep, wall=clock.wall, margin=0.0, **kw)


def answer(limit: int | None = None, remaining: int | None = None, reset_in: float | None = None,
           retry_after: str | None = None) -> dict[str, str]:
    h = {}
    if limit is not None:
        h["X-RateLimit-Limit"] = str(limit)
    if remaining is not None:
        h["X-RateLimit-Remaining"] = str(remaining)
    if reset_in is not None:
        h["X-RateLimit-Reset"] = str(int(EPOCH + reset_in))
    if retry_after is not None:
        h["Retry-After"] = retry_after
    return {k.lower(): v for k, v in h.items()}


def send(lim: RateLimiter, clock: Clock, headers: dict[str, str], status: int = 200) -> float:
    """One request: wait for the slot, then report the answer. Returns when (clock) it went."""
    lim.acquire()
    went = clock.t
    lim.learn(status, headers)
    return went


def test_remaining_zero_on_a_2xx_waits_until_the_reset():
    clock = Clock()
    lim = limiter(clock)
    send(lim, clock, answer(5, 4, reset_in=30))
    for left in (3, 2, 1, 0):
        assert send(lim, clock, answer(5, left, reset_in=30)) == 0.0  # the window's budget goes at once
    assert lim.closed_for() == pytest.approx(30)
    assert send(lim, clock, answer(5, 4, reset_in=60)) == pytest.approx(30)  # the next one waits for the reset


def test_learned_limit_and_window_replace_the_configured_guess_without_assuming_a_minute():
    clock = Clock()
    lim = limiter(clock, per_minute=600)  # the starting guess
    went = [send(lim, clock, answer(3, 2, reset_in=2))]
    went += [send(lim, clock, answer(3, r, reset_in=2)) for r in (1, 0)]
    went += [send(lim, clock, answer(3, r, reset_in=4)) for r in (2, 1, 0)]  # the next window: 2 s long
    assert lim.learned_limit == 3 and lim.learned_window == 2
    assert lim.per_minute == 90  # 3 per 2 s, no longer 600
    # later windows are known without being told: 3 go at 4 s, none before
    went += [send(lim, clock, {}) for _ in range(4)]
    assert went == pytest.approx([0, 0, 0, 2, 2, 2, 4, 4, 4, 6])


def test_after_a_429_the_longer_of_retry_after_and_the_reset_wins():
    clock = Clock()
    lim = limiter(clock)
    lim.acquire()
    waited = lim.learn(429, answer(30, 0, reset_in=43, retry_after="2"))
    assert waited == pytest.approx(43)
    assert lim.closed_for() == pytest.approx(43)
    lim2 = limiter(Clock())
    lim2.acquire()
    assert lim2.learn(429, answer(30, 0, reset_in=1, retry_after="20")) == pytest.approx(20)


def test_a_429_closes_the_limiter_for_every_caller_in_flight_or_not():
    clock = Clock()
    lim = limiter(clock)
    for _ in range(3):  # three threads' requests on the wire
        lim.acquire()
    lim.learn(429, answer(10, 0, reset_in=12, retry_after="2"))
    lim.learn(200, answer(10, 0, reset_in=12))  # the others' answers come back
    lim.learn(200, answer(10, 0, reset_in=12))
    starts = []
    for _ in range(3):  # every thread's next request, including the ones that did not get the 429
        lim.acquire()
        starts.append(clock.t)
    assert min(starts) == pytest.approx(12)


def test_a_page_is_told_how_long_instead_of_blocking():
    clock = Clock()
    lim = limiter(clock)
    lim.acquire()
    lim.learn(429, answer(10, 0, reset_in=43, retry_after="2"))
    with pytest.raises(WouldWait) as ei:
        lim.acquire(max_wait=20)
    assert ei.value.seconds == pytest.approx(43)
    assert clock.slept == []  # nothing waited, nothing taken
    assert lim.acquire() == pytest.approx(43)


def on_the_wire(lim: RateLimiter, n: int, answering: int, headers: dict) -> None:
    """`n` requests sent one after another, each on its own thread (as ProviderHttp sends them);
    the `answering`-th (0-based) gets its answer, the others are still on the wire."""
    sent = [threading.Event() for _ in range(n)]
    answer_now, done = threading.Event(), threading.Event()

    def request(i: int) -> None:
        lim.acquire()
        sent[i].set()
        if i == answering:
            answer_now.wait()
            lim.learn(200, headers)
            done.set()
        else:
            done.wait()  # still on the wire when the answer comes

    threads = [threading.Thread(target=request, args=(i,), daemon=True) for i in range(n)]
    for i, t in enumerate(threads):
        t.start()
        sent[i].wait()  # in order: the provider sees them in this order
    answer_now.set()
    done.wait()


def test_requests_sent_after_an_answer_are_counted_against_what_is_left():
    clock = Clock()
    lim = limiter(clock)
    # the first request's answer says 6 are left; the 3 sent after it may not be counted in it yet
    on_the_wire(lim, 4, answering=0, headers=answer(10, 6, reset_in=30))
    went = []
    for _ in range(4):
        lim.acquire()
        went.append(clock.t)
    assert went == pytest.approx([0, 0, 0, 30])  # 6 - 3 = 3 may go now, the fourth waits for the reset


def test_requests_sent_before_an_answer_are_not_counted_twice():
    clock = Clock()
    lim = limiter(clock)
    # the last request's answer says 6 are left: the provider counted the 3 sent before it
    on_the_wire(lim, 4, answering=3, headers=answer(10, 6, reset_in=30))
    went = []
    for _ in range(7):
        lim.acquire()
        went.append(clock.t)
    assert went == pytest.approx([0] * 6 + [30])  # all 6 the provider allows go now


def test_an_answer_from_an_ended_window_does_not_spend_the_new_one():
    clock = Clock()
    lim = limiter(clock)
    send(lim, clock, answer(3, 2, reset_in=2))
    send(lim, clock, answer(3, 2, reset_in=4))  # the window is learned: 2 s
    lim.acquire()  # on the wire in the window ending at 4 ...
    clock.t = 4.5  # ... its answer comes back after that window ended
    lim.learn(200, answer(3, 0, reset_in=4))
    assert send(lim, clock, {}) == pytest.approx(4.5)  # the new window is untouched


def test_headers_read_as_sendgrid_sends_them():
    now = EPOCH
    h = read_rate_headers(answer(600, 12, reset_in=43), now)
    assert (h.limit, h.remaining, h.reset_at - now) == (600, 12, 43)
    date = email.utils.formatdate(now + 90, usegmt=True)
    assert retry_after_seconds({"retry-after": date, "x-ratelimit-reset": str(int(now + 5))}, now) == pytest.approx(90)
    assert retry_after_seconds({"retry-after": "2", "x-ratelimit-reset": str(int(now + 60))}, now) == pytest.approx(60)
    assert retry_after_seconds({"retry-after": "soon"}, now) is None
    assert waiting_text("SendGrid", 42.2) == "waiting 43 s for SendGrid's rate limit"


def test_one_budget_per_account_named_by_a_fingerprint_never_the_key():
    secret = "SG.account-secret-DO-NOT-SHOW-0123456789"
    url = "https://api.sendgrid.test/rate-budget"
    a = SendGridProvider(secret, base_url=url, api="logs", logs_per_minute=600)
    b = SendGridProvider(Secret(secret), base_url=url, api="activity", logs_per_minute=600)
    other_key = SendGridProvider("SG.another-account", base_url=url, logs_per_minute=600)
    other_url = SendGridProvider(secret, base_url=url + "-eu", logs_per_minute=600)
    assert a.limiter is b.limiter  # logs, activity and suppressions of one key: one budget
    assert b.activity_bucket is not b.limiter and b.activity_bucket.per_minute == 6
    assert other_key.limiter is not a.limiter and other_url.limiter is not a.limiter
    assert account_limiter("sendgrid", Secret(secret), url, 600) is a.limiter
    fingerprint = key_fingerprint(Secret(secret))
    assert fingerprint == key_fingerprint(secret) and len(fingerprint) == 16
    for text in (repr(a.limiter), a.limiter.name, repr(b.activity_bucket), repr(a), str(a.limiter.__dict__)):
        assert secret not in text and "DO-NOT-SHOW" not in text
    assert fingerprint in a.limiter.name


def test_the_command_line_prints_each_wait_once_without_a_terminal(capsys):
    from tqdm import tqdm

    from commlog.commands.check import WaitNotice

    notice = WaitNotice(tqdm(total=3, disable=True))
    notice("waiting 43 s for SendGrid's rate limit")
    notice("waiting 42 s for SendGrid's rate limit")  # the same wait, a moment later
    notice.progressed()  # a request went through
    notice("waiting 60 s for SendGrid's rate limit")  # a new wait
    assert capsys.readouterr().err.splitlines() == [
        "waiting 43 s for SendGrid's rate limit",
        "waiting 60 s for SendGrid's rate limit",
    ]
