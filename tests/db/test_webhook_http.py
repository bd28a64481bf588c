"""The SendGrid webhook receiver over HTTP: signatures, limits, status codes, concurrency.

An ECDSA P-256 key pair is generated per test session; the receiver gets its public half exactly as
SendGrid shows it (base64 DER SubjectPublicKeyInfo).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select
from starlette.applications import Starlette

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its TestClient; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from commlog.db import make_engine
from commlog.models import DeliveryEvent, Message, UnmatchedEvent
from commlog.settings import SettingsError
from commlog.vocabulary import DeliveryStatus
from commlog.webhooks.app import SENDGRID_PATH, WebhookSettings, create_app, routes
from commlog.webhooks.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    PublicKeyError,
    SignatureError,
    load_public_key,
    public_key_b64,
    sign_for_tests,
    verify_signature,
)
from tests.support import factories

T0 = factories.T0


@pytest.fixture(scope="module")
def private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def settings(private_key) -> WebhookSettings:
    return WebhookSettings(public_key_b64=public_key_b64(private_key), match_interval_seconds=0)


def make_client(engine, settings, now) -> TestClient:
    return TestClient(create_app(lambda: engine, settings, clock=lambda: now))


def signed(private_key, body: bytes, ts: int) -> dict[str, str]:
    return {
        SIGNATURE_HEADER: sign_for_tests(private_key, str(ts), body),
        TIMESTAMP_HEADER: str(ts),
        "Content-Type": "application/json",
    }


def sg_event(email: str, sg_message_id: str | None, event: str, minutes: float, event_id: str, **extra) -> dict:
    ev = {"email": email, "timestamp": int((T0 + timedelta(minutes=minutes)).timestamp()), "event": event, "sg_event_id": event_id}
    if sg_message_id:
        ev["sg_message_id"] = sg_message_id
    return ev | extra


def count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def status_of(engine, message_id: int) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(Message.delivery_status).where(Message.id == message_id)).scalar_one()


def seed_messages(engine, n: int, slug: str = "lender-h") -> list[int]:
    with engine.begin() as conn:
        lender = factories.lender(conn, slug)
        return [factories.message(conn, lender, f"r{i}@example.com", provider_message_id=f"HX{i}") for i in range(n)]


# -- signature module ------------------------------------------------------------------------------


def test_signature_round_trip_and_refusals(private_key, now):
    key = load_public_key(public_key_b64(private_key))
    ts = str(int(now.timestamp()))
    body = b'[{"event":"delivered"}]'
    sig = sign_for_tests(private_key, ts, body)
    assert verify_signature(key, sig, ts, body, now) == int(ts)
    for bad_sig, bad_ts, bad_body, message in [
        (sig, ts, body + b" ", "does not match"),
        (sig, str(int(ts) + 1), body, "does not match"),  # the timestamp is signed too
        (sign_for_tests(ec.generate_private_key(ec.SECP256R1()), ts, body), ts, body, "does not match"),
        ("not base64!!", ts, body, "malformed"),
        ("", ts, body, "missing"),
        (sig, None, body, "missing"),
        (sig, "12a", body, "malformed"),
    ]:
        with pytest.raises(SignatureError, match=message):
            verify_signature(key, bad_sig, bad_ts, bad_body, now)
    old = str(int((now - timedelta(seconds=301)).timestamp()))
    with pytest.raises(SignatureError, match="stale"):
        verify_signature(key, sign_for_tests(private_key, old, body), old, body, now)
    assert verify_signature(key, sign_for_tests(private_key, old, body), old, body, now, max_age_seconds=600)


def test_public_key_must_be_p256_der(private_key):
    with pytest.raises(PublicKeyError):
        load_public_key("")
    with pytest.raises(PublicKeyError):
        load_public_key("bm90IGEga2V5")
    other = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(PublicKeyError, match="P-256"):
        load_public_key(public_key_b64(other))


# -- HTTP ------------------------------------------------------------------------------------------


def test_valid_signed_batch_is_stored_then_bounce_wins(sqlite_engine, settings, private_key, now):
    (mid,) = seed_messages(sqlite_engine, 1)
    ts = int(now.timestamp())
    with make_client(sqlite_engine, settings, now) as client:
        body = json.dumps([sg_event("r0@example.com", "HX0.f.0", "processed", 0, "h-1"),
                           sg_event("r0@example.com", "HX0.f.0", "delivered", 1, "h-2")]).encode()
        r = client.post(SENDGRID_PATH, content=body, headers=signed(private_key, body, ts))
        assert r.status_code == 200
        assert r.json() == {"stored": 2, "duplicates": 0, "unmatched": 0, "rejected": 0}
        assert status_of(sqlite_engine, mid) == DeliveryStatus.DELIVERED

        body = json.dumps([sg_event("r0@example.com", "HX0.f.0", "bounce", 20, "h-3", type="bounce", status="5.1.1")]).encode()
        r = client.post(SENDGRID_PATH, content=body, headers=signed(private_key, body, ts))
        assert r.status_code == 200 and r.json()["stored"] == 1
    assert status_of(sqlite_engine, mid) == DeliveryStatus.NOT_DELIVERED


def test_bad_or_missing_signature_is_401_and_nothing_stored(sqlite_engine, settings, private_key, now):
    seed_messages(sqlite_engine, 1)
    ts = int(now.timestamp())
    body = json.dumps([sg_event("r0@example.com", "HX0.f.0", "delivered", 1, "b-1")]).encode()
    good = signed(private_key, body, ts)
    intruder = signed(ec.generate_private_key(ec.SECP256R1()), body, ts)
    with make_client(sqlite_engine, settings, now) as client:
        cases = [
            intruder,
            {**good, SIGNATURE_HEADER: good[SIGNATURE_HEADER][:-8] + "AAAAAAA="},
            {**good, TIMESTAMP_HEADER: str(ts + 1)},
            {k: v for k, v in good.items() if k != SIGNATURE_HEADER},
            {k: v for k, v in good.items() if k != TIMESTAMP_HEADER},
            {"Content-Type": "application/json"},
        ]
        for headers in cases:
            assert client.post(SENDGRID_PATH, content=body, headers=headers).status_code == 401
        tampered = body.replace(b"delivered", b"bounce\x20\x20\x20")
        refused = client.post(SENDGRID_PATH, content=tampered, headers=good)
        assert refused.status_code == 401 and "invalid signature" in refused.text
    assert count(sqlite_engine, DeliveryEvent) == 0 and count(sqlite_engine, UnmatchedEvent) == 0


@pytest.mark.parametrize("offset", [-301, 301, -86400])
def test_stale_or_future_timestamp_refused(sqlite_engine, settings, private_key, now, offset):
    seed_messages(sqlite_engine, 1)
    body = json.dumps([sg_event("r0@example.com", "HX0.f.0", "delivered", 1, "s-1")]).encode()
    with make_client(sqlite_engine, settings, now) as client:
        r = client.post(SENDGRID_PATH, content=body, headers=signed(private_key, body, int(now.timestamp()) + offset))
    assert r.status_code == 401
    assert "stale timestamp" in r.text and "invalid signature" not in r.text  # says why, and nothing secret
    assert private_key_b64_absent(r.text, private_key)
    assert count(sqlite_engine, DeliveryEvent) == 0


def test_replayed_and_duplicated_posts_double_nothing(sqlite_engine, settings, private_key, now):
    ids = seed_messages(sqlite_engine, 3)
    events = [sg_event(f"r{i}@example.com", f"HX{i}.f.0", "delivered", 1, f"r-{i}") for i in range(3)]
    body = json.dumps(events).encode()
    headers = signed(private_key, body, int(now.timestamp()))
    with make_client(sqlite_engine, settings, now) as client:
        assert client.post(SENDGRID_PATH, content=body, headers=headers).json()["stored"] == 3
        for _ in range(3):  # exact replay of the signed request, inside the freshness window
            r = client.post(SENDGRID_PATH, content=body, headers=headers)
            assert r.status_code == 200 and r.json() == {"stored": 0, "duplicates": 3, "unmatched": 0, "rejected": 0}
        # SendGrid's own retry: same events, new timestamp and signature, in another order
        body2 = json.dumps(events[::-1] + events[:1]).encode()
        r = client.post(SENDGRID_PATH, content=body2, headers=signed(private_key, body2, int(now.timestamp()) - 30))
        assert r.json() == {"stored": 0, "duplicates": 4, "unmatched": 0, "rejected": 0}
    assert count(sqlite_engine, DeliveryEvent) == 3
    assert all(status_of(sqlite_engine, m) == DeliveryStatus.DELIVERED for m in ids)


def test_oversized_body_is_413(sqlite_engine, private_key, now):
    seed_messages(sqlite_engine, 1)
    settings = WebhookSettings(public_key_b64=public_key_b64(private_key), max_body_bytes=2048)
    events = [sg_event("r0@example.com", "HX0.f.0", "open", i, f"o-{i}") for i in range(40)]
    body = json.dumps(events).encode()
    assert len(body) > 2048
    headers = signed(private_key, body, int(now.timestamp()))
    with make_client(sqlite_engine, settings, now) as client:
        assert client.post(SENDGRID_PATH, content=body, headers=headers).status_code == 413

        # No Content-Length (chunked): refused once the limit is passed, before the rest is read.
        sent = []

        def chunks():
            for i in range(0, len(body), 512):
                sent.append(i)
                yield body[i : i + 512]

        no_length = {k: v for k, v in headers.items() if k.lower() != "content-length"}
        assert client.post(SENDGRID_PATH, content=chunks(), headers=no_length).status_code == 413
        small = json.dumps(events[:3]).encode()
        assert client.post(SENDGRID_PATH, content=small, headers=signed(private_key, small, int(now.timestamp()))).status_code == 200
    assert count(sqlite_engine, DeliveryEvent) == 3


def test_malformed_json_is_400_and_bad_events_are_rejected(sqlite_engine, settings, private_key, now):
    seed_messages(sqlite_engine, 1)
    ts = int(now.timestamp())
    with make_client(sqlite_engine, settings, now) as client:
        for body in [b"[{\"event\": ", b"not json", b"\xff\xfe[]", b'{"event":"delivered"}', b'"text"', b""]:
            r = client.post(SENDGRID_PATH, content=body, headers=signed(private_key, body, ts))
            assert r.status_code == 400, body
        body = json.dumps([{"event": "delivered"}, 7, sg_event("r0@example.com", "HX0.f.0", "delivered", 1, "ok-1")]).encode()
        r = client.post(SENDGRID_PATH, content=body, headers=signed(private_key, body, ts))
        assert r.status_code == 200 and r.json() == {"stored": 1, "duplicates": 0, "unmatched": 0, "rejected": 2}
        r = client.post(SENDGRID_PATH, content=b"[]", headers=signed(private_key, b"[]", ts))
        assert r.status_code == 200 and r.json()["stored"] == 0
        assert client.get(SENDGRID_PATH).status_code == 405


def test_unknown_message_kept_and_matched_on_a_later_post(sqlite_engine, settings, private_key, now):
    ts = int(now.timestamp())
    body = json.dumps([sg_event("late@example.com", "LATE7.f.0", "delivered", 1, "k-1")]).encode()
    with make_client(sqlite_engine, settings, now) as client:
        assert client.post(SENDGRID_PATH, content=body, headers=signed(private_key, body, ts)).json()["unmatched"] == 1
        assert count(sqlite_engine, UnmatchedEvent) == 1 and count(sqlite_engine, DeliveryEvent) == 0
        with sqlite_engine.begin() as conn:
            mid = factories.message(conn, factories.lender(conn, "lender-late"), "late@example.com", provider_message_id="LATE7")
        assert status_of(sqlite_engine, mid) is None
        # the next post (any content) runs the matching first (match_interval_seconds=0 here)
        assert client.post(SENDGRID_PATH, content=b"[]", headers=signed(private_key, b"[]", ts)).status_code == 200
    assert status_of(sqlite_engine, mid) == DeliveryStatus.DELIVERED
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(UnmatchedEvent.matched_at)).scalar_one() == now


def test_late_bounces_without_sg_message_id_turn_delivered_emails_not_delivered(engine, settings, private_key, now):
    """Both real shapes of a late bounce over HTTP: with smtp-id only, and with nothing naming the
    email (no sg_message_id, smtp-id or custom args); the second also when its email is written
    after the bounce came, matched by the app's periodic matcher on the next post."""
    with engine.begin() as conn:
        lender = factories.lender(conn, "lender-late")
        by_smtp_id = factories.message(conn, lender, "si@example.com", provider_message_id="SMTPX1", sent_at=T0)
        by_address = factories.message(conn, lender, "Ad@Example.com", sent_at=T0)
    for mid in (by_smtp_id, by_address):
        with engine.begin() as conn:
            factories.events(conn, mid, lender, ("DELIVERED", 1, "250 2.0.0 OK"), now=T0)
        assert status_of(engine, mid) == DeliveryStatus.DELIVERED
    bounce = {"event": "bounce", "type": "bounce", "status": "5.1.1", "reason": "550 5.1.1 user unknown"}
    at = int((T0 + timedelta(days=2)).timestamp())
    body = json.dumps([
        {"email": "si@example.com", "timestamp": at, "sg_event_id": "late-s", "smtp-id": "<SMTPX1@ismtpd0001p1lon1.sendgrid.net>", **bounce},
        {"email": "ad@example.com", "timestamp": at, "sg_event_id": "late-a", **bounce},
        {"email": "later@example.com", "timestamp": at, "sg_event_id": "late-l", **bounce},  # its email: not written yet
    ]).encode()
    ts = int(now.timestamp())
    with make_client(engine, settings, now) as client:
        r = client.post(SENDGRID_PATH, content=body, headers=signed(private_key, body, ts))
        assert r.status_code == 200 and r.json() == {"stored": 2, "duplicates": 0, "unmatched": 1, "rejected": 0}
        assert status_of(engine, by_smtp_id) == status_of(engine, by_address) == DeliveryStatus.NOT_DELIVERED
        again = client.post(SENDGRID_PATH, content=body, headers=signed(private_key, body, ts))  # SendGrid's retry
        assert again.json() == {"stored": 0, "duplicates": 3, "unmatched": 0, "rejected": 0}

        with engine.begin() as conn:
            later = factories.message(conn, lender, "later@example.com", sent_at=T0 + timedelta(days=1))
        assert client.post(SENDGRID_PATH, content=b"[]", headers=signed(private_key, b"[]", ts)).status_code == 200
    assert status_of(engine, later) == DeliveryStatus.NOT_DELIVERED
    assert count(engine, DeliveryEvent) == 2 + 3


