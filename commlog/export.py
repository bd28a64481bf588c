"""Export failures as CSV: the same rows for the page's download (`GET /export/<token>`,
commlog.export_route) and `export-failures`.

A failure is an email whose Status is failed (our mail servers could not send it), or whose delivery
status is NOT_DELIVERED (BOUNCE, BLOCKED, DROPPED, FAILED, or deferrals past the retry window);
optionally also the emails still DEFERRED (PENDING with a DEFERRED event seen).

The query is the Communication Log's own (commlog.log_queries.log_select: scoped by the principal,
filtered and ordered in SQL) plus the failure condition. Rows are streamed from SQL in chunks
(commlog.driver_rows: the driver's own cursor, server-side on PostgreSQL) and written as bytes chunks, so memory does not
grow with the export.

The file is safe to open in a spreadsheet: RFC 4180 quoting as the csv module writes it (excel
dialect, CRLF rows), and a text cell that starts with a character a spreadsheet would run as a
formula (= + - @ tab CR, and their full-width forms) gets a leading single quote. UTF-8, optionally
with a BOM for Excel.

Speed: the database formats every cell (text, ISO times, the formula quote), so Python does little
per row: the driver's tuples are written as they come (no SQLAlchemy Row objects); a row that needs
no quoting is one str.join, any other goes through csv.writer (write_rows). On PostgreSQL the
database writes the CSV itself, `COPY (SELECT …) TO STDOUT (FORMAT csv)` (copy_csv_chunks): Python
only joins the rows and makes their ends CRLF. Same bytes as the csv module's
(tests/db/test_export_copy.py compares them).

Columns (README): see COLUMNS below; times are UTC, ISO 8601, to the second (2026-11-20T12:00:00Z).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Boolean,
    Connection,
    Engine,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement

from commlog import audit
from commlog.db import is_postgresql
from commlog.driver_rows import driver_row_chunks
from commlog.log_queries import SPAN_ALL, SPAN_LENDER, SPAN_LOG, count_log, log_select
from commlog.log_view import LogQuery, LogView, day_bounds
from commlog.models import SUBJECT_TEXT, Account, Lender, Message
from commlog.principal import Principal
from commlog.unit_of_work import reading, writing
from commlog.vocabulary import (
    EVENT_BIT,
    NOT_CHECKED,
    DeliveryStatus,
    EventType,
    SendStatus,
)

AUDIT_ACTION = "export"
CHUNK_ROWS = 5_000  # rows fetched from SQL and written per bytes chunk
BOM = "\ufeff"
# A cell starting with one of these is a formula (or DDE payload) to Excel, LibreOffice and Sheets.
FORMULA_STARTS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")

# (header, what it holds) in file order. The README documents these.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("Lender", "The lender's name."),
    ("Log", "Whose Communication Log the email is in: 'Lender' (the lender's own log) or 'Borrower'."),
    ("Borrower name", "For a borrower's log: the borrower's name (empty for the lender's log)."),
    ("Borrower ID", "For a borrower's log: the borrower's account id (empty for the lender's log)."),
    ("Sent at (UTC)", "When our mail servers sent it (or tried to), UTC, ISO 8601."),
    ("Recipient", "The address it was sent to."),
    ("Recipient domain", "The part after the @."),
    ("Mailbox provider", "google, microsoft, yahoo (Yahoo and AOL), apple or other."),
    ("Subject", "The email's subject, decoded when the mailer stored it MIME-encoded (=?UTF-8?Q?...?=)."),
    ("Email type", "account_confirmation, password_reset, ..."),
    ("Status", "Did our mail servers send it: sent or failed."),
    ("Send error", "Why sending failed (Status failed only)."),
    ("Delivery status", "DELIVERED, NOT_DELIVERED, PENDING, or NOT_CHECKED (no delivery information fetched yet)."),
    ("Final event", "The last delivery event that decided the status: BOUNCE, BLOCKED, DROPPED, FAILED, DEFERRED, ..."),
    ("Reason / SMTP response", "The receiving server's or provider's reason, e.g. '550 5.1.1 user unknown', or 'expired: ...'."),
    ("Last event at (UTC)", "When that event happened, UTC, ISO 8601."),
    ("Checked at (UTC)", "When the delivery status was last fetched from the email provider, UTC, ISO 8601."),
    ("Provider", "The email provider that sent it: sendgrid or postmark."),
    ("Provider message ID", "The provider's id for the email (to look it up in the provider's own tools)."),
    ("Message ID", "commlog's id for the email (the message page: /message?id=...)."),
)
HEADER = tuple(h for h, _ in COLUMNS)

_LogAccount = aliased(Account, name="log_account")


# --- cells, computed in SQL ------------------------------------------------------------------------
# Every cell is formatted by the database (text, NULL or an integer), so Python only hands rows to
# the csv writer: that is what keeps a million-row export above 100k rows/s.


class iso_utc_text(FunctionElement):  # noqa: N801 - SQL function style
    """A UTC timestamp as ISO 8601 text to the second: 2026-11-20T12:00:00Z (NULL stays NULL)."""

    type = String()
    name = "iso_utc_text"
    inherit_cache = True


@compiles(iso_utc_text)
def _iso_default(element, compiler, **kw):
    return f"iso_utc_text({compiler.process(element.clauses, **kw)})"


@compiles(iso_utc_text, "sqlite")
def _iso_sqlite(element, compiler, **kw):
    # Stored as naive UTC text, 'YYYY-MM-DD HH:MM:SS.ffffff' (models.UTCDateTime): cutting it is
    # strftime's result at a fraction of its cost (strftime parses every value).
    value = compiler.process(element.clauses, **kw)
    return f"(substr({value}, 1, 10) || 'T' || substr({value}, 12, 8) || 'Z')"


@compiles(iso_utc_text, "postgresql")
def _iso_postgresql(element, compiler, **kw):
    return f"to_char(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"


class starts_like_formula(FunctionElement):  # noqa: N801 - SQL function style
    """True when a text's first character is in FORMULA_STARTS (compared as code points: cheap)."""

    type = Boolean()
    name = "starts_like_formula"
    inherit_cache = True


