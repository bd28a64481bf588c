"""A grid of emails (one page of the log, or of a recipient search): each row's Open button opens
the email, multi-row selection ticks emails to check together, the selected emails returned by id.

Columns are sized to what they hold and ordered by what matters: Open (pinned), Sent, To and Delivery
status come first, so a narrow window (800 px) shows them and the rest scrolls sideways; at 1440 px
every column fits. The full subject and reason are in the email's dialog (and the CSV).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from commlog.ui.format import (
    delivery_label,
    email_type_label,
    local_time,
    log_label,
    row_reason,
)
from commlog.ui.log_selection import LOG, Selection

ROW_PX = 35
SHOWN_ROWS = 15  # the grid's height in rows; more scroll inside it
OPEN = "Open"  # the first column: each row's button opening its email


def render_log_table(rows: list[dict], tz: ZoneInfo, *, selection: Selection = LOG, with_log: bool = False,
                     with_lender: bool = False) -> list[int]:
    """The grid; `with_log` adds which log each email belongs to (a search across logs), `with_lender`
    the lender (a search across lenders)."""
    columns = {
        OPEN: [OPEN] * len(rows),
        "Sent": [local_time(r["sent_at"], tz) for r in rows],
        "To": [r["recipient_email"] for r in rows],
        "Delivery status": [delivery_label(r["delivery_status"], r["send_status"]) for r in rows],
        "Subject": [r["subject"] for r in rows],
        "Reason": [row_reason(r) for r in rows],
    }
    if with_lender:
        columns["Lender"] = [r["lender_name"] for r in rows]
    if with_log:
        columns["Log"] = [log_label(r["log_account_name"] if r["log_account_id"] else None) for r in rows]
    columns |= {
        "Status": [r["send_status"] for r in rows],
        "Last event": [r["last_event_type"] or "" for r in rows],
        "Email type": [email_type_label(r["email_type"]) for r in rows],
    }
    page_ids = [r["id"] for r in rows]
    selected = selection.take(page_ids)  # before the grid is drawn: a tick names the email it showed
    # Subject and Reason give up the room a Log column takes, so the grid still fits 1440 px; with a
    # Lender column too (ops searching every lender) the grid scrolls sideways a little.
    squeeze = 80 if with_log or with_lender else 0
    event = st.dataframe(
        pd.DataFrame(columns),
        key=selection.table_key(),
        on_select="rerun",
        selection_mode="multi-row",
        selection_default={"selection": {"rows": selection.default_rows(page_ids)}},
        hide_index=True,
        height=min(len(rows), SHOWN_ROWS) * ROW_PX + ROW_PX + 3,
        column_config={
            OPEN: st.column_config.ButtonColumn("", key=selection.open_key, width=72, pinned=True,
                                                help="Open the email: its delivery status and what to do next."),
            "Sent": st.column_config.TextColumn(width=128, help=f"When it was sent, in {tz.key}."),
            "To": st.column_config.TextColumn(width=210),
            "Delivery status": st.column_config.TextColumn(width=124, help="Did the receiving mail server take it?"),
            "Subject": st.column_config.TextColumn(width=218 - squeeze),
            "Reason": st.column_config.TextColumn(
                width=188 - squeeze, help="Why it was not delivered, or why our servers could not send it. "
                "The whole text is in the email's dialog (Open)."),
            "Lender": st.column_config.TextColumn(width=150),
            "Log": st.column_config.TextColumn(width=160, help="Whose Communication Log the email is in."),
            "Status": st.column_config.TextColumn(width=64, help="Did our mail servers send it?"),
            "Last event": st.column_config.TextColumn(width=100),
            "Email type": st.column_config.TextColumn(width=140),
        },
    )
    selection.drawn(page_ids, event.selection.rows)
    return selected
