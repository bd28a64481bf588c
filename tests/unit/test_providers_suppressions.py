"""`Provider.suppressions(email)`: every suppression list that holds an address, since when and why.

SendGrid and Postmark against recorded JSON (an httpx MockTransport that answers only the exact,
encoded paths it knows), then over real loopback HTTP against the fake provider server."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import httpx
import pytest

from commlog.providers.base import SuppressionEntry, SuppressionReport
from commlog.providers.http import ProviderHttp, RetryPolicy, new_client
from commlog.providers.postmark import PostmarkProvider
from commlog.providers.sendgrid import SUPPRESSION_LISTS, SendGridProvider
from tests.support.fake_provider import FakeProvider, private_limiter_key, recorded

UTC = UTC
KEY = "SG.suppression-secret-key-0123456789"
JORDAN = "jordan.miles@harborcredit.com"
RILEY = "riley.chen@outlook.com"
ALL_FIVE = ("bounces", "blocks", "invalid_emails", "spam_reports", "unsubscribes")


def list_path(lst: str, encoded_email: str) -> str:
    if lst == "unsubscribes":
        return f"/v3/asm/suppressions/global/{encoded_email}"
    return f"/v3/suppression/{lst}/{encoded_email}"


class ExactRoutes:
    """Answers GET requests whose raw (still encoded) path is exactly a known one; everything else
    is SendGrid's 404. Records every request it saw."""

    def __init__(self, table: dict[str, tuple[int, object] | tuple[int, object, dict]]) -> None:
        self.table = table
        self.seen: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        raw = request.url.raw_path.decode()
        self.seen.append(raw)
        status, body, *rest = self.table.get(raw, (404, {"errors": [{"message": "not found"}]}))
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.Response(status, content=content, headers={"content-type": "application/json", **(rest[0] if rest else {})})


def sendgrid(routes: ExactRoutes, **kw) -> SendGridProvider:
    policy = RetryPolicy(max_attempts=3, base_backoff=0.01, max_wait=5.0)
    http = ProviderHttp(new_client(httpx.MockTransport(routes)), policy, sleep=lambda s: None)
    return SendGridProvider(KEY, base_url="https://api.sendgrid.test", http=http, limiter_key=private_limiter_key("sup"), **kw)


def not_listed(email_enc: str) -> dict[str, tuple[int, object]]:
    """Every list answering "not listed" for this (encoded) address, as SendGrid does."""
    table: dict[str, tuple[int, object]] = {
        list_path(lst, email_enc): (200, recorded("sendgrid_suppression_empty.json")) for lst in ALL_FIVE[:4]
    }
    table[list_path("unsubscribes", email_enc)] = (200, recorded("sendgrid_suppression_global_not_listed.json"))
    return table


JORDAN_ENC = "jordan.miles%40harborcredit.com"
RILEY_ENC = "riley.chen%40outlook.com"


def jordan_table() -> dict[str, tuple[int, object]]:
    """Jordan is on bounces and spam reports."""
    table = not_listed(JORDAN_ENC)
    table[list_path("bounces", JORDAN_ENC)] = (200, recorded("sendgrid_suppression_bounces.json"))
    table[list_path("spam_reports", JORDAN_ENC)] = (200, recorded("sendgrid_suppression_spam_reports.json"))
    return table


# --- SendGrid, recorded ---------------------------------------------------------------------------


def test_lists_asked_are_the_five_sendgrid_lists_in_order():
    assert SUPPRESSION_LISTS == ALL_FIVE


def test_bounced_and_spam_reported_address_gives_two_entries():
    routes = ExactRoutes(jordan_table())
    report = sendgrid(routes).suppressions(JORDAN)
    assert isinstance(report, SuppressionReport)
    assert report.provider == "SendGrid" and report.address == JORDAN and report.error is None
    assert report.lists_asked == ALL_FIVE
    assert [e.list_key for e in report.entries] == ["bounces", "spam_reports"]
    bounce, spam = report.entries
    assert bounce.label == "bounces"
    assert bounce.since == datetime(2026, 11, 20, 9, 10, tzinfo=UTC)
    assert bounce.reason.startswith("550 5.1.1 <jordan.miles@harborcredit.com>: Recipient address rejected")
    assert bounce.stops_sending and not bounce.recipient_asked
    assert spam.label == "spam reports"
    assert spam.since == datetime(2026, 11, 17, 8, 0, tzinfo=UTC) and spam.since.tzinfo is not None
    assert spam.reason is None  # SendGrid's spam report rows carry an ip, no reason
    assert spam.stops_sending and spam.recipient_asked
    assert report.suppressed
    assert report.not_on == ("blocks", "invalid_emails", "unsubscribes")
    # one request per list, each through the account's API key, nothing asked twice
    assert routes.seen == [list_path(lst, JORDAN_ENC) for lst in ALL_FIVE]