_FORMULA_CODES = ", ".join(str(ord(ch)) for ch in sorted(FORMULA_STARTS))


@compiles(starts_like_formula)
def _formula_default(element, compiler, **kw):
    return f"starts_like_formula({compiler.process(element.clauses, **kw)})"


@compiles(starts_like_formula, "sqlite")
def _formula_sqlite(element, compiler, **kw):
    return f"(unicode({compiler.process(element.clauses, **kw)}) IN ({_FORMULA_CODES}))"


@compiles(starts_like_formula, "postgresql")
def _formula_postgresql(element, compiler, **kw):
    return f"(ascii({compiler.process(element.clauses, **kw)}) IN ({_FORMULA_CODES}))"


def safe_text_sql(column, plain=None):
    """safe_text() in SQL: a leading single quote when the first character starts a formula; any
    other text is `plain` (default: the text itself)."""
    return case((starts_like_formula(column), literal("'", String) + column), else_=column if plain is None else plain)


# Each cell is a text (formula-safe), a time (ISO 8601, UTC), an integer, or a value that is never
# NULL or empty. The csv module's path writes NULL as '' (coalesce); COPY writes NULL as an empty
# cell by itself but would quote an empty string, so its cells are NULL wherever the file's cell is
# empty. One list (_CELL_SPECS) makes both, so the two files cannot drift apart.
TEXT, TIME, INT, PLAIN = "text", "time", "int", "plain"


def _cell_value(kind: str, expr):
    """The cell's text, NULL where the value is."""
    if kind == TEXT:
        return safe_text_sql(expr)
    if kind == TIME:
        return iso_utc_text(expr)
    if kind == INT:
        return cast(expr, String)
    return expr


