"""Check delivery status: the button in a message's detail, and the bulk check of several emails
(run and shown in a dialog, `commlog.ui.email_dialogs`)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from commlog.checks import CheckOutcome, check_message, check_messages, rate_limit_summary
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
        waiting = st.empty()  # "waiting 43 s for SendGrid's rate limit", while it does
        with st.spinner(f"Asking {m['provider']} about this email…"):
            outcome = check_message(engine, principal, m["id"], on_wait=lambda text: waiting.caption(text[0].upper() + text[1:] + "…"))
        waiting.empty()
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
                       "to it will not be sent until it is corrected or removed from the list. To ask for its removal, "
                       "open “Why didn't they get it?”.")
        else:
            st.info(sup.describe())


BULK_OUTCOMES = "bulk_outcomes"  # session state: (ids, outcomes, id -> (to, subject)) of the last bulk check


def run_bulk_check(engine: Engine, principal: Principal, message_ids: tuple[int, ...], rows: dict[int, dict]) -> None:
    """Check several emails at once, with a progress bar; keep the outcomes for `show_bulk_outcomes`."""
    n = len(message_ids)
    bar = st.progress(0.0, text=f"Checking 0 of {n}…")
    shown = {"done": 0}

    def progress(done: int, total: int, outcome: CheckOutcome) -> None:
        shown["done"] = done
        bar.progress(done / total, text=f"Checked {done} of {total}…")

    def waiting(text: str) -> None:  # the provider's rate limit holds the check back
        bar.progress(shown["done"] / n, text=f"Checked {shown['done']} of {n}: {text}…")

    outcomes = check_messages(engine, principal, list(message_ids), on_progress=progress, on_wait=waiting)
    bar.progress(1.0, text=f"Checked {n} of {n}.")
    names = {i: (rows.get(i, {}).get("recipient_email", ""), rows.get(i, {}).get("subject", "")) for i in message_ids}
    st.session_state[BULK_OUTCOMES] = (message_ids, outcomes, names)


def bulk_outcomes(message_ids: tuple[int, ...]) -> tuple[list[CheckOutcome], dict[int, tuple[str, str]]] | None:
    """The stored outcomes of a bulk check of exactly these emails, if it ran."""
    stored = st.session_state.get(BULK_OUTCOMES)
    if not stored or stored[0] != message_ids:
        return None
    return stored[1], stored[2]


def forget_bulk_outcomes() -> None:
    st.session_state.pop(BULK_OUTCOMES, None)


def show_bulk_outcomes(outcomes: list[CheckOutcome], names: dict[int, tuple[str, str]]) -> None:
    """The progress bar, full (it stays where the check drew it), one line of summary, then each email's
    result in full (a table that wraps, never cuts)."""
    st.progress(1.0, text=f"Checked {len(outcomes)} of {len(outcomes)}.")
    never_sent = [o for o in outcomes if o.kind == "never_sent"]
    limited = rate_limit_summary(outcomes)  # one line for every email the rate limit left unchecked
    failed = [o for o in outcomes if o.error and o.kind not in ("never_sent", "rate_limited")]
    checked = sum(1 for o in outcomes if not o.error)
    summary = f"Checked {checked} of {len(outcomes)} with the provider."
    if never_sent:
        summary += (f" {len(never_sent)} {'was' if len(never_sent) == 1 else 'were'} never sent by our mail servers: "
                    "there is nothing to ask the provider about.")
    if limited:
        summary += f" {limited}"
    if failed:
        st.warning(f"{summary} {len(failed)} could not be checked: see Result.", icon="⚠️")
    elif limited:
        st.warning(summary, icon="⏳")
    else:
        st.success(summary)

    def result(o: CheckOutcome) -> str:
        if o.kind == "never_sent":
            return "Never sent: nothing to check"
        if o.kind == "rate_limited":
            return "Not checked yet (rate limit, see above)"
        if o.error:
            return o.error
        if o.kind == "pending_unknown":
            return "Not known to the provider yet (sent moments ago): PENDING"
        return f"{o.events} event{'s' if o.events != 1 else ''}, {o.new_events} new"

    st.table(pd.DataFrame({
        "To": [names.get(o.message_id, ("", ""))[0] for o in outcomes],
        "Subject": [names.get(o.message_id, ("", ""))[1] for o in outcomes],
        "Delivery status": [delivery_label(str(o.status)) if o.status else (o.last_known_status or "—") for o in outcomes],
        "Result": [result(o) for o in outcomes],
        "Reason": [o.reason or "" if o.status != "DELIVERED" else "" for o in outcomes],
    }), hide_index=True)
