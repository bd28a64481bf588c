"""The Audit page's sections: its filters (kept for the page) and one page of entries."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from commlog.audit_queries import (
    ALL_LENDERS,
    KINDS,
    PAGE_SIZE,
    RESULTS,
    AuditFilter,
    AuditRow,
    audit_actions,
    audit_users,
    filters_text,
    list_audit,
)
from commlog.log_queries import list_lenders
from commlog.log_view import day_bounds
from commlog.paging import Page
from commlog.principal import Principal
from commlog.ui.choices import choose, remembered, same_labels
from commlog.ui.format import local_time
from commlog.unit_of_work import reading

K = "audit_"
ANY = "Any"
_PAGE = K + "page"


def render_audit_filters(engine: Engine, principal: Principal, tz: ZoneInfo) -> AuditFilter:
    with reading(engine, principal) as conn:
        actions = audit_actions(conn, principal)
        users = audit_users(conn, principal)
        lenders = list_lenders(conn, principal)
    today = datetime.now(UTC).astimezone(tz).date()
    k1, k2, _ = st.columns([2, 2, 3])
    kind = choose(k1.selectbox, "Kind", {None: ANY, **KINDS}, key=K + "kind")
    result = choose(k2.selectbox, "Result", {None: ANY, **RESULTS}, key=K + "result")
    c1, c2, c3, c4 = st.columns([1, 2, 2, 2])
    action = choose(c1.selectbox, "Action", same_labels([ANY, *actions]), key=K + "action")
    user = choose(c2.selectbox, "User", same_labels([ANY, *users]), key=K + "user")
    lender_names = {None: ANY, ALL_LENDERS: "All lenders / no lender (ops, cross-lender exports, unknown addresses)",
                    **{lender.id: lender.name for lender in lenders}}
    lender = choose(c3.selectbox, "Lender", lender_names, key=K + "lender")
    dates = c4.date_input(f"Dates ({tz.key})", value=(today - timedelta(days=30), today), max_value=today,
                          key=K + "dates", format="YYYY-MM-DD")
    first, last = (tuple(dates) + (None, None))[:2] if isinstance(dates, (tuple, list)) else (dates, dates)
    since, until = day_bounds(first, last, tz)
    return AuditFilter(action=None if action == ANY else action, kind=kind, result=result,
                       user_email=None if user == ANY else user, lender_id=lender, since=since, until=until)


def fetch_audit_page(engine: Engine, principal: Principal, audit_filter: AuditFilter) -> Page[AuditRow]:
    """The page of entries the page widget asks for; a changed filter starts again at page 1."""
    ss = st.session_state
    if ss.get(K + "signature") not in (None, audit_filter):
        ss[_PAGE] = 1
    ss[K + "signature"] = audit_filter
    with reading(engine, principal) as conn:
        page = list_audit(conn, principal, replace(audit_filter, page=remembered(_PAGE, range(1, 10**9), 1),
                                                  page_size=PAGE_SIZE))
    ss[_PAGE] = page.page
    return page


def render_audit_table(page: Page[AuditRow], tz: ZoneInfo) -> None:
    st.dataframe(
        pd.DataFrame(
            {
                f"When ({tz.key})": [local_time(r.at, tz, seconds=True) for r in page.rows],
                "User": [r.user_email for r in page.rows],
                "Role": [r.role for r in page.rows],
                "Action": [r.action for r in page.rows],
                "Scope": [r.scope for r in page.rows],
                "Rows": ["" if r.row_count is None else f"{r.row_count:,}" for r in page.rows],  # a sign-in has none
                "IP": [r.client_ip or "" for r in page.rows],
                "Filters": [filters_text(r.filters) for r in page.rows],
                "Detail": [r.detail or "" for r in page.rows],
            }
        ),
        hide_index=True,
        column_config={
            "Rows": st.column_config.TextColumn(width="small"),
            "Filters": st.column_config.TextColumn(width="large"),
            "Detail": st.column_config.TextColumn(width="large"),
        },
    )
    if page.num_pages > 1:
        st.pagination(page.num_pages, key=_PAGE)
    st.caption(f"Page {page.page} of {page.num_pages:,}, {PAGE_SIZE} entries a page.")