def _csv_cell(kind: str, expr):
    """A cell for the csv module's path: text, '' for NULL."""
    return expr if kind == PLAIN else func.coalesce(_cell_value(kind, expr), literal("", String))


def _copy_cell(kind: str, expr):
    """The same cell for COPY: NULL wherever the csv module's cell is ''. A text that starts like a
    formula is not empty, so only the plain branch needs nullif; a time or a number is never ''."""
    if kind == TEXT:
        return safe_text_sql(expr, plain=func.nullif(expr, literal("", String)))
    if kind == PLAIN:
        return func.nullif(expr, literal("", String))
    return _cell_value(kind, expr)


# Every cell arrives from SQL as text, so most rows are written with one str.join (see write_rows).
_CELL_SPECS = (
    (TEXT, Lender.name),
    (PLAIN, case((Message.log_account_id.is_(None), literal("Lender", String)), else_=literal("Borrower", String))),
    (TEXT, _LogAccount.name),
    (INT, Message.log_account_id),
    (TIME, Message.sent_at),
    (TEXT, Message.recipient_email),
    (TEXT, Message.recipient_domain),
    (TEXT, Message.provider_family),
    (TEXT, SUBJECT_TEXT),  # decoded (RFC 2047), then formula-safe
    (TEXT, Message.email_type),
    (TEXT, Message.send_status),
    (TEXT, Message.send_error),
    (PLAIN, func.coalesce(Message.delivery_status, literal(NOT_CHECKED, String))),
    (TEXT, Message.last_event_type),
    (TEXT, Message.status_reason),
    (TIME, Message.last_event_at),
    (TIME, Message.checked_at),
    (TEXT, Message.provider),
    (TEXT, Message.provider_message_id),
    (INT, Message.id),
)
_CELLS = tuple(_csv_cell(kind, expr) for kind, expr in _CELL_SPECS)
_COPY_CELLS = tuple(_copy_cell(kind, expr) for kind, expr in _CELL_SPECS)
assert len(_CELLS) == len(COLUMNS)

_FROM = Message.__table__.join(Lender.__table__, Lender.id == Message.lender_id).outerjoin(
    _LogAccount, and_(_LogAccount.id == Message.log_account_id, _LogAccount.lender_id == Message.lender_id)
)


@dataclass(frozen=True)
class FailureExport:
    """What to export: the log's query, how much of the log, and whether DEFERRED counts."""

    query: LogQuery
    span: str = SPAN_LOG  # SPAN_LOG: the filter's log · SPAN_LENDER: all of its lender's logs · SPAN_ALL: every lender (ops)
    include_deferred: bool = False


# --- the query -----------------------------------------------------------------------------------


def failure_condition(include_deferred: bool = False):
    """Status failed, or delivery NOT_DELIVERED (expired deferrals included: commlog.status makes
    them NOT_DELIVERED); with include_deferred also PENDING messages that have been DEFERRED."""
    parts = [
        Message.send_status == SendStatus.FAILED.value,
        Message.delivery_status == DeliveryStatus.NOT_DELIVERED.value,
    ]
    if include_deferred:
        parts.append(
            and_(
                Message.delivery_status == DeliveryStatus.PENDING.value,
                Message.event_mask.op("&")(EVENT_BIT[EventType.DEFERRED]) != 0,
            )
        )
    return or_(*parts)


def export_select(principal: Principal, spec: FailureExport) -> Select:
    """The log's scoped, filtered, ordered query (log_select) with the failure condition and the
    columns of the file. Raises ScopeError when the principal may not read that scope."""
    stmt = log_select(
        principal,
        spec.query,
        _CELLS,
        span=spec.span,
        extra_conditions=(failure_condition(spec.include_deferred),),
    )
    return stmt.select_from(_FROM)


