"""The sandbox's suppression lists, asked through `SandboxProvider.suppressions()` (the real SendGrid
adapter and HTTP layer over the in-process backend), checked against what the seeded demo stored:
an address that bounced is on bounces since the bounce, one whose latest ended message was BLOCKED
is on blocks (which does not stop sending), a delivered address is on nothing."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from commlog.demo.seed import SeedConfig, seed_demo
from commlog.models import DeliveryEvent, Message
from commlog.providers.sandbox import SandboxProvider
from tests.support import factories as f

UTC = UTC
ANCHOR = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ALL_FIVE = ("bounces", "blocks", "invalid_emails", "spam_reports", "unsubscribes")
DELIVERED = ("DELIVERED", "OPEN", "CLICK")


@pytest.fixture
def demo(engine):
    seed_demo(engine, SeedConfig(lenders=2, borrowers=60, messages=600, days=10, now=ANCHOR, users=False), progress=False)
    return engine


def quiet(engine, now: datetime = ANCHOR) -> SandboxProvider:
    return SandboxProvider(engine, now=now, latency=(0, 0), rate_429=0, per_minute=60_000)


def sent_by_address(engine) -> dict[str, list]:
    """Every sent demo message, oldest first, by recipient address (the demo's stored view)."""
    out: dict[str, list] = defaultdict(list)
    with engine.connect() as conn:
        rows = conn.execute(
            select(Message.id, Message.recipient_email, Message.sent_at, Message.last_event_type)
            .where(Message.send_status == "sent", Message.sent_at <= ANCHOR)
            .order_by(Message.sent_at, Message.id)
        ).all()
    for r in rows:
        out[r.recipient_email].append(r)
    return out


def stored_events(engine, message_id: int, event_type: str) -> list:
    with engine.connect() as conn:
        return conn.execute(
            select(DeliveryEvent.occurred_at, DeliveryEvent.reason)
            .where(DeliveryEvent.message_id == message_id, DeliveryEvent.event_type == event_type)
            .order_by(DeliveryEvent.occurred_at)
        ).all()


def utc_second(dt: datetime) -> datetime:
    """SendGrid's `created` is whole Unix seconds."""
    return datetime.fromtimestamp(int(dt.timestamp()), tz=UTC)


def test_bounced_address_is_on_bounces_since_the_bounce(demo):
    first_bounce = {}
    for email, msgs in sent_by_address(demo).items():
        bounces = [ev for m in msgs if m.last_event_type == "BOUNCE" for ev in stored_events(demo, m.id, "BOUNCE")]
        if bounces:
            first_bounce[email] = min(bounces, key=lambda ev: ev.occurred_at)
    assert first_bounce, "the seeded demo has bounced addresses"
    prov = quiet(demo)
    for email, bounce in first_bounce.items():
        report = prov.suppressions(email)
        assert report.error is None and report.lists_asked == ALL_FIVE
        entry = next(e for e in report.entries if e.list_key == "bounces")
        assert entry.since == utc_second(bounce.occurred_at)
        assert entry.reason == bounce.reason and entry.reason.startswith("55")
        assert entry.stops_sending and not entry.recipient_asked
        assert report.suppressed


def test_address_whose_last_message_was_blocked_is_on_blocks(demo):
    by_address = sent_by_address(demo)
    blocked_now = {email: msgs[-1] for email, msgs in by_address.items() if msgs[-1].last_event_type == "BLOCKED"}
    assert blocked_now, "the seeded demo has an address whose latest message was BLOCKED"
    prov = quiet(demo)
    for email, m in blocked_now.items():
        (block,) = stored_events(demo, m.id, "BLOCKED")
        report = prov.suppressions(email)
        assert report.error is None
        assert [e.list_key for e in report.entries] == ["blocks"]
        (entry,) = report.entries
        assert entry.label == "blocks" and entry.since == utc_second(block.occurred_at)
        assert entry.reason == block.reason and " 5.7." in entry.reason
        assert entry.stops_sending is False and entry.recipient_asked is False
        assert report.suppressed is False  # a block alone: SendGrid keeps sending


def test_block_followed_by_a_delivery_is_no_longer_on_blocks(demo):
    recovered = [
        email
        for email, msgs in sent_by_address(demo).items()
        if any(m.last_event_type == "BLOCKED" for m in msgs) and msgs[-1].last_event_type in DELIVERED
    ]
    assert recovered, "the seeded demo has addresses blocked once, delivered since"
    prov = quiet(demo)
    for email in recovered:
        report = prov.suppressions(email)
        assert report.error is None and "blocks" not in [e.list_key for e in report.entries]


def test_delivered_address_is_on_nothing(demo):
    with demo.connect() as conn:
        complained = set(
            conn.execute(
                select(Message.recipient_email).join(DeliveryEvent, DeliveryEvent.message_id == Message.id)
                .where(DeliveryEvent.event_type == "COMPLAINT")
            ).scalars()
        )  # fmt: skip
    delivered = [
        email
        for email, msgs in sent_by_address(demo).items()
        if email not in complained and all(m.last_event_type in DELIVERED for m in msgs)
    ]
    assert delivered
    prov = quiet(demo)
    for email in delivered[:5]:
        report = prov.suppressions(email)
        assert report.provider == "The sandbox email provider"
        assert report.entries == () and report.error is None
        assert report.lists_asked == ALL_FIVE and not report.suppressed


def test_lists_follow_the_sandbox_clock(engine):
    """An address is listed only once its BOUNCE has happened at the sandbox's "now"."""
    with engine.begin() as conn:
        lid = f.lender(conn, "demo-lender")
        sent = ANCHOR - timedelta(hours=3)
        f.message(conn, lid, "sam.taylor@gmial.com", sent_at=sent, provider_message_id="SandboxBounce1.recvd-x-1.0")
    before = quiet(engine, sent - timedelta(minutes=1)).suppressions("sam.taylor@gmial.com")
    assert before.entries == () and before.error is None
    after = quiet(engine).suppressions("sam.taylor@gmial.com")
    (entry,) = after.entries
    assert entry.list_key == "bounces" and "5.1.10" in entry.reason
    assert sent <= entry.since <= sent + timedelta(seconds=15)
