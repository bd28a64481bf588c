""""Find emails to…" (commlog.recipient_search), on SQLite and PostgreSQL: what a lender admin
notices when they type an address, part of one, a domain or a name."""

from datetime import timedelta

import pytest
from sqlalchemy import update

from commlog.models import Message
from commlog.principal import Principal, Role, ScopeError
from commlog.recipient_search import (
    MATCH_ADDRESS,
    MATCH_DOMAIN,
    MATCH_NAME,
    MATCH_PREFIX,
    MAX_RECIPIENTS,
    MAX_TEXT,
    find_emails_to,
    normalize_text,
)
from tests.support import factories as f
from tests.support.factories import T0

ANA = "ana.souza@gmail.com"
ALBERT = "nasser.albert@gmail.com"
BILLY = "b.nasser@gmial.com"
COSIGNER = "cosigner@gmial.com"


@pytest.fixture
def world(engine):
    """Lender A: Ana (emails in the lender's log and in her own log, one stored in capitals),
    Albert and Billy Nasser, a staff member called Nasser, a co-signer without an account.
    Lender B: its own Ana, at the same address."""
    with engine.begin() as c:
        a = f.lender(c, "lender-a", "Lender A")
        b = f.lender(c, "lender-b", "Lender B")
        ana = f.account(c, a, "Ana Souza", ANA)
        albert = f.account(c, a, "Albert Nasser", ALBERT)
        billy = f.account(c, a, "Billy Nasser", BILLY)
        staff = f.account(c, a, "Nasser Haddad", "n.haddad@lender-a.example", kind="staff")
        f.account(c, a, "Never Emailed", "nasser.never@gmail.com")
        ana_b = f.account(c, b, "Ana Souza", ANA)
        m = {}
        m["confirm_ana"] = f.message(c, a, ANA, recipient_account_id=ana, subject="Confirm your new account",
                                     sent_at=T0 - timedelta(days=10))
        m["reset_ana"] = f.message(c, a, ANA, log_account_id=ana, recipient_account_id=ana, email_type="password_reset",
                                   subject="Reset your password", sent_at=T0 - timedelta(hours=2))
        m["statement_ana"] = f.message(c, a, ANA, log_account_id=ana, recipient_account_id=ana, email_type="statement_ready",
                                       subject="Your statement is ready", sent_at=T0 - timedelta(days=3))
        m["capitals_ana"] = f.message(c, a, ANA, recipient_account_id=ana, subject="Loan approved", sent_at=T0 - timedelta(days=5))
        m["confirm_albert"] = f.message(c, a, ALBERT, recipient_account_id=albert, sent_at=T0 - timedelta(days=20))
        m["reset_albert"] = f.message(c, a, ALBERT, log_account_id=albert, recipient_account_id=albert,
                                      email_type="password_reset", subject="Reset your password", sent_at=T0 - timedelta(days=1))
        m["confirm_billy"] = f.message(c, a, BILLY, recipient_account_id=billy, sent_at=T0 - timedelta(days=4))
        m["staff"] = f.message(c, a, "n.haddad@lender-a.example", recipient_account_id=staff, audience="staff",
                               email_type="password_reset", subject="Reset your password", sent_at=T0 - timedelta(days=2))
        m["cosigner"] = f.message(c, a, COSIGNER, subject="You were named as co-signer", sent_at=T0 - timedelta(hours=5))
        m["other"] = f.message(c, a, "someone.else@yahoo.com", sent_at=T0 - timedelta(hours=1))
        m["bravo"] = f.message(c, b, ANA, recipient_account_id=ana_b, subject="Bravo secret subject", sent_at=T0 - timedelta(hours=1))
        m["capitals_only"] = f.message(c, a, "only.capitals@example.com", sent_at=T0 - timedelta(days=6))
        # The sender stored these in capitals: the search compares lower-cased.
        c.execute(update(Message).where(Message.id == m["capitals_ana"]).values(recipient_email="Ana.Souza@GMAIL.com"))
        c.execute(update(Message).where(Message.id == m["capitals_only"]).values(recipient_email="Only.Capitals@Example.COM"))
    return dict(
        a=a, b=b, ana=ana, albert=albert, billy=billy, staff=staff, msgs=m,
        admin_a=Principal(1, "admin@lender-a.example", Role.LENDER_ADMIN, a),
        admin_b=Principal(3, "admin@lender-b.example", Role.LENDER_ADMIN, b),
        ops=Principal(2, "ops@commlog.example", Role.OPS, None),
    )  # fmt: skip


