"""Subjects a mailer stored RFC 2047 encoded: kept exactly as received, shown, searched and exported
decoded, on SQLite and PostgreSQL; migration 0005 decodes the rows stored before it."""

from __future__ import annotations

import csv
import importlib.util
import io
from collections import Counter
from datetime import timedelta

from alembic import command
from sqlalchemy import select, text

from commlog.export import FailureExport, build_csv
from commlog.log_queries import SPAN_LENDER, fetch_log_page, get_message
from commlog.migrate import MIGRATIONS_DIR, alembic_config, upgrade
from commlog.models import Message
from commlog.principal import Principal, Role
from commlog.recipient_search import find_emails_to
from tests.support import factories as f
from tests.support.factories import T0, log_query

ENCODED = "=?UTF-8?Q?Payment_reminder=3A_your_instalment_is_due?="
DECODED = "Payment reminder: your instalment is due"
FORMULA_ENCODED = "=?UTF-8?Q?=3DHYPERLINK(=22http=3A//evil=22)?="  # decodes to =HYPERLINK("http://evil")


def _world(engine):
    with engine.begin() as c:
        a = f.lender(c, "acme", "Acme Lending")
        ana = f.account(c, a, "Ana Souza", "ana@gmail.com")
        ids = {
            "encoded": f.message(c, a, "ana@gmail.com", log_account_id=ana, subject=ENCODED, email_type="payment_reminder",
                                 sent_at=T0 - timedelta(hours=1)),
            "formula": f.message(c, a, "ana@gmail.com", log_account_id=ana, subject=FORMULA_ENCODED,
                                 sent_at=T0 - timedelta(hours=2)),
            "plain": f.message(c, a, "ana@gmail.com", log_account_id=ana, subject="Confirm your new account",
                               sent_at=T0 - timedelta(hours=3)),
        }
        for key in ("encoded", "formula"):
            f.events(c, ids[key], a, ("BOUNCE", 1, "550 5.1.1 user unknown"))
    return a, ana, ids, Principal(1, "admin@acme.example", Role.LENDER_ADMIN, a)


def test_the_stored_subject_stays_as_received_and_the_decoded_one_is_kept_beside_it(engine):
    _, _, ids, _ = _world(engine)
    with engine.connect() as c:
        rows = dict(c.execute(select(Message.id, Message.subject)).all())
        decoded = dict(c.execute(select(Message.id, Message.subject_text)).all())
    assert rows[ids["encoded"]] == ENCODED
    assert decoded[ids["encoded"]] == DECODED
    assert decoded[ids["plain"]] is None  # reads as stored: nothing to keep


def test_the_log_shows_and_searches_the_decoded_subject(engine):
    a, ana, ids, admin = _world(engine)
    with engine.connect() as c:
        page = fetch_log_page(c, admin, log_query(lender_id=a, account_id=ana))
        found = fetch_log_page(c, admin, log_query(lender_id=a, account_id=ana, text="reminder: your INSTALMENT"))
        by_raw = fetch_log_page(c, admin, log_query(lender_id=a, account_id=ana, text="Payment_reminder"))
    subjects = {r["id"]: r["subject"] for r in page.rows}
    assert subjects[ids["encoded"]] == DECODED
    assert subjects[ids["formula"]] == '=HYPERLINK("http://evil")'
    assert subjects[ids["plain"]] == "Confirm your new account"
    assert [r["id"] for r in found.rows] == [ids["encoded"]]
    assert by_raw.total == 0  # the wire form is not what anyone reads or types


def test_the_email_and_the_recipient_search_show_it_decoded(engine):
    a, _, ids, admin = _world(engine)
    with engine.connect() as c:
        detail = get_message(c, admin, ids["encoded"])
        search = find_emails_to(c, admin, "ana@gmail.com", lender_id=a)
    assert detail.message["subject"] == DECODED
    assert detail.message["subject_as_received"] == ENCODED
    assert {r["id"]: r["subject"] for r in search.rows}[ids["encoded"]] == DECODED


def test_the_failures_csv_carries_the_decoded_subject_still_formula_safe(engine):
    a, _, ids, admin = _world(engine)
    data = build_csv(engine, admin, FailureExport(log_query(lender_id=a), span=SPAN_LENDER), source="test", file_name="x.csv")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    subject_at = rows[0].index("Subject")
    subjects = {int(r[-1]): r[subject_at] for r in rows[1:]}
    assert subjects[ids["encoded"]] == DECODED  # no longer starts with "=?": no quote needed
    assert subjects[ids["formula"]] == "'=HYPERLINK(\"http://evil\")"


def _insert_raw(conn, lender_id: int, n: int, subject: str) -> None:
    """A message as rows were stored before migration 0005 (no subject_text column)."""
    conn.execute(
        text("INSERT INTO message (lender_id, audience, email_type, subject, recipient_email, recipient_domain, "
             "provider_family, sent_at, send_status, provider, event_mask) VALUES (:l, 'borrower', 'payment_reminder', "
             ":s, :e, 'gmail.com', 'google', :t, 'sent', 'sendgrid', 0)"),
        {"l": lender_id, "s": subject, "e": f"p{n}@gmail.com", "t": (T0 - timedelta(minutes=n)).replace(tzinfo=None)},
    )


def test_migration_0005_decodes_the_subjects_stored_before_it(engine):
    with engine.begin() as c:
        a = f.lender(c, "acme", "Acme Lending")
        command.downgrade(alembic_config(c), "0004")
    subjects = [ENCODED, "Plain subject", "=?UTF-8?B?!!!broken?=", "=?ISO-8859-1?Q?caf=E9?=", ENCODED]
    with engine.begin() as c:
        for n, s in enumerate(subjects):
            _insert_raw(c, a, n, s)
    upgrade(engine)
    with engine.connect() as c:
        got = c.execute(select(Message.subject, Message.subject_text).order_by(Message.id)).all()
    assert [tuple(r) for r in got] == [(ENCODED, DECODED), ("Plain subject", None), ("=?UTF-8?B?!!!broken?=", None),
                                       ("=?ISO-8859-1?Q?caf=E9?=", "café"), (ENCODED, DECODED)]


def test_the_backfill_walks_the_table_a_batch_at_a_time(engine):
    spec = importlib.util.spec_from_file_location("m0005", MIGRATIONS_DIR / "versions" / "0005_subject_text.py")
    m0005 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m0005)
    with engine.begin() as c:
        a = f.lender(c, "acme", "Acme Lending")
        for n in range(7):
            f.message(c, a, f"p{n}@gmail.com", subject=ENCODED if n % 2 == 0 else "=? not encoded ?=")
        c.execute(text("UPDATE message SET subject_text = NULL"))
    with engine.begin() as c:
        assert m0005.backfill(c, batch=2) == 4
    with engine.connect() as c:
        assert Counter(c.execute(select(Message.subject_text)).scalars()) == {DECODED: 4, None: 3}