def test_block_alone_does_not_suppress():
    table = not_listed(RILEY_ENC)
    table[list_path("blocks", RILEY_ENC)] = (200, recorded("sendgrid_suppression_blocks.json"))
    report = sendgrid(ExactRoutes(table)).suppressions(RILEY)
    (block,) = report.entries
    assert block.list_key == "blocks" and block.label == "blocks"
    assert block.since == datetime(2026, 11, 20, 10, 20, tzinfo=UTC)
    assert "block list (S3150)" in block.reason
    assert block.stops_sending is False and block.recipient_asked is False
    assert report.suppressed is False  # SendGrid keeps sending to blocked addresses
    assert report.error is None and report.lists_asked == ALL_FIVE


def test_global_unsubscribe_is_recipient_asked_and_suppresses():
    table = not_listed(JORDAN_ENC)
    table[list_path("unsubscribes", JORDAN_ENC)] = (200, recorded("sendgrid_suppression_global_unsubscribe.json"))
    report = sendgrid(ExactRoutes(table)).suppressions(JORDAN)
    (unsub,) = report.entries
    assert unsub.list_key == "unsubscribes" and unsub.label == "global unsubscribes"
    assert unsub.recipient_asked and unsub.stops_sending and unsub.since is None
    assert report.suppressed


def test_unlisted_address_has_no_entries_and_every_list_asked():
    routes = ExactRoutes(not_listed(RILEY_ENC))
    report = sendgrid(routes).suppressions(RILEY)
    assert report.entries == () and report.error is None
    assert report.lists_asked == ALL_FIVE and report.not_on == ALL_FIVE
    assert not report.suppressed
    assert len(routes.seen) == 5


def test_404_means_not_on_that_list():
    routes = ExactRoutes({list_path("bounces", JORDAN_ENC): (200, recorded("sendgrid_suppression_bounces.json"))})
    report = sendgrid(routes).suppressions(JORDAN)  # every other list answers 404
    assert [e.list_key for e in report.entries] == ["bounces"]
    assert report.error is None and report.lists_asked == ALL_FIVE


def test_awkward_address_is_one_encoded_path_segment():
    email = '"jo@home"+loans/2@example.com'
    enc = "%22jo%40home%22%2Bloans%2F2%40example.com"
    table = not_listed(enc)
    table[list_path("invalid_emails", enc)] = (200, recorded("sendgrid_suppression_invalid_emails.json"))
    routes = ExactRoutes(table)
    report = sendgrid(routes).suppressions(email)
    assert routes.seen == [list_path(lst, enc) for lst in ALL_FIVE]
    (invalid,) = report.entries
    assert invalid.list_key == "invalid_emails" and invalid.label == "invalid emails"
    assert invalid.reason == "Mail domain mentioned in email address is unknown"
    assert invalid.stops_sending and not invalid.recipient_asked
    assert report.suppressed


def test_rows_of_another_address_are_not_entries():
    table = not_listed(RILEY_ENC)
    table[list_path("bounces", RILEY_ENC)] = (200, recorded("sendgrid_suppression_bounces.json"))  # jordan's row
    report = sendgrid(ExactRoutes(table)).suppressions(RILEY)
    assert report.entries == () and report.error is None


def test_address_case_does_not_matter():
    table = not_listed("Jordan.Miles%40HarborCredit.com")
    table[list_path("bounces", "Jordan.Miles%40HarborCredit.com")] = (200, recorded("sendgrid_suppression_bounces.json"))
    report = sendgrid(ExactRoutes(table)).suppressions("Jordan.Miles@HarborCredit.com")
    assert [e.list_key for e in report.entries] == ["bounces"]


# --- SendGrid, failures ---------------------------------------------------------------------------


