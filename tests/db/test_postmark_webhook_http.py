"""The Postmark webhook receiver over HTTP: basic auth, limits, status codes, storage through the
one write path (SQLite and PostgreSQL where it stores)."""

from __future__ import annotations

import base64
import hmac
import json
import logging
import warnings
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its TestClient; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from commlog.db import make_engine
from commlog.models import DeliveryEvent, Message, UnmatchedEvent
from commlog.settings import SettingsError
from commlog.vocabulary import DeliveryStatus
from commlog.webhooks import postmark
from commlog.webhooks.app import WebhookSettings, create_app
from commlog.webhooks.postmark_receiver import POSTMARK_PATH, PostmarkWebhookSettings, routes
from tests.support import factories
from tests.support.fake_provider import recorded

LATER = factories.T0 + timedelta(days=1)
USER, PASSWORD = "postmark-hooks", "pw-8c1f0e7d2b"
DELIVERY = recorded("postmark_webhook_delivery.json")
BOUNCE = recorded("postmark_webhook_bounce.json")
COMPLAINT = recorded("postmark_webhook_spam_complaint.json")
SUBSCRIPTION = recorded("postmark_webhook_subscription_change.json")
PMID = DELIVERY["MessageID"]
RECIPIENT = DELIVERY["Recipient"]


@pytest.fixture
def settings() -> PostmarkWebhookSettings:
    return PostmarkWebhookSettings(user=USER, password=PASSWORD, match_interval_seconds=0)


def client_for(engine, settings) -> TestClient:
    return TestClient(Starlette(routes=routes(lambda: engine, settings, clock=lambda: LATER)))


def auth(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


def post(client: TestClient, record, headers: dict[str, str] | None = None):
    body = record if isinstance(record, bytes) else json.dumps(record).encode()
    return client.post(POSTMARK_PATH, content=body, headers=auth() if headers is None else headers)


def seed(engine, recipient: str = RECIPIENT, pmid: str = PMID, provider: str = "postmark", slug: str = "summit") -> int:
    with engine.begin() as conn:
        lender = factories.lender(conn, slug)
        return factories.message(conn, lender, recipient, provider=provider, provider_message_id=pmid)


def count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def message(engine, message_id: int):
    with engine.connect() as conn:
        return conn.execute(select(Message).where(Message.id == message_id)).one()


def stored_types(engine, message_id: int) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(
            select(DeliveryEvent.event_type).where(DeliveryEvent.message_id == message_id).order_by(DeliveryEvent.occurred_at)
        ).scalars())


COUNTS = {"stored": 0, "duplicates": 0, "unmatched": 0, "rejected": 0, "ignored": 0}


def test_each_record_type_is_stored_and_a_bounce_after_delivery_wins(engine, settings):
    mid = seed(engine)
    with client_for(engine, settings) as client:
        r = post(client, DELIVERY)
        assert r.status_code == 200 and r.json() == COUNTS | {"stored": 1}
        assert message(engine, mid).delivery_status == DeliveryStatus.DELIVERED
        # A spam complaint and the recipient's unsubscribe are stored but change nothing.
        for record in (COMPLAINT, SUBSCRIPTION):
            assert post(client, record).json()["stored"] == 1
            assert message(engine, mid).delivery_status == DeliveryStatus.DELIVERED
        assert post(client, BOUNCE).json()["stored"] == 1
    row = message(engine, mid)
    assert (row.delivery_status, row.last_event_type) == (DeliveryStatus.NOT_DELIVERED, "BOUNCE")
    assert "5.1.1" in row.status_reason
    assert stored_types(engine, mid) == ["DELIVERED", "BOUNCE", "COMPLAINT", "UNSUBSCRIBE"]
    with engine.connect() as conn:
        providers = set(conn.execute(select(DeliveryEvent.provider)).scalars())
        ingested = set(conn.execute(select(DeliveryEvent.ingested_at)).scalars())
    assert providers == {"postmark"} and {i.replace(tzinfo=None) for i in ingested} == {LATER.replace(tzinfo=None)}


def test_credentials_in_the_url_are_what_postmark_sends(sqlite_engine, settings):
    """Postmark's webhook URL is https://user:password@host/…; the client turns it into basic auth."""
    mid = seed(sqlite_engine)
    with client_for(sqlite_engine, settings) as client:
        r = client.post(f"http://{USER}:{PASSWORD}@testserver{POSTMARK_PATH}", json=DELIVERY)
    assert r.status_code == 200 and r.json()["stored"] == 1
    assert message(sqlite_engine, mid).delivery_status == DeliveryStatus.DELIVERED


