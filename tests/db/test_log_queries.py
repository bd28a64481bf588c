"""The log's reads, on SQLite and PostgreSQL: scoping, filters, paging, type-ahead, detail."""

from datetime import timedelta

import pytest
from sqlalchemy import delete, select

from commlog import rollups
from commlog.log_queries import (
    count_log,
    email_types,
    fetch_log_page,
    get_message,
    resolve_view,
    search_borrowers,
)
from commlog.log_view import LogView
from commlog.models import Message
from commlog.principal import Principal, Role, ScopeError
from tests.support import factories as f
from tests.support.factories import T0, log_query


@pytest.fixture
def world(engine):
    """Two lenders; lender A has a lender log, a borrower log and a mix of outcomes."""
    with engine.begin() as c:
        a = f.lender(c, "lender-a", "Lender A")
        b = f.lender(c, "lender-b", "Lender B")
        ana = f.account(c, a, "Ana Souza", "ana.souza@gmail.com")
        bob = f.account(c, a, "Bob Ng", "bob@outlook.com")
        f.account(c, a, "Staff Person", "ops@lender-a.example", kind="staff")
        zed = f.account(c, b, "Zed Other", "zed@gmail.com")
        msgs = {}
        msgs["confirm_ana"] = f.message(c, a, "ana.souza@gmail.com", recipient_account_id=ana, sent_at=T0 - timedelta(days=1))
        msgs["reset_ana"] = f.message(c, a, "ana.souza@gmail.com", log_account_id=ana, recipient_account_id=ana,
                                      email_type="password_reset", subject="Reset your password", sent_at=T0 - timedelta(hours=2))
        msgs["confirm_bob"] = f.message(c, a, "bob@outlook.com", recipient_account_id=bob, sent_at=T0 - timedelta(days=2))
        msgs["failed"] = f.message(c, a, "bob@outlook.com", send_status="failed", send_error="relay timeout",
                                   sent_at=T0 - timedelta(days=3))
        msgs["old"] = f.message(c, a, "old@yahoo.com", sent_at=T0 - timedelta(days=40))
        msgs["staff"] = f.message(c, a, "ops@lender-a.example", audience="staff", email_type="password_reset",
                                  subject="Reset your password", sent_at=T0 - timedelta(days=4))
        msgs["foreign"] = f.message(c, b, "zed@gmail.com", recipient_account_id=zed, sent_at=T0 - timedelta(days=1))
        f.events(c, msgs["confirm_ana"], a, ("PROCESSED", -1439, None), ("DELIVERED", -1438, "250 2.0.0 OK"))
        f.events(c, msgs["confirm_bob"], a, ("PROCESSED", -2879, None),
                 ("BOUNCE", -2878, "550 5.1.1 <bob@outlook.com>: Recipient address rejected"))
        f.events(c, msgs["foreign"], b, ("PROCESSED", -1439, None), ("BOUNCE", -1438, "550 5.1.1 user unknown"))
    admin_a = Principal(1, "admin@lender-a.example", Role.LENDER_ADMIN, a)
    ops = Principal(2, "ops@commlog.example", Role.OPS, None)
    return dict(a=a, b=b, ana=ana, bob=bob, zed=zed, msgs=msgs, admin_a=admin_a, ops=ops)


def month(w, **kw):
    return log_query(lender_id=w["a"], since=T0 - timedelta(days=30), **kw)


def test_lender_log_holds_lender_emails_not_borrower_activity(engine, world):
    with engine.connect() as c:
        page = fetch_log_page(c, world["admin_a"], month(world))
    ids = {r["id"] for r in page.rows}
    m = world["msgs"]
    assert ids == {m["confirm_ana"], m["confirm_bob"], m["failed"], m["staff"]}
    assert page.total == 4
    assert [r["sent_at"] for r in page.rows] == sorted((r["sent_at"] for r in page.rows), reverse=True)


def test_borrower_log_holds_only_their_own_activity(engine, world):
    with engine.connect() as c:
        page = fetch_log_page(c, world["admin_a"], month(world, account_id=world["ana"]))
    assert [r["id"] for r in page.rows] == [world["msgs"]["reset_ana"]]


def test_filters_combine(engine, world):
    with engine.connect() as c:
        adm = world["admin_a"]
        assert count_log(c, adm, month(world, delivery_status="NOT_DELIVERED")) == 1
        assert count_log(c, adm, month(world, delivery_status="NOT_CHECKED")) == 1  # the staff reset: the failed send has nothing to check (Status: failed)
        assert count_log(c, adm, month(world, send_status="failed")) == 1
        assert count_log(c, adm, month(world, event_type="BOUNCE")) == 1
        assert count_log(c, adm, month(world, event_type="DELIVERED")) == 1
        assert count_log(c, adm, month(world, audience="staff")) == 1
        assert count_log(c, adm, month(world, email_type="password_reset")) == 1
        assert count_log(c, adm, month(world, domain="outlook.com")) == 2
        assert count_log(c, adm, month(world, text="ANA.SOUZA")) == 1
        assert count_log(c, adm, month(world, text="reset your")) == 1
        assert count_log(c, adm, log_query(lender_id=world["a"])) == 5  # no date bound: the 40-day-old one too