def export_copy_select(principal: Principal, spec: FailureExport) -> Select:
    """export_select for PostgreSQL's COPY … (FORMAT csv): an empty cell is NULL there, which COPY
    writes as nothing, as the csv module writes '' (COPY would quote an empty string)."""
    stmt = log_select(
        principal,
        spec.query,
        _COPY_CELLS,
        span=spec.span,
        extra_conditions=(failure_condition(spec.include_deferred),),
    )
    return stmt.select_from(_FROM)


def count_failures(conn: Connection, principal: Principal, spec: FailureExport) -> int:
    return count_log(
        conn, principal, spec.query, span=spec.span, extra_conditions=(failure_condition(spec.include_deferred),)
    )


# --- the same rules in Python (reference; audit filters) ------------------------------------------


def safe_text(value: str | None) -> str:
    """A text cell a spreadsheet shows as text: formula starts get a leading single quote."""
    if not value:
        return ""
    return "'" + value if value[0] in FORMULA_STARTS else value


def iso_utc(value: datetime | None) -> str:
    if value is None:
        return ""
    text = value.isoformat(timespec="seconds")
    if text.endswith("+00:00"):
        return text[:-6] + "Z"
    return value.astimezone(UTC).isoformat(timespec="seconds")[:-6] + "Z"


# --- streaming -----------------------------------------------------------------------------------


class CsvLines(list):
    """CSV text pieces; the csv writer writes to it (one finished line per writerow)."""

    write = list.append


def write_rows(rows, lines: list, writerow) -> None:
    """Append rows of text cells to `lines` exactly as the csv module (QUOTE_MINIMAL, CRLF) writes them, fast.

    A row none of whose cells holds a comma, a double quote, CR or LF needs no quoting: the csv
    module would write its cells joined by commas. That is checked on the joined line (exactly
    n-1 commas, no quote, no line break) and appended as is; any other row goes through the csv
    writer itself, so quoting is always the csv module's."""
    commas = len(HEADER) - 1
    join, append = ",".join, lines.append
    for row in rows:
        line = join(row)
        if line.count(",") == commas and '"' not in line and "\n" not in line and "\r" not in line:
            append(line + "\r\n")
        else:
            writerow(row)


def iter_csv(
    conn: Connection,
    stmt: Select,
    *,
    bom: bool = False,
    chunk_rows: int = CHUNK_ROWS,
    on_rows: Callable[[int], None] | None = None,
) -> Iterator[bytes]:
    """The CSV as bytes chunks: the header first (so an empty result is a header-only file), then
    one chunk per `chunk_rows` rows fetched from SQL. on_rows(n) is called for each chunk.

    Rows come as the driver's own tuples (commlog.driver_rows): every cell is text already."""
    lines = CsvLines()
    writerow = csv.writer(lines, dialect="excel", lineterminator="\r\n").writerow  # RFC 4180: quote when needed, "" inside

    def take() -> bytes:
        data = "".join(lines)
        lines.clear()
        return data.encode("utf-8", errors="replace")

    if bom:
        lines.append(BOM)
    writerow(HEADER)
    yield take()
    chunks = driver_row_chunks(conn, stmt, chunk_rows)
    try:
        for part in chunks:
            write_rows(part, lines, writerow)
            if on_rows is not None:
                on_rows(len(part))
            yield take()
    finally:
        chunks.close()


