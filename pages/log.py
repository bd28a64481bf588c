"""The Communication Log: one lender's (or one borrower's) emails, their Status and delivery status.
"Find emails to…" lists every email to a person across all of the lender's logs instead."""

from datetime import UTC, datetime

import streamlit as st

from commlog.log_view import LogView
from commlog.ui.format import viewer_timezone
from commlog.ui.log_controls import (
    load_url,
    render_lender,
    render_search_box,
    sync_url,
)
from commlog.ui.log_view import render_filtered_log
from commlog.ui.maintenance import expire_pending_now_and_then
from commlog.ui.page import guarded
from commlog.ui.recipient_search import render_search_results
from commlog.ui.resources import ensure_ready

with guarded() as principal:
    engine = ensure_ready()
    tz = viewer_timezone()
    now = datetime.now(UTC)

    st.title("Communication Log")
    load_url(engine, principal, tz)
    if principal.is_ops:
        lender_column, search_column = st.columns([1, 2], vertical_alignment="bottom")
    else:
        lender_column = search_column = st.container()
    with lender_column:
        lender = render_lender(engine, principal)
    with search_column:
        search = render_search_box(principal)
    expire_pending_now_and_then(engine, principal, lender.id, now)

    if search.text:
        render_search_results(engine, principal, lender, search, tz)
        sync_url(LogView(lender_id=lender.id, search=search.text, search_all_lenders=search.all_lenders), principal)
    else:
        render_filtered_log(engine, principal, lender, tz)  # a fragment: a filter reruns it alone; it writes the URL