def test_search_text_is_data_not_sql_or_wildcards(engine, world):
    with engine.connect() as c:
        adm = world["admin_a"]
        assert count_log(c, adm, month(world, text="%")) == 0
        assert count_log(c, adm, month(world, text="_")) == 0
        assert count_log(c, adm, month(world, text="' OR 1=1 --")) == 0
        assert count_log(c, adm, month(world, text="x" * 200)) == 0


def test_paging_and_sorting(engine, world):
    with engine.connect() as c:
        adm = world["admin_a"]
        first = fetch_log_page(c, adm, month(world, page_size=25, sort="oldest"))
        assert first.rows[0]["id"] == world["msgs"]["staff"]  # 4 days old, the oldest in range
        beyond = fetch_log_page(c, adm, month(world, page=99))
        assert beyond.page == 1 and len(beyond.rows) == 4  # clamped to the last page
        by_status = fetch_log_page(c, adm, month(world, sort="status"))
        assert by_status.rows[0]["send_status"] == "failed"
        assert by_status.rows[1]["delivery_status"] == "NOT_DELIVERED"


def test_lender_admin_cannot_read_another_lender(engine, world):
    with engine.connect() as c:
        with pytest.raises(ScopeError):
            fetch_log_page(c, world["admin_a"], log_query(lender_id=world["b"]))
        with pytest.raises(ScopeError):
            search_borrowers(c, world["admin_a"], world["b"], "zed")
        assert get_message(c, world["admin_a"], world["msgs"]["foreign"]) is None
        # A borrower of lender B used as account inside lender A's log: nothing.
        assert fetch_log_page(c, world["admin_a"], month(world, account_id=world["zed"])).total == 0


def test_ops_reads_any_lender(engine, world):
    with engine.connect() as c:
        page = fetch_log_page(c, world["ops"], log_query(lender_id=world["b"], since=T0 - timedelta(days=30)))
        assert [r["id"] for r in page.rows] == [world["msgs"]["foreign"]]
        assert get_message(c, world["ops"], world["msgs"]["foreign"]) is not None


def test_borrower_typeahead(engine, world):
    with engine.connect() as c:
        adm = world["admin_a"]
        assert [a.name for a in search_borrowers(c, adm, world["a"], "souza")] == ["Ana Souza"]
        assert [a.email for a in search_borrowers(c, adm, world["a"], "OUTLOOK")] == ["bob@outlook.com"]
        assert search_borrowers(c, adm, world["a"], "ops@lender") == []  # staff are not borrowers
        assert search_borrowers(c, adm, world["a"], "zed") == []  # lender B's borrower
        assert search_borrowers(c, adm, world["a"], "a") == []  # too short to search
        assert search_borrowers(c, adm, world["a"], "%") == []


def test_borrower_typeahead_puts_the_best_match_first(engine, world):
    """The whole address, then emails starting with the text, then names starting with it, then a
    later word of the name, then anywhere; alphabetical within each."""
    with engine.begin() as c:
        for name, email in [("Sal Minto", "sminto@mail.com"), ("Kalinda Ray", "kr@mail.com"), ("Adam Alvarez", "adam.alvarez@mail.com"),
                            ("alice Brown", "alice@mail.com"), ("Albert Stone", "albert@mail.com"), ("Amy Jo", "jo@mail.com.au"),
                            ("Zoe Jo", "jo@mail.com"), ("Alan Park", "park@mail.com")]:
            f.account(c, world["a"], name, email)
    with engine.connect() as c:
        def names(text):
            return [a.name for a in search_borrowers(c, world["admin_a"], world["a"], text)]

        assert names("al") == ["Albert Stone", "alice Brown", "Alan Park", "Adam Alvarez", "Kalinda Ray", "Sal Minto"]
        assert names("jo@mail.com") == ["Zoe Jo", "Amy Jo"]  # the whole address before a longer one
        assert names("  ALICE   brown ") == ["alice Brown"]
        assert names("al")[:1] == [a.name for a in search_borrowers(c, world["admin_a"], world["a"], "al", limit=1)]


def test_borrower_typeahead_finds_a_name_ending_in_the_last_characters(engine, world):
    """No character follows U+10FFFF, so that text's index ranges have no upper end; the character
    after U+D7FF is U+E000 (past the surrogates). Either way the borrower whose name starts with
    the text is found, by email and by name, and no one else."""
    with engine.begin() as c:
        f.account(c, world["a"], "Zz\U0010ffff Last", "zz\U0010ffff@mail.com")
        f.account(c, world["a"], "Ab\ud7ff Edge", "edge@mail.com")
        f.account(c, world["a"], "Zz Other", "zz@mail.com")
    with engine.connect() as c:
        def names(text):
            return [a.name for a in search_borrowers(c, world["admin_a"], world["a"], text)]

        assert names("zz\U0010ffff") == ["Zz\U0010ffff Last"]
        assert names("ab\ud7ff") == ["Ab\ud7ff Edge"]
        assert names("zz") == ["Zz Other", "Zz\U0010ffff Last"]


