"""Which emails are selected in the log, by id.

st.dataframe reports selected rows by position. Positions go stale when the rows change under them
(a check moves an email out of a "Not checked yet" filter, a new email arrives), so the ids are
taken when the user changes the selection and kept until the next change. After a check the grid
is re-created (a new key) so its ticks never point at another email than the detail shows.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

_GEN = "log_table_gen"
_IDS = "log_selected_ids"
_ROWS = "log_selected_rows"


def table_key() -> str:
    return f"log_table_{st.session_state.get(_GEN, 0)}"


def selected_ids(rows: Sequence[int], page_ids: Sequence[int]) -> list[int]:
    marker = (table_key(), tuple(rows))
    previous = st.session_state.get(_ROWS)
    fresh_grid = previous is not None and previous[0] != marker[0] and not rows
    if previous != marker and not fresh_grid:  # the user changed the selection in this grid
        st.session_state[_IDS] = [page_ids[i] for i in rows if 0 <= i < len(page_ids)]
    st.session_state[_ROWS] = marker
    return list(st.session_state.get(_IDS, []))


def clear_selection() -> None:
    """Forget the selection and re-create the grid without ticks."""
    st.session_state[_IDS] = []
    st.session_state[_GEN] = st.session_state.get(_GEN, 0) + 1


def refresh_grid() -> None:
    """Re-create the grid (its data changed) but keep showing the selected emails."""
    st.session_state[_GEN] = st.session_state.get(_GEN, 0) + 1


def current_selection() -> list[int]:
    """The selected ids when no grid is shown (an empty page): kept as they were."""
    return list(st.session_state.get(_IDS, []))
