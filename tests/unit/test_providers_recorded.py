"""Adapters against recorded provider JSON (served by an httpx MockTransport, no network)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from commlog.providers import errors
from commlog.providers.base import StoredMessage
from commlog.providers.http import ProviderHttp, RetryPolicy, new_client
from commlog.providers.postmark import PostmarkProvider
from commlog.providers.sendgrid import SendGridProvider
from commlog.vocabulary import EventType as E
from tests.support.fake_provider import private_limiter_key, recorded

UTC = UTC
KEY = "SG.recorded-secret-key-abcdef"
SENT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


class Routes:
    def __init__(self, table: dict[tuple[str, str], tuple[int, object]]) -> None:
        self.table = table
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        raw = request.url.raw_path.decode()
        for (method, prefix), (status, body) in self.table.items():
            if request.method == method and raw.startswith(prefix):
                return httpx.Response(status, content=json.dumps(body).encode(), headers={"content-type": "application/json"})
        return httpx.Response(404, json={"errors": [{"message": "not found"}]})


def sendgrid(routes: Routes, api: str = "logs") -> SendGridProvider:
    http = ProviderHttp(new_client(httpx.MockTransport(routes)), RetryPolicy(max_attempts=2, base_backoff=0.01), sleep=lambda s: None)
    # The Activity limit (6/min) is tested in test_providers_http.py; here it would only slow things.
    return SendGridProvider(
        KEY, base_url="https://api.sendgrid.test", api=api, http=http, limiter_key=private_limiter_key("rec"), activity_per_minute=6000
    )


def postmark(routes: Routes) -> PostmarkProvider:
    http = ProviderHttp(new_client(httpx.MockTransport(routes)), RetryPolicy(max_attempts=2, base_backoff=0.01), sleep=lambda s: None)
    return PostmarkProvider("pm-token", base_url=f"https://{private_limiter_key('pm')}.postmark.test", http=http)


def stored(pmid: str, email: str, provider: str = "sendgrid", sent_at: datetime = SENT) -> StoredMessage:
    return StoredMessage(1, 1, provider, pmid, email, sent_at)


def test_logs_detail_bounce_after_delivery():
    body = recorded("sendgrid_logs_bounce_after_delivery.json")
    routes = Routes({("GET", "/v3/logs/"): (200, body)})
    res = sendgrid(routes).fetch_events(stored(body["sg_message_id"], body["to_email"]))
    assert [e.event_type for e in res.events] == [E.PROCESSED, E.DELIVERED, E.BOUNCE]
    bounce = res.events[-1]
    assert bounce.smtp_status == "5.1.1" and bounce.bounce_classification == "Invalid Address" and bounce.attempt is None
    assert res.provider_status == "bounced"
    assert res.events[0].custom_args.get("commlog_message_id") == "4711"  # nested custom_args in Logs
    req = routes.seen[0]
    assert req.headers["authorization"] == f"Bearer {KEY}"
    # The full per-recipient id is one path segment, encoded.
    assert req.url.raw_path.decode() == "/v3/logs/evEK_IhZSlKus235aGfxIQ.recvd-5f7d8c9b6-x2kqp-1-6739A1B2-7.0"
    assert len(routes.seen) == 1


def test_logs_deferred_then_delivered_attempts():
    body = recorded("sendgrid_logs_deferred_then_delivered.json")
    res = sendgrid(Routes({("GET", "/v3/logs/"): (200, body)})).fetch_events(stored(body["sg_message_id"], body["to_email"]))
    assert [e.event_type for e in res.events] == [E.PROCESSED, E.DEFERRED, E.DEFERRED, E.DELIVERED, E.OPEN]
    assert [e.attempt for e in res.events if e.event_type == E.DEFERRED] == [1, 2]
    assert res.events[1].smtp_status == "4.7.28"
    assert res.events[3].reason.startswith("250 2.0.0 OK")


def test_logs_blocked():
    body = recorded("sendgrid_logs_blocked.json")
    res = sendgrid(Routes({("GET", "/v3/logs/"): (200, body)})).fetch_events(stored(body["sg_message_id"], body["to_email"]))
    assert res.events[-1].event_type == E.BLOCKED and res.events[-1].raw_type == "blocked"
    assert res.events[-1].smtp_status == "5.7.1"


def test_logs_prefix_only_id_searches_then_matches_recipient():
    search = recorded("sendgrid_logs_search.json")
    body = recorded("sendgrid_logs_bounce_after_delivery.json")
    routes = Routes({("POST", "/v3/logs"): (200, search), ("GET", "/v3/logs/"): (200, body)})
    res = sendgrid(routes).fetch_events(stored("evEK_IhZSlKus235aGfxIQ", "jordan.miles@harborcredit.com"))
    assert [e.event_type for e in res.events][-1] == E.BOUNCE
    post = json.loads(routes.seen[0].content)
    assert 'to_email = "jordan.miles@harborcredit.com"' in post["query"]
    assert 'sg_message_id_created_at >= TIMESTAMP "2026-11-20T08:00:00Z"' in post["query"]
    assert routes.seen[1].url.raw_path.decode().endswith("recvd-5f7d8c9b6-x2kqp-1-6739A1B2-7.0")


def test_logs_not_found_and_not_entitled():
    nf = recorded("sendgrid_error_404.json")
    with pytest.raises(errors.NotFound):
        sendgrid(Routes({("GET", "/v3/logs/"): (404, nf)})).fetch_events(stored("x.y", "a@x.com"))
    forbidden = recorded("sendgrid_error_403.json")
    with pytest.raises(errors.NotEntitled) as ei:
        sendgrid(Routes({("GET", "/v3/logs/"): (403, forbidden)})).fetch_events(stored("x.y", "a@x.com"))
    text = str(ei.value)
    assert "not entitled" in text and "Email Logs" in text and "failed" not in text.lower()
    assert KEY not in text and KEY not in repr(ei.value)


def test_activity_like_query_is_pre_encoded_and_row_matched():
    lst = recorded("sendgrid_activity_list.json")
    detail = recorded("sendgrid_activity_detail.json")
    routes = Routes({("GET", "/v3/messages?"): (200, lst), ("GET", "/v3/messages/"): (200, detail)})
    pmid = "evEK_IhZSlKus235aGfxIQ.recvd-5f7d8c9b6-x2kqp-1-6739A1B2-7.0"  # suffix differs from the stored one
    res = sendgrid(routes, api="activity").fetch_events(stored(pmid, "jordan.miles@harborcredit.com"))
    raw = routes.seen[0].url.raw_path.decode()
    assert raw == "/v3/messages?limit=10&query=msg_id%20LIKE%20%27evEK_IhZSlKus235aGfxIQ%25%27"
    assert "+" not in raw
    assert routes.seen[1].url.raw_path.decode().endswith("filter0361p1las1-11880-5978131E-22.0")  # jordan's row
    assert [e.event_type for e in res.events] == [E.PROCESSED, E.DEFERRED, E.BOUNCE]
    assert res.events[-1].attempt is None and res.events[-1].raw_type == "bounced (hard)"
    assert [e.attempt for e in res.events] == [None, 1, None]  # attempt_num 0 on processed is no try number
    assert res.provider_status == "not_delivered"


def test_activity_400_authorization_required_is_not_entitled():
    routes = Routes({("GET", "/v3/messages"): (400, {"errors": [{"message": "authorization required"}]})})
    with pytest.raises(errors.NotEntitled) as ei:
        sendgrid(routes, api="activity").fetch_events(stored("a.b", "a@x.com"))
    assert "Email Activity" in str(ei.value)


def test_sendgrid_suppression_lookup():
    rows = recorded("sendgrid_suppression_bounces.json")
    routes = Routes({("GET", "/v3/suppression/bounces/jordan.miles%40harborcredit.com"): (200, rows), ("GET", "/v3/suppression/"): (200, [])})
    sup = sendgrid(routes).suppression("jordan.miles@harborcredit.com", "BOUNCE 550 5.1.1")
    assert sup.suppressed and sup.list_name == "bounces"
    assert sup.since == datetime(2026, 11, 20, 9, 10, tzinfo=UTC)
    assert "bounces list since 2026-11-20 09:10 UTC" in sup.describe()
    # dropped "Spam Reporting Address": the spam_reports list is asked first
    routes2 = Routes({("GET", "/v3/suppression/"): (200, [])})
    sup2 = sendgrid(routes2).suppression("x+tag@example.com", "DROPPED Spam Reporting Address")
    assert not sup2.suppressed and sup2.error is None
    assert routes2.seen[0].url.raw_path.decode() == "/v3/suppression/spam_reports/x%2Btag%40example.com"


def test_sendgrid_missing_key_is_not_configured():
    p = SendGridProvider("", base_url="https://api.sendgrid.test", http=ProviderHttp(new_client(httpx.MockTransport(Routes({})))))
    with pytest.raises(errors.NotConfigured) as ei:
        p.fetch_events(stored("a.b", "a@x.com"))
    assert "SENDGRID_API_KEY is not set" in str(ei.value)


def test_postmark_details_and_headers():
    body = recorded("postmark_details_delivered.json")
    routes = Routes({("GET", "/messages/outbound/"): (200, body)})
    res = postmark(routes).fetch_events(stored(body["MessageID"], "riley.chen@yahoo.com", "postmark"))
    assert [e.event_type for e in res.events] == [E.DEFERRED, E.DELIVERED, E.OPEN]
    assert res.provider_status == "Sent"
    req = routes.seen[0]
    assert req.headers["x-postmark-server-token"] == "pm-token"
    assert req.url.raw_path.decode().endswith(f"/messages/outbound/{body['MessageID']}/details")


def test_postmark_bounced_and_queued():
    bounced = recorded("postmark_details_bounced.json")
    res = postmark(Routes({("GET", "/messages/outbound/"): (200, bounced)})).fetch_events(
        stored(bounced["MessageID"], "sam.taylor@gmial.com", "postmark")
    )
    assert [e.event_type for e in res.events] == [E.BOUNCE]
    assert res.events[0].raw_type == "HardBounce" and res.events[0].smtp_status == "5.1.10"
    queued = recorded("postmark_details_queued.json")
    res = postmark(Routes({("GET", "/messages/outbound/"): (200, queued)})).fetch_events(
        stored(queued["MessageID"], "drew@example.com", "postmark")
    )
    assert [e.event_type for e in res.events] == [E.PROCESSED]


def test_postmark_701_not_found_and_401():
    with pytest.raises(errors.NotFound):
        postmark(Routes({("GET", "/messages/outbound/"): (422, recorded("postmark_error_701.json"))})).fetch_events(
            stored("nope", "a@x.com", "postmark")
        )
    with pytest.raises(errors.KeyNotAccepted) as ei:
        postmark(Routes({("GET", "/messages/outbound/"): (401, {"ErrorCode": 10, "Message": "bad token"})})).fetch_events(
            stored("nope", "a@x.com", "postmark")
        )
    assert "pm-token" not in str(ei.value) and "wrong, revoked or deleted" in str(ei.value)
    with pytest.raises(errors.NotEntitled) as ei:  # a valid token of the wrong kind
        postmark(Routes({("GET", "/messages/outbound/"): (403, {"ErrorCode": 0, "Message": "forbidden"})})).fetch_events(
            stored("nope", "a@x.com", "postmark")
        )
    assert "Server API token" in str(ei.value) and "POSTMARK_SERVER_TOKEN" in str(ei.value)


def test_postmark_suppression_dump():
    routes = Routes({("GET", "/message-streams/outbound/suppressions/dump"): (200, recorded("postmark_suppressions_dump.json"))})
    sup = postmark(routes).suppression("sam.taylor@gmial.com")
    assert sup.suppressed and sup.reason == "HardBounce"
    assert sup.since == datetime(2026, 11, 20, 9, 0, 8, tzinfo=UTC)
    assert routes.seen[0].url.raw_path.decode().endswith("EmailAddress=sam.taylor%40gmial.com")


def test_logs_sync_listing_splits_full_windows():
    rows = [
        {"sg_message_id": f"m{i}.recvd-x", "to_email": f"u{i}@x.com", "status": "delivered", "sg_message_id_created_at": "2026-11-20T09:00:00Z"}
        for i in range(1000)
    ]
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        q = json.loads(request.content)["query"]
        calls.append(q)
        return httpx.Response(200, json={"messages": rows if len(calls) == 1 else rows[:3]})

    http = ProviderHttp(new_client(httpx.MockTransport(handler)), sleep=lambda s: None)
    p = SendGridProvider(KEY, base_url="https://api.sendgrid.test", http=http, limiter_key="split")
    got = list(p.list_messages(SENT, SENT + timedelta(hours=2)))
    assert len(calls) == 3 and len(got) == 6
    assert 'sg_message_id_created_at < TIMESTAMP "2026-11-20T10:00:00Z"' in calls[1]
