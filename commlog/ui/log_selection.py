"""Which emails are selected in a grid of emails (the log, the recipient search), by id, and which
one is open in a dialog.

st.dataframe reports selected rows by position, and positions go stale when the rows change under
them: at scale a lender's log gains emails every second, so the rows read again for the run a tick
causes are not the rows the user saw. So a tick is read, before the grid is drawn again, against the
ids of the rows as the grid showed them (`take`), and the ids are kept until the next change. (The
run a tick causes goes further: it draws the rows as they were ticked, read for the run that drew
them, `kept_read`.) When
the rows have moved under the ticks since (a new email arrived, a check moved one out of a "Not
checked yet" filter, newer emails pushed one to the next page), the grid is re-created (a new key, so
no tick can point at another email than the dialog shows) and ticks the selected emails where they
are now (`default_rows`).

A row's Open button opens its email in a dialog (`opened`) at once, without ticking it: the
button's click reaches the server as it happens, where a tick waits in the browser (Streamlit's grid
gathers ticks for 150 ms before it reports them). Its row is read, like a tick, against the ids of
the rows as the grid showed them. Ticking one row on its own opens that email too (the keyboard's
way: Shift+Space); closing the dialog keeps the tick. Several ticked rows are checked together
(`bulk`), in a dialog of their own.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import streamlit as st


class Selection:
    """The selected emails of one grid, kept in session state under `<prefix>_...` keys."""

    registry: dict[str, Selection] = {}

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._gen = f"{prefix}_table_gen"
        self._ids = f"{prefix}_selected_ids"
        self._shown = f"{prefix}_shown_grid"  # (grid key, row ids, ticks) as the last run drew it
        self._open = f"{prefix}_open_email"
        self._bulk = f"{prefix}_bulk_ids"
        self._left = f"{prefix}_left_view"
        self._read = f"{prefix}_drawn_read"
        self.open_key = f"{prefix}_open_button"  # the grid's Open column: the row its click names
        Selection.registry[prefix] = self

    def table_key(self) -> str:
        return f"{self.prefix}_table_{st.session_state.get(self._gen, 0)}"

    def default_rows(self, page_ids: Sequence[int]) -> list[int]:
        """Where the selected emails sit on this page: the ticks a re-created grid starts with."""
        chosen = set(self.current())
        return [i for i, email_id in enumerate(page_ids) if email_id in chosen]

    def take(self, page_ids: Sequence[int]) -> list[int]:
        """Before the grid is drawn with the rows `page_ids`: the selected ids. A change of the grid's
        ticks since the last run names the emails the grid showed when it was drawn, whatever the
        rows read for this run; when this run's rows put the selected emails elsewhere than the
        ticks, the grid is re-created ticking them where they are now."""
        ss = st.session_state
        key = self.table_key()
        shown = ss.get(self._shown)
        ticks = self._ticks(key)
        clicked = self.clicked()
        if shown is not None and clicked is not None and clicked < len(shown[1]):
            ss[self._open] = shown[1][clicked]  # the row of the grid the person clicked in, whatever its key now
        if shown is None or shown[0] != key or ticks is None:
            return self.current()  # a grid not drawn yet: it starts from `default_rows`
        _key, shown_ids, shown_ticks = shown
        if ticks != shown_ticks:  # the user changed the selection in this grid
            before = set(self.current())
            now = [shown_ids[i] for i in ticks if 0 <= i < len(shown_ids)]
            ss[self._ids] = now
            ss[self._left] = 0
            if len(now) == 1 and now[0] not in before:
                ss[self._open] = now[0]  # one row ticked on its own: open it
            elif ss.get(self._open) not in now:
                ss[self._open] = None
        if sorted(ticks) != self.default_rows(page_ids):
            self.refresh()  # the rows moved under the ticks
        return self.current()

    def ticked(self) -> bool:
        """This run answers a tick: the browser reports other ticks than the grid was drawn with."""
        key = self.table_key()
        shown = st.session_state.get(self._shown)
        ticks = self._ticks(key)
        return shown is not None and shown[0] == key and ticks is not None and ticks != shown[2]

    def clicked(self) -> int | None:
        """In the run a row's Open button causes, the row's position in the grid as it was drawn
        (None in any other run, and for a click that names no row: the browser's word, not ours)."""
        click = st.session_state.get(self.open_key)
        try:
            row = None if click is None else click["row"]
        except (KeyError, TypeError):
            return None
        return row if type(row) is int and row >= 0 else None

    def kept_read(self, what: Hashable) -> Any | None:
        """In the run a tick or an Open button causes, what was read for the grid the person clicked
        (`keep_read`), if it was read for `what` (the view, its page): a tick changes the selection
        alone and a click opens a dialog, so the grid stays as it was clicked, with no second read.
        None in any other run (they read again), and for a click in a grid drawn anew since (after a
        check)."""
        kept = st.session_state.get(self._read)
        if kept is not None and kept[0] == (what, self.table_key()) and (self.ticked() or self.clicked() is not None):
            return kept[1]
        return None

    def keep_read(self, what: Hashable, read: Any) -> None:
        """The grid was just drawn from `read`, read for `what`: what a tick in it keeps."""
        st.session_state[self._read] = ((what, self.table_key()), read)

    def drawn(self, page_ids: Sequence[int], ticks: Sequence[int]) -> None:
        """The grid was drawn with the rows `page_ids` and these ticks: what the next `take` reads
        a change of the ticks against."""
        st.session_state[self._shown] = (self.table_key(), tuple(page_ids), tuple(ticks))

    @staticmethod
    def _ticks(key: str) -> tuple[int, ...] | None:
        """The grid's ticks as the browser last reported them; None when the grid has none yet."""
        state = st.session_state.get(key)
        return None if state is None else tuple(state["selection"]["rows"])

    def on_page(self, page: int) -> None:
        """The grid shows this page of its results: a turn to another one unticks everything (positions
        on another page mean other emails)."""
        key = f"{self.prefix}_shown_page"
        if st.session_state.get(key) not in (None, page):
            self.clear()
        st.session_state[key] = page

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
