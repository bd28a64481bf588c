"""A grid of emails (one page of the log, or of a recipient search): multi-row selection, the
selected emails returned by id."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from commlog.ui.format import (
    delivery_label,
    email_type_label,
    local_time,
    log_label,
    send_status_text,
)
from commlog.ui.log_selection import LOG, Selection

ROW_PX = 35


def render_log_table(rows: list[dict], tz: ZoneInfo, *, selection: Selection = LOG, with_log: bool = False,
                     with_lender: bool = False) -> list[int]:
    """The grid; `with_log` adds which log each email belongs to (a search across logs), `with_lender`
    the lender (a search across lenders)."""
    columns = {
        "Sent": [local_time(r["sent_at"], tz) for r in rows],
        "To": [r["recipient_email"] for r in rows],
        "Subject": [r["subject"] for r in rows],
    }
    if with_lender:
        columns["Lender"] = [r["lender_name"] for r in rows]
    if with_log:
        columns["Log"] = [log_label(r["log_account_name"] if r["log_account_id"] else None) for r in rows]
    columns |= {
        "Status": [send_status_text(r["send_status"], r["send_error"]) for r in rows],
        "Delivery status": [delivery_label(r["delivery_status"], r["send_status"]) for r in rows],
        "Last event": [r["last_event_type"] or "" for r in rows],
        # A delivered email's "250 OK" is not a reason anyone looks for.
        "Reason": [(r["status_reason"] or "") if r["delivery_status"] != "DELIVERED" else "" for r in rows],
        "Email type": [email_type_label(r["email_type"]) for r in rows],
    }
    event = st.dataframe(
        pd.DataFrame(columns),
        key=selection.table_key(),
        on_select="rerun",
        selection_mode="multi-row",
        hide_index=True,
        height=min(len(rows), 20) * ROW_PX + ROW_PX + 3,
        column_config={
            "Subject": st.column_config.TextColumn(width="medium"),
            "Log": st.column_config.TextColumn(width="medium", help="Whose Communication Log the email is in."),
            "Status": st.column_config.TextColumn(width="small", help="Did our mail servers send it?"),
            "Delivery status": st.column_config.TextColumn(help="Did the receiving mail server take it?"),
            "Last event": st.column_config.TextColumn(width="small"),
            "Reason": st.column_config.TextColumn(width="medium"),
        },
    )
    return selection.selected_ids(event.selection.rows, [r["id"] for r in rows])