def failing_on_blocks(status: int, body: object, headers: dict | None = None) -> ExactRoutes:
    """Jordan's lists, with the second list (blocks) answering `status`."""
    table: dict = jordan_table()
    table[list_path("blocks", JORDAN_ENC)] = (status, body, headers or {})
    return ExactRoutes(table)


@pytest.mark.parametrize(
    ("status", "fixture"), [(401, "sendgrid_error_401.json"), (403, "sendgrid_error_403.json")]
)
def test_refused_key_on_the_second_list_keeps_the_first_and_stops(status, fixture):
    routes = failing_on_blocks(status, recorded(fixture))
    report = sendgrid(routes).suppressions(JORDAN)
    assert report.error is not None
    assert f"HTTP {status}" in report.error
    expected = "did not accept the API key" if status == 401 else "not entitled to suppression lists"
    assert expected in report.error
    assert KEY not in report.error
    assert [e.list_key for e in report.entries] == ["bounces"]
    assert report.entries[0].since == datetime(2026, 11, 20, 9, 10, tzinfo=UTC)
    assert report.lists_asked == ("bounces",)  # blocks did not answer: never said "not on blocks"
    assert report.not_on == ()
    assert routes.seen == [list_path("bounces", JORDAN_ENC), list_path("blocks", JORDAN_ENC)]
    assert report.suppressed  # what was found still counts


def test_rate_limit_on_the_second_list_says_when_to_retry_and_stops():
    routes = failing_on_blocks(429, recorded("sendgrid_error_429.json"), {"Retry-After": "120"})
    t0 = time.monotonic()
    report = sendgrid(routes).suppressions(JORDAN)
    assert time.monotonic() - t0 < 2
    assert report.error == "SendGrid rate limited the request, try again in 120 s."
    assert [e.list_key for e in report.entries] == ["bounces"] and report.lists_asked == ("bounces",)
    assert routes.seen == [list_path("bounces", JORDAN_ENC), list_path("blocks", JORDAN_ENC)]


def test_short_rate_limits_are_retried_while_the_time_budget_allows_then_stop():
    """A 429 naming its wait is not a failure: the lookup waits and asks again until the call's time
    budget (here 3 s of waiting) would be exceeded, then stops with when to retry."""
    routes = failing_on_blocks(429, recorded("sendgrid_error_429.json"), {"Retry-After": "1"})
    policy = RetryPolicy(max_attempts=3, base_backoff=0.01, max_wait=5.0, max_total_wait=3.0)
    http = ProviderHttp(new_client(httpx.MockTransport(routes)), policy, sleep=lambda s: None)
    p = SendGridProvider(KEY, base_url="https://api.sendgrid.test", http=http, limiter_key=private_limiter_key("sup"))
    report = p.suppressions(JORDAN)
    assert report.error is not None and "rate limited" in report.error and "try again in 1 s" in report.error
    blocks = list_path("blocks", JORDAN_ENC)
    assert routes.seen == [list_path("bounces", JORDAN_ENC)] + [blocks] * 4  # 1 + 3 waits of 1 s, no more


def test_server_error_on_the_second_list_stops():
    routes = failing_on_blocks(503, {"errors": [{"message": "service unavailable"}]})
    report = sendgrid(routes).suppressions(JORDAN)
    assert "could not answer (HTTP 503" in report.error
    assert [e.list_key for e in report.entries] == ["bounces"]
    assert list_path("invalid_emails", JORDAN_ENC) not in routes.seen


@pytest.mark.parametrize(
    "body",
    [b'[{"created": 1795165800, "email": "jordan', b'"not a list"', b'{"errors": [{"message": "odd"}]}'],
    ids=["truncated-json", "a-string", "an-error-object-with-200"],
)
def test_malformed_answer_is_an_error(body):
    routes = failing_on_blocks(200, body)
    report = sendgrid(routes).suppressions(JORDAN)
    assert report.error is not None and "cannot read" in report.error
    assert [e.list_key for e in report.entries] == ["bounces"] and report.lists_asked == ("bounces",)
    assert len(routes.seen) == 2


def test_malformed_global_unsubscribe_answer_is_an_error():
    table = jordan_table()
    table[list_path("unsubscribes", JORDAN_ENC)] = (200, ["jordan.miles@harborcredit.com"])
    report = sendgrid(ExactRoutes(table)).suppressions(JORDAN)
    assert "cannot read" in report.error
    assert [e.list_key for e in report.entries] == ["bounces", "spam_reports"]
    assert report.lists_asked == ALL_FIVE[:4]