def test_missing_or_wrong_credentials_are_401_and_store_nothing(sqlite_engine, settings):
    seed(sqlite_engine)
    refusals = [
        {"Content-Type": "application/json"},
        auth(USER, "wrong-password"),
        auth("someone-else", PASSWORD),
        auth(USER.upper(), PASSWORD),
        auth(USER, PASSWORD + " "),
        auth(PASSWORD, USER),
        {"Authorization": f"Bearer {PASSWORD}"},
        {"Authorization": "Basic !!not-base64!!"},
        {"Authorization": "Basic " + base64.b64encode(USER.encode()).decode()},
    ]
    with client_for(sqlite_engine, settings) as client:
        for headers in refusals:
            r = post(client, DELIVERY, headers)
            assert r.status_code == 401, headers
            assert r.headers["WWW-Authenticate"].startswith("Basic ")
            assert PASSWORD not in r.text
    assert count(sqlite_engine, DeliveryEvent) == 0 and count(sqlite_engine, UnmatchedEvent) == 0


def test_both_parts_are_compared_in_constant_time(sqlite_engine, settings, monkeypatch):
    compared = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    seed(sqlite_engine)
    with client_for(sqlite_engine, settings) as client:
        assert post(client, DELIVERY, auth("intruder", "guess")).status_code == 401
        # a wrong user name does not skip the password: both are compared, every time
        assert compared == [(b"intruder", USER.encode()), (b"guess", PASSWORD.encode())]
        compared.clear()
        assert post(client, DELIVERY).status_code == 200
        assert compared == [(USER.encode(), USER.encode()), (PASSWORD.encode(), PASSWORD.encode())]


def test_a_replayed_webhook_stores_once(engine, settings):
    mid = seed(engine)
    records = [DELIVERY, COMPLAINT, SUBSCRIPTION, BOUNCE]
    with client_for(engine, settings) as client:
        assert [post(client, r).json()["stored"] for r in records] == [1, 1, 1, 1]
        for _ in range(2):  # Postmark retries a post it thinks failed: same record, same ids
            for record in records:
                r = post(client, record)
                assert r.status_code == 200 and r.json() == COUNTS | {"duplicates": 1}
    assert count(engine, DeliveryEvent) == 4
    assert message(engine, mid).delivery_status == DeliveryStatus.NOT_DELIVERED


def test_concurrent_retries_store_each_record_once(engine, settings):
    """Postmark may post a record again while the first post is still being stored."""
    mid = seed(engine)
    records = [DELIVERY, COMPLAINT, SUBSCRIPTION, BOUNCE, BOUNCE | {"MessageID": "not-known-yet", "ID": 77}]
    app = Starlette(routes=routes(lambda: engine, settings, clock=lambda: LATER))

    def post_all(_: int) -> list[dict]:
        with TestClient(app) as client:
            return [post(client, r).json() for r in records]

    with ThreadPoolExecutor(6) as pool:
        answers = [a for batch in pool.map(post_all, range(6)) for a in batch]
    assert sum(a["stored"] for a in answers) == 4 and sum(a["unmatched"] for a in answers) == 1
    assert sum(a["duplicates"] for a in answers) == 6 * len(records) - 5
    assert count(engine, DeliveryEvent) == 4 and count(engine, UnmatchedEvent) == 1
    assert message(engine, mid).delivery_status == DeliveryStatus.NOT_DELIVERED


def test_unknown_message_is_kept_then_matched_on_a_later_post(engine, settings):
    with client_for(engine, settings) as client:
        assert post(client, BOUNCE).json() == COUNTS | {"unmatched": 1}
        assert post(client, BOUNCE).json() == COUNTS | {"duplicates": 1}  # kept once
        assert count(engine, UnmatchedEvent) == 1 and count(engine, DeliveryEvent) == 0
        mid = seed(engine)
        other = seed(engine, "casey.ng@example.com", "0f9e8d7c-0000-4000-8000-000000000001", slug="other")
        # the next stored post runs the matching first (match_interval_seconds=0 here)
        other_delivery = DELIVERY | {"MessageID": "0f9e8d7c-0000-4000-8000-000000000001", "Recipient": "casey.ng@example.com"}
        assert post(client, other_delivery).json()["stored"] == 1
    assert message(engine, mid).delivery_status == DeliveryStatus.NOT_DELIVERED
    assert message(engine, other).delivery_status == DeliveryStatus.DELIVERED
    with engine.connect() as conn:
        assert conn.execute(select(UnmatchedEvent.matched_at)).scalar_one().replace(tzinfo=None) == LATER.replace(tzinfo=None)


