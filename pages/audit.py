"""Audit trail (platform ops only): every export and delivery check, who, when, scope, filters, rows.
Read-only: audit rows cannot be changed or deleted from the app."""

from dataclasses import replace
from datetime import datetime, time, timedelta, timezone

import pandas as pd
import streamlit as st

from commlog.audit_queries import (
    ALL_LENDERS,
    PAGE_SIZE,
    AuditFilter,
    audit_actions,
    audit_users,
    filters_text,
    list_audit,
)
from commlog.log_queries import list_lenders
from commlog.principal import Role
from commlog.ui.choices import choose, same_labels
from commlog.ui.format import viewer_timezone
from commlog.ui.page import guarded
from commlog.ui.resources import ensure_ready

with guarded(Role.OPS) as principal:
    engine = ensure_ready()
    tz = viewer_timezone()
    today = datetime.now(timezone.utc).astimezone(tz).date()
    K = "audit_"
    ANY = "Any"

    st.title("Audit trail")
    st.caption(f"Exports and delivery checks, newest first. Times in {tz.key}. Audit entries cannot be changed or deleted.")

    with engine.connect() as conn:
        actions = audit_actions(conn, principal)
        users = audit_users(conn, principal)
        lenders = list_lenders(conn, principal)

    c1, c2, c3, c4 = st.columns([1, 2, 2, 2])
    action = choose(c1.selectbox, "Action", same_labels([ANY, *actions]), key=K + "action")
    user = choose(c2.selectbox, "User", same_labels([ANY, *users]), key=K + "user")
    lender_names = {None: ANY, ALL_LENDERS: "All lenders (cross-lender exports)", **{lender.id: lender.name for lender in lenders}}
    lender_choice = choose(c3.selectbox, "Lender", lender_names, key=K + "lender")
    dates = c4.date_input(
        f"Dates ({tz.key})", value=(today - timedelta(days=30), today), max_value=today, key=K + "dates", format="YYYY-MM-DD"
    )
    date_from, date_to = (tuple(dates) + (None, None))[:2] if isinstance(dates, (tuple, list)) else (dates, dates)
    since = datetime.combine(date_from, time.min, tz).astimezone(timezone.utc) if date_from else None
    until = datetime.combine(date_to + timedelta(days=1), time.min, tz).astimezone(timezone.utc) if date_to else None

    audit_filter = AuditFilter(
        action=None if action == ANY else action,
        user_email=None if user == ANY else user,
        lender_id=lender_choice,
        since=since,
        until=until,
    )
    # A changed filter starts again at page 1.
    if st.session_state.get(K + "signature") not in (None, audit_filter):
        st.session_state[K + "page"] = 1
    st.session_state[K + "signature"] = audit_filter

    page_no = int(st.session_state.get(K + "page") or 1)
    with engine.connect() as conn:
        page = list_audit(conn, principal, replace(audit_filter, page=page_no, page_size=PAGE_SIZE))
    if page.page != page_no:
        st.session_state[K + "page"] = page.page

    st.markdown(f"**{page.total:,}** audit entr{'ies' if page.total != 1 else 'y'}")
    if page.total == 0:
        st.info("No audit entries match these filters. Widen the dates or clear a filter.")
        st.stop()

    st.dataframe(
        pd.DataFrame(
            {
                f"When ({tz.key})": [r.at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") for r in page.rows],
                "User": [r.user_email for r in page.rows],
                "Role": [r.role for r in page.rows],
                "Action": [r.action for r in page.rows],
                "Scope": [r.scope for r in page.rows],
                "Rows": [r.row_count for r in page.rows],
                "Filters": [filters_text(r.filters) for r in page.rows],
                "Detail": [r.detail or "" for r in page.rows],
            }
        ),
        hide_index=True,
        column_config={
            "Rows": st.column_config.NumberColumn(format="%d"),
            "Filters": st.column_config.TextColumn(width="large"),
            "Detail": st.column_config.TextColumn(width="large"),
        },
    )
    if page.num_pages > 1:
        st.pagination(page.num_pages, key=K + "page")
    st.caption(f"Page {page.page} of {page.num_pages:,}, {PAGE_SIZE} entries a page.")