def search(engine, principal, text, **kw):
    kw.setdefault("lender_id", None)
    with engine.connect() as c:
        return find_emails_to(c, principal, text, **kw)


def emails(result):
    return [r.email for r in result.recipients]


def test_whole_address_finds_emails_from_the_lenders_log_and_the_borrowers_log(engine, world):
    res = search(engine, world["admin_a"], ANA)
    m = world["msgs"]
    assert [r["id"] for r in res.rows] == [m["reset_ana"], m["statement_ana"], m["capitals_ana"], m["confirm_ana"]]
    logs = {r["id"]: r["log_account_name"] for r in res.rows}
    assert logs[m["confirm_ana"]] is None and logs[m["capitals_ana"]] is None  # the lender's own log
    assert logs[m["reset_ana"]] == logs[m["statement_ana"]] == "Ana Souza"  # Ana's own log
    assert {r["log_account_id"] for r in res.rows} == {None, world["ana"]}
    assert {(r["lender_id"], r["lender_name"]) for r in res.rows} == {(world["a"], "Lender A")}
    assert res.total == 4 and res.page == 1 and res.num_pages == 1 and not res.more_recipients
    (ana,) = res.recipients
    assert (ana.email, ana.match, ana.name, ana.account_id, ana.kind) == (ANA, MATCH_ADDRESS, "Ana Souza", world["ana"], "borrower")
    assert (ana.emails, ana.last_sent_at, ana.newest_message_id) == (4, T0 - timedelta(hours=2), m["reset_ana"])


def test_the_address_as_people_type_it(engine, world):
    typed = search(engine, world["admin_a"], "  Ana.SOUZA@gmail.com\n")
    assert typed.text == ANA and emails(typed) == [ANA] and typed.total == 4
    # Nothing was sent to a half-typed address: it is searched as the start of one.
    half = search(engine, world["admin_a"], "nasser.albert@gmail.co")
    assert [(r.email, r.match) for r in half.recipients] == [(ALBERT, MATCH_PREFIX)]
    # Stored in capitals by the sender: found all the same, whole or in part.
    for text, match in (("only.capitals@example.com", MATCH_ADDRESS), ("ONLY.CAP", MATCH_PREFIX)):
        res = search(engine, world["admin_a"], text)
        assert [(r.email, r.match) for r in res.recipients] == [("only.capitals@example.com", match)], text
        assert [r["id"] for r in res.rows] == [world["msgs"]["capitals_only"]], text
    # An address nobody was sent anything: nothing, even though an account has it.
    assert search(engine, world["admin_a"], "nasser.never@gmail.com").recipients == []


def test_part_of_a_name_finds_the_borrowers_address(engine, world):
    res = search(engine, world["admin_a"], "souza")
    assert [(r.email, r.match, r.name) for r in res.recipients] == [(ANA, MATCH_NAME, "Ana Souza")]
    assert res.total == 4
    for text in ("billy nasser", "nasser  billy", "Billy N", "b.nasser"):
        assert emails(search(engine, world["admin_a"], text)) == [BILLY], text


def test_part_of_an_address(engine, world):
    res = search(engine, world["admin_a"], "nasser.albert@gm")
    assert [(r.email, r.match) for r in res.recipients] == [(ALBERT, MATCH_PREFIX)]
    assert {r["id"] for r in res.rows} == {world["msgs"]["confirm_albert"], world["msgs"]["reset_albert"]}


def test_a_domain_finds_every_address_on_it(engine, world):
    for text in ("gmial.com", "@gmial", "GMIAL"):
        res = search(engine, world["admin_a"], text)
        found = {r.email: r for r in res.recipients}
        assert set(found) == {BILLY, COSIGNER}, text
        assert found[BILLY].match == MATCH_NAME  # an account's email holds the text
        assert (found[COSIGNER].match, found[COSIGNER].name, found[COSIGNER].kind) == (MATCH_DOMAIN, None, None)
        assert res.total == 2


def test_best_matches_first_then_the_most_recent(engine, world):
    res = search(engine, world["admin_a"], "nasser")
    # The address that starts with the text, then the accounts named so (newest email first);
    # an account nobody emailed is not a recipient.
    assert [(r.email, r.match) for r in res.recipients] == [
        (ALBERT, MATCH_PREFIX),
        ("n.haddad@lender-a.example", MATCH_NAME),
        (BILLY, MATCH_NAME),
    ]
    assert res.recipients[1].kind == "staff" and res.recipients[2].kind == "borrower"
    assert res.total == 4
    assert [r["sent_at"] for r in res.rows] == sorted((r["sent_at"] for r in res.rows), reverse=True)
    # A whole address lists that address only, not others that contain it.
    with engine.begin() as c:
        f.message(c, world["a"], "x" + ANA, sent_at=T0)
    assert emails(search(engine, world["admin_a"], ANA)) == [ANA]