def copy_csv_chunks(
    conn: Connection,
    stmt: Select,
    *,
    bom: bool = False,
    chunk_rows: int = CHUNK_ROWS,
    on_rows: Callable[[int], None] | None = None,
) -> Iterator[bytes]:
    """iter_csv's bytes on PostgreSQL, written by the database: `COPY (stmt) TO STDOUT (FORMAT csv)`,
    `stmt` being export_copy_select. PostgreSQL quotes exactly as the csv module does (a cell with
    a comma, a double quote, CR or LF, inner quotes doubled); it ends rows with LF where the file
    has CRLF, so each LF outside quotes becomes CRLF (_crlf). The header first, then one chunk per
    `chunk_rows` rows (COPY sends a row at a time)."""
    from commlog.driver_rows import compile_for_driver

    header = CsvLines([BOM] if bom else [])
    csv.writer(header, dialect="excel", lineterminator="\r\n").writerow(HEADER)
    yield "".join(header).encode("utf-8")
    sql, params = compile_for_driver(conn, stmt)
    if not conn.in_transaction():
        conn.begin()  # through SQLAlchemy: the "begin" listeners (row-level security) run first
    cursor = conn.connection.driver_connection.cursor()
    try:
        with cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)", params) as copy:
            parts: list = []
            for row in copy:
                parts.append(row)
                if len(parts) == chunk_rows:
                    data = _copied(parts)
                    if on_rows is not None:  # counted before it is handed on, as iter_csv does
                        on_rows(len(parts))
                    parts.clear()
                    yield data
            if parts:
                data = _copied(parts)
                if on_rows is not None:
                    on_rows(len(parts))
                yield data
    finally:
        cursor.close()


def _copied(parts: list) -> bytes:
    return _crlf(b"".join(parts), rows=len(parts))


def _crlf(data: bytes, rows: int) -> bytes:
    """`rows` whole rows of COPY's CSV with CRLF row ends. When the data holds one LF per row, every
    LF ends a row. Otherwise a cell holds a line break, and that LF stays: split at the double
    quotes, the pieces at even positions are outside quotes (a doubled quote inside a cell makes an
    empty piece and keeps the count right)."""
    if data.count(b"\n") == rows:
        return data.replace(b"\n", b"\r\n")
    pieces = data.split(b'"')
    pieces[::2] = [p.replace(b"\n", b"\r\n") for p in pieces[::2]]
    return b'"'.join(pieces)


def stream_failures(
    engine: Engine,
    principal: Principal,
    spec: FailureExport,
    *,
    source: str,
    file_name: str,
    bom: bool = False,
    now: datetime | None = None,
    on_rows: Callable[[int], None] | None = None,
    audit_extra: dict | None = None,
    chunk_rows: int = CHUNK_ROWS,
    via_copy: bool | None = None,
) -> Iterator[bytes]:
    """Stream the export and record it in the audit trail when it ends (complete, stopped or failed),
    with the number of rows written. Scope is checked before the first byte. `via_copy`: the lines
    written by PostgreSQL and sent by COPY (default: on PostgreSQL), else the csv module's path."""
    if via_copy is None:
        via_copy = is_postgresql(engine)
    # raises ScopeError before anything is written
    stmt = export_copy_select(principal, spec) if via_copy else export_select(principal, spec)
    write = copy_csv_chunks if via_copy else iter_csv
    started = now or datetime.now(UTC)
    rows = 0
    outcome = "failed"

    def counted(n: int) -> None:
        nonlocal rows
        rows += n
        if on_rows is not None:
            on_rows(n)

    # The principal's own unit of work (row-level security on PostgreSQL): the download route and
    # the CLI run outside any Streamlit script run; its scope never crosses a yield.
    try:
        with reading(engine, principal) as conn:
            yield from write(conn, stmt, bom=bom, chunk_rows=chunk_rows, on_rows=counted)
        outcome = "complete"
    except GeneratorExit:
        outcome = "stopped"
        raise
    finally:
        with writing(engine, principal) as conn:
            audit.record(
                conn,
                principal,
                AUDIT_ACTION,
                at=started,
                lender_id=None if spec.span == SPAN_ALL else spec.query.lender_id,
                filters=audit_filters(spec, bom=bom, source=source, extra=audit_extra),
                row_count=rows,
                detail=f"failures CSV {file_name} from the {source}: {outcome}",
            )