def test_missing_key_is_reported_not_raised():
    routes = ExactRoutes(jordan_table())
    p = SendGridProvider("", base_url="https://api.sendgrid.test", http=ProviderHttp(new_client(httpx.MockTransport(routes))))
    report = p.suppressions(JORDAN)
    assert "SENDGRID_API_KEY is not set" in report.error
    assert report.entries == () and routes.seen == []


def test_lookups_share_the_account_api_limiter():
    """Six a minute, burst one: the first list is asked, the second would wait ~10 s, which is
    longer than the call may wait, so the lookup stops with "try again" instead of blocking."""
    routes = ExactRoutes(jordan_table())
    http = ProviderHttp(new_client(httpx.MockTransport(routes)), RetryPolicy(max_total_wait=2.0), sleep=lambda s: None)
    p = SendGridProvider(KEY, base_url="https://api.sendgrid.test", http=http, logs_per_minute=6, limiter_key=private_limiter_key("lim"))
    assert p.limiter.per_minute == 6 and p.limiter.burst == 1
    report = p.suppressions(JORDAN)
    assert report.error is not None and "try again in" in report.error
    assert len(routes.seen) == 1 and [e.list_key for e in report.entries] == ["bounces"]
    # the first-hit lookup of checks draws from the same budget
    assert p.suppression(JORDAN).error is not None and len(routes.seen) == 1


def test_first_hit_lookup_is_unchanged():
    routes = ExactRoutes(jordan_table())
    sup = sendgrid(routes).suppression(JORDAN, "BOUNCE 550 5.1.1")
    assert sup.suppressed and sup.list_name == "bounces"
    assert routes.seen == [list_path("bounces", JORDAN_ENC)]  # stops at the first hit


# --- Postmark, recorded ---------------------------------------------------------------------------


def postmark(body: object, status: int = 200) -> tuple[PostmarkProvider, list[str]]:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.Response(status, content=content, headers={"content-type": "application/json"})

    http = ProviderHttp(new_client(httpx.MockTransport(handler)), RetryPolicy(max_attempts=2, base_backoff=0.01), sleep=lambda s: None)
    return PostmarkProvider("pm-token-secret", base_url=f"https://{private_limiter_key('pm')}.postmark.test", http=http), seen


def test_postmark_hard_bounce():
    p, seen = postmark(recorded("postmark_suppressions_dump.json"))
    report = p.suppressions("sam.taylor@gmial.com")
    assert report.provider == "Postmark" and report.error is None
    assert report.lists_asked == ("HardBounce", "SpamComplaint", "ManualSuppression")
    (entry,) = report.entries
    assert entry == SuppressionEntry(
        "HardBounce", "hard bounce (outbound stream)", datetime(2026, 11, 20, 9, 0, 8, tzinfo=UTC), None, True, False
    )  # a hard bounce's Origin is Recipient, yet the recipient did not ask for it
    assert report.suppressed
    assert seen == ["/message-streams/outbound/suppressions/dump?EmailAddress=sam.taylor%40gmial.com"]


@pytest.mark.parametrize(
    ("email", "key", "label", "asked", "since"),
    [
        ("riley.chen@yahoo.com", "ManualSuppression", "unsubscribed by the recipient (outbound stream)", True,
         datetime(2026, 11, 19, 21, 30, tzinfo=UTC)),
        ("xriley.chen@yahoo.com", "SpamComplaint", "spam complaint (outbound stream)", True,
         datetime(2026, 11, 18, 15, 0, tzinfo=UTC)),
        ("drew@example.com", "ManualSuppression", "manual suppression (outbound stream)", False,
         datetime(2026, 11, 15, 14, 0, tzinfo=UTC)),
    ],
)  # fmt: skip
def test_postmark_reasons_and_who_asked(email, key, label, asked, since):
    p, _ = postmark(recorded("postmark_suppressions_dump_mixed.json"))
    report = p.suppressions(email)
    (entry,) = report.entries  # only the rows of exactly this address (case-insensitive)
    assert (entry.list_key, entry.label, entry.recipient_asked, entry.since) == (key, label, asked, since)
    assert entry.stops_sending and report.suppressed


