"""Deliverability: bounce, block and defer rates per lender, from the rollups (commlog.deliverability).

Ops see every lender; a lender admin sees their own lender, with the platform median as an
anonymous benchmark only. Days are UTC send dates (the rollup's unit); the page says so and names
the viewer's time zone.
"""

from datetime import UTC, datetime

import streamlit as st

from commlog.ui.deliverability import reads
from commlog.ui.deliverability.controls import (
    render_filters,
    render_lender,
    render_no_data,
    render_nothing_sent,
    render_time_note,
)
from commlog.ui.deliverability.headline import render_headline
from commlog.ui.deliverability.reads import Reader
from commlog.ui.deliverability.tabs import render_tabs
from commlog.ui.export_panel import render_period_export
from commlog.ui.format import viewer_timezone
from commlog.ui.page import guarded
from commlog.ui.resources import ensure_ready

with guarded() as principal:
    engine = ensure_ready()
    tz = viewer_timezone()
    today = datetime.now(UTC).date()
    reader = Reader.of(principal)

    st.title("Deliverability")
    lender_id, names = render_lender(reader)
    span = reads.data_range(reader, lender_id)
    if span is None:
        render_no_data()
        st.stop()
    chosen = render_filters(reader, lender_id, names, span, today)
    if chosen is None:
        st.stop()
    render_time_note(tz)

    summary = reads.summary(reader, chosen.q)
    if summary.requests == 0:
        render_nothing_sent(chosen.q)
        st.stop()
    render_headline(chosen, summary)

    q = chosen.q
    # The failures behind these rates as CSV: ops for every lender (or the chosen one), an admin for their own.
    render_period_export(engine, principal, q.lender_id, q.start, q.end, email_type=q.email_type, audience=q.audience)
    report = reads.health(reader, q.start, q.end, chosen.options)  # one verdict per lender, from the period's findings
    render_tabs(chosen, report)  # health and findings first, then the charts, one tab drawn at a time