def test_message_detail_has_events_in_time_order_explained(engine, world):
    with engine.connect() as c:
        d = get_message(c, world["admin_a"], world["msgs"]["confirm_bob"])
    assert [e.event_type for e in d.events] == ["PROCESSED", "BOUNCE"]
    assert "suppressed" in d.events[1].meaning
    assert "5.1.1" in d.events[1].reason
    assert d.message["delivery_status"] == "NOT_DELIVERED"
    assert d.log_account is None and d.lender.name == "Lender A"


def test_resolve_view_refuses_foreign_ids_with_a_notice(engine, world):
    with engine.connect() as c:
        r = resolve_view(c, world["admin_a"], LogView(lender_id=world["b"], account_id=world["zed"]))
    assert r.view.lender_id == world["a"] and r.view.account_id is None
    assert len(r.notices) == 2
    assert all("Lender B" not in n and "Zed" not in n for n in r.notices)


def test_all_logs_view_and_mailbox_provider_filter(engine, world):
    """Deliverability's figures count every log of a lender; its drilldown needs the same rows."""
    with engine.connect() as c:
        adm = world["admin_a"]
        everything = fetch_log_page(c, adm, month(world, all_logs=True))
        assert {r["id"] for r in everything.rows} == {
            world["msgs"][k] for k in ("confirm_ana", "reset_ana", "confirm_bob", "failed", "staff")
        }
        assert count_log(c, adm, month(world, all_logs=True, provider_family="microsoft")) == 2
        assert count_log(c, adm, month(world, all_logs=True, provider_family="google")) == 2


def test_sending_provider_filter(engine, world):
    """The log filter a newcomer added in one place: which provider sent the email for the portal."""
    with engine.begin() as c:
        pm = f.message(c, world["a"], "ana.souza@gmail.com", provider="postmark", subject="Your statement",
                       sent_at=T0 - timedelta(hours=5))
    with engine.connect() as c:
        adm = world["admin_a"]
        postmark = fetch_log_page(c, adm, month(world, all_logs=True, provider="postmark"))
        assert [r["id"] for r in postmark.rows] == [pm]
        assert count_log(c, adm, month(world, all_logs=True, provider="sendgrid")) == 5
        assert count_log(c, adm, month(world, all_logs=True)) == 6


def test_email_type_choices_are_the_lenders_own_types_from_the_rollups(engine, world):
    """The Email type filter offers the types this lender sent (failed sends included), never another
    lender's; a new email counted by its write path is offered at once; a type whose emails retention
    dropped (their month's partition gone, the rollups kept) is no longer offered."""
    with engine.begin() as c:
        f.message(c, world["b"], "zed@gmail.com", email_type="loan_statement", sent_at=T0 - timedelta(days=2))
        f.message(c, world["a"], "bob@outlook.com", email_type="payment_failed", send_status="failed",
                  send_error="relay timeout", sent_at=T0 - timedelta(days=5))
        gone = f.message(c, world["a"], "old@yahoo.com", email_type="welcome_letter", sent_at=T0 - timedelta(days=90))
        rollups.rebuild_rollups(c)
    with engine.connect() as c:
        assert email_types(c, world["admin_a"], world["a"]) == ["account_confirmation", "password_reset", "payment_failed", "welcome_letter"]
        assert email_types(c, world["ops"], world["b"]) == ["account_confirmation", "loan_statement"]
        with pytest.raises(ScopeError):
            email_types(c, world["admin_a"], world["b"])

    with engine.begin() as c:  # a new type, through the write path that counts it
        new = f.message(c, world["a"], "ana.souza@gmail.com", email_type="rate_change_notice", sent_at=T0 - timedelta(hours=1))
        rollups.add_messages(c, [new])
        c.execute(delete(Message).where(Message.id == gone))  # what dropping its month does to the log
    with engine.connect() as c:
        assert email_types(c, world["admin_a"], world["a"]) == [
            "account_confirmation", "password_reset", "payment_failed", "rate_change_notice"]
        assert email_types(c, world["admin_a"], world["a"]) == fetch_types_from_the_log(c, world["a"])


def fetch_types_from_the_log(c, lender_id: int) -> list[str]:
    """The slow way the choices used to be read: DISTINCT over the lender's whole log."""
    return list(c.execute(select(Message.email_type).where(Message.lender_id == lender_id).distinct()
                          .order_by(Message.email_type)).scalars())
