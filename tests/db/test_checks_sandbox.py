"""The sandbox provider (the demo default): the real SendGrid adapter over an in-process transport,
answering from the demo's ground truth (commlog.demo.outcomes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from commlog import checks
from commlog.demo.outcomes import facts_for_message, planned_events
from commlog.demo.seed import SeedConfig, seed_demo
from commlog.models import DeliveryEvent, Message
from commlog.principal import Principal, Role
from commlog.providers import get_providers
from commlog.providers.sandbox import SandboxProvider
from commlog.status import StatusEvent, overall_status
from commlog.vocabulary import DeliveryStatus
from tests.support import factories as f

UTC = UTC
ANCHOR = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
OPS = Principal(1, "ops@commlog.example", Role.OPS, None)


@pytest.fixture
def demo(sqlite_engine):
    seed_demo(sqlite_engine, SeedConfig(lenders=2, borrowers=60, messages=600, days=10, now=ANCHOR, users=False), progress=False)
    return sqlite_engine


def quiet(engine, now, **kw) -> SandboxProvider:
    return SandboxProvider(engine, now=now, latency=(0, 0), rate_429=0, per_minute=60_000, **kw)


def rows(engine, *where):
    with engine.connect() as conn:
        return conn.execute(select(Message.__table__).where(*where).order_by(Message.id)).all()


def test_checked_demo_messages_agree_with_the_seeded_truth(demo):
    sample = rows(demo, Message.delivery_status.is_not(None), Message.send_status == "sent")[:40]
    assert sample
    before = {r.id: (r.delivery_status, r.status_reason) for r in sample}
    outs = checks.check_messages(demo, OPS, [r.id for r in sample], now=ANCHOR, client=quiet(demo, ANCHOR))
    assert all(o.ok for o in outs), [o.error for o in outs if not o.ok]
    assert sum(o.new_events for o in outs) == 0  # same event ids as seeded: nothing new, nothing doubled
    for o in outs:
        assert (str(o.status), o.reason) == before[o.message_id]


def test_unchecked_messages_get_their_planned_outcome(demo):
    later = ANCHOR + timedelta(days=4)
    sample = rows(demo, Message.delivery_status.is_(None), Message.send_status == "sent")[:40]
    assert sample
    outs = checks.check_messages(demo, OPS, [r.id for r in sample], now=later, client=quiet(demo, later))
    with Session(demo) as conn:
        for o, r in zip(outs, sample, strict=True):
            truth = [e for e in planned_events(facts_for_message(conn, r.provider_message_id)) if e.occurred_at <= later]
            expected = overall_status([StatusEvent(str(e.event_type), e.occurred_at, e.reason, e.provider_event_id) for e in truth], r.sent_at, later)
            assert o.status == expected.status
            assert o.events == len(truth)


def test_bounced_demo_address_is_on_the_bounce_list(sqlite_engine):
    with sqlite_engine.begin() as conn:
        lid = f.lender(conn, "demo-lender")
        mid = f.message(conn, lid, "sam.taylor@gmial.com", sent_at=ANCHOR - timedelta(hours=3), provider_message_id="SandboxBounce1.recvd-x-1.0")
    out = checks.check_message(sqlite_engine, OPS, mid, now=ANCHOR, client=quiet(sqlite_engine, ANCHOR))
    assert out.status == DeliveryStatus.NOT_DELIVERED and "5.1.10" in out.reason
    assert out.suppression is not None and out.suppression.suppressed
    assert out.suppression.list_name == "bounces" and out.suppression.since <= ANCHOR
    with sqlite_engine.connect() as conn:
        ev = conn.execute(select(DeliveryEvent.__table__).where(DeliveryEvent.event_type == "BOUNCE")).one()
    assert ev.provider == "sendgrid" and ev.smtp_status == "5.1.10" and ev.bounce_classification == "Invalid Address"


def test_sandbox_429_is_retried_and_noted(sqlite_engine):
    with sqlite_engine.begin() as conn:
        lid = f.lender(conn, "demo-lender")
        mid = f.message(conn, lid, "pat@example.com", sent_at=ANCHOR - timedelta(hours=3), provider_message_id="Sandbox429.recvd-x-1.0")
    prov = quiet(sqlite_engine, ANCHOR, every_429=1)
    prov.backend.every_429 = None  # first request refused, then normal:
    prov.backend.rate_429 = 0
    calls = {"n": 0}
    real = prov.backend.handle

    def first_refused(request):
        calls["n"] += 1
        if calls["n"] == 1:
            prov.backend.every_429 = 1
            try:
                return real(request)
            finally:
                prov.backend.every_429 = None
        return real(request)

    prov.http.client._transport.handler = first_refused
    out = checks.check_message(sqlite_engine, OPS, mid, now=ANCHOR, client=prov)
    assert out.ok and out.status is not None
    assert any("rate limited" in n for n in out.notes)
    assert calls["n"] >= 2


def test_unknown_to_the_sandbox_recent_is_pending(sqlite_engine):
    with sqlite_engine.begin() as conn:
        lid = f.lender(conn, "demo-lender")
        mid = f.message(conn, lid, "pat@example.com", sent_at=ANCHOR + timedelta(minutes=5), provider_message_id="Future.recvd-x-1.0")
    # sent "after" the sandbox's now: it does not know the message yet
    out = checks.check_message(sqlite_engine, OPS, mid, now=ANCHOR + timedelta(minutes=6), client=quiet(sqlite_engine, ANCHOR))
    assert out.ok and out.status == DeliveryStatus.PENDING and out.kind == "pending_unknown"


def test_default_mode_is_the_sandbox(sqlite_engine, monkeypatch):
    monkeypatch.delenv("COMMLOG_PROVIDER", raising=False)
    monkeypatch.setenv("COMMLOG_SECRETS_FILE", "/nonexistent/secrets.toml")
    ps = get_providers(sqlite_engine)
    assert ps.mode == "sandbox" and isinstance(ps.adapters["sandbox"], SandboxProvider)
    assert get_providers(sqlite_engine).adapters["sandbox"] is ps.adapters["sandbox"]  # one per process/engine


def test_sandbox_sync_updates_matched_messages(demo):
    later = ANCHOR + timedelta(days=1)
    prov = quiet(demo, later)
    report = checks.sync_recent(demo, OPS, ANCHOR - timedelta(days=2), ANCHOR, now=later, client=prov)
    assert report.stopped is None and report.listed > 0
    assert report.matched == report.listed == report.updated
    with demo.connect() as conn:
        checked = conn.execute(
            select(func.count()).select_from(Message).where(Message.checked_at == later)
        ).scalar_one()
    assert checked == report.updated
