"""Audit trail (platform ops only): every export, delivery check, sign-in, sign-out and suppression removal step: who, when, scope,
filters, rows, where from.
Read-only: audit rows cannot be changed or deleted from the app."""

import streamlit as st

from commlog.audit_retention import RETENTION
from commlog.principal import Role
from commlog.ui.audit_view import (
    fetch_audit_page,
    render_audit_filters,
    render_audit_table,
)
from commlog.ui.format import viewer_timezone
from commlog.ui.page import guarded
from commlog.ui.resources import ensure_ready

with guarded(Role.OPS) as principal:
    engine = ensure_ready()
    tz = viewer_timezone()

    st.title("Audit trail")
    st.caption(f"Exports, delivery checks, sign-ins and sign-outs, suppression removals, newest first. Times in {tz.key}. Audit entries "
               f"cannot be changed or deleted here; they are kept {RETENTION.days} days.")
    page = fetch_audit_page(engine, principal, render_audit_filters(engine, principal, tz))
    st.markdown(f"**{page.total:,}** audit entr{'ies' if page.total != 1 else 'y'}")
    if page.total == 0:
        st.info("No audit entries match these filters. Widen the dates or clear a filter.")
    else:
        render_audit_table(page, tz)
