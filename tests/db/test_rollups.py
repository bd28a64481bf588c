"""Rollups: buckets, SMTP codes, and incremental maintenance == set-based rebuild."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from commlog import rollups
from commlog.models import Message
from commlog.store import NewEvent, expire_pending, record_events, refresh_status
from tests.support import factories as f

T0 = f.T0


@pytest.mark.parametrize(
    "args, bucket",
    [
        (("failed", None, None), "failed_to_send"),
        (("sent", None, None), "unknown"),
        (("sent", "PENDING", "DEFERRED"), "pending"),
        (("sent", "DELIVERED", "DELIVERED"), "delivered"),
        (("sent", "NOT_DELIVERED", "BOUNCE"), "bounced"),
        (("sent", "NOT_DELIVERED", "BLOCKED"), "blocked"),
        (("sent", "NOT_DELIVERED", "DROPPED"), "not_attempted"),
        (("sent", "NOT_DELIVERED", "FAILED"), "failed"),
        (("sent", "NOT_DELIVERED", "DEFERRED"), "expired"),
        (("sent", "NOT_DELIVERED", "PROCESSED"), "expired"),
        (("sent", "NOT_DELIVERED", None), "expired"),
    ],
)
def test_outcome_of(args, bucket):
    assert rollups.outcome_of(*args) == bucket


@pytest.mark.parametrize(
    "reason, code, cls",
    [
        ("550 5.1.1 The email account that you tried to reach does not exist.", "550 5.1.1", "5.1.x"),
        ("550 5.7.1 Service unavailable; Client host [52.1.2.3] blocked using Spamhaus", "550 5.7.1", "5.7.x"),
        ("5.7.26 This message does not have authentication information", "5.7.26", "5.7.x"),
        ("expired: not delivered within 72 h of retries (last deferral: 421 4.7.28 rate limited)", "421 4.7.28", "4.x.x"),
        ("host 10.5.1.2 said: 552 mailbox full", "552", "5.x.x"),
        ("Bounced Address", "", "no SMTP code"),
        (None, "", "no SMTP code"),
        ("#5.4.1 Recipient address rejected: Access denied", "5.4.1", "5.4.x"),
    ],
)
def test_smtp_code_and_class(reason, code, cls):
    assert rollups.smtp_code(reason) == code
    assert rollups.reason_class(code).startswith(cls)


REASONS = {
    "BOUNCE": ["550 5.1.1 user unknown", "550 5.1.10 RESOLVER.ADR.RecipientNotFound", "5.2.1 mailbox disabled"],
    "BLOCKED": ["550 5.7.1 Service unavailable, Client host blocked", "5.7.26 unauthenticated sender", "554 5.7.606 banned IP"],
    "DEFERRED": ["421 4.7.28 rate limited", "452 4.2.2 mailbox full", None],
    "DROPPED": ["Bounced Address", "Unsubscribed Address"],
    "FAILED": ["Template render error"],
    "DELIVERED": ["250 2.0.0 OK"],
    "PROCESSED": [None],
    "OPEN": [None],
    "COMPLAINT": [None],
}
DOMAINS = ["gmail.com", "outlook.com", "hotmail.co.uk", "yahoo.com", "icloud.com", "acme-bank.example", "gmial.com"]


def _random_writes(conn, rng: random.Random, steps: int) -> None:
    lenders = [f.lender(conn, f"lender-{i}") for i in range(3)]
    ids: list[tuple[int, int]] = []
    now = T0
    ev_seq = 0
    for _ in range(steps):
        action = rng.random()
        now += timedelta(hours=rng.choice([0, 1, 5, 30]))
        if action < 0.30 or not ids:
            lender = rng.choice(lenders)
            failed = rng.random() < 0.05
            mid = f.message(
                conn,
                lender,
                f"user{rng.randrange(10**6)}@{rng.choice(DOMAINS)}",
                audience=rng.choice(["staff", "borrower"]),
                email_type=rng.choice(["account_confirmation", "password_reset"]),
                sent_at=now - timedelta(hours=rng.randrange(0, 200)),
                send_status="failed" if failed else "sent",
            )
            rollups.add_messages(conn, [mid])
            ids.append((mid, lender))
        elif action < 0.80:
            batch = rng.sample(ids, k=min(len(ids), rng.randint(1, 4)))
            events = []
            for mid, lender in batch:
                etype = rng.choice(list(REASONS))
                ev_seq += 1
                events.append(
                    NewEvent(
                        message_id=mid,
                        lender_id=lender,
                        event_type=etype,
                        occurred_at=now - timedelta(minutes=rng.randrange(0, 600)),
                        provider="sendgrid",
                        provider_event_id=f"e{ev_seq}",
                        reason=rng.choice(REASONS[etype]),
                    )
                )
            record_events(conn, events, now, checked_ids=[m for m, _ in batch if rng.random() < 0.5])
        elif action < 0.90:
            mid, _ = rng.choice(ids)
            refresh_status(conn, [], now, checked_ids=[mid])  # a check that found nothing yet
        else:
            expire_pending(conn, now + timedelta(hours=rng.choice([0, 80])))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_equals_rebuilt(engine, seed):
    rng = random.Random(seed)
    with engine.begin() as conn:
        _random_writes(conn, rng, 160)
    with engine.begin() as conn:
        incremental = rollups.snapshot(conn)
        assert sum(incremental[0].values()) == conn.execute(select(Message.id)).all().__len__()
        assert all(v > 0 for v in incremental[0].values()), "no negative or zero counts left behind"
        result = rollups.rebuild_rollups(conn)
        rebuilt = rollups.snapshot(conn)
    assert result.messages == sum(rebuilt[0].values())
    outcomes = {k[5] for k in rebuilt[0]}
    assert {"delivered", "bounced", "blocked"} <= outcomes  # the sequence exercised real transitions
    assert incremental[0] == rebuilt[0]
    assert incremental[1] == rebuilt[1]
    assert incremental[2] == rebuilt[2]


def test_partial_rebuild_keeps_older_days(engine):
    rng = random.Random(7)
    with engine.begin() as conn:
        _random_writes(conn, rng, 80)
        full = rollups.snapshot(conn)
        # Corrupt one recent-day count behind the rollup's back, then rebuild only recent days.
        days = sorted({k[1] for k in full[0]})
        since = days[len(days) // 2]
        conn.execute(update(Message).where(Message.id == 1).values(email_type="renamed_type"))
        rollups.rebuild_rollups(conn, since=since)
        partial = rollups.snapshot(conn)
        rollups.rebuild_rollups(conn)
        rebuilt = rollups.snapshot(conn)
    assert partial[0] == {k: v for k, v in rebuilt[0].items() if k[1] >= since} | {k: v for k, v in full[0].items() if k[1] < since}


def test_late_event_moves_the_send_day_bucket(engine):
    with engine.begin() as conn:
        lender = f.lender(conn, "solo")
        mid = f.message(conn, lender, "ana@gmail.com", sent_at=T0)
        rollups.add_messages(conn, [mid])
        f.events(conn, mid, lender, ("PROCESSED", 1, None), ("DEFERRED", 5, "421 4.7.28 slow down"), now=T0 + timedelta(hours=1))
        # Three days later, a late bounce arrives: the original send day moves PENDING -> bounced.
        f.events(conn, mid, lender, ("BOUNCE", 60 * 50, "550 5.1.1 no such user"), now=T0 + timedelta(days=3))
        daily, domain, coarse = rollups.snapshot(conn)
    assert daily == {(lender, T0.date(), "account_confirmation", "borrower", "google", "bounced", 1): 1}
    assert domain == {(lender, T0.date(), "borrower", "gmail.com", "google", "bounced", "550 5.1.1"): 1}
    assert coarse == {(lender, T0.date(), "google", "bounced", 1): 1}
