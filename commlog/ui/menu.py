"""The menu across the top of every page: the pages this role may open, and who is signed in.

A bar, not Streamlit's sidebar: a sidebar stays open down to 768 px and takes a third of an
800 px window (a laptop with a side window, a tablet), where the log's grid needs the width. The
bar wraps instead. Drawn by the login check (`commlog.ui.guard.require_login`), the same whether
the page runs under app.py's st.navigation or on its own (legacy pages mode); Streamlit's own
page menu is hidden in .streamlit/config.toml.
"""

from __future__ import annotations

from contextvars import ContextVar

import streamlit as st

from commlog.principal import Principal, Role
from commlog.ui.links import page_link

# Set once the menu is drawn in a run, so an incident before it still offers Sign out.
menu_drawn: ContextVar[bool] = ContextVar("commlog_menu_drawn", default=False)


def role_text(principal: Principal) -> str:
    return "Platform ops: all lenders" if principal.is_ops else "Lender admin"


def render_menu(principal: Principal) -> None:
    links = [("pages/log.py", "Communication Log", "✉️"), ("pages/deliverability.py", "Deliverability", "📈")]
    links.append(("pages/suppressions.py", "Suppressions", "🚫"))
    if principal.role == Role.OPS:
        links.append(("pages/audit.py", "Audit", "🗒️"))
    with st.container(horizontal=True, vertical_alignment="center", gap="small", key="menu"):
        for path, label, icon in links:
            page_link(path, label, icon=icon)
        st.space("stretch")
        with st.popover(principal.email, icon=":material/account_circle:", type="tertiary",
                        help="Who is signed in; Sign out"):
            st.markdown(f"Signed in as `{principal.email}`")
            st.caption(role_text(principal))
            sign_out_button()
    menu_drawn.set(True)


def sign_out_button() -> None:
    from commlog.ui.guard import logout  # guard draws this menu: imported here, not at the top

    if st.button("Sign out", key="sign_out", icon=":material/logout:"):
        logout()
        st.rerun()
