"""The failures CSV on PostgreSQL through COPY (the lines written by the database) is byte for byte
the file the csv module writes from the same rows: quoting, doubled quotes, line breaks inside a
cell, backslashes and control characters, formula cells, non-Latin text, the BOM, chunk edges."""

from __future__ import annotations

from datetime import timedelta

import pytest

from commlog.export import FailureExport, copy_csv_chunks, export_copy_select, stream_failures
from commlog.log_queries import SPAN_ALL, SPAN_LENDER, SPAN_LOG
from commlog.principal import Principal, Role
from commlog.unit_of_work import reading
from tests.support import factories as f
from tests.support.factories import log_query

OPS = Principal(user_id=1, email="ops@commlog.example", role=Role.OPS, lender_id=None)

# What COPY's text format escapes (backslash, LF, CR, tab, backspace, form feed, vertical tab),
# what CSV quotes (comma, double quote, CR, LF), and both at once.
NASTY = {
    "backslashes": "C:\\temp\\new folder\\n not a newline \\\\ two",
    "controls": "bell\x07 backspace\x08 formfeed\x0c vtab\x0b tab\there",
    "crlf_quotes": 'a "quoted", value\r\nsecond line\rthird\nfourth',
    "formula_backslash": "=\\\\server\\share",
    "trailing_backslash": "ends in a backslash \\",
    "only_quote": '"',
    "comma_only": ",",
    "empty": "",
}


@pytest.fixture
def engine(pg_engine):
    """COPY is PostgreSQL's: this module's `engine` (export_world's too) is PostgreSQL only."""
    return pg_engine


@pytest.fixture
def world(pg_engine, export_world):
    """export_world (on PostgreSQL) and, for lender A, one failed send per nasty text: as subject,
    send error and, through a bounce, as the receiving server's reason."""
    a = export_world["a"]
    with pg_engine.begin() as c:
        for i, (name, text) in enumerate(NASTY.items()):
            failed = f.message(c, a, f"nasty{i}@example.com", subject=text, send_status="failed", send_error=text,
                               sent_at=f.T0 - timedelta(minutes=10 + i))
            export_world["ids"][f"nasty_{name}"] = failed
            bounced = f.message(c, a, f"bounce{i}@example.com", subject=text, sent_at=f.T0 - timedelta(minutes=30 + i))
            f.events(c, bounced, a, ("BOUNCE", 1, text or "550 5.1.1 user unknown"))
    return export_world


def both_ways(engine, principal, spec, **kw) -> tuple[bytes, bytes]:
    def run(via_copy: bool) -> bytes:
        return b"".join(stream_failures(engine, principal, spec, source="test", file_name="t.csv", via_copy=via_copy, **kw))

    return run(True), run(False)


@pytest.mark.parametrize("span", [SPAN_LOG, SPAN_LENDER, SPAN_ALL])
@pytest.mark.parametrize("bom", [False, True])
def test_copy_writes_the_csv_modules_bytes(pg_engine, world, span, bom):
    spec = FailureExport(log_query(world["a"]), span=span)
    copied, written = both_ways(pg_engine, OPS, spec, bom=bom)
    assert copied == written
    assert copied.count(b"nasty") >= len(NASTY)  # the nasty rows are in both files


@pytest.mark.parametrize("sort", ["newest", "oldest", "status"])
def test_same_bytes_in_every_order_with_deferrals_and_for_a_lender_admin(pg_engine, world, sort):
    spec = FailureExport(log_query(world["a"], sort=sort), span=SPAN_LENDER, include_deferred=True)
    copied, written = both_ways(pg_engine, world["admin_a"], spec)
    assert copied == written
    assert b"Bravo" not in copied  # the other lender's rows stay out


def test_chunks_split_anywhere_and_count_every_row(pg_engine, world):
    spec = FailureExport(log_query(world["a"]), span=SPAN_ALL)
    written = b"".join(stream_failures(pg_engine, OPS, spec, source="test", file_name="t.csv", via_copy=False))
    counts: list[int] = []
    with reading(pg_engine, OPS) as conn:
        chunks = list(copy_csv_chunks(conn, export_copy_select(OPS, spec), chunk_rows=3, on_rows=counts.append))
    assert b"".join(chunks) == written
    assert sum(counts) == written.count(b"\r\n", 0) - _line_breaks_inside_cells(written) - 1  # minus the header
    assert len(chunks) == 1 + len(counts) and all(n <= 3 for n in counts)


def test_the_default_on_postgresql_is_copy_and_it_is_audited(pg_engine, world):
    spec = FailureExport(log_query(world["a"]), span=SPAN_LENDER)
    default = b"".join(stream_failures(pg_engine, OPS, spec, source="test", file_name="t.csv"))
    copied, _ = both_ways(pg_engine, OPS, spec)
    assert default == copied
    with pg_engine.connect() as c:
        rows = c.exec_driver_sql("SELECT row_count, detail FROM audit_entry WHERE action = 'export' ORDER BY id").all()
    assert len(rows) == 3 and all(r[0] == rows[0][0] > 0 and r[1].endswith(": complete") for r in rows)


def _line_breaks_inside_cells(data: bytes) -> int:
    """CRLFs that sit inside a quoted cell (the csv module writes a cell's own line breaks as they are)."""
    inside, n, i = False, 0, 0
    while i < len(data):
        ch = data[i:i + 1]
        if ch == b'"':
            inside = not inside
        elif inside and data[i:i + 2] == b"\r\n":
            n += 1
        i += 1
    return n


def test_a_download_stopped_midway_leaves_the_connection_usable(pg_engine, world):
    """The first rows are sent before the rest are read; a browser that goes away stops the COPY,
    and the pooled connection answers the next query."""
    spec = FailureExport(log_query(world["a"]), span=SPAN_ALL)
    with pg_engine.connect() as c:
        chunks = copy_csv_chunks(c, export_copy_select(OPS, spec), chunk_rows=2)
        next(chunks)  # header
        assert next(chunks).count(b"\r\n") >= 2
        chunks.close()  # the user cancelled the download
        c.rollback()
        assert c.exec_driver_sql("SELECT 1").scalar() == 1
