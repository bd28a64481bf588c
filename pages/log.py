"""The Communication Log: one lender's (or one borrower's) emails, their Status and delivery status."""

from dataclasses import replace
from datetime import datetime, timezone

import pandas as pd
import streamlit as st

from commlog.filters import PAGE_SIZES, to_log_filter
from commlog.log_queries import fetch_log_page, get_message
from commlog.ui.format import delivery_label, email_type_label, local_time, send_status_text, viewer_timezone
from commlog.ui.check_controls import render_bulk_check
from commlog.ui.export_panel import render_export_panel
from commlog.ui.guard import require_login
from commlog.ui.log_controls import K, render_controls, sync_url
from commlog.ui.maintenance import expire_pending_now_and_then
from commlog.ui.message_view import render_message
from commlog.ui.resources import ensure_ready

principal = require_login()
engine = ensure_ready()
tz = viewer_timezone()
now = datetime.now(timezone.utc)

st.title("Communication Log")
view, lender, account = render_controls(engine, principal, tz)
expire_pending_now_and_then(engine, lender.id, now)

# A changed filter starts again at page 1.
signature = replace(view, page=1)
if st.session_state.get(K + "signature") not in (None, signature):
    view = replace(view, page=1)
    st.session_state[K + "page"] = 1
st.session_state[K + "signature"] = signature

log_filter = to_log_filter(view, lender.id, tz, now)
with engine.connect() as conn:
    page = fetch_log_page(conn, principal, log_filter)
if page.page != view.page:
    view = replace(view, page=page.page)
    st.session_state[K + "page"] = page.page
sync_url(view, principal)

if account:
    whose = f"{account.name}'s log ({account.email})"
elif view.all_logs:
    whose = f"all of {lender.name}'s logs (lender and borrowers)"
else:
    whose = f"{lender.name}: lender's own log"
st.markdown(f"**{page.total:,}** email{'s' if page.total != 1 else ''} in {whose}")
st.caption(f"Times in {tz.key}. Status: did our mail servers send it. Delivery status: did the receiving server take it.")

with st.expander("Export failures as CSV", icon="⬇️"):
    render_export_panel(engine, principal, view, log_filter, tz)

if page.total == 0:
    st.info(
        "No emails match these filters. Widen the date range, clear a filter, "
        "or pick another account." if view.text or view.domain or view.delivery_status or view.send_status
        or view.event_type or view.email_type or view.audience else "No emails in this log for this period yet."
    )
    st.stop()

ids = [r["id"] for r in page.rows]
table = pd.DataFrame(
    {
        "Sent": [local_time(r["sent_at"], tz) for r in page.rows],
        "To": [r["recipient_email"] for r in page.rows],
        "Subject": [r["subject"] for r in page.rows],
        "Status": [send_status_text(r["send_status"], r["send_error"]) for r in page.rows],
        "Delivery status": [delivery_label(r["delivery_status"], r["send_status"]) for r in page.rows],
        "Last event": [r["last_event_type"] or "" for r in page.rows],
        # A delivered email's "250 OK" is not a reason anyone looks for.
        "Reason": [(r["status_reason"] or "") if r["delivery_status"] != "DELIVERED" else "" for r in page.rows],
        "Email type": [email_type_label(r["email_type"]) for r in page.rows],
    }
)
event = st.dataframe(
    table,
    key=K + "table",
    on_select="rerun",
    selection_mode="multi-row",
    hide_index=True,
    column_config={
        "Subject": st.column_config.TextColumn(width="medium"),
        "Status": st.column_config.TextColumn(width="small", help="Did our mail servers send it?"),
        "Delivery status": st.column_config.TextColumn(help="Did the receiving mail server take it?"),
        "Last event": st.column_config.TextColumn(width="small"),
        "Reason": st.column_config.TextColumn(width="medium"),
    },
)
selected = [ids[i] for i in event.selection.rows if 0 <= i < len(ids)]

pcol, scol = st.columns([4, 1])
with pcol:
    st.pagination(page.num_pages, key=K + "page")
with scol:
    st.selectbox("Rows per page", options=list(PAGE_SIZES), key=K + "size")
st.caption(f"Page {page.page} of {page.num_pages:,}. Select a row to open the email; select several to check them together.")

if len(selected) > 1:
    render_bulk_check(engine, principal, selected, tz)
elif len(selected) == 1:
    with engine.connect() as conn:
        detail = get_message(conn, principal, selected[0])
    if detail is not None:
        with st.container(border=True):
            render_message(engine, principal, detail, tz, key_prefix=f"log{selected[0]}")
            st.page_link("pages/message.py", label="Open on its own page", query_params={"id": str(selected[0])})
