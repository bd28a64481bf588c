"""How values read on the page: times in the viewer's zone, status words, badges."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import streamlit as st

from commlog.vocabulary import NOT_CHECKED, NOT_CHECKED_LABEL, STATUS_MEANING

EVENT_COLOR = {
    "DELIVERED": "green",
    "OPEN": "green",
    "CLICK": "green",
    "PROCESSED": "blue",
    "DEFERRED": "orange",
    "BOUNCE": "red",
    "BLOCKED": "red",
    "DROPPED": "red",
    "FAILED": "red",
    "COMPLAINT": "violet",
    "UNSUBSCRIBE": "gray",
    "UNKNOWN": "gray",
}


def viewer_timezone() -> ZoneInfo:
    """The browser's zone (st.context.timezone), UTC when unknown or invalid."""
    name = None
    try:
        name = st.context.timezone
    except Exception:  # noqa: BLE001 - no browser context (tests, bare mode)
        name = None
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(value: datetime | None, tz: ZoneInfo, seconds: bool = False) -> str:
    if value is None:
        return ""
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


NOT_SENT_LABEL = "Not sent"


def delivery_label(status: str | None, send_status: str = "sent") -> str:
    if send_status == "failed":
        return NOT_SENT_LABEL  # never left our servers: there is no delivery to check
    return NOT_CHECKED_LABEL if status is None else status


def status_meaning(status: str | None) -> str:
    return STATUS_MEANING[status or NOT_CHECKED]


def event_badge(event_type: str) -> str:
    return f":{EVENT_COLOR.get(event_type, 'gray')}-badge[{event_type}]"


def row_reason(row: dict) -> str:
    """The grid's Reason: why our servers could not send it, or why it was not delivered (a
    delivered email's "250 OK" is not a reason anyone looks for)."""
    if row["send_status"] == "failed":
        return row["send_error"] or "Our mail servers could not send it."
    return (row["status_reason"] or "") if row["delivery_status"] != "DELIVERED" else ""


def send_status_text(send_status: str, send_error: str | None) -> str:
    if send_status == "failed":
        return f"failed: {send_error}" if send_error else "failed"
    return "sent"


def log_label(borrower_name: str | None) -> str:
    """Whose Communication Log an email is in: the lender's own, or a borrower's."""
    return f"{borrower_name}'s log" if borrower_name else "Lender's own log"


def email_type_label(email_type: str) -> str:
    return email_type.replace("_", " ").capitalize()


_MD_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character
_AUTOLINK = re.compile(r"(?i)(:)(//)|(w)(ww\.)")  # what GFM turns into a link even when escaped
_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^{|}~-]+@[\w-]+(?:\.[\w-]+)+")  # GFM links these even when escaped


def plain(text: str) -> str:
    """Text shown as itself in st.markdown / st.warning: every ASCII punctuation character is
    backslash-escaped and URL starts get an invisible word joiner, so URL values or stored names
    cannot become links, images or directives; an email address is shown as code (copyable as it
    is, never a mailto link)."""
    out, last = [], 0
    for m in _EMAIL.finditer(text):
        out.append(_escape(text[last:m.start()]))
        out.append(f"`{m.group()}`")
        last = m.end()
    out.append(_escape(text[last:]))
    return "".join(out)


def quoted(text: str) -> str:
    """Someone's own words (a receiving server's reply, an error) as a Markdown block quote, shown as
    themselves (`plain`), line for line."""
    lines = [plain(line.strip()) for line in text.splitlines() if line.strip()]
    return "  \n".join(f"> {line}" for line in lines)


def _escape(text: str) -> str:
    text = _AUTOLINK.sub(lambda m: "\u2060".join(g for g in m.groups() if g), text)
    return _MD_PUNCT.sub(r"\\\1", text)