def test_no_public_key_refuses_everything_unless_insecure_flag(sqlite_engine, private_key, now, caplog):
    seed_messages(sqlite_engine, 1)
    body = json.dumps([sg_event("r0@example.com", "HX0.f.0", "delivered", 1, "n-1")]).encode()
    headers = signed(private_key, body, int(now.timestamp()))
    with caplog.at_level(logging.ERROR, logger="commlog.webhooks"):
        with make_client(sqlite_engine, WebhookSettings(public_key_b64=None), now) as client:
            assert client.post(SENDGRID_PATH, content=body, headers=headers).status_code == 503
    assert any("SENDGRID_WEBHOOK_PUBLIC_KEY is not set" in r.getMessage() for r in caplog.records)
    with make_client(sqlite_engine, WebhookSettings(public_key_b64="Zm9v"), now) as client:
        assert client.post(SENDGRID_PATH, content=body, headers=headers).status_code == 503
    assert count(sqlite_engine, DeliveryEvent) == 0
    with make_client(sqlite_engine, WebhookSettings(insecure_no_signature=True), now) as client:
        r = client.post(SENDGRID_PATH, content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 200 and r.json()["stored"] == 1


def test_settings_from_config(env, private_key):
    env(COMMLOG_SECRETS_FILE="/nonexistent/secrets.toml", SENDGRID_WEBHOOK_PUBLIC_KEY=public_key_b64(private_key),
        COMMLOG_WEBHOOK_MAX_BODY_BYTES="4096")
    s = WebhookSettings.from_config()
    assert (s.public_key_b64.reveal(), s.max_body_bytes, s.max_age_seconds, s.insecure_no_signature) == (
        public_key_b64(private_key), 4096, 300, False
    )
    assert public_key_b64(private_key) not in repr(s)
    env(COMMLOG_WEBHOOK_INSECURE_NO_SIGNATURE="1")
    assert WebhookSettings.from_config().insecure_no_signature


def test_a_setting_it_cannot_use_refuses_every_post_and_says_which(env, sqlite_engine, private_key, now, caplog):
    """Was: a bad number fell back to the default without a word. Now the receiver answers 503
    (SendGrid retries) and its log names the setting, as for a missing key."""
    env(COMMLOG_SECRETS_FILE="/nonexistent/secrets.toml", SENDGRID_WEBHOOK_PUBLIC_KEY=public_key_b64(private_key),
        COMMLOG_WEBHOOK_MAX_AGE_SECONDS="not a number")
    with pytest.raises(SettingsError, match="COMMLOG_WEBHOOK_MAX_AGE_SECONDS is 'not a number'"):
        WebhookSettings.from_config()
    seed_messages(sqlite_engine, 1)
    body = json.dumps([sg_event("r0@example.com", "HX0.f.0", "delivered", 1, "n-1")]).encode()
    with caplog.at_level(logging.ERROR, logger="commlog.webhooks"), TestClient(
        create_app(lambda: sqlite_engine, clock=lambda: now)
    ) as client:
        r = client.post(SENDGRID_PATH, content=body, headers=signed(private_key, body, int(now.timestamp())))
    assert r.status_code == 503
    assert any("COMMLOG_WEBHOOK_MAX_AGE_SECONDS is 'not a number'" in rec.getMessage() for rec in caplog.records)
    assert count(sqlite_engine, DeliveryEvent) == 0


def test_database_unavailable_is_503(settings, private_key, now, tmp_path):
    dead = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    unmigrated = make_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")  # no tables: also an unusable database
    body = json.dumps([sg_event("r0@example.com", "HX0.f.0", "delivered", 1, "d-1")]).encode()
    for engine in (dead, unmigrated):
        with make_client(engine, settings, now) as client:
            r = client.post(SENDGRID_PATH, content=body, headers=signed(private_key, body, int(now.timestamp())))
        assert r.status_code == 503
        engine.dispose()

    def broken_factory():
        raise RuntimeError("no engine")

    with TestClient(create_app(broken_factory, settings, clock=lambda: now)) as client:
        r = client.post(SENDGRID_PATH, content=body, headers=signed(private_key, body, int(now.timestamp())))
    assert r.status_code == 500


def test_body_and_secrets_never_logged(sqlite_engine, settings, private_key, now, caplog):
    seed_messages(sqlite_engine, 1)
    marker = "secret-marker-7f3a"
    ts = int(now.timestamp())
    bodies = [
        json.dumps([sg_event("r0@example.com", "HX0.f.0", "delivered", 1, "l-1", reason=marker)]).encode(),
        json.dumps([sg_event("who@example.com", "NOPE.f.0", "delivered", 1, "l-2", reason=marker)]).encode(),
        b'{"' + marker.encode() + b'": ',
    ]
    with caplog.at_level(logging.DEBUG):
        with make_client(sqlite_engine, settings, now) as client:
            for body in bodies:
                client.post(SENDGRID_PATH, content=body, headers=signed(private_key, body, ts))
                client.post(SENDGRID_PATH, content=body, headers={**signed(private_key, body, ts), TIMESTAMP_HEADER: "1"})
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "stored" in text and "refused" in text
    assert marker not in text and settings.public_key_b64.reveal() not in text and "who@example.com" not in text


def test_routes_mount_in_another_starlette_app(sqlite_engine, settings, private_key, now):
    """What `st.App("app.py", routes=routes(engine))` does: the route list inside a larger app."""
    seed_messages(sqlite_engine, 1)
    app = Starlette(routes=routes(lambda: sqlite_engine, settings, clock=lambda: now))
    body = json.dumps([sg_event("r0@example.com", "HX0.f.0", "delivered", 1, "m-1")]).encode()
    with TestClient(app) as client:
        assert client.post(SENDGRID_PATH, content=body, headers=signed(private_key, body, int(now.timestamp()))).json()["stored"] == 1


# -- many concurrent posts over real loopback HTTP -------------------------------------------------


@pytest.fixture
def live_server(engine, settings, now):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(lambda: engine, settings, clock=lambda: now)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    sock.close()


def test_concurrent_posts_lose_and_double_nothing(engine, live_server, private_key, now):
    threads, per_post = 20, 50
    n_messages = 100
    with engine.begin() as conn:
        lender = factories.lender(conn, "lender-c")
        mids = [factories.message(conn, lender, f"c{i}@example.com", provider_message_id=f"CX{i}") for i in range(n_messages)]

    def batch(t: int) -> list[dict]:
        evs = []
        for j in range(per_post):
            i = (t * per_post + j) % n_messages
            kind = ["processed", "delivered", "open", "bounce"][(t * per_post + j) // n_messages % 4]
            evs.append(sg_event(f"c{i}@example.com", f"CX{i}.f.{t}", kind, t + j / 100, f"cc-{t}-{j}", type="bounce"))
        return evs

    batches = [batch(t) for t in range(threads)]
    ts = int(now.timestamp())

    def post(t: int) -> list[dict]:
        results = []
        with httpx.Client(timeout=60) as client:
            # each thread posts its own batch, then a neighbour's batch again (a concurrent duplicate)
            for events in (batches[t], batches[(t + 1) % threads]):
                body = json.dumps(events).encode()
                r = client.post(live_server + SENDGRID_PATH, content=body, headers=signed(private_key, body, ts))
                assert r.status_code == 200, r.text
                results.append(r.json())
        return results

    with ThreadPoolExecutor(threads) as pool:
        results = [r for rs in pool.map(post, range(threads)) for r in rs]
    total = threads * per_post
    assert sum(r["stored"] for r in results) == total
    assert sum(r["stored"] + r["duplicates"] for r in results) == 2 * total
    assert count(engine, DeliveryEvent) == total
    with engine.connect() as conn:
        distinct = conn.execute(select(func.count(func.distinct(DeliveryEvent.provider_event_id)))).scalar_one()
        statuses = conn.execute(select(func.count()).select_from(Message).where(Message.delivery_status.is_not(None))).scalar_one()
    assert distinct == total and statuses == len(mids)


def private_key_b64_absent(text: str, private_key) -> bool:
    """Neither the verification key nor the request's signature is echoed back."""
    from commlog.webhooks.signature import public_key_b64

    return public_key_b64(private_key) not in text and "signature=" not in text.lower()


def test_a_nul_or_a_lone_surrogate_in_one_event_does_not_fail_its_batch(engine, settings, private_key, now):
    """PostgreSQL's text refuses NUL and UTF-8 has no lone surrogate: JSON may still spell both.
    Each becomes U+FFFD; every event of the batch is stored, and SendGrid's retry doubles nothing."""
    ids = seed_messages(engine, 3, slug="lender-odd")
    body = json.dumps([
        sg_event("r0@example.com", "HX0", "bounce", 2, "odd-1", reason="550 user\u0000unknown", status="5.1.1"),
        sg_event("r1@example.com", "HX1", "deferred", 2, "odd-2\ud800", response="421 try \udfff later"),
        sg_event("r2@example.com", "HX2", "delivered", 2, "odd-3", response="250 OK"),
    ]).encode()
    assert b"\\u0000" in body and b"\\ud800" in body
    ts = int(now.timestamp())
    with make_client(engine, settings, now) as client:
        r = client.post(SENDGRID_PATH, content=body, headers=signed(private_key, body, ts))
        assert r.status_code == 200 and r.json()["stored"] == 3, r.text
        assert client.post(SENDGRID_PATH, content=body, headers=signed(private_key, body, ts)).json()["stored"] == 0
    assert count(engine, DeliveryEvent) == 3
    with engine.connect() as conn:
        reasons = dict(conn.execute(select(DeliveryEvent.message_id, DeliveryEvent.reason)).all())
    assert reasons[ids[0]] == "550 user\ufffdunknown" and reasons[ids[1]] == "421 try \ufffd later"
    assert status_of(engine, ids[0]) == DeliveryStatus.NOT_DELIVERED