def test_a_lender_admin_never_sees_another_lenders_email_to_the_same_address(engine, world):
    for text in (ANA, "souza", "ana.s", "gmail.com"):
        res = search(engine, world["admin_a"], text)
        assert {r.lender_id for r in res.recipients} == {world["a"]}, text
        assert world["msgs"]["bravo"] not in {r["id"] for r in res.rows}, text
    res_b = search(engine, world["admin_b"], ANA)
    assert [r["id"] for r in res_b.rows] == [world["msgs"]["bravo"]] and res_b.total == 1


def test_ops_choose_a_lender_or_explicitly_all_lenders(engine, world):
    one = search(engine, world["ops"], ANA, lender_id=world["b"])
    assert [r["id"] for r in one.rows] == [world["msgs"]["bravo"]]
    every = search(engine, world["ops"], ANA, all_lenders=True)
    assert sorted((r.lender_name, r.emails) for r in every.recipients) == [("Lender A", 4), ("Lender B", 1)]
    assert every.total == 5 and world["msgs"]["bravo"] in {r["id"] for r in every.rows}
    assert {r["lender_name"] for r in every.rows} == {"Lender A", "Lender B"}
    assert {r.lender_id for r in search(engine, world["ops"], "souza", all_lenders=True).recipients} == {world["a"], world["b"]}


def test_scope_errors(engine, world):
    with pytest.raises(ScopeError):
        search(engine, world["ops"], ANA)  # no lender, and not all lenders
    with pytest.raises(ScopeError):
        search(engine, world["ops"], ANA, lender_id=world["a"], all_lenders=True)
    with pytest.raises(ScopeError):
        search(engine, world["admin_a"], ANA, lender_id=world["b"])
    with pytest.raises(ScopeError):
        search(engine, world["admin_a"], ANA, all_lenders=True)
    with pytest.raises(ScopeError):
        search(engine, world["admin_a"], "", lender_id=world["b"])  # even with nothing to search
    assert search(engine, world["admin_a"], ANA, lender_id=world["a"]).total == 4  # their own, named


@pytest.mark.parametrize("text", ["%", "%%", "_o", "__", "\\", "a%", "%souza", "' OR 1=1 --", "ana\\.souza"])
def test_wildcards_are_literal(engine, world, text):
    res = search(engine, world["admin_a"], text)
    assert res.recipients == [] and res.rows == [] and res.total == 0


def test_nul_and_huge_text_are_harmless(engine, world):
    assert emails(search(engine, world["admin_a"], "sou\x00za")) == [ANA]
    assert emails(search(engine, world["admin_a"], "ana.souza@gmail.com\x00")) == [ANA]
    huge = search(engine, world["admin_a"], "nasser" + "x" * 10_000)
    assert len(huge.text) == MAX_TEXT and huge.recipients == [] and huge.total == 0
    assert normalize_text("\x00" * 10) == ""


def test_too_short_or_empty_text_searches_nothing(engine, world):
    for text in ("", "   ", "a", "\x00", None):
        res = search(engine, world["admin_a"], text)
        assert (res.recipients, res.rows, res.total, res.page, res.num_pages) == ([], [], 0, 1, 1)


def test_pages_newest_first_and_clamped(engine, world):
    with engine.begin() as c:
        for i in range(5):
            f.message(c, world["a"], ANA, log_account_id=world["ana"], sent_at=T0 - timedelta(days=30 + i))
    everything = [r["id"] for r in search(engine, world["admin_a"], ANA).rows]
    assert len(everything) == 9
    pages = [search(engine, world["admin_a"], ANA, page=p, page_size=4) for p in (1, 2, 3)]
    assert [p.num_pages for p in pages] == [3, 3, 3] and [p.total for p in pages] == [9, 9, 9]
    assert [r["id"] for p in pages for r in p.rows] == everything
    beyond = search(engine, world["admin_a"], ANA, page=99, page_size=4)
    assert beyond.page == 3 and [r["id"] for r in beyond.rows] == everything[8:]
    before = search(engine, world["admin_a"], ANA, page=0, page_size=4)
    assert before.page == 1 and [r["id"] for r in before.rows] == everything[:4]


