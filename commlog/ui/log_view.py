"""The log itself under its controls: how many emails, one page of the grid with what to do with
the ticked emails above it, the pages, the export panel, and the dialog of the ticked email (or of
the bulk check of several).

The log and its controls (the Account and the filters) run as one fragment,
`render_filtered_log`: changing a filter or the Account reruns them alone, not the page above them
(the menu, the title, the lender, "Find emails to…"), which a whole page's rerun would redraw in
the browser for nothing. Inside it the log runs as a fragment of its own: turning a page, changing
the rows per page, ticking a row (which opens its dialog) or opening the export panel reruns the
log alone, not the controls above it (the Account and its borrower finder, the filters: their
queries and widgets). So the page and size are read from their widgets on every run, and the URL is
written here."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import streamlit as st
from sqlalchemy import Engine

from commlog.log_queries import COUNT_LIMIT, AccountRow, LenderRow, about, fetch_log_page
from commlog.log_view import DEFAULT_PAGE_SIZE, PAGE_SIZES, LogView
from commlog.principal import Principal
from commlog.ui.boundary import fragment, safe_callback
from commlog.ui.choices import choose, same_labels
from commlog.ui.email_dialogs import open_dialogs, render_selection_bar
from commlog.ui.export_panel import EXPORT_OPEN, render_export_panel
from commlog.ui.format import plain
from commlog.ui.links import page_link
from commlog.ui.log_controls import K, chosen_page, quiet_page_state_warning, render_log_controls, sync_url
from commlog.ui.log_selection import LOG
from commlog.ui.log_table import render_log_table
from commlog.unit_of_work import reading


@safe_callback
def _count_exactly(signature: LogView) -> None:
    """This view (whatever its page) is counted exactly until a filter changes."""
    st.session_state[K + "exact_for"] = signature


@fragment
def render_filtered_log(engine: Engine, principal: Principal, lender: LenderRow, tz: ZoneInfo) -> None:
    """The Account, the filters and the log they choose. A filter or Account change reruns this
    alone; a borrower picked from the finder, the lender or a search rerun the whole page."""
    view, account = render_log_controls(engine, principal, lender, tz)
    render_log(engine, principal, view, lender, account, tz)


@fragment
def render_log(engine: Engine, principal: Principal, view: LogView, lender: LenderRow, account: AccountRow | None,
               tz: ZoneInfo) -> None:
    """Draw the log the view asks for (at the page its widgets hold now) and put the page actually
    shown in the URL."""
    ss = st.session_state
    now = datetime.now(UTC)
    view = replace(view, **chosen_page())  # a rerun of the log alone gets the view of the filters' last run
    # A changed filter starts again at page 1, with nothing selected.
    signature = replace(view, page=1)
    if ss.get(K + "signature") not in (None, signature):
        view = replace(view, page=1)
        ss[K + "page"] = 1
        LOG.clear()
    ss[K + "signature"] = signature

    query = view.query(lender.id, tz, now)
    exact = ss.get(K + "exact_for") == signature
    # A tick (which opens the email's dialog) draws the rows and their count as they were ticked
    # (the dialog reads the email afresh); every other run reads them again (closing the dialog
    # too: back in the log, its newest emails).
    page = LOG.kept_read((view, tz.key, exact))
    if page is None:
        with reading(engine, principal) as conn:
            page = fetch_log_page(conn, principal, query, exact=exact)
    if page.page != view.page:
        view = replace(view, page=page.page)
        ss[K + "page"] = page.page
    LOG.on_page(page.page)

    if account:
        whose = f"{plain(account.name)}'s log ({plain(account.email)})"  # borrower-supplied text: no Markdown
    elif view.all_logs:
        whose = f"all of {plain(lender.name)}'s logs (lender and borrowers)"
    else:
        whose = f"{plain(lender.name)}: lender's own log"
    # room for "Why didn't <first name> get it?" beside the count at 800 px too
    count, why = st.columns([3, 2], vertical_alignment="center")
    if page.exact:
        count.markdown(f"**{page.total:,}** email{'s' if page.total != 1 else ''} in {whose}")
    else:
        count.markdown(f"**About {about(page.total):,}** emails in {whose}")
    if account:
        with why:
            page_link("pages/why.py", f"Why didn't {account.name.split()[0]} get it?", icon="🩺",
                      query_params={"account": str(account.id)})
    st.caption(f"Times in {tz.key}. Status: did our mail servers send it. Delivery status: did the receiving server take it.")
    if not page.exact:
        note, button = st.columns([3, 1], vertical_alignment="center")
        note.caption(f"More than {COUNT_LIMIT:,} emails match, so the number is the database's estimate: counting "
                     "every one would slow each page. The emails listed are exact.")
        button.button("Count exactly", key=K + "count_exactly", icon="🔢", on_click=_count_exactly, args=(signature,))

    LOG.keep_only([r["id"] for r in page.rows])
    if page.total == 0:
        st.info("No emails match these filters. Widen the date range, clear a filter, or pick another account."
                if view.filtered else "No emails in this log for this period yet.")
    else:
        bar = st.container()
        selected = render_log_table(page.rows, tz)
        LOG.keep_read((view, tz.key, exact), page)
        with bar:
            render_selection_bar(LOG, selected)
        pages, size = st.columns([4, 1], vertical_alignment="bottom")
        with pages:
            quiet_page_state_warning()
            st.pagination(page.num_pages, key=K + "page", persist_state="page")
        with size:
            choose(st.selectbox, "Rows per page", same_labels(list(PAGE_SIZES)), key=K + "size",
                   default=DEFAULT_PAGE_SIZE, persist_state="page")
        st.caption(f"Page {page.page} of {page.num_pages:,}." if page.exact else
                   f"Page {page.page} of about {about(page.num_pages):,}.")

    # The panel counts the view's failures: only while it is open (at 10M messages a count over a
    # lender's month costs more than the page itself, on every rerun).
    with st.expander("Export failures as CSV", icon="⬇️", key=EXPORT_OPEN, on_change="rerun") as export:
        if export.open:
            render_export_panel(engine, principal, query, tz)
    open_dialogs(engine, principal, LOG, tz, page.rows)
    sync_url(view, principal)
