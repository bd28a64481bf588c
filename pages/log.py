"""The Communication Log: one lender's (or one borrower's) emails, their Status and delivery status."""

from dataclasses import replace
from datetime import datetime, timezone

import streamlit as st

from commlog.filters import DEFAULT_PAGE_SIZE, PAGE_SIZES, to_log_filter
from commlog.log_queries import fetch_log_page, get_message
from commlog.ui.check_controls import render_bulk_check
from commlog.ui.choices import choose, same_labels
from commlog.ui.format import plain, viewer_timezone
from commlog.ui.export_panel import render_export_panel
from commlog.ui.links import page_link
from commlog.ui.page import guarded
from commlog.ui.log_controls import K, quiet_page_state_warning, render_controls, sync_url
from commlog.ui.log_selection import clear_selection, current_selection
from commlog.ui.log_table import render_log_table
from commlog.ui.maintenance import expire_pending_now_and_then
from commlog.ui.message_view import render_message
from commlog.ui.resources import ensure_ready

with guarded() as principal:
    engine = ensure_ready()
    tz = viewer_timezone()
    now = datetime.now(timezone.utc)

    st.title("Communication Log")
    view, lender, account = render_controls(engine, principal, tz)
    expire_pending_now_and_then(engine, lender.id, now)

    # A changed filter starts again at page 1, with nothing selected.
    signature = replace(view, page=1)
    if st.session_state.get(K + "signature") not in (None, signature):
        view = replace(view, page=1)
        st.session_state[K + "page"] = 1
        clear_selection()
    st.session_state[K + "signature"] = signature

    log_filter = to_log_filter(view, lender.id, tz, now)
    with engine.connect() as conn:
        page = fetch_log_page(conn, principal, log_filter)
    if page.page != view.page:
        view = replace(view, page=page.page)
        st.session_state[K + "page"] = page.page
    if st.session_state.get(K + "shown_page") not in (None, page.page):
        clear_selection()  # positions on another page mean other emails
    st.session_state[K + "shown_page"] = page.page
    sync_url(view, principal)

    if account:
        whose = f"{plain(account.name)}'s log ({plain(account.email)})"  # borrower-supplied text: no Markdown
    elif view.all_logs:
        whose = f"all of {plain(lender.name)}'s logs (lender and borrowers)"
    else:
        whose = f"{plain(lender.name)}: lender's own log"
    st.markdown(f"**{page.total:,}** email{'s' if page.total != 1 else ''} in {whose}")
    st.caption(f"Times in {tz.key}. Status: did our mail servers send it. Delivery status: did the receiving server take it.")

    with st.expander("Export failures as CSV", icon="⬇️"):
        render_export_panel(engine, principal, view, log_filter, tz)

    if page.total == 0:
        filtered = any((view.text, view.domain, view.delivery_status, view.send_status, view.event_type,
                        view.email_type, view.audience, view.provider_family))
        st.info("No emails match these filters. Widen the date range, clear a filter, or pick another account."
                if filtered else "No emails in this log for this period yet.")
        selected = current_selection()
    else:
        selected = render_log_table(page, tz)
        pcol, scol = st.columns([4, 1])
        with pcol:
            quiet_page_state_warning()
            st.pagination(page.num_pages, key=K + "page")
        with scol:
            choose(st.selectbox, "Rows per page", same_labels(list(PAGE_SIZES)), key=K + "size", default=DEFAULT_PAGE_SIZE)
        st.caption(f"Page {page.page} of {page.num_pages:,}. Select a row to open the email; "
                   "select several to check them together.")

    if len(selected) > 1:
        render_bulk_check(engine, principal, selected, tz, {r["id"]: r for r in page.rows})
    elif len(selected) == 1:
        with engine.connect() as conn:
            detail = get_message(conn, principal, selected[0])
        if detail is not None:
            with st.container(border=True):
                render_message(engine, principal, detail, tz, key_prefix=f"log{selected[0]}")
                page_link("pages/message.py", "Open on its own page", query_params={"id": str(selected[0])})
