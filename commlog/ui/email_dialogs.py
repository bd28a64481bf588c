"""The emails selected in a grid, shown where the eye is.

* One row ticked on its own opens that email in a dialog over the grid (at any window width; a
  detail under a 50-row grid is off-screen). "Check again" in it keeps the dialog open and the row
  ticked; closing the dialog keeps the tick. "Open on its own page" still links to /message.
* Several rows ticked: a bar above the grid offers to check them together; the check runs in a
  dialog with its progress, the grid behind it then shows the new statuses, and the dialog lists
  each email's result in full.

Dialogs are fragments: a click inside one reruns only the dialog, outside the page's error
boundary, so each body runs inside its own.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import streamlit as st
from sqlalchemy import Engine

from commlog.log_queries import get_message
from commlog.principal import Principal
from commlog.ui.boundary import error_boundary, safe_callback
from commlog.ui.check_controls import bulk_outcomes, forget_bulk_outcomes, run_bulk_check, show_bulk_outcomes
from commlog.ui.links import page_link
from commlog.ui.log_selection import Selection, refresh_grids
from commlog.ui.message_view import render_message
from commlog.unit_of_work import reading

HINT = ("Open an email from its row; tick several rows to check them together. "
        "Keyboard: Tab into the grid, arrow keys to a row, Shift+Space to tick it (one tick opens it too).")


def render_selection_bar(selection: Selection, selected: list[int]) -> None:
    """Above the grid: what ticking does, or what to do with the ticked emails."""
    n = len(selected)
    left = selection.left_view()
    with st.container(horizontal=True, vertical_alignment="center", key=f"{selection.prefix}_selection_bar"):
        if left:
            st.caption(f"{left} checked email{' is' if left == 1 else 's are'} no longer in this view: "
                       f"{'its' if left == 1 else 'their'} new status no longer matches the filters.")
        if n < 2:
            if not left:
                st.caption(HINT)
            return
        st.markdown(f"**{n} emails selected**")
        st.button(f"Check delivery status of these {n}", key="bulk_check", type="primary", icon="🔎",
                  on_click=_start_bulk, args=(selection, tuple(selected)))
        st.button("Clear selection", key=f"{selection.prefix}_clear_selection", type="tertiary",
                  on_click=safe_callback(selection.clear))


@safe_callback
def _start_bulk(selection: Selection, ids: tuple[int, ...]) -> None:
    forget_bulk_outcomes()  # a new click checks again
    selection.open_bulk(ids)


def open_dialogs(engine: Engine, principal: Principal, selection: Selection, tz: ZoneInfo, rows: list[dict]) -> None:
    """The dialog the selection asks for, if any (one at a time)."""
    bulk = selection.bulk()
    if bulk:
        _bulk_dialog(engine, principal, selection, bulk, tz, {r["id"]: r for r in rows})
    elif selection.opened() is not None:
        _email_dialog(engine, principal, selection, selection.opened(), tz)


def _email_dialog(engine: Engine, principal: Principal, selection: Selection, email_id: int, tz: ZoneInfo) -> None:
    with reading(engine, principal) as conn:
        detail = get_message(conn, principal, email_id)
    if detail is None:  # gone, or not the principal's: nothing to open
        selection.close()
        return
    unread = [detail]  # what this run read, for the dialog's first drawing in it

    def body() -> None:
        with error_boundary("email dialog"):
            if unread:
                fresh = unread.pop()
            else:  # a rerun of the dialog alone (Check again) reads it again
                with reading(engine, principal) as conn:
                    fresh = get_message(conn, principal, email_id)
            if fresh is None:
                st.info("This email is no longer in the logs you can see.")
                return
            render_message(engine, principal, fresh, tz, key_prefix=f"{selection.prefix}{email_id}")
            page_link("pages/message.py", "Open on its own page", icon=":material/open_in_new:",
                      query_params={"id": str(email_id)})

    st.dialog("Email", width="large", icon="✉️", on_dismiss=safe_callback(selection.close))(body)()


def _bulk_dialog(engine: Engine, principal: Principal, selection: Selection, ids: tuple[int, ...], tz: ZoneInfo,
                 rows: dict[int, dict]) -> None:
    def body() -> None:
        with error_boundary("bulk check dialog"):
            done = bulk_outcomes(ids)
            if done is None:
                run_bulk_check(engine, principal, ids, rows)
                refresh_grids()  # the grid behind shows the new statuses
                st.rerun()
            show_bulk_outcomes(*done)

    st.dialog(f"Delivery status of {len(ids)} emails", width="large", icon="🔎",
              on_dismiss=safe_callback(selection.close_bulk))(body)()
