"""Check delivery status: the button in a message's detail, and the bulk check from the log."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from commlog.checks import CheckOutcome, check_message, check_messages
from commlog.log_queries import MessageDetail
from commlog.principal import Principal
from commlog.ui.format import delivery_label, local_time, plain
from commlog.ui.log_selection import refresh_grids

_OUTCOME = "check_outcome_{}"


def render_single_check(engine: Engine, principal: Principal, detail: MessageDetail, tz: ZoneInfo, *, key_prefix: str) -> None:
    m = detail.message
    label = "Check again" if m["checked_at"] else "Check delivery status"
    if st.button(label, key=f"{key_prefix}_check_{m['id']}", type="primary", icon="🔎",
                 help="Ask the email provider now whether the receiving server took this email."):
        with st.spinner(f"Asking {m['provider']} about this email…"):
            outcome = check_message(engine, principal, m["id"])
        st.session_state[_OUTCOME.format(m["id"])] = outcome
        refresh_grids()  # the row may leave the current filter: keep the detail on this email
        st.rerun()  # reload the detail: the new events and status are stored
    outcome: CheckOutcome | None = st.session_state.get(_OUTCOME.format(m["id"]))
    if outcome is not None:
        show_outcome(outcome, tz)


def show_outcome(outcome: CheckOutcome, tz: ZoneInfo) -> None:
    if outcome.error:
        text = outcome.error
        if outcome.last_known_status is not None:
            text += f"\n\nLast known delivery status: **{outcome.last_known_status}**."
        (st.warning if outcome.kind in ("rate_limited", "not_found", "never_sent") else st.error)(text, icon="⚠️")
        return
    if outcome.kind == "pending_unknown":
        st.info("The provider has no record of this email yet: it was sent moments ago. "
                "This is normal for a few minutes; it stays PENDING. Check again shortly.")
    else:
        new = f", {outcome.new_events} new" if outcome.new_events else ", nothing new"
        st.success(f"Checked with the provider at {local_time(outcome.checked_at, tz, seconds=True)} "
                   f"({tz.key}): {outcome.events} event{'s' if outcome.events != 1 else ''}{new}.")
    for note in outcome.notes:
        st.caption(note)
    sup = outcome.suppression
    if sup is not None:
        if sup.suppressed and not sup.error:
            since = f" since {local_time(sup.since, tz)} ({tz.key})" if sup.since else ""
            st.warning(f"The address is on the provider's {plain(sup.list_name or 'suppression')} list{since}: future emails "
                       "to it will not be sent until it is corrected or removed from the list.")
        else:
            st.info(sup.describe())


def render_bulk_check(
    engine: Engine, principal: Principal, message_ids: list[int], tz: ZoneInfo, rows: dict[int, dict] | None = None
) -> None:
    """Check several emails at once; `rows` (id -> log row) names them in the results."""
    rows = rows or {}
    n = len(message_ids)
    st.markdown(f"**{n} emails selected.**")
    if st.button(f"Check delivery status of {n} emails", key="bulk_check", type="primary", icon="🔎"):
        bar = st.progress(0.0, text=f"Checking 0 of {n}…")

        def progress(done: int, total: int, outcome: CheckOutcome) -> None:
            bar.progress(done / total, text=f"Checked {done} of {total}…")

        outcomes = check_messages(engine, principal, message_ids, on_progress=progress)
        bar.progress(1.0, text=f"Checked {n} of {n}.")
        st.session_state["bulk_outcomes"] = outcomes
    outcomes: list[CheckOutcome] | None = st.session_state.get("bulk_outcomes")
    if not outcomes or {o.message_id for o in outcomes} != set(message_ids):
        return
    failed = [o for o in outcomes if o.error]

    def result(o: CheckOutcome) -> str:
        if o.error:
            return o.error
        if o.kind == "pending_unknown":
            return "Not known to the provider yet (sent moments ago): PENDING"
        return f"{o.events} event{'s' if o.events != 1 else ''}, {o.new_events} new"

    table = pd.DataFrame(
        {
            "To": [rows.get(o.message_id, {}).get("recipient_email", "") for o in outcomes],
            "Subject": [rows.get(o.message_id, {}).get("subject", "") for o in outcomes],
            "Delivery status": [
                delivery_label(str(o.status)) if o.status else (o.last_known_status or "—") for o in outcomes
            ],
            "Result": [result(o) for o in outcomes],
            "Reason": [o.reason or "" if o.status != "DELIVERED" else "" for o in outcomes],
        }
    )
    st.dataframe(table, hide_index=True)
    if failed:
        st.warning(f"{len(failed)} of {len(outcomes)} could not be checked: see Result.")
    else:
        st.success(f"All {len(outcomes)} checked.")
    if st.button("Show the new statuses in the log", key="bulk_refresh"):
        refresh_grids()
        st.rerun()
