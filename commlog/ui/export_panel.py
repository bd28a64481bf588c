"""The log page's "Export failures" panel: the row count first, the CSV built only on click.

The log page calls `render_export_panel(engine, principal, view, query, tz)` with the view it
shows. The download button gets a callable, so the file is built (streamed from SQL) only when the
user clicks, on Streamlit's download thread, and recorded in the audit trail then.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import streamlit as st
from sqlalchemy import Engine

from commlog.export import FailureExport, build_csv, count_failures, file_name
from commlog.log_queries import SPAN_LENDER, SPAN_LOG, get_borrower, get_lender
from commlog.log_view import LogQuery
from commlog.principal import Principal, ScopeError
from commlog.ui.boundary import fragment, record_incident
from commlog.ui.choices import choose
from commlog.ui.format import plain
from commlog.unit_of_work import reading

# st.download_button holds the finished file in server memory; bigger exports go through the CLI.
PAGE_MAX_ROWS = 200_000
K = "export_"


def make_download(engine: Engine, principal: Principal, spec: FailureExport, *, bom: bool, name: str, audit_extra: dict):
    """The zero-argument callable the download button runs on click (no st.* inside)."""

    def data() -> bytes:
        try:
            return build_csv(engine, principal, spec, source="page", file_name=name, bom=bom, audit_extra=audit_extra)
        except Exception as exc:  # the download fails in the browser; the traceback goes to the log only
            record_incident(exc, "export download")
            raise

    return data


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
        st.markdown(f"**{total:,}** failure{'s' if total != 1 else ''} match. File: `{name}`")
        if total > PAGE_MAX_ROWS:
            st.warning(
                f"That is more than the page can build ({PAGE_MAX_ROWS:,} rows). Narrow the date range or filters, "
                "or ask platform ops for `python -m commlog export-failures`."
            )
            return
        if total == 0:
            st.info("No failures match these filters: the file will have the header row only.")
        audit_extra = {"view": view.to_query_params(), "tz": tz.key}  # the page's view, as in its URL
        st.download_button(
            "Download failures CSV",
            data=make_download(engine, principal, spec, bom=bom, name=name, audit_extra=audit_extra),
            file_name=name,
            mime="text/csv",
            on_click="ignore",
            icon=":material/download:",
            key=K + "download",
        )
