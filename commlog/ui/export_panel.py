"""The "Export failures" panels: the row count first, the file minted and served only on click.

The log page calls `render_export_panel(engine, principal, query, tz)` with the view it shows,
inside its expander (key EXPORT_OPEN) and only while that is open; the Deliverability page calls
`render_period_export(...)` with its lender (ops: None for every lender) and UTC days, which draws
its own expander (key PERIOD_EXPORT_OPEN) and counts only while it is open. A closed panel costs no
query: the count of a big lender's failures is the dearest thing either page would otherwise run.
"Download failures CSV" is a plain button: its run mints a single-use token
(commlog.export_tokens: ≤ 60 s, bound to the principal, the export and this browser's
`commlog_browser` cookie) and draws a tiny iframe at `/export/<token>`, which the launcher serves
(commlog.export_route) as an attachment: the browser starts the download at once, and the file is
streamed from SQL and recorded in the audit trail then. A visible link to the same URL is the
fallback for a browser that did not start it. Nothing of the file passes through Streamlit (no
st.download_button, nothing in its media store, no URL that works without the token and the cookie).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import streamlit as st
from sqlalchemy import Engine

from commlog import export_tokens
from commlog.browser_cookie import COOKIE, valid
from commlog.export import FailureExport, count_failures, file_name, period_export
from commlog.export_route import export_url
from commlog.log_queries import SPAN_LENDER, SPAN_LOG, get_borrower, get_lender
from commlog.log_view import LogQuery
from commlog.principal import Principal, ScopeError
from commlog.ui.boundary import fragment
from commlog.ui.choices import choose
from commlog.ui.format import plain
from commlog.ui.maintenance import expire_pending_now_and_then
from commlog.unit_of_work import reading

# The page's limit: bigger exports go through the CLI (`python -m commlog export-failures`), where a
# long-running file is ops' business rather than a browser tab's.
PAGE_MAX_ROWS = 200_000
K = "export_"
EXPORT_OPEN = K + "open"  # the log page's "Export failures as CSV" expander: the panel runs only while it is open
UTC_ZONE = ZoneInfo("UTC")
NO_COOKIE = (
    "This browser did not send commlog's download cookie, so the file cannot be served to it. "
    "Reload the page (with cookies allowed for this site) and click again."
)


def browser_id() -> str | None:
    """This browser's `commlog_browser` cookie (set by the launcher), as the page's WebSocket sent it."""
    return valid(st.context.cookies.get(COOKIE))


def start_download(engine: Engine, principal: Principal, spec: export_tokens.DownloadSpec) -> None:
    """Mint a token for this click and send the browser to it: an invisible iframe navigates to
    `/export/<token>` (Streamlit's iframe sandbox allows downloads), and a link to the same URL
    stays visible for a browser that did not start the download."""
    browser = browser_id()
    if browser is None:
        st.warning(NO_COOKIE)
        return
    url = export_url(export_tokens.issue(engine, principal, spec, browser, datetime.now(UTC)))
    st.iframe(url, height=1, tab_index=-1, alt="Download of the failures CSV")
    seconds = int(export_tokens.TOKEN_LIFETIME.total_seconds())
    st.caption(f"Downloading `{spec.file_name}`. If the download did not start, [click here]({url}) (valid {seconds} s).")


@fragment
def render_export_panel(engine: Engine, principal: Principal, query: LogQuery, tz: ZoneInfo) -> None:
    """Count the failures the log's view matches and offer them as a CSV download."""
    now = datetime.now(UTC)
    view = query.view
    with reading(engine, principal) as conn:
        lender = get_lender(conn, principal, query.lender_id)
        account = (
            get_borrower(conn, principal, query.lender_id, view.account_id)
            if lender is not None and view.account_id is not None
            else None
        )
    if lender is None:  # outside the principal's scope: say nothing about it
        return

    with st.container():  # the log page puts it in an "Export failures as CSV" expander
        all_logs = f"All of {lender.name}'s logs (lender and borrowers)"
        if view.all_logs:  # the log shows every log already: nothing to choose
            span = SPAN_LOG
            st.markdown(f"Rows from: {plain(all_logs)}")
        else:
            # The labels follow the view (another Account renames "this log"): `choose` keeps the
            # remembered span valid whatever the labels say.
            this_log = f"{account.name}'s log" if account else "The lender's own log"
            span = choose(st.radio, "Rows from", {SPAN_LOG: this_log, SPAN_LENDER: all_logs}, key=K + "span", horizontal=True)
        c1, c2 = st.columns(2)
        include_deferred = c1.checkbox(
            "Include emails still DEFERRED", key=K + "deferred", help="Emails the receiving server delayed and that are still being retried."
        )
        bom = c2.checkbox("For Excel (UTF-8 with BOM)", key=K + "bom", help="Excel needs it to show accents and non-Latin text.")
        spec = FailureExport(query, span=span, include_deferred=include_deferred)
        try:
            with reading(engine, principal) as conn:
                total = count_failures(conn, principal, spec)
        except ScopeError:
            return
        name = file_name(
            lender.slug, query.since, query.until, tz, now, account_id=account.id if span == SPAN_LOG and account else None
        )
        st.caption(
            "A failure: Status failed, or delivery status NOT_DELIVERED (BOUNCE, BLOCKED, DROPPED, FAILED, "
            "or deferred past the retry window). The export follows the log's filters and order; times are UTC."
        )
        audit_extra = {"view": view.to_query_params(), "tz": tz.key}  # the page's view, as in its URL
        _offer(engine, principal, spec, total, name=name, bom=bom, audit_extra=audit_extra, key=K + "download")


def _offer(engine: Engine, principal: Principal, spec: FailureExport, total: int, *, name: str, bom: bool, audit_extra: dict,
           key: str) -> None:
    """The count, and the button whose click mints the download (both panels)."""
    st.markdown(f"**{total:,}** failure{'s' if total != 1 else ''} match. File: `{name}`")
    if total > PAGE_MAX_ROWS:
        st.warning(
            f"That is more than the page can build ({PAGE_MAX_ROWS:,} rows). Narrow the date range or filters, "
            "or ask platform ops for `python -m commlog export-failures`."
        )
        return
    if total == 0:
        st.info("No failures match these filters: the file will have the header row only.")
    if st.button("Download failures CSV", icon=":material/download:", key=key):
        start_download(engine, principal, export_tokens.DownloadSpec(spec, name, bom=bom, audit_extra=audit_extra))


PK = "dlv_export_"
PERIOD_EXPORT_OPEN = PK + "open"  # Deliverability's export expander


@fragment
def render_period_export(engine: Engine, principal: Principal, lender_id: int | None, start: date, end: date, *,
                         email_type: str | None = None, audience: str | None = None) -> None:
    """Deliverability's export: the failures sent on the page's UTC days, of the chosen lender or,
    for ops, of every lender (`lender_id` None), through the same file and audit entry as the log's
    panel. A lender admin's export is always of their own lender."""
    if lender_id is None and not principal.is_ops:
        lender_id = principal.lender_id
    with reading(engine, principal) as conn:
        lender = get_lender(conn, principal, lender_id) if lender_id is not None else None
    if lender_id is not None and lender is None:  # outside the principal's scope: say nothing about it
        return
    expire_pending_now_and_then(engine, principal, lender_id, datetime.now(UTC))  # as the log page does: the same rows
    label = f"Export failures as CSV · {plain(lender.name) if lender else 'All lenders'}"
    # Counted only while open: for ops, a count of every lender's failures over the period.
    with st.expander(label, icon=":material/download:", key=PERIOD_EXPORT_OPEN, on_change="rerun") as box:
        if not box.open:
            return
        c1, c2 = st.columns(2)
        include_deferred = c1.checkbox(
            "Include emails still DEFERRED", key=PK + "deferred", help="Emails the receiving server delayed and that are still being retried."
        )
        bom = c2.checkbox("For Excel (UTF-8 with BOM)", key=PK + "bom", help="Excel needs it to show accents and non-Latin text.")
        spec = period_export(lender_id, start, end, email_type=email_type, audience=audience, include_deferred=include_deferred)
        try:
            with reading(engine, principal) as conn:
                total = count_failures(conn, principal, spec)
        except ScopeError:
            return
        q = spec.query
        name = file_name(lender.slug if lender else None, q.since, q.until, UTC_ZONE, datetime.now(UTC))
        rows_from = "All lenders (every log of every lender)" if lender is None else f"All of {lender.name}'s logs (lender and borrowers)"
        st.markdown(f"Rows from: {plain(rows_from)} · sent {start.day} {start:%b %Y} – {end.day} {end:%b %Y} (UTC days, as the rates above)")
        st.caption(
            "A failure: Status failed, or delivery status NOT_DELIVERED (BOUNCE, BLOCKED, DROPPED, FAILED, "
            "or deferred past the retry window). The export follows this page's email type and audience; times are UTC."
        )
        audit_extra = {"view": q.view.to_query_params(), "tz": UTC_ZONE.key}  # the same entry as the log's panel
        _offer(engine, principal, spec, total, name=name, bom=bom, audit_extra=audit_extra, key=PK + "download")
