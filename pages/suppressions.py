"""Suppressions: requests to take an address off the email provider's suppression lists. Lender
admins see their lender's requests and what became of them; platform ops decide (approve: the
provider is told; reject, with a reason), with the evidence beside each request."""

import streamlit as st

from commlog.ui.format import viewer_timezone
from commlog.ui.page import guarded
from commlog.ui.resources import ensure_ready
from commlog.ui.suppressions_view import (
    read,
    render_bulk_approve,
    render_episode_request,
    render_filters,
    render_requests,
    show_flash,
)

with guarded() as principal:
    engine = ensure_ready()
    tz = viewer_timezone()

    st.title("Suppressions")
    if principal.is_ops:
        st.caption(f"Requests to take addresses off the email provider's suppression lists, from every lender. "
                   f"Approve tells the provider to remove the address; nobody approves their own request. "
                   f"Times in {tz.key}.")
    else:
        st.caption(f"Your requests to take addresses off the email provider's suppression lists, and what became "
                   f"of them. Ask for one from “Why didn't they get it?” of a suppressed address; platform ops "
                   f"decide. Times in {tz.key}.")
    show_flash()
    state, lender_id = render_filters(engine, principal)
    if principal.is_ops:
        render_episode_request(engine, principal, lender_id, tz)
    requests = read(engine, principal, state, lender_id)
    st.markdown(f"**{len(requests):,}** request{'s' if len(requests) != 1 else ''}")
    if not requests:
        st.info("No requests match. A request starts on “Why didn't they get it?” of a suppressed address.")
    else:
        if principal.is_ops:
            render_bulk_approve(engine, principal, requests)
        render_requests(engine, principal, requests, tz)
