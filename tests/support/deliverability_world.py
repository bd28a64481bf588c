"""Lenders with known rollup rows, for the Deliverability tests (tests/db/test_deliverability.py,
the page's AppTests and the row-level-security test of the anonymous platform median): `bulk`
writes messages of one outcome on one day, `build_health` a recent bounce episode against a calm
baseline across several lenders."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Engine, event, insert

from commlog import rollups
from commlog.domains import provider_family
from commlog.models import Message
from commlog.vocabulary import EVENT_BIT, EventType
from tests.support import factories as f


def bulk(conn, lender_id: int, day: date, n: int, domain: str, outcome: str = "delivered", reason: str | None = None,
         deferred: bool = False, audience: str = "borrower", email_type: str = "password_reset", at: time = time(10, 0)) -> None:
    status, last = {
        "delivered": ("DELIVERED", "DELIVERED"), "bounced": ("NOT_DELIVERED", "BOUNCE"), "blocked": ("NOT_DELIVERED", "BLOCKED"),
        "expired": ("NOT_DELIVERED", "DEFERRED"), "pending": ("PENDING", "PROCESSED"), "unknown": (None, None),
    }[outcome]
    mask = (EVENT_BIT[EventType(last)] if last else 0) | (EVENT_BIT[EventType.DEFERRED] if deferred else 0)
    sent_at = datetime.combine(day, at, UTC)
    rows = [
        dict(lender_id=lender_id, audience=audience, email_type=email_type, subject="s", recipient_email=f"u{i}@{domain}",
             recipient_domain=domain, provider_family=provider_family(domain), sent_at=sent_at, send_status="sent",
             provider="sendgrid", delivery_status=status, last_event_type=last, status_reason=reason, event_mask=mask)
        for i in range(n)
    ]
    conn.execute(insert(Message), rows)


AS_OF = date(2026, 11, 20)


RECENT = AS_OF - timedelta(days=3)  # inside the last 7 days


BASE = AS_OF - timedelta(days=20)  # inside the prior 28


def build_health(conn, extra_lenders: int = 3) -> dict:
    alpha = f.lender(conn, "alpha", "Alpha Lending")  # a Microsoft block episode
    bravo = f.lender(conn, "bravo", "Bravo Credit")  # a steady bounce problem
    bulk(conn, alpha, BASE, 900, "gmail.com")
    bulk(conn, alpha, BASE, 299, "outlook.com")
    bulk(conn, alpha, BASE, 1, "outlook.com", "blocked", "550 5.7.1 blocked")
    bulk(conn, alpha, RECENT, 300, "gmail.com")
    bulk(conn, alpha, RECENT, 184, "hotmail.com")
    bulk(conn, alpha, RECENT, 14, "hotmail.com", "blocked", "550 5.7.1 Service unavailable, Client host [1.2.3.4] blocked")
    bulk(conn, alpha, RECENT, 2, "outlook.com", "blocked", "550 5.7.606 Access denied, banned sending IP")
    bulk(conn, bravo, BASE, 558, "gmail.com")
    bulk(conn, bravo, BASE, 42, "gmial.com", "bounced", "550 5.1.1 user unknown")
    bulk(conn, bravo, RECENT, 138, "yahoo.com", deferred=True)
    bulk(conn, bravo, RECENT, 12, "gmial.com", "bounced", "550 5.1.1 user unknown")
    others = []
    for i in range(extra_lenders):
        lid = f.lender(conn, f"other-{i}", f"Other Lender {i}")
        bulk(conn, lid, RECENT, 200 + 10 * i, "gmail.com")
        bulk(conn, lid, RECENT, 1 + i, "gmail.com", "bounced", "550 5.1.1 user unknown")
        others.append(lid)
    small = f.lender(conn, "tiny", "Tiny Loans")
    bulk(conn, small, RECENT, 40, "gmail.com")
    bulk(conn, small, RECENT, 10, "gmial.com", "bounced", "550 5.1.1 user unknown")
    rollups.rebuild_rollups(conn)
    return {"alpha": alpha, "bravo": bravo, "others": others, "tiny": small}


# Alpha's Microsoft blocks at the edges of its finding's UTC window [RECENT, RECENT + 6]: the same
# messages fall on other local days in Los Angeles (UTC-8) and Tokyo (UTC+9). (day, time, blocked, delivered)
MIDNIGHT_EDGES = (
    (RECENT - timedelta(days=1), time(20, 0), 3, 500),  # outside; 17 Nov in Tokyo (many delivered: another window is no worse)
    (RECENT, time(0, 30), 1, 0),  # inside; 16 Nov in Los Angeles
    (RECENT + timedelta(days=6), time(23, 30), 1, 0),  # inside; 24 Nov in Tokyo
    (RECENT + timedelta(days=7), time(3, 0), 2, 0),  # outside; 23 Nov in Los Angeles
)
EDGE_WINDOW = (RECENT, RECENT + timedelta(days=6))
EDGE_BLOCKED = 16 + 1 + 1  # build_health's 16 on RECENT, and the two inside edges


def build_midnight_edges(conn) -> dict:
    """build_health, and Alpha's Microsoft blocks near midnight UTC around its finding's window."""
    ids = build_health(conn)
    for day, at, blocked, delivered in MIDNIGHT_EDGES:
        bulk(conn, ids["alpha"], day, blocked, "hotmail.com", "blocked", "550 5.7.1 blocked", at=at)
        if delivered:
            bulk(conn, ids["alpha"], day, delivered, "hotmail.com", at=at)
    rollups.rebuild_rollups(conn)
    return ids


@contextmanager
def rollup_reads(target=Engine) -> Iterator[list[str]]:
    """The statements reading a rollup table that `target` runs inside the block: one connection,
    or (the default) every connection of every engine."""
    reads: list[str] = []

    def count(_conn, _cursor, statement, *_):
        if "rollup" in statement:
            reads.append(statement)

    event.listen(target, "before_cursor_execute", count)
    try:
        yield reads
    finally:
        event.remove(target, "before_cursor_execute", count)
