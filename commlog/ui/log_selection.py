"""Which emails are selected in a grid of emails (the log, the recipient search), by id, and which
one is open in a dialog.

st.dataframe reports selected rows by position. Positions go stale when the rows change under them
(a check moves an email out of a "Not checked yet" filter, a new email arrives), so the ids are
taken when the user changes the selection and kept until the next change. After a check the grid
is re-created (a new key, so no tick can point at another email than the dialog shows) and ticks
again the selected emails still on the page (`default_rows`).

Ticking one row on its own opens that email in a dialog (`opened`); closing the dialog keeps the
tick. Several ticked rows are checked together (`bulk`), in a dialog of their own.
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
        self._open = f"{prefix}_open_email"
        self._bulk = f"{prefix}_bulk_ids"
        self._left = f"{prefix}_left_view"
        Selection.registry[prefix] = self

    def table_key(self) -> str:
        return f"{self.prefix}_table_{st.session_state.get(self._gen, 0)}"

    def default_rows(self, page_ids: Sequence[int]) -> list[int]:
        """Where the selected emails sit on this page: the ticks a re-created grid starts with."""
        chosen = set(self.current())
        return [i for i, email_id in enumerate(page_ids) if email_id in chosen]

    def selected_ids(self, rows: Sequence[int], page_ids: Sequence[int]) -> list[int]:
        ss = st.session_state
        marker = (self.table_key(), tuple(rows))
        previous = ss.get(self._rows)
        fresh_grid = previous is not None and previous[0] != marker[0] and not rows
        if previous != marker and not fresh_grid:  # the user changed the selection in this grid
            before = set(self.current())
            now = [page_ids[i] for i in rows if 0 <= i < len(page_ids)]
            ss[self._ids] = now
            ss[self._left] = 0
            if len(now) == 1 and now[0] not in before:
                ss[self._open] = now[0]  # one row ticked on its own: open it
            elif ss.get(self._open) not in now:
                ss[self._open] = None
        ss[self._rows] = marker
        return self.current()

    def clear(self) -> None:
        """Forget the selection (and any open dialog) and re-create the grid without ticks."""
        st.session_state[self._ids] = []
        st.session_state[self._open] = None
        st.session_state[self._bulk] = None
        st.session_state[self._left] = 0
        self.refresh()

    def refresh(self) -> None:
        """Re-create the grid (its data changed), still ticking the selected emails on the page."""
        st.session_state[self._gen] = st.session_state.get(self._gen, 0) + 1

    def keep_only(self, page_ids: Sequence[int]) -> None:
        """Untick the selected emails that are no longer on this page (a check moved them out of a
        "Not checked yet" filter, newer emails pushed them to the next page); `left_view` says how
        many, until the selection changes. An open email's dialog stays open."""
        chosen = self.current()
        on_page = set(page_ids)
        kept = [i for i in chosen if i in on_page]
        if len(kept) != len(chosen):
            st.session_state[self._ids] = kept
            st.session_state[self._left] = st.session_state.get(self._left, 0) + len(chosen) - len(kept)

    def left_view(self) -> int:
        """How many selected emails left the page since the selection was made."""
        return st.session_state.get(self._left, 0)

    def current(self) -> list[int]:
        """The selected ids (also when no grid is shown, e.g. an empty page): kept as they were."""
        return list(st.session_state.get(self._ids, []))

    # --- the dialogs ----------------------------------------------------------------------------

    def opened(self) -> int | None:
        """The email whose dialog is open, if any."""
        return st.session_state.get(self._open)

    def close(self) -> None:
        """The email's dialog was closed: the row stays ticked."""
        st.session_state[self._open] = None

    def open_bulk(self, ids: Sequence[int]) -> None:
        st.session_state[self._bulk] = tuple(ids)

    def bulk(self) -> tuple[int, ...] | None:
        """The emails whose bulk check dialog is open, if any."""
        return st.session_state.get(self._bulk)

    def close_bulk(self) -> None:
        st.session_state[self._bulk] = None


LOG = Selection("log")
FIND = Selection("find")


def refresh_grids() -> None:
    """Every grid of emails shows fresh data on the next run (a check stored new statuses)."""
    for selection in Selection.registry.values():
        selection.refresh()
