"""commlog entrypoint: database bootstrap, login gate, role-based navigation.

Every page under pages/ also checks the login itself (commlog.ui.guard.require_login), because
Streamlit can run a pages/ file without this entrypoint.
"""

import streamlit as st

st.set_page_config(page_title="Communication Log", page_icon="✉️", layout="wide")

from commlog.principal import Role  # noqa: E402
from commlog.ui.guard import current_principal, logout  # noqa: E402
from commlog.ui.resources import ensure_ready  # noqa: E402

ensure_ready()
principal = current_principal()

log_page = st.Page("pages/log.py", title="Communication Log", icon="✉️", url_path="log", default=True)
message_page = st.Page("pages/message.py", title="Message", url_path="message", visibility="hidden")
deliverability_page = st.Page("pages/deliverability.py", title="Deliverability", icon="📈", url_path="deliverability")
audit_page = st.Page("pages/audit.py", title="Audit", icon="🗒️", url_path="audit")

if principal is None:
    # Every page is routable so a shared link survives the login; each page shows the login form.
    nav = st.navigation([log_page, message_page, deliverability_page], position="hidden")
else:
    pages = [log_page, deliverability_page, message_page]
    if principal.role == Role.OPS:
        pages.append(audit_page)
    nav = st.navigation(pages, position="sidebar")
    with st.sidebar:
        st.caption(f"Signed in as **{principal.email}**")
        st.caption("Platform ops (all lenders, read-only)" if principal.is_ops else "Lender admin")
        if st.button("Sign out", key="sign_out"):
            logout()
            st.rerun()

nav.run()