def test_postmark_unlisted_and_awkward_address():
    p, seen = postmark({"Suppressions": []})
    report = p.suppressions('"jo@home"+loans/2@example.com')
    assert report.entries == () and report.error is None and not report.suppressed
    assert report.not_on == ("HardBounce", "SpamComplaint", "ManualSuppression")
    assert seen[0].endswith("?EmailAddress=%22jo%40home%22%2Bloans%2F2%40example.com")


@pytest.mark.parametrize(
    ("status", "body", "words"),
    [
        (401, {"ErrorCode": 10, "Message": "Bad or missing API token"}, "HTTP 401"),
        (200, b"<html>oops", "cannot read"),
        (200, {"Suppressions": "none"}, "cannot read"),
    ],
)
def test_postmark_failures_are_reported(status, body, words):
    p, _ = postmark(body, status)
    report = p.suppressions("sam.taylor@gmial.com")
    assert words in report.error and "pm-token-secret" not in report.error
    assert report.entries == () and report.lists_asked == ()


# --- over loopback HTTP ---------------------------------------------------------------------------


@pytest.fixture
def fake():
    with FakeProvider() as f:
        yield f


def loopback_sendgrid(fake: FakeProvider, **policy) -> SendGridProvider:
    pol = RetryPolicy(**{"max_attempts": 2, "base_backoff": 0.05, "max_wait": 5.0, **policy})
    return SendGridProvider(fake.api_key, base_url=fake.url, http=ProviderHttp(new_client(), pol),
                            limiter_key=private_limiter_key("loop"))  # fmt: skip


def test_sendgrid_over_loopback(fake):
    email = "jordan.miles+loans@harborcredit.com"
    fake.suppressions[("bounces", email)] = [dict(recorded("sendgrid_suppression_bounces.json")[0], email=email)]
    fake.suppressions[("blocks", email)] = [dict(recorded("sendgrid_suppression_blocks.json")[0], email=email)]
    fake.suppressions[("unsubscribes", email)] = {"recipient_email": email}
    report = loopback_sendgrid(fake).suppressions(email)
    assert report.error is None and report.lists_asked == ALL_FIVE
    assert [(e.list_key, e.stops_sending, e.recipient_asked) for e in report.entries] == [
        ("bounces", True, False),
        ("blocks", False, False),
        ("unsubscribes", True, True),
    ]
    assert report.entries[0].since == datetime(2026, 11, 20, 9, 10, tzinfo=UTC)
    assert report.suppressed
    assert fake.count() == 5
    assert fake.raw_paths[0] == "/v3/suppression/bounces/jordan.miles%2Bloans%40harborcredit.com"
    assert fake.raw_paths[-1] == "/v3/asm/suppressions/global/jordan.miles%2Bloans%40harborcredit.com"


def test_sendgrid_over_loopback_wrong_key_stops_at_once(fake):
    p = SendGridProvider("SG.wrong-key-DO-NOT-LEAK", base_url=fake.url, http=ProviderHttp(new_client(), RetryPolicy(max_attempts=2)),
                         limiter_key=private_limiter_key("wrong"))  # fmt: skip
    report = p.suppressions(JORDAN)
    assert "HTTP 401" in report.error and "DO-NOT-LEAK" not in report.error
    assert report.entries == () and report.lists_asked == ()
    assert fake.count() == 1


def test_sendgrid_over_loopback_provider_down(fake):
    fake.set_fault("500")
    report = loopback_sendgrid(fake).suppressions(JORDAN)
    assert "could not answer (HTTP 500" in report.error
    assert fake.count() == 2  # the policy's two attempts on the first list, then nothing else


def test_postmark_over_loopback(fake):
    fake.postmark_suppressions["sam.taylor@gmial.com"] = recorded("postmark_suppressions_dump.json")["Suppressions"]
    http = ProviderHttp(new_client(), RetryPolicy(max_attempts=2, base_backoff=0.01))
    report = PostmarkProvider(fake.postmark_token, base_url=fake.url, http=http).suppressions("sam.taylor@gmial.com")
    assert [e.list_key for e in report.entries] == ["HardBounce"] and report.suppressed
    assert fake.raw_paths == ["/message-streams/outbound/suppressions/dump?EmailAddress=sam.taylor%40gmial.com"]