def test_more_recipients_than_the_list_holds(engine, world):
    with engine.begin() as c:
        for i in range(MAX_RECIPIENTS + 1):
            f.message(c, world["a"], f"bulk{i:03d}@example.org", sent_at=T0 - timedelta(minutes=i))
    res = search(engine, world["admin_a"], "bulk")
    assert len(res.recipients) == MAX_RECIPIENTS and res.more_recipients
    assert res.total == MAX_RECIPIENTS  # emails to the listed recipients
    assert [r.email for r in res.recipients][:2] == ["bulk000@example.org", "bulk001@example.org"]  # most recent first
    fewer = search(engine, world["admin_a"], "bulk00")
    assert len(fewer.recipients) == 10 and not fewer.more_recipients


def test_more_recipients_counts_every_way_of_matching(engine, world):
    """Addresses that start with the text and accounts named so: together more than the list holds."""
    half = MAX_RECIPIENTS // 2 + 1
    with engine.begin() as c:
        for i in range(half):
            f.message(c, world["a"], f"quinn{i}@example.org")
            acct = f.account(c, world["a"], f"Zoe Quinn{i}", f"zq{i}@example.net")
            f.message(c, world["a"], f"zq{i}@example.net", recipient_account_id=acct)
    res = search(engine, world["admin_a"], "quinn")
    assert len(res.recipients) == MAX_RECIPIENTS and res.more_recipients
    assert [r.match for r in res.recipients[:half]] == [MATCH_PREFIX] * half


def test_address_prefixes_are_exact_under_a_linguistic_collation(pg_database_url):
    """A PostgreSQL database whose collation sorts like a dictionary ("né" between "ne" and "nf"):
    "starts with" still means starts with (the search compares bytewise, commlog.models.Bytewise)."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    from commlog.db import make_engine
    from commlog.migrate import upgrade

    name = f"commlog_test_icu_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_database_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f"CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"))
    except DBAPIError as exc:
        admin.dispose()
        pytest.skip(f"no ICU collation on this server: {exc.orig}")
    eng = make_engine(make_url(pg_database_url).set(database=name).render_as_string(hide_password=False))
    try:
        upgrade(eng)
        with eng.begin() as c:
            lender = f.lender(c, "icu")
            for address in ("ne@x.com", "né@x.com", "nE2@x.com", "nf@x.com", "n.e@x.com"):
                f.message(c, lender, address)
            in_range = "SELECT count(*) FROM message WHERE lower(recipient_email) >= 'ne' AND lower(recipient_email) < 'nf'"
            assert c.execute(text(in_range)).scalar() == 3  # the collation's own range holds né@x.com too
        admin_l = Principal(1, "admin@icu.example", Role.LENDER_ADMIN, lender)
        with eng.connect() as c:
            assert emails(find_emails_to(c, admin_l, "ne", lender_id=None)) == ["ne2@x.com", "ne@x.com"]
            assert emails(find_emails_to(c, admin_l, "n.", lender_id=None)) == ["n.e@x.com"]
    finally:
        eng.dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.parametrize("typed", ["nasser", "billy nasser", "gmial.com"])
def test_a_name_search_reads_the_lenders_matching_accounts_not_every_account(pg_engine, typed):
    """PostgreSQL, lenders with tens of thousands of accounts: part of a name or address is looked up
    in the trigram index (migration 0013), which holds the lender too, instead of reading every
    account of the lender (at 10M messages that read took 130–260 ms a search). The person is found."""
    from sqlalchemy import event, text

    with pg_engine.begin() as c:
        a, b = f.lender(c, "lender-a", "Lender A"), f.lender(c, "lender-b", "Lender B")
        f.message(c, a, BILLY, recipient_account_id=f.account(c, a, "Billy Nasser", BILLY))
        for lender in (a, b):
            c.execute(text(
                "INSERT INTO account (lender_id, kind, name, email, search_text, created_at) "
                "SELECT :lender, 'borrower', 'Member ' || i, 'member' || i || '@example.org', "
                "'member ' || i || ' member' || i || '@example.org', now() FROM generate_series(1, 20000) AS i"
            ), {"lender": lender})  # fmt: skip
        c.exec_driver_sql("ANALYZE account")
    statements = []
    with pg_engine.connect() as c:
        event.listen(c, "before_cursor_execute", lambda conn, cursor, sql, params, *_: statements.append((sql, params)))
        found = find_emails_to(c, Principal(1, "admin@lender-a.example", Role.LENDER_ADMIN, a), typed, lender_id=None)
        sql, params = next((s, p) for s, p in statements if "search_text" in s)
        plan = "\n".join(c.exec_driver_sql("EXPLAIN " + sql, params).scalars())
    assert "ix_account_lender_search_trgm" in plan and "Seq Scan on account" not in plan, plan
    assert [r.email for r in found.recipients] == [BILLY]
