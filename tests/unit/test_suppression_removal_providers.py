"""`Provider.remove_suppression(email, list_key)`: taking an address off one provider suppression list.

SendGrid (`DELETE /v3/suppression/{list}/{email}`) and Postmark (`POST /message-streams/{stream}/
suppressions/delete`) over real loopback HTTP against the fake provider server, with its fault
modes; answers the fake does not give (Postmark 403/422, odd bodies) from an httpx MockTransport.
Lists the recipient asked for are refused before any request."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from commlog.providers import RemovalAnswer, errors
from commlog.providers.base import FetchResult, Provider, StoredMessage
from commlog.providers.http import ProviderHttp, RetryPolicy, new_client
from commlog.providers.postmark import PostmarkProvider, plain_text
from commlog.providers.sendgrid import REMOVABLE_LISTS, SendGridProvider
from tests.support.fake_provider import FakeProvider, private_limiter_key, recorded

JORDAN = "jordan.miles@harborcredit.com"
JORDAN_ENC = "jordan.miles%40harborcredit.com"
SAM = "sam.taylor@gmial.com"
PLUS = "jordan.miles+loans@harborcredit.com"
UNICODE = "zoë.ünal@exämple.com"
DELETE_PATH = "/message-streams/outbound/suppressions/delete"


def bounce_row(email: str) -> dict:
    return dict(recorded("sendgrid_suppression_bounces.json")[0], email=email)


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as f:
        yield f


def no_sleep(_seconds: float) -> None:
    pass


def sendgrid(fake: FakeProvider, *, key: str | None = None, sleep=None, **policy) -> SendGridProvider:
    pol = RetryPolicy(**{"max_attempts": 2, "base_backoff": 0.01, "max_wait": 5.0, **policy})
    return SendGridProvider(key or fake.api_key, base_url=fake.url, http=ProviderHttp(new_client(), pol, sleep=sleep),
                            limiter_key=private_limiter_key("rm"))  # fmt: skip


def postmark(fake: FakeProvider, *, token: str | None = None, sleep=None, **policy) -> PostmarkProvider:
    pol = RetryPolicy(**{"max_attempts": 2, "base_backoff": 0.01, "max_wait": 5.0, **policy})
    return PostmarkProvider(token or fake.postmark_token, base_url=fake.url, http=ProviderHttp(new_client(), pol, sleep=sleep))


def seen(fake: FakeProvider) -> list[tuple[str, str]]:
    """(method, path as sent, still encoded) of every request the fake server got."""
    with fake.lock:
        return [(method, path) for _, method, path in fake.requests]


# --- the interface -------------------------------------------------------------------------------


class Minimal(Provider):
    name = "sendgrid"
    label = "SendGrid"
    retention = None

    def fetch_events(self, message: StoredMessage) -> FetchResult:
        return FetchResult([])


def test_a_provider_removes_nothing_by_default():
    p = Minimal()
    assert p.can_remove("bounces") is False
    with pytest.raises(errors.NotRemovable) as ei:
        p.remove_suppression(JORDAN, "bounces")
    assert ei.value.kind == "not_removable" and not ei.value.stops_bulk
    assert str(ei.value) == "commlog does not know SendGrid's \u201cbounces\u201d list, so it cannot remove an address from it."


def test_removal_answer_defaults():
    assert RemovalAnswer(True) == RemovalAnswer(removed=True, already_gone=False, words="")


def test_not_removable_wording():
    assert str(errors.not_removable("sendgrid", "spam reports")) == (
        "Spam reports cannot be removed: the recipient asked not to receive email."
    )
    unknown = errors.not_removable("sandbox", "mystery", recipient_asked=False)
    assert str(unknown) == (
        "commlog does not know the sandbox email provider's \u201cmystery\u201d list, so it cannot remove an address from it."
    )
    assert unknown.provider == "sandbox"


# --- SendGrid ------------------------------------------------------------------------------------


def test_sendgrid_removable_lists():
    p = SendGridProvider("SG.k", base_url="https://api.sendgrid.test", limiter_key="rm-lists")
    assert REMOVABLE_LISTS == ("bounces", "blocks", "invalid_emails")
    assert [k for k in ("bounces", "blocks", "invalid_emails", "spam_reports", "unsubscribes", "HardBounce")
            if p.can_remove(k)] == ["bounces", "blocks", "invalid_emails"]  # fmt: skip


@pytest.mark.parametrize(("lst", "label"), [("bounces", "bounces"), ("blocks", "blocks"), ("invalid_emails", "invalid emails")])
def test_sendgrid_204_removes_it(fake, lst, label):
    fake.suppressions[(lst, JORDAN)] = [bounce_row(JORDAN)]
    p = sendgrid(fake)
    answer = p.remove_suppression(JORDAN, lst)
    assert answer == RemovalAnswer(True, False, f"SendGrid removed it from the {label} list.")
    assert seen(fake) == [("DELETE", f"/v3/suppression/{lst}/{JORDAN_ENC}")]
    assert (lst, JORDAN) not in fake.suppressions
    # the 204 left the keep-alive connection in step: the next read on it is answered normally
    report = p.suppressions(JORDAN)
    assert report.error is None and report.entries == ()


def test_sendgrid_404_is_already_gone(fake):
    answer = sendgrid(fake).remove_suppression(JORDAN, "bounces")
    assert answer.removed is True and answer.already_gone is True
    assert answer.words == "It was not on SendGrid's bounces list any more."
    assert seen(fake) == [("DELETE", f"/v3/suppression/bounces/{JORDAN_ENC}")]


def test_sendgrid_second_removal_is_already_gone(fake):
    fake.suppressions[("blocks", JORDAN)] = [bounce_row(JORDAN)]
    p = sendgrid(fake)
    assert p.remove_suppression(JORDAN, "blocks").already_gone is False
    assert p.remove_suppression(JORDAN, "blocks").already_gone is True
    assert fake.count() == 2


@pytest.mark.parametrize(("email", "encoded"), [
    (PLUS, "jordan.miles%2Bloans%40harborcredit.com"),
    (UNICODE, "zo%C3%AB.%C3%BCnal%40ex%C3%A4mple.com"),
    ('"jo@home"/2@example.com', "%22jo%40home%22%2F2%40example.com"),
])  # fmt: skip
def test_sendgrid_address_is_one_quoted_path_segment(fake, email, encoded):
    fake.suppressions[("bounces", email)] = [bounce_row(email)]
    answer = sendgrid(fake).remove_suppression(email, "bounces")
    assert answer.removed and not answer.already_gone  # the fake decoded exactly this address
    assert fake.raw_paths == [f"/v3/suppression/bounces/{encoded}"]
    assert "+" not in fake.raw_paths[0] and "@" not in fake.raw_paths[0]
    assert ("bounces", email) not in fake.suppressions


@pytest.mark.parametrize(("lst", "words"), [
    ("spam_reports", "Spam reports cannot be removed: the recipient asked not to receive email."),
    ("unsubscribes", "Global unsubscribes cannot be removed: the recipient asked not to receive email."),
    ("HardBounce", "commlog does not know SendGrid's \u201cHardBounce\u201d list, so it cannot remove an address from it."),
    ("", "commlog does not know SendGrid's \u201cthis\u201d list, so it cannot remove an address from it."),
])  # fmt: skip
def test_sendgrid_refuses_other_lists_without_a_request(fake, lst, words):
    fake.suppressions[(lst, JORDAN)] = [bounce_row(JORDAN)]
    with pytest.raises(errors.NotRemovable) as ei:
        sendgrid(fake).remove_suppression(JORDAN, lst)
    assert str(ei.value) == words
    assert fake.count() == 0
    assert (lst, JORDAN) in fake.suppressions


def test_sendgrid_401_wrong_key(fake, caplog):
    secret = "SG.wrong-key-DO-NOT-LEAK"
    caplog.set_level(logging.DEBUG)
    fake.suppressions[("bounces", JORDAN)] = [bounce_row(JORDAN)]
    with pytest.raises(errors.KeyNotAccepted) as ei:
        sendgrid(fake, key=secret).remove_suppression(JORDAN, "bounces")
    assert "did not accept the API key (HTTP 401)" in str(ei.value) and "SENDGRID_API_KEY" in str(ei.value)
    assert secret not in str(ei.value) and secret not in caplog.text
    assert JORDAN not in caplog.text  # log lines carry the list, never the address
    assert fake.count() == 1  # a refused key is not retried
    assert ("bounces", JORDAN) in fake.suppressions


def test_sendgrid_403_missing_write_scope(fake):
    fake.suppressions[("bounces", JORDAN)] = [bounce_row(JORDAN)]
    fake.set_fault("403")
    with pytest.raises(errors.NotEntitled) as ei:
        sendgrid(fake).remove_suppression(JORDAN, "bounces")
    text = str(ei.value)
    assert "refused the request (HTTP 403)" in text
    assert "removing addresses from suppression lists (it needs a key with Suppressions write access)" in text
    assert "Settings > API Keys" in text and "Suppressions full access" in text and "SENDGRID_API_KEY" in text
    assert ei.value.stops_bulk
    assert fake.count() == 1 and ("bounces", JORDAN) in fake.suppressions


def test_sendgrid_429_retried_after_the_wait_then_removed(fake):
    fake.suppressions[("bounces", JORDAN)] = [bounce_row(JORDAN)]
    fake.set_fault("429", 1)
    answer = sendgrid(fake, sleep=no_sleep).remove_suppression(JORDAN, "bounces")
    assert answer.removed and not answer.already_gone
    assert seen(fake) == [("DELETE", f"/v3/suppression/bounces/{JORDAN_ENC}")] * 2


def test_sendgrid_429_gives_up_rate_limited_after_a_bounded_wait(fake):
    fake.set_fault("429")
    p = sendgrid(fake, sleep=no_sleep, max_total_wait=2.5)
    with pytest.raises(errors.RateLimited) as ei:
        p.remove_suppression(JORDAN, "bounces")
    assert str(ei.value).startswith("SendGrid rate limited the request, try again in ")
    assert 2 <= fake.count() <= 4  # waited as told (about 1 s a time), within 2.5 s: no retry storm
    assert p.rate_wait() > 0  # the account's budget is closed for every caller


def test_sendgrid_429_longer_than_a_page_may_wait_is_not_retried(fake):
    fake.retry_after = 120
    fake.set_fault("429")
    with pytest.raises(errors.RateLimited) as ei:
        sendgrid(fake).remove_suppression(JORDAN, "bounces")
    assert str(ei.value).startswith("SendGrid rate limited the request, try again in 12")  # 120 s, or 121 by the reset
    assert fake.count() == 1


@pytest.mark.parametrize(("fault", "words"), [("500", "could not answer (HTTP 500"), ("drop", "the connection was dropped")])
def test_sendgrid_provider_down(fake, fault, words):
    fake.set_fault(fault)
    with pytest.raises(errors.Unavailable) as ei:
        sendgrid(fake, max_attempts=3).remove_suppression(JORDAN, "bounces")
    assert words in str(ei.value)
    assert fake.count() == 3  # the policy's attempts, no more


def test_sendgrid_removal_shares_the_account_budget():
    """Six a minute, burst one: a suppression read takes the slot, so the removal right after it
    would wait ~10 s, longer than the call may: it stops with "try again", sending nothing."""
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(f"{request.method} {request.url.raw_path.decode()}")
        return httpx.Response(200, json=[])

    http = ProviderHttp(new_client(httpx.MockTransport(handler)), RetryPolicy(max_total_wait=2.0), sleep=no_sleep)
    p = SendGridProvider("SG.k", base_url="https://api.sendgrid.test", http=http, logs_per_minute=6,
                         limiter_key=private_limiter_key("rm-budget"))  # fmt: skip
    p.suppression(JORDAN, "BOUNCE")  # its first list takes the only slot; the second cannot go
    assert sent == ["GET /v3/suppression/bounces/jordan.miles%40harborcredit.com"]
    with pytest.raises(errors.RateLimited) as ei:
        p.remove_suppression(JORDAN, "bounces")
    assert "try again in" in str(ei.value)
    assert len(sent) == 1


def mock_sendgrid(status: int, body: bytes = b"") -> tuple[SendGridProvider, list[str]]:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(f"{request.method} {request.url.raw_path.decode()}")
        return httpx.Response(status, content=body, headers={"content-type": "application/json"})

    http = ProviderHttp(new_client(httpx.MockTransport(handler)), RetryPolicy(max_attempts=2, base_backoff=0.01), sleep=no_sleep)
    return SendGridProvider("SG.k", base_url="https://api.sendgrid.test", http=http,
                            limiter_key=private_limiter_key("rm-mock")), sent  # fmt: skip


def test_sendgrid_200_counts_as_removed():
    p, sent = mock_sendgrid(200, b"{}")
    assert p.remove_suppression(JORDAN, "invalid_emails") == RemovalAnswer(True, False, "SendGrid removed it from the invalid emails list.")
    assert sent == ["DELETE /v3/suppression/invalid_emails/jordan.miles%40harborcredit.com"]


@pytest.mark.parametrize(("status", "body", "error"), [
    (400, b'{"errors": [{"message": "invalid email"}]}', errors.BadRequest),
    (400, b'{"errors": [{"message": "authorization required"}]}', errors.NotEntitled),
    (405, b"", errors.BadRequest),
    (302, b"", errors.BadRequest),
])  # fmt: skip
def test_sendgrid_other_answers(status, body, error):
    p, sent = mock_sendgrid(status, body)
    with pytest.raises(error) as ei:
        p.remove_suppression(JORDAN, "bounces")
    assert f"HTTP {status}" in str(ei.value)
    if error is errors.NotEntitled:
        assert "Suppressions write access" in str(ei.value)
    assert len(sent) == 1


# --- Postmark ------------------------------------------------------------------------------------


def pm_row(email: str, reason: str, origin: str = "Customer") -> dict:
    return {"EmailAddress": email, "SuppressionReason": reason, "Origin": origin, "CreatedAt": "2026-11-20T09:00:08Z"}


def test_postmark_removable_reasons():
    p = PostmarkProvider("t", base_url="https://pm-rm.postmark.test")
    assert [k for k in ("HardBounce", "ManualSuppression", "SpamComplaint", "bounces") if p.can_remove(k)] == [
        "HardBounce", "ManualSuppression"
    ]


@pytest.mark.parametrize(("reason", "label"), [
    ("HardBounce", "hard bounce (outbound stream)"),
    ("ManualSuppression", "manual suppression (outbound stream)"),
])  # fmt: skip
def test_postmark_deleted(fake, reason, label):
    fake.postmark_suppressions[SAM] = [pm_row(SAM, reason)]
    p = postmark(fake)
    answer = p.remove_suppression(SAM, reason)
    assert answer.removed is True and answer.already_gone is False
    assert answer.words == f"Postmark removed it from the {label} list (Postmark applies it within about a minute)."
    assert seen(fake) == [("POST", DELETE_PATH)]
    assert json.loads(fake.bodies[0]) == {"Suppressions": [{"EmailAddress": SAM}]}
    assert SAM not in fake.postmark_suppressions
    assert p.suppressions(SAM).entries == ()


def test_postmark_failed_keeps_postmarks_words(fake):
    """The address is on HardBounce and SpamComplaint: Postmark refuses to delete it."""
    fake.postmark_suppressions[SAM] = [pm_row(SAM, "HardBounce"), pm_row(SAM, "SpamComplaint", "Recipient")]
    answer = postmark(fake).remove_suppression(SAM, "HardBounce")
    assert answer == RemovalAnswer(
        False, False, "Postmark did not remove it: You do not have permission to delete SpamComplaint suppressions."
    )
    assert len(fake.postmark_suppressions[SAM]) == 2
    assert seen(fake) == [("POST", DELETE_PATH)]


def test_postmark_unlisted_address_is_deleted_as_postmark_answers(fake):
    answer = postmark(fake).remove_suppression("nobody@example.com", "HardBounce")
    assert answer.removed is True and answer.already_gone is False and "removed it" in answer.words


@pytest.mark.parametrize("email", [PLUS, UNICODE])
def test_postmark_awkward_address_travels_in_the_json_body(fake, email):
    fake.postmark_suppressions[email] = [pm_row(email, "HardBounce")]
    p = PostmarkProvider(fake.postmark_token, base_url=fake.url, http=ProviderHttp(new_client(), RetryPolicy(max_attempts=1)),
                         message_stream="broadcast news")  # fmt: skip
    assert p.remove_suppression(email, "HardBounce").removed
    assert fake.raw_paths == ["/message-streams/broadcast%20news/suppressions/delete"]
    assert json.loads(fake.bodies[0]) == {"Suppressions": [{"EmailAddress": email}]}
    assert email not in fake.postmark_suppressions


@pytest.mark.parametrize(("key", "words"), [
    ("SpamComplaint", "Spam complaint (outbound stream) cannot be removed: the recipient asked not to receive email."),
    ("bounces", "commlog does not know Postmark's \u201cbounces (outbound stream)\u201d list, so it cannot remove an address "
                "from it."),
])  # fmt: skip
def test_postmark_refuses_without_a_request(fake, key, words):
    fake.postmark_suppressions[SAM] = [pm_row(SAM, "SpamComplaint", "Recipient")]
    with pytest.raises(errors.NotRemovable) as ei:
        postmark(fake).remove_suppression(SAM, key)
    assert str(ei.value) == words
    assert fake.count() == 0


def test_postmark_wrong_token(fake):
    secret = "pm-wrong-token-DO-NOT-LEAK"
    with pytest.raises(errors.KeyNotAccepted) as ei:
        postmark(fake, token=secret).remove_suppression(SAM, "HardBounce")
    assert "did not accept the server token (HTTP 401)" in str(ei.value) and "POSTMARK_SERVER_TOKEN" in str(ei.value)
    assert secret not in str(ei.value)
    assert fake.count() == 1


def test_postmark_429_retried_then_deleted(fake):
    fake.postmark_suppressions[SAM] = [pm_row(SAM, "HardBounce")]
    fake.set_fault("429", 1)
    assert postmark(fake, sleep=no_sleep).remove_suppression(SAM, "HardBounce").removed
    assert seen(fake) == [("POST", DELETE_PATH)] * 2


def test_postmark_429_gives_up_after_a_bounded_wait(fake):
    fake.set_fault("429")
    with pytest.raises(errors.RateLimited) as ei:
        postmark(fake, sleep=no_sleep, max_total_wait=2.5).remove_suppression(SAM, "HardBounce")
    assert str(ei.value).startswith("Postmark rate limited the request, try again in ")
    assert 2 <= fake.count() <= 4


def test_postmark_down(fake):
    fake.set_fault("500")
    with pytest.raises(errors.Unavailable) as ei:
        postmark(fake, max_attempts=3).remove_suppression(SAM, "HardBounce")
    assert "Postmark could not answer (HTTP 500" in str(ei.value)
    assert fake.count() == 3


def mock_postmark(status: int, body: object) -> tuple[PostmarkProvider, list[str]]:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(f"{request.method} {request.url.raw_path.decode()}")
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.Response(status, content=content, headers={"content-type": "application/json"})

    http = ProviderHttp(new_client(httpx.MockTransport(handler)), RetryPolicy(max_attempts=2, base_backoff=0.01), sleep=no_sleep)
    return PostmarkProvider("pm-token-secret", base_url=f"https://{private_limiter_key('pm')}.postmark.test", http=http), sent


@pytest.mark.parametrize(("status", "body", "error", "words"), [
    (403, {"ErrorCode": 0, "Message": "Forbidden"}, errors.NotEntitled,
     "not entitled to removing addresses from this Postmark server's suppression lists"),
    (422, {"ErrorCode": 10, "Message": "Bad or missing API token"}, errors.KeyNotAccepted, "(HTTP 422)"),
    (422, {"ErrorCode": 1224, "Message": "bad body"}, errors.BadRequest, "rejected the query (HTTP 422)"),
    (404, {"Message": "no stream"}, errors.NotFound, "Postmark has no message stream \u201coutbound\u201d on this server."),
    (200, b"<html>oops", errors.BadResponse, "cannot read"),
    (200, {"Suppressions": "none"}, errors.BadResponse, "no Suppressions list"),
    (200, {"Suppressions": [{"EmailAddress": SAM, "Status": "Pending"}]}, errors.BadResponse, "unknown removal status"),
])  # fmt: skip
def test_postmark_other_answers(status, body, error, words):
    p, sent = mock_postmark(status, body)
    with pytest.raises(error) as ei:
        p.remove_suppression(SAM, "HardBounce")
    assert words in str(ei.value) and "pm-token-secret" not in str(ei.value)
    assert sent == [f"POST {DELETE_PATH}"]


def test_postmark_nothing_to_delete_is_already_gone():
    p, _ = mock_postmark(200, {"Suppressions": []})
    answer = p.remove_suppression(SAM, "HardBounce")
    assert answer.removed is True and answer.already_gone is True
    assert answer.words == "It was not on Postmark's hard bounce (outbound stream) list any more: there was nothing to delete."


def test_postmark_failed_message_is_made_short_and_plain():
    noisy = "<b>Cannot</b>\n\tdelete\x00 this " + "very " * 100 + "long reason"
    p, _ = mock_postmark(200, {"Suppressions": [{"EmailAddress": SAM.upper(), "Status": "Failed", "Message": noisy}]})
    answer = p.remove_suppression(SAM, "HardBounce")
    assert answer.removed is False and answer.already_gone is False
    said = answer.words.removeprefix("Postmark did not remove it: ")
    assert said.startswith("Cannot delete this very very") and said.endswith("\u2026")
    assert len(said) <= 300
    assert "<" not in said and "\n" not in said and "\x00" not in said and "  " not in said


def test_postmark_failed_without_a_message():
    p, _ = mock_postmark(200, {"Suppressions": [{"EmailAddress": SAM, "Status": "Failed", "Message": None}]})
    assert p.remove_suppression(SAM, "HardBounce") == RemovalAnswer(False, False, "Postmark did not remove it, and gave no reason.")


def test_plain_text():
    assert plain_text("  You do not\nhave permission.  ") == "You do not have permission."
    assert plain_text(None) == "" and plain_text(42) == ""
    assert plain_text("x" * 301) == "x" * 299 + "\u2026"
    assert plain_text("x" * 300) == "x" * 300

