"""Which emails are selected in a grid of emails (the log, the recipient search), by id.

st.dataframe reports selected rows by position. Positions go stale when the rows change under them
(a check moves an email out of a "Not checked yet" filter, a new email arrives), so the ids are
taken when the user changes the selection and kept until the next change. After a check the grids
are re-created (a new key) so their ticks never point at another email than the detail shows.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st


class Selection:
    """The selected emails of one grid, kept in session state under `<prefix>_...` keys."""

    registry: dict[str, Selection] = {}

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._gen = f"{prefix}_table_gen"
        self._ids = f"{prefix}_selected_ids"
        self._rows = f"{prefix}_selected_rows"
        Selection.registry[prefix] = self

    def table_key(self) -> str:
        return f"{self.prefix}_table_{st.session_state.get(self._gen, 0)}"

    def selected_ids(self, rows: Sequence[int], page_ids: Sequence[int]) -> list[int]:
        marker = (self.table_key(), tuple(rows))
        previous = st.session_state.get(self._rows)
        fresh_grid = previous is not None and previous[0] != marker[0] and not rows
        if previous != marker and not fresh_grid:  # the user changed the selection in this grid
            st.session_state[self._ids] = [page_ids[i] for i in rows if 0 <= i < len(page_ids)]
        st.session_state[self._rows] = marker
        return self.current()

    def clear(self) -> None:
        """Forget the selection and re-create the grid without ticks."""
        st.session_state[self._ids] = []
        self.refresh()

    def refresh(self) -> None:
        """Re-create the grid (its data changed) but keep showing the selected emails."""
        st.session_state[self._gen] = st.session_state.get(self._gen, 0) + 1

    def current(self) -> list[int]:
        """The selected ids (also when no grid is shown, e.g. an empty page): kept as they were."""
        return list(st.session_state.get(self._ids, []))


LOG = Selection("log")
FIND = Selection("find")


def refresh_grids() -> None:
    """Every grid of emails shows fresh data on the next run (a check stored new statuses)."""
    for selection in Selection.registry.values():
        selection.refresh()
