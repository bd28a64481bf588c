"""The check service: provider answers stored idempotently, the status rule through checks,
lender scoping, failures writing nothing, bulk behaviour, audit."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from commlog import checks
from commlog.checks import check_message, check_messages
from commlog.models import AuditEntry, DeliveryEvent, Message
from commlog.principal import Principal, Role
from commlog.providers import ProviderSet
from commlog.providers.base import Provider
from commlog.providers.http import ProviderHttp, RetryPolicy, new_client
from commlog.providers.sendgrid import SendGridProvider
from commlog.vocabulary import DeliveryStatus
from tests.support import factories as f
from tests.support.fake_provider import FakeProvider, private_limiter_key, recorded

UTC = UTC
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
OPS = Principal(1, "ops@commlog.example", Role.OPS, None)


class Recorded:
    """A SendGrid Logs API answering from recorded JSON: {sg_message_id: (status, body)}."""

    def __init__(self) -> None:
        self.answers: dict[str, tuple[int, object]] = {}
        self.suppressions: dict[str, list] = {}
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        with self.lock:
            self.calls.append(path)
        if path.startswith("/v3/suppression/bounces/"):
            email = path.rsplit("/", 1)[-1]
            return httpx.Response(200, json=self.suppressions.get(email, []))
        if path.startswith("/v3/suppression/"):
            return httpx.Response(200, json=[])
        mid = path[len("/v3/logs/") :]
        status, body = self.answers.get(mid, (404, recorded("sendgrid_error_404.json")))
        return httpx.Response(status, content=json.dumps(body).encode())

    def provider(self) -> SendGridProvider:
        http = ProviderHttp(new_client(httpx.MockTransport(self)), RetryPolicy(max_attempts=2, base_backoff=0.01), sleep=lambda s: None)
        return SendGridProvider("SG.k", base_url="https://sg.test", http=http, limiter_key=private_limiter_key("chk"))


@pytest.fixture
def world(engine):
    with engine.begin() as conn:
        a = f.lender(conn, "lender-a")
        b = f.lender(conn, "lender-b")
    return {"a": a, "b": b, "admin_a": Principal(2, "admin@a.example", Role.LENDER_ADMIN, a)}


def add(engine, lender_id, body_name=None, *, sent_at=None, pmid=None, email="x@example.com", **kw):
    body = recorded(body_name) if body_name else None
    with engine.begin() as conn:
        mid = f.message(
            conn,
            lender_id,
            body["to_email"] if body else email,
            provider_message_id=pmid or (body["sg_message_id"] if body else None),
            sent_at=sent_at or (datetime.fromisoformat(body["sg_message_id_created_at"].replace("Z", "+00:00")) if body else NOW),
            **kw,
        )
    return mid, body


def msg_row(engine, mid):
    with engine.connect() as conn:
        return conn.execute(select(Message.__table__).where(Message.id == mid)).one()


def n_events(engine, mid=None):
    with engine.connect() as conn:
        q = select(func.count()).select_from(DeliveryEvent)
        if mid is not None:
            q = q.where(DeliveryEvent.message_id == mid)
        return conn.execute(q).scalar_one()


def test_bounce_after_delivery_is_not_delivered_with_suppression(engine, world):
    rec = Recorded()
    mid, body = add(engine, world["a"], "sendgrid_logs_bounce_after_delivery.json")
    rec.answers[body["sg_message_id"]] = (200, body)
    rec.suppressions["jordan.miles@harborcredit.com"] = recorded("sendgrid_suppression_bounces.json")
    out = check_message(engine, OPS, mid, now=NOW, client=rec.provider())
    assert out.ok and out.status == DeliveryStatus.NOT_DELIVERED
    assert out.events == 3 and out.new_events == 3
    assert "5.1.1" in out.reason
    assert out.suppression.suppressed and out.suppression.list_name == "bounces"
    m = msg_row(engine, mid)
    assert m.delivery_status == "NOT_DELIVERED" and m.last_event_type == "BOUNCE" and m.checked_at == NOW
    with engine.connect() as conn:
        ev = conn.execute(select(DeliveryEvent.__table__).where(DeliveryEvent.event_type == "BOUNCE")).one()
    assert ev.smtp_status == "5.1.1" and ev.attempt is None and ev.provider == "sendgrid"  # a bounce has no try number
    assert ev.bounce_classification == "Invalid Address" and ev.raw_type == "bounce"


def test_deferred_then_delivered_is_delivered(engine, world):
    rec = Recorded()
    mid, body = add(engine, world["a"], "sendgrid_logs_deferred_then_delivered.json")
    rec.answers[body["sg_message_id"]] = (200, body)
    out = check_message(engine, OPS, mid, now=NOW, client=rec.provider())
    assert out.status == DeliveryStatus.DELIVERED and out.suppression is None
    assert not any("suppression" in c for c in rec.calls)  # no lookup for delivered mail


def test_deferrals_past_72h_are_not_delivered_expired(engine, world):
    rec = Recorded()
    mid, body = add(engine, world["a"], "sendgrid_logs_deferred_expired.json")
    rec.answers[body["sg_message_id"]] = (200, body)
    out = check_message(engine, OPS, mid, now=NOW, client=rec.provider())
    assert out.status == DeliveryStatus.NOT_DELIVERED
    assert out.reason.startswith("expired") and "4.2.2" in out.reason


def test_deferrals_inside_72h_are_pending(engine, world):
    rec = Recorded()
    mid, body = add(engine, world["a"], "sendgrid_logs_deferred_expired.json")
    rec.answers[body["sg_message_id"]] = (200, body)
    out = check_message(engine, OPS, mid, now=datetime(2026, 11, 18, 12, tzinfo=UTC), client=rec.provider())
    assert out.status == DeliveryStatus.PENDING


def test_unknown_recent_message_is_pending_not_an_error(engine, world):
    rec = Recorded()
    mid, _ = add(engine, world["a"], pmid="FreshMsgId.recvd-abc.0", sent_at=NOW - timedelta(minutes=2))
    out = check_message(engine, OPS, mid, now=NOW, client=rec.provider())
    assert out.ok and out.status == DeliveryStatus.PENDING and out.kind == "pending_unknown"
    assert "no record of it yet" in out.summary
    m = msg_row(engine, mid)
    assert m.delivery_status == "PENDING" and m.checked_at == NOW


def test_unknown_older_message_is_not_found_and_writes_nothing(engine, world):
    rec = Recorded()
    mid, _ = add(engine, world["a"], pmid="Old.recvd-abc.0", sent_at=NOW - timedelta(days=3))
    out = check_message(engine, OPS, mid, now=NOW, client=rec.provider())
    assert out.status is None and out.kind == "not_found"
    assert out.error.startswith("Not found: SendGrid has no record of this email although it was sent 3 days ago")
    mid2, _ = add(engine, world["a"], pmid="Ancient.recvd-abc.0", sent_at=NOW - timedelta(days=40))
    out2 = check_message(engine, OPS, mid2, now=NOW, client=rec.provider())
    assert "older than the provider's 30-day retention?" in out2.error
    assert msg_row(engine, mid).checked_at is None and msg_row(engine, mid2).delivery_status is None


def test_checks_are_idempotent(engine, world):
    rec = Recorded()
    mid, body = add(engine, world["a"], "sendgrid_logs_deferred_then_delivered.json")
    rec.answers[body["sg_message_id"]] = (200, body)
    first = check_message(engine, OPS, mid, now=NOW, client=rec.provider())
    with engine.connect() as conn:
        rows1 = conn.execute(select(DeliveryEvent.provider_event_id, DeliveryEvent.event_type).order_by(DeliveryEvent.id)).all()
    second = check_message(engine, OPS, mid, now=NOW + timedelta(minutes=5), client=rec.provider())
    with engine.connect() as conn:
        rows2 = conn.execute(select(DeliveryEvent.provider_event_id, DeliveryEvent.event_type).order_by(DeliveryEvent.id)).all()
    assert rows1 == rows2 and len(rows1) == 5
    assert first.new_events == 5 and second.new_events == 0 and second.events == 5
    assert msg_row(engine, mid).checked_at == NOW + timedelta(minutes=5)


def test_lender_admin_cannot_check_another_lenders_message(engine, world):
    rec = Recorded()
    mid_b, body = add(engine, world["b"], "sendgrid_logs_blocked.json")
    rec.answers[body["sg_message_id"]] = (200, body)
    out = check_message(engine, world["admin_a"], mid_b, now=NOW, client=rec.provider())
    assert out.kind == "not_found" and out.error == checks.NOT_FOUND_TEXT and out.status is None
    assert out.last_known_status is None and out.suppression is None
    assert rec.calls == []  # the provider was never asked
    assert msg_row(engine, mid_b).checked_at is None and n_events(engine) == 0
    # the same id for ops works
    assert check_message(engine, OPS, mid_b, now=NOW, client=rec.provider()).status == DeliveryStatus.NOT_DELIVERED
    # a nonexistent id reads the same as a foreign one
    assert check_message(engine, world["admin_a"], 999_999, now=NOW, client=rec.provider()).error == checks.NOT_FOUND_TEXT


def test_failed_send_is_never_asked(engine, world):
    rec = Recorded()
    mid, _ = add(engine, world["a"], send_status="failed", send_error="SMTP connect failed")
    out = check_message(engine, OPS, mid, now=NOW, client=rec.provider())
    assert out.kind == "never_sent" and "never sent by our mail servers" in out.error
    assert rec.calls == []


@pytest.mark.parametrize("status,kind", [(500, "unavailable"), (403, "not_entitled"), (429, "rate_limited")])
def test_provider_failure_writes_nothing_and_keeps_last_status(engine, world, status, kind):
    rec = Recorded()
    mid, body = add(engine, world["a"], "sendgrid_logs_deferred_then_delivered.json")
    with engine.begin() as conn:  # a last known status from an earlier webhook
        f.events(conn, mid, world["a"], ("PROCESSED", 0, None), ("DEFERRED", 1, "421 try later"), now=NOW - timedelta(hours=1))
    before = msg_row(engine, mid)
    rec.answers[body["sg_message_id"]] = (status, {"errors": [{"message": "x"}]})
    out = check_message(engine, OPS, mid, now=NOW, client=rec.provider())
    assert out.kind == kind and out.status is None and out.last_known_status == "PENDING"
    after = msg_row(engine, mid)
    assert (after.delivery_status, after.checked_at, after.event_mask) == (before.delivery_status, before.checked_at, before.event_mask)
    assert n_events(engine, mid) == 2
    assert "Traceback" not in out.error


def test_database_failure_mid_write_rolls_back(sqlite_engine, monkeypatch):
    engine = sqlite_engine
    with engine.begin() as conn:
        lid = f.lender(conn, "lender-a")
    rec = Recorded()
    mid, body = add(engine, lid, "sendgrid_logs_bounce_after_delivery.json")
    rec.answers[body["sg_message_id"]] = (200, body)
    real = checks.record_events

    def broken(conn, events, now, checked_ids=()):
        real(conn, events, now, checked_ids)  # events inserted, then the transaction fails
        raise RuntimeError("disk full")

    monkeypatch.setattr(checks, "record_events", broken)
    out = check_message(engine, OPS, mid, now=NOW, client=rec.provider())
    assert out.kind == "store_failed" and "nothing was changed" in out.error
    assert n_events(engine) == 0 and msg_row(engine, mid).checked_at is None


def test_bulk_progress_in_calling_thread_and_one_audit_entry(engine, world):
    rec = Recorded()
    ids = []
    for i in range(12):
        mid, _ = add(engine, world["a"], pmid=f"Bulk{i}.recvd-x.0", email=f"u{i}@example.com", sent_at=NOW - timedelta(hours=2))
        body = {**recorded("sendgrid_logs_deferred_then_delivered.json"), "sg_message_id": f"Bulk{i}.recvd-x.0"}
        body["events"] = [{**e, "sg_event_id": f"{e['sg_event_id']}-{i}"} for e in body["events"]]
        rec.answers[f"Bulk{i}.recvd-x.0"] = (200, body)
        ids.append(mid)
    failed, _ = add(engine, world["a"], send_status="failed")
    ids.append(failed)
    caller = threading.get_ident()
    seen = []

    def progress(done, total, outcome):
        assert threading.get_ident() == caller
        seen.append((done, total, outcome.message_id))

    outs = check_messages(engine, world["admin_a"], ids + [ids[0]], now=NOW, client=rec.provider(), on_progress=progress, concurrency=4)
    assert [o.message_id for o in outs] == ids  # input order, duplicates removed
    assert [d for d, _, _ in seen] == list(range(1, 14)) and {t for _, t, _ in seen} == {13}
    assert sum(o.status == DeliveryStatus.DELIVERED for o in outs) == 12 and outs[-1].kind == "never_sent"
    with engine.connect() as conn:
        entries = conn.execute(select(AuditEntry.__table__)).all()
    assert len(entries) == 1
    e = entries[0]
    assert (e.action, e.row_count, e.lender_id, e.user_email) == ("check", 13, world["a"], "admin@a.example")
    detail = json.loads(e.detail)
    assert detail["results"] == {"DELIVERED": 12, "never_sent": 1}


def test_bulk_stops_when_the_provider_refuses_the_account(engine, world):
    rec = Recorded()
    ids = []
    for i in range(30):
        mid, _ = add(engine, world["a"], pmid=f"Ref{i}.recvd-x.0", email=f"r{i}@example.com")
        rec.answers[f"Ref{i}.recvd-x.0"] = (401, {"errors": [{"message": "authorization required"}]})
        ids.append(mid)
    outs = check_messages(engine, OPS, ids, now=NOW, client=rec.provider(), concurrency=2)
    assert all(o.kind == "key_not_accepted" for o in outs)
    assert len({o.error for o in outs}) == 1 and "did not accept the API key" in outs[0].error
    assert len(rec.calls) < 10  # did not hammer the provider 30 times
    assert n_events(engine) == 0


def test_configuration_error_reaches_every_outcome(engine, world, monkeypatch):
    monkeypatch.setenv("COMMLOG_PROVIDER", "mailchimp")
    mid, _ = add(engine, world["a"], pmid="A.recvd-x.0")
    out = check_message(engine, OPS, mid, now=NOW)
    assert out.kind == "not_configured" and "COMMLOG_PROVIDER" in out.error


def test_missing_key_is_reported_not_raised(engine, world, monkeypatch):
    monkeypatch.setenv("COMMLOG_PROVIDER", "sendgrid")
    monkeypatch.delenv("SENDGRID_API_KEY", raising=False)
    monkeypatch.setenv("COMMLOG_SECRETS_FILE", "/nonexistent/secrets.toml")
    mid, _ = add(engine, world["a"], pmid="A.recvd-x.0")
    out = check_message(engine, OPS, mid, now=NOW)
    assert out.kind == "not_configured" and "SENDGRID_API_KEY is not set" in out.error


class _Stub(Provider):
    name = "sendgrid"
    label = "SendGrid"
    retention = timedelta(days=30)

    def fetch_events(self, message):
        raise RuntimeError("secret internals")


def test_unexpected_exception_is_a_clear_message(engine, world):
    mid, _ = add(engine, world["a"], pmid="A.recvd-x.0")
    out = check_message(engine, OPS, mid, now=NOW, client=_Stub())
    assert out.kind == "bad_response" and "secret internals" not in out.error


def test_bulk_over_loopback_http(engine, world):
    with FakeProvider(auto=True, latency=0.02) as fake:
        http = ProviderHttp(new_client(), RetryPolicy())
        prov = SendGridProvider(fake.api_key, base_url=fake.url, http=http, limiter_key=private_limiter_key("loop"))
        ids = [add(engine, world["a"], pmid=f"Loop{i}.recvd-x.0", email=f"l{i}@example.com")[0] for i in range(20)]
        outs = check_messages(engine, OPS, ids, now=NOW, client=ProviderSet.single(prov), concurrency=8)
    assert all(o.status == DeliveryStatus.DELIVERED for o in outs)
    assert fake.count() == 20 and n_events(engine) == 40
