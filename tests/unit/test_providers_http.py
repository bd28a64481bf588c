"""The adapters over real loopback HTTP against the fake provider server, with its fault modes;
the rate limiter; keys never leak."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

import httpx
import pytest

from commlog.providers import errors
from commlog.providers.base import StoredMessage
from commlog.providers.http import (
    ProviderHttp,
    RateLimiter,
    RetryPolicy,
    WouldWait,
    new_client,
    shared_client,
)
from commlog.providers.postmark import PostmarkProvider
from commlog.providers.sendgrid import SendGridProvider
from commlog.settings import Secret
from commlog.vocabulary import EventType as E
from tests.support.fake_provider import FakeProvider, private_limiter_key, recorded

UTC = UTC
BODY = recorded("sendgrid_logs_bounce_after_delivery.json")
MSG = StoredMessage(1, 1, "sendgrid", BODY["sg_message_id"], BODY["to_email"], datetime(2026, 11, 20, 9, 0, tzinfo=UTC))


@pytest.fixture
def fake():
    f = FakeProvider()
    f.sendgrid_logs[BODY["sg_message_id"]] = BODY
    with f:
        yield f


def sg(fake: FakeProvider, *, key: str | None = None, timeout: float = 5.0, **policy) -> SendGridProvider:
    pol = RetryPolicy(**{"max_attempts": 3, "base_backoff": 0.05, "max_wait": 5.0, **policy})
    http = ProviderHttp(new_client(timeout=httpx.Timeout(timeout)), pol)
    return SendGridProvider(key or fake.api_key, base_url=fake.url, http=http, limiter_key=private_limiter_key("t"))


def test_happy_path_over_loopback(fake):
    res = sg(fake).fetch_events(MSG)
    assert [e.event_type for e in res.events] == [E.PROCESSED, E.DELIVERED, E.BOUNCE]
    assert fake.count() == 1


def test_slow_provider_times_out_with_a_clear_message(fake):
    fake.slow_seconds = 1.0
    fake.set_fault("slow")
    with pytest.raises(errors.Unavailable) as ei:
        sg(fake, timeout=0.3, max_attempts=2).fetch_events(MSG)
    assert "did not answer in time" in str(ei.value)
    assert fake.count() == 2  # retried once, then gave up


def test_429_with_short_retry_after_is_retried(fake):
    fake.retry_after = 1
    fake.set_fault("429", count=1)
    t0 = time.monotonic()
    res = sg(fake).fetch_events(MSG)
    assert time.monotonic() - t0 >= 0.9  # Retry-After honoured
    assert len(res.events) == 3 and fake.count() == 2
    assert any("rate limited" in n and "retried after 1 s" in n for n in res.notes)


def test_429_with_long_retry_after_gives_up_at_once(fake):
    fake.retry_after = 120
    fake.set_fault("429")
    t0 = time.monotonic()
    with pytest.raises(errors.RateLimited) as ei:
        sg(fake).fetch_events(MSG)
    assert time.monotonic() - t0 < 2
    assert str(ei.value) == "SendGrid rate limited the request, try again in 120 s."
    assert ei.value.retry_after == 120
    assert fake.count() == 1


def test_500_is_retried_then_reported(fake):
    fake.set_fault("500", count=2)
    assert len(sg(fake).fetch_events(MSG).events) == 3
    assert fake.count() == 3
    fake.reset_counts()
    fake.set_fault("500")
    with pytest.raises(errors.Unavailable) as ei:
        sg(fake).fetch_events(MSG)
    assert "HTTP 500" in str(ei.value) and "last known status is still shown" in str(ei.value)
    assert fake.count() == 3


def test_malformed_json(fake):
    fake.set_fault("malformed")
    with pytest.raises(errors.BadResponse) as ei:
        sg(fake).fetch_events(MSG)
    assert "malformed JSON" in str(ei.value)
    assert fake.count() == 1  # not retried: asking again gives the same answer


def test_connection_dropped_mid_body(fake):
    fake.set_fault("drop")
    with pytest.raises(errors.Unavailable) as ei:
        sg(fake, max_attempts=2).fetch_events(MSG)
    assert "connection was dropped" in str(ei.value)
    fake.set_fault("drop", count=1)
    assert len(sg(fake).fetch_events(MSG).events) == 3


def test_nothing_listening():
    f = FakeProvider()
    url = f.url
    f._httpd.server_close()  # port closed: connection refused
    p = SendGridProvider("SG.x", base_url=url, http=ProviderHttp(new_client(), RetryPolicy(max_attempts=2, base_backoff=0.01)))
    with pytest.raises(errors.Unavailable) as ei:
        p.fetch_events(MSG)
    assert "cannot connect" in str(ei.value)


@pytest.mark.parametrize(("fault", "error", "words"), [
    ("401", errors.KeyNotAccepted, "SendGrid did not accept the API key (HTTP 401): it is wrong, revoked or deleted. "
                                   "Set SENDGRID_API_KEY to a valid API key."),
    ("403", errors.NotEntitled, "the API key is not entitled to the Email Logs API"),
])
def test_wrong_key_or_scope_is_worded_apart_and_never_leaks(fake, fault, error, words, caplog):
    secret = "SG.super-secret-value-DO-NOT-LEAK"
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "commlog"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    p = sg(fake, key=secret)
    if fault == "403":
        fake.set_fault("403")
    with pytest.raises(error) as ei:
        p.fetch_events(MSG)
    err = ei.value
    assert words in str(err) and f"HTTP {fault}" in str(err)
    if fault == "403":  # a valid key without the scope: what to grant, where, and the setting that names the key
        assert "Email Logs read access" in str(err) and "SENDGRID_API_KEY" in str(err)
    else:  # the key itself: never blamed on a scope or an add-on
        assert "scope" not in str(err) and "add-on" not in str(err)
    for text in (str(err), repr(err), repr(p), str(p.__dict__), caplog.text, str(err.__context__), str(err.__cause__)):
        assert secret not in text
    assert "SG.super" not in caplog.text
    assert f"{Secret(secret)}" == "***" and secret not in repr(Secret(secret))


def test_postmark_over_loopback_and_wrong_token(fake):
    body = recorded("postmark_details_bounced.json")
    fake.postmark_details[body["MessageID"]] = body
    http = ProviderHttp(new_client(), RetryPolicy(max_attempts=2, base_backoff=0.01))
    msg = StoredMessage(2, 1, "postmark", body["MessageID"], "sam.taylor@gmial.com", datetime(2026, 11, 20, 9, tzinfo=UTC))
    res = PostmarkProvider(fake.postmark_token, base_url=fake.url, http=http).fetch_events(msg)
    assert [e.event_type for e in res.events] == [E.BOUNCE]
    with pytest.raises(errors.NotFound):
        PostmarkProvider(fake.postmark_token, base_url=fake.url, http=http).fetch_events(
            StoredMessage(3, 1, "postmark", "unknown-id", "a@x.com", msg.sent_at)
        )
    with pytest.raises(errors.KeyNotAccepted) as ei:
        PostmarkProvider("wrong-token-value", base_url=fake.url, http=http).fetch_events(msg)
    assert "wrong-token-value" not in str(ei.value)
    assert "Postmark did not accept the server token" in str(ei.value) and "POSTMARK_SERVER_TOKEN" in str(ei.value)


def test_one_shared_client_per_process():
    assert shared_client() is shared_client()
    assert ProviderHttp().client is shared_client()


# --- the rate limiter -----------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def test_limiter_activity_six_a_minute_sliding_window():
    clock = FakeClock()
    lim = RateLimiter(6, burst=6, clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(20):
        lim.acquire()
        sent.append(clock.t)
    # never more than 6 in any 60 s window
    for i, t in enumerate(sent):
        assert sum(1 for u in sent if t - 60 < u <= t) <= 6, (i, sent)
    assert sent[6] - sent[0] >= 60


def test_limiter_refuses_a_long_wait():
    clock = FakeClock()
    lim = RateLimiter(6, burst=1, clock=clock, sleep=clock.sleep)
    lim.acquire()
    with pytest.raises(WouldWait) as ei:
        lim.acquire(max_wait=5)
    assert 9 < ei.value.seconds <= 10.5
    lim.acquire(max_wait=11)  # the refused call consumed nothing


def test_limiter_becomes_rate_limited_error_in_the_http_layer(fake):
    p = SendGridProvider(fake.api_key, base_url=fake.url, api="activity",
                         http=ProviderHttp(new_client(), RetryPolicy(max_total_wait=2.0)), limiter_key=private_limiter_key("act"))
    fake.activity_list = recorded("sendgrid_activity_list.json")["messages"]
    detail = recorded("sendgrid_activity_detail.json")
    fake.activity_detail[detail["msg_id"]] = detail
    msg = StoredMessage(1, 1, "sendgrid", detail["msg_id"], "jordan.miles@harborcredit.com", MSG.sent_at)
    with pytest.raises(errors.RateLimited) as ei:
        p.fetch_events(msg)  # 2 requests; burst 1 at 6/min: the second would wait ~10 s
    assert "try again in" in str(ei.value) and fake.count() == 1


def test_limiter_is_thread_safe_against_the_server_count(fake):
    fake.auto = True
    p = SendGridProvider(fake.api_key, base_url=fake.url, http=ProviderHttp(new_client()), logs_per_minute=1200,
                         limiter_key=private_limiter_key("thr"))
    p.limiter.burst = 4
    p.limiter._tokens = 4.0
    barrier = threading.Barrier(8)

    def work(k: int) -> None:
        barrier.wait()
        for j in range(5):
            p.fetch_events(StoredMessage(k, 1, "sendgrid", f"id{k}-{j}.recvd-x", "a@x.com", MSG.sent_at))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fake.count() == 40
    # 20 a second, burst 4: no second of server time sees more than burst + rate (+1 for edges)
    assert fake.max_in_window(1.0) <= 4 + 20 + 1


def test_log_lines_carry_no_message_ids_or_addresses(fake, caplog):
    caplog.set_level(logging.DEBUG, logger="commlog")
    fake.set_fault("500")
    sup = sg(fake, max_attempts=2).suppression("private.person@example.com", "BOUNCE")
    assert not sup.suppressed and "could not answer" in sup.error
    with pytest.raises(errors.Unavailable):
        sg(fake, max_attempts=2).fetch_events(MSG)
    commlog_lines = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("commlog"))
    assert "giving up" in commlog_lines
    assert "private.person" not in commlog_lines and "example.com" not in commlog_lines
    assert BODY["sg_message_id"] not in commlog_lines


def test_two_processes_on_one_key_waste_at_most_one_request_per_thread_per_window(fake):
    """Two app processes (two independent limiters and HTTP layers, as two replicas would have) with
    three threads each share one account that allows 12 requests a second. Each learns only from
    its own answers; the server's Remaining counts both, so a 429 costs at most the requests
    already on the wire: one per thread per window, and every check is answered in the end."""
    fake.auto = True
    fake.enforce_limit(12, window=1.0, retry_after=1)
    processes = [
        SendGridProvider(fake.api_key, base_url=fake.url, logs_per_minute=600,
                         http=ProviderHttp(new_client(), RetryPolicy(max_total_wait=None, max_wait=None)),
                         limiter_key=private_limiter_key(f"process{k}"))
        for k in range(2)
    ]
    answered: list[int] = []

    def work(p: SendGridProvider, k: int) -> None:
        for j in range(6):
            answered.append(len(p.fetch_events(StoredMessage(k, 1, "sendgrid", f"two{k}-{j}.recvd-x", "a@x.com", MSG.sent_at)).events))

    threads = [threading.Thread(target=work, args=(p, 10 * i + t)) for i, p in enumerate(processes) for t in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answered == [2] * 36  # every check answered
    windows = fake.windows()
    assert max(n429 for _, _, n429 in windows) <= 6, windows  # six threads: at most one wasted request each