def test_kept_events_match_only_their_own_message(engine, settings):
    """`match_unmatched` (also run by `webhook --match-unmatched`): same Postmark MessageID and the
    same recipient; a SendGrid message with that id, or another recipient of it, is not theirs."""
    with client_for(engine, settings) as client:
        assert post(client, BOUNCE).json()["unmatched"] == 1
        assert post(client, COMPLAINT).json()["unmatched"] == 1
    assert postmark.match_unmatched(engine, LATER) == 0
    sendgrid_one = seed(engine, provider="sendgrid", slug="sg")
    cc = seed(engine, "cc.recipient@example.com", slug="cc")
    assert postmark.match_unmatched(engine, LATER) == 0
    mid = seed(engine, slug="summit")
    assert postmark.match_unmatched(engine, LATER) == 2
    assert postmark.match_unmatched(engine, LATER) == 0  # moved once
    assert stored_types(engine, mid) == ["BOUNCE", "COMPLAINT"]
    assert message(engine, mid).delivery_status == DeliveryStatus.NOT_DELIVERED
    assert message(engine, sendgrid_one).delivery_status is None and message(engine, cc).delivery_status is None


def test_oversized_body_is_413(sqlite_engine):
    seed(sqlite_engine)
    settings = PostmarkWebhookSettings(user=USER, password=PASSWORD, max_body_bytes=1024)
    big = BOUNCE | {"Content": "x" * 2000}
    with client_for(sqlite_engine, settings) as client:
        assert post(client, big).status_code == 413
        body = json.dumps(big).encode()

        def chunks():  # no Content-Length: refused once the limit is passed
            for i in range(0, len(body), 256):
                yield body[i : i + 256]

        assert client.post(POSTMARK_PATH, content=chunks(), headers=auth()).status_code == 413
        assert count(sqlite_engine, DeliveryEvent) == 0
        assert post(client, BOUNCE).status_code == 200  # the same record without its dump fits
    assert count(sqlite_engine, DeliveryEvent) == 1


def test_bad_json_and_unusable_records_are_400_with_a_reason(sqlite_engine, settings):
    seed(sqlite_engine)
    cases = [
        (b'{"RecordType": ', "body is not JSON"),
        (b"not json", "body is not JSON"),
        (b"\xff\xfe{}", "body is not JSON"),
        (b"", "body is not JSON"),
        (json.dumps([DELIVERY]).encode(), "body is not a JSON object"),
        (b'"Delivery"', "body is not a JSON object"),
        ({k: v for k, v in DELIVERY.items() if k != "RecordType"}, "record without RecordType"),
        ({k: v for k, v in DELIVERY.items() if k != "Recipient"}, "Delivery record without Recipient"),
        (BOUNCE | {"BouncedAt": "last tuesday"}, "Bounce record with an unreadable BouncedAt"),
    ]
    with client_for(sqlite_engine, settings) as client:
        for body, reason in cases:
            r = post(client, body)
            assert (r.status_code, r.json()) == (400, {"error": reason}), body
        assert client.get(POSTMARK_PATH, headers=auth()).status_code == 405
        # Records it does not read are answered 200, so Postmark does not retry them.
        opened = {"RecordType": "Open", "MessageID": PMID, "Recipient": RECIPIENT, "ReceivedAt": "2026-11-20T12:05:00Z"}
        assert post(client, opened).json() == COUNTS | {"ignored": 1}
    assert count(sqlite_engine, DeliveryEvent) == 0 and count(sqlite_engine, UnmatchedEvent) == 0


def test_no_credentials_configured_refuses_every_post_and_says_which(sqlite_engine, caplog):
    seed(sqlite_engine)
    with caplog.at_level(logging.ERROR, logger="commlog.webhooks"):
        with client_for(sqlite_engine, PostmarkWebhookSettings()) as client:
            for _ in range(3):
                assert post(client, DELIVERY).status_code == 503
                assert post(client, DELIVERY, {"Content-Type": "application/json"}).status_code == 503
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1  # once a minute, not once a post
    assert "COMMLOG_POSTMARK_WEBHOOK_USER and COMMLOG_POSTMARK_WEBHOOK_PASSWORD are not set" in said[0]
    assert "https://USER:PASSWORD@your-host/webhooks/postmark" in said[0]
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="commlog.webhooks"):
        with client_for(sqlite_engine, PostmarkWebhookSettings(user=USER)) as client:
            assert post(client, DELIVERY).status_code == 503
    assert "COMMLOG_POSTMARK_WEBHOOK_PASSWORD is not set" in caplog.records[0].getMessage()
    assert count(sqlite_engine, DeliveryEvent) == 0


