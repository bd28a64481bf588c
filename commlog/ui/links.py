"""Links between pages that work in both of Streamlit's modes.

Under app.py's `st.navigation` a page is linked with `st.page_link`; a `pages/` file run on its own
(legacy pages mode on a freshly started server) has no page registry, and `st.page_link` raises.
There a plain Markdown link to the page's URL path does the same job.
"""

from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st
from streamlit.errors import StreamlitAPIException

URL_PATHS = {"pages/log.py": "log", "pages/message.py": "message", "pages/why.py": "why",
             "pages/deliverability.py": "deliverability", "pages/audit.py": "audit",
             "pages/suppressions.py": "suppressions"}


MAX_ID_DIGITS = 18  # ids are 64-bit: a longer number is no id of ours


def id_param(name: str) -> int | None:
    """An id from the URL (`?id=`, `?message=`, `?account=`), or None when it is not a plain number
    (ASCII digits only: '²' is a digit to str.isdigit)."""
    raw = st.query_params.get(name, "")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= MAX_ID_DIGITS else None


def page_link(path: str, label: str, *, icon: str | None = None, query_params: dict[str, str] | None = None,
              **kwargs) -> None:
    try:
        st.page_link(path, label=label, icon=icon, query_params=query_params, **kwargs)
    except StreamlitAPIException:
        query = f"?{urlencode(query_params)}" if query_params else ""
        st.markdown(f"{icon + ' ' if icon else ''}[{label}](/{URL_PATHS[path]}{query})")
