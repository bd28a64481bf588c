"""One message on its own page: /message?id=<message id>. Scoped by the logged-in lender."""

import streamlit as st

from commlog.ui.format import viewer_timezone
from commlog.ui.links import page_link
from commlog.ui.message_view import message_from_url, render_message
from commlog.ui.page import guarded
from commlog.ui.resources import ensure_ready

with guarded() as principal:
    engine = ensure_ready()
    tz = viewer_timezone()

    page_link("pages/log.py", "Back to the Communication Log", icon="⬅️")
    detail = message_from_url(engine, principal)
    if detail is None:
        st.warning("That message was not found in the logs you can see.")
    else:
        render_message(engine, principal, detail, tz, key_prefix="page")
