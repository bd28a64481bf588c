"""/floor: the framework floor for `bench --only browser` (served only with COMMLOG_BENCH_FLOOR_PAGE=1).

A page that does what every page does and nothing else: the login check, the menu bar and the
error boundary (`guarded`), one button that reruns it. Its rerun time, measured on the same servers
in the same run, is what an interaction of a real page is compared with.
"""

from __future__ import annotations

import streamlit as st

from commlog.ui.page import guarded


def floor_page() -> None:
    with guarded():
        st.title("Floor")
        runs = st.session_state["floor_runs"] = st.session_state.get("floor_runs", 0) + 1
        st.button("Run again", key="floor_again")
        st.caption(f"Runs of this page: {runs}")
