"""Export failures as CSV: rows read back equal the database, safe cells, scope, streaming, audit."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
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
    iso_utc_text,
    iter_csv,
    safe_text,
    safe_text_sql,
    stream_failures,
    write_rows,
)
from commlog.log_queries import SPAN_ALL, SPAN_LENDER, SPAN_LOG, log_select
from commlog.models import AuditEntry, Message
from commlog.principal import Principal, Role, ScopeError
from tests.support import factories as f
from tests.support.export_world import FORMULA, SUBJECTS, expected_rows, iso
from tests.support.factories import log_query

OPS = Principal(user_id=1, email="ops@commlog.example", role=Role.OPS, lender_id=None)


@pytest.fixture
def world(export_world):
    """The export's two lenders (tests.support.export_world)."""
    return export_world



def _parse(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))




# --- an independent expectation, straight from the tables ----------------------------------------








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
    assert rows and all(r[1] == iso(r[0]) and (r[3] or "") == iso(r[2]) for r in rows)


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
    since = datetime(2026, 10, 31, 23, 0, tzinfo=UTC)  # 1 Nov in Berlin
    until = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)  # end of 30 Nov in Berlin
    now = datetime(2026, 12, 5, tzinfo=UTC)
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