def build_csv(
    engine: Engine,
    principal: Principal,
    spec: FailureExport,
    *,
    source: str,
    file_name: str,
    bom: bool = False,
    now: datetime | None = None,
    audit_extra: dict | None = None,
) -> bytes:
    """The whole file as bytes (tests, small tools). Rows still come from SQL in chunks; only the
    finished file is held. The page's download streams instead (commlog.export_route)."""
    out = io.BytesIO()
    for chunk in stream_failures(
        engine, principal, spec, source=source, file_name=file_name, bom=bom, now=now, audit_extra=audit_extra
    ):
        out.write(chunk)
    return out.getvalue()


def period_export(lender_id: int | None, start: date, end: date, *, email_type: str | None = None,
                  audience: str | None = None, include_deferred: bool = False) -> FailureExport:
    """The failures of a Deliverability period: sent on the UTC days `start`..`end` (both included,
    the days Deliverability counts), of one email type and audience if given, from every log of one
    lender, or of every lender when `lender_id` is None (ops only: anyone else gets ScopeError)."""
    view = LogView(lender_id=lender_id, all_logs=True, range="custom", date_from=start, date_to=end,
                   choices={"type": email_type, "audience": audience})
    since, until = day_bounds(start, end, ZoneInfo("UTC"))
    query = LogQuery(0 if lender_id is None else lender_id, view, since, until)  # 0: not read by an all-lenders query
    return FailureExport(query, span=SPAN_ALL if lender_id is None else SPAN_LENDER, include_deferred=include_deferred)


# --- naming and audit ----------------------------------------------------------------------------

_SLUG_RE = re.compile(r"[^a-z0-9]+")


def _slug(text: str) -> str:
    return _SLUG_RE.sub("-", text.lower()).strip("-")[:60] or "lender"


def date_range(since: datetime | None, until: datetime | None, tz: ZoneInfo, today: date) -> tuple[date | None, date]:
    """The first and last day the bounds cover, in the viewer's zone (until is exclusive)."""
    first = since.astimezone(tz).date() if since else None
    last = (until - timedelta(microseconds=1)).astimezone(tz).date() if until else today
    return first, last


def file_name(
    lender_slug: str | None,
    since: datetime | None,
    until: datetime | None,
    tz: ZoneInfo,
    now: datetime,
    *,
    account_id: int | None = None,
) -> str:
    """failures_<lender slug or all-lenders>[_borrower-<id>]_<from>_to_<to>.csv (dates in tz)."""
    first, last = date_range(since, until, tz, now.astimezone(tz).date())
    parts = ["failures", _slug(lender_slug) if lender_slug else "all-lenders"]
    if account_id is not None:
        parts.append(f"borrower-{int(account_id)}")
    parts.append(f"{first.isoformat() if first else 'start'}_to_{last.isoformat()}")
    return "_".join(parts) + ".csv"


def audit_filters(spec: FailureExport, *, bom: bool, source: str, extra: dict | None = None) -> dict:
    """What the audit entry keeps: the lender and UTC bounds, the log view's filters as in its URL
    (not its dates, which the bounds hold exactly, nor its paging), the span, the options, the source."""
    q = spec.query
    f = {k: v for k, v in q.view.to_query_params().items()
         if k not in ("lender", "range", "from", "to", "sent_from", "sent_to", "page", "size")}
    if spec.span != SPAN_ALL:
        f["lender_id"] = q.lender_id
    if spec.span != SPAN_LOG:
        f.pop("account", None)
    for key, value in (("since", q.since), ("until", q.until)):
        if value is not None:
            f[key] = iso_utc(value)
    out = {"span": spec.span, "include_deferred": spec.include_deferred, "bom": bom, "source": source, "filter": f}
    if extra:
        out.update(extra)
    return json.loads(json.dumps(out, default=str))


__all__ = [
    "COLUMNS",
    "CsvLines",
    "FailureExport",
    "HEADER",
    "SPAN_ALL",
    "SPAN_LENDER",
    "SPAN_LOG",
    "build_csv",
    "count_failures",
    "export_select",
    "failure_condition",
    "file_name",
    "iter_csv",
    "period_export",
    "safe_text",
    "safe_text_sql",
    "stream_failures",
]
