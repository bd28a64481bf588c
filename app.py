"""commlog entrypoint: database bootstrap and role-based navigation.

Every page under pages/ checks the login itself (commlog.ui.guard.require_login) and draws the
menu bar (commlog.ui.menu), because Streamlit can run a pages/ file without this entrypoint (legacy pages mode on
a freshly started server). Streamlit's own menu is hidden in .streamlit/config.toml.
"""

import streamlit as st

from commlog.principal import Role
from commlog.settings import settings
from commlog.ui import bench_pages
from commlog.ui.boundary import error_boundary
from commlog.ui.guard import current_principal
from commlog.ui.resources import ensure_ready

st.set_page_config(page_title="Communication Log", page_icon="✉️", layout="wide")
ensure_ready()
principal = current_principal()


def _home() -> None:
    """`/` forwards to `/log` with its query parameters: the default page of st.navigation is only
    served at `/`, and shared links must work at the log's own address."""
    st.switch_page(log_page, query_params=st.query_params.to_dict())


log_page = st.Page("pages/log.py", title="Communication Log", icon="✉️", url_path="log")
pages = [
    st.Page(_home, title="Communication Log", url_path="home", default=True, visibility="hidden"),
    log_page,
    st.Page("pages/message.py", title="Message", url_path="message", visibility="hidden"),
    st.Page("pages/why.py", title="Why didn't they get it?", url_path="why", visibility="hidden"),
    st.Page("pages/deliverability.py", title="Deliverability", icon="📈", url_path="deliverability"),
    st.Page("pages/suppressions.py", title="Suppressions", icon="🚫", url_path="suppressions"),
]
# Logged out, every page stays routable so a shared link survives the login: each shows the form.
# Pages a role may not use are not registered at all (unroutable by URL or switch_page).
if principal is None or principal.role == Role.OPS:
    pages.append(st.Page("pages/audit.py", title="Audit", icon="🗒️", url_path="audit"))
if settings().bench_floor_page:  # benchmarks only: `bench --only browser` measures the framework on these
    pages += bench_pages.pages()

with error_boundary("navigation"):  # pages run their own boundary; this catches what escapes them
    st.navigation(pages, position="hidden").run()