def test_settings_come_from_the_environment_or_the_secrets_file(env, tmp_path):
    env(COMMLOG_SECRETS_FILE="/nonexistent/secrets.toml", COMMLOG_POSTMARK_WEBHOOK_USER=USER,
        COMMLOG_POSTMARK_WEBHOOK_PASSWORD=PASSWORD, COMMLOG_WEBHOOK_MAX_BODY_BYTES="4096")
    s = PostmarkWebhookSettings.from_config()
    assert (s.user.reveal(), s.password.reveal(), s.max_body_bytes, s.missing()) == (USER, PASSWORD, 4096, None)
    assert PASSWORD not in repr(s) and USER not in repr(s)
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'[commlog]\nCOMMLOG_POSTMARK_WEBHOOK_USER = "from-file"\nCOMMLOG_POSTMARK_WEBHOOK_PASSWORD = "{PASSWORD}"\n')
    env(COMMLOG_SECRETS_FILE=str(secrets), COMMLOG_POSTMARK_WEBHOOK_USER=None, COMMLOG_POSTMARK_WEBHOOK_PASSWORD=None)
    s = PostmarkWebhookSettings.from_config()
    assert (s.user.reveal(), s.password.reveal()) == ("from-file", PASSWORD)
    env(COMMLOG_WEBHOOK_MAX_BODY_BYTES="lots")
    with pytest.raises(SettingsError, match="COMMLOG_WEBHOOK_MAX_BODY_BYTES"):
        PostmarkWebhookSettings.from_config()


def test_a_setting_it_cannot_use_is_503(env, sqlite_engine, caplog):
    env(COMMLOG_SECRETS_FILE="/nonexistent/secrets.toml", COMMLOG_POSTMARK_WEBHOOK_USER=USER,
        COMMLOG_POSTMARK_WEBHOOK_PASSWORD=PASSWORD, COMMLOG_WEBHOOK_MATCH_INTERVAL_SECONDS="often")
    with caplog.at_level(logging.ERROR, logger="commlog.webhooks"):
        with TestClient(Starlette(routes=routes(lambda: sqlite_engine))) as client:
            assert post(client, DELIVERY).status_code == 503
    assert any("COMMLOG_WEBHOOK_MATCH_INTERVAL_SECONDS is 'often'" in r.getMessage() for r in caplog.records)


def test_database_unavailable_is_503(settings, tmp_path):
    dead = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    unmigrated = make_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    for engine in (dead, unmigrated):
        with client_for(engine, settings) as client:
            assert post(client, DELIVERY).status_code == 503
        engine.dispose()


def test_body_and_credentials_never_logged(sqlite_engine, settings, caplog):
    seed(sqlite_engine)
    marker = "secret-marker-51c2"
    with caplog.at_level(logging.DEBUG):
        with client_for(sqlite_engine, settings) as client:
            post(client, BOUNCE | {"Details": marker})
            post(client, BOUNCE | {"MessageID": "unknown-" + marker, "Email": "who@example.com", "ID": 7})
            post(client, DELIVERY | {"DeliveredAt": marker})
            post(client, b'{"' + marker.encode() + b'": ')
            post(client, DELIVERY, auth(USER, marker))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "stored" in text and "refused" in text
    for secret in (marker, PASSWORD, USER, "who@example.com"):
        assert secret not in text


def test_the_standalone_webhook_app_serves_postmark_too(sqlite_engine, settings, now):
    """`python -m commlog webhook` serves `create_app`: SendGrid's route and Postmark's."""
    mid = seed(sqlite_engine)
    app = create_app(lambda: sqlite_engine, WebhookSettings(insecure_no_signature=True), clock=lambda: now,
                     postmark_settings=settings)
    with TestClient(app) as client:
        assert post(client, DELIVERY).json()["stored"] == 1
        assert client.post("/webhooks/sendgrid", content=b"[]").status_code == 200
    assert message(sqlite_engine, mid).delivery_status == DeliveryStatus.DELIVERED
