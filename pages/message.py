"""One message on its own page: /message?id=<message id>. Scoped by the logged-in lender."""

import streamlit as st

from commlog.log_queries import get_message
from commlog.ui.format import viewer_timezone
from commlog.ui.links import page_link
from commlog.ui.message_view import render_message
from commlog.ui.page import guarded
from commlog.ui.resources import ensure_ready
from commlog.unit_of_work import reading

with guarded() as principal:
    engine = ensure_ready()
    tz = viewer_timezone()

    raw_id = st.query_params.get("id", "")
    message_id = int(raw_id) if raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 18 else None  # ASCII: '²' is a digit to isdigit()

    page_link("pages/log.py", "Back to the Communication Log", icon="⬅️")
    detail = None
    if message_id is not None:
        with reading(engine, principal) as conn:
            detail = get_message(conn, principal, message_id)
    if detail is None:
        # Same words for "does not exist" and "another lender's": ids reveal nothing.
        st.warning("That message was not found in the logs you can see.")
        st.stop()
    render_message(engine, principal, detail, tz, key_prefix="page")
