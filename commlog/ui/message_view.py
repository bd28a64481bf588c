"""One message, as the log's detail panel and the message page show it."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import streamlit as st
from sqlalchemy import Engine

from commlog.event_wording import send_failure_voice, status_reason_text
from commlog.log_queries import MessageDetail, get_message
from commlog.principal import Principal
from commlog.ui.check_controls import render_single_check
from commlog.ui.format import (
    NOT_SENT_LABEL,
    delivery_label,
    email_type_label,
    event_badge,
    local_time,
    plain,
    quoted,
    send_status_text,
    status_meaning,
)
from commlog.ui.links import id_param, page_link
from commlog.unit_of_work import reading


def render_message(
    engine: Engine, principal: Principal, detail: MessageDetail, tz: ZoneInfo, *, key_prefix: str = "msg"
) -> None:
    m = detail.message
    # Stored text (subjects, names, addresses, provider replies) is shown as itself, never as Markdown.
    st.subheader(plain(m["subject"]))  # decoded (RFC 2047) when the mailer stored it encoded
    if m.get("subject_as_received") not in (None, m["subject"]):
        st.caption(f"Subject as stored: `{m['subject_as_received'].replace('`', '')}`")
    who = f"borrower **{plain(detail.log_account.name)}** (account {detail.log_account.id})" if detail.log_account else "the lender's own log"
    st.caption(f"{plain(detail.lender.name)} · {who} · times in {tz.key}")
    why, log = st.columns(2)
    with why:
        page_link("pages/why.py", "Why didn't they get it?", icon="🩺", query_params={"message": str(m["id"])})
    with log:
        label = f"Open {detail.log_account.name}'s log" if detail.log_account else "Open the lender's own log"
        page_link("pages/log.py", label, icon="✉️", query_params=log_params(principal, detail))

    left, right = st.columns([3, 2])
    with left:
        st.markdown(
            "\n".join(
                [
                    f"- **To:** {plain(m['recipient_email'])} ({m['audience']})",
                    f"- **Sent:** {local_time(m['sent_at'], tz, seconds=True)}",
                    f"- **Email type:** {email_type_label(m['email_type'])}",
                    f"- **Status:** {plain(send_status_text(m['send_status'], m['send_error']))}",
                    f"- **Provider:** {plain(m['provider'])} · message id `{(m['provider_message_id'] or '—').replace('`', '')}`",
                ]
            )
        )
    with right:
        render_status_box(m, tz)

    if m["send_status"] != "failed":
        render_single_check(engine, principal, detail, tz, key_prefix=key_prefix)
    render_events(detail, tz)


def message_from_url(engine: Engine, principal: Principal) -> MessageDetail | None:
    """The email `?id=` names, if the principal may see it (None otherwise: the same for an id
    that does not exist and for another lender's, so ids reveal nothing)."""
    message_id = id_param("id")
    if message_id is None:
        return None
    with reading(engine, principal) as conn:
        return get_message(conn, principal, message_id)


def log_params(principal: Principal, detail: MessageDetail) -> dict[str, str]:
    """The Communication Log's URL parameters for the log an email is in."""
    params = {"lender": str(detail.lender.id)} if principal.is_ops else {}
    if detail.log_account is not None:
        params["account"] = str(detail.log_account.id)
    return params


_STATUS_BOX = {"DELIVERED": st.success, "NOT_DELIVERED": st.error, "PENDING": st.warning}


def render_status_box(m: dict, tz: ZoneInfo) -> None:
    """The answer, large and unmistakable: DELIVERED / NOT_DELIVERED / PENDING / not checked / not sent."""
    if m["send_status"] == "failed":
        st.error(f"### {NOT_SENT_LABEL}\n{plain(send_failure_voice(m['send_error']).sentence())}")
        return
    status = m["delivery_status"]
    body = f"### {delivery_label(status)}\n{status_meaning(status)}"
    if m["status_reason"] and status != "DELIVERED":
        body += f"\n\n**Reason:** {plain(status_reason_text(m))}"
    _STATUS_BOX.get(status, st.info)(body)
    if m["checked_at"]:
        st.caption(f"Last checked with the provider {local_time(m['checked_at'], tz, seconds=True)} ({tz.key})")
    else:
        st.caption("Not checked with the provider yet.")


def render_events(detail: MessageDetail, tz: ZoneInfo) -> None:
    st.markdown("#### Events")
    if detail.message["send_status"] == "failed":
        st.info(f"{plain(send_failure_voice(detail.message['send_error']).sentence())} There are no delivery events.")
        return
    if not detail.events:
        st.info("No delivery events stored for this email yet. Use **Check delivery status** to ask the provider.")
        return
    for ev in detail.events:
        with st.container(border=True):
            head = f"{event_badge(ev.event_type)} **{local_time(ev.occurred_at, tz, seconds=True)}**"
            if ev.attempt is not None:
                head += f" · attempt {ev.attempt}"
            if ev.smtp_status:
                head += f" · code `{ev.smtp_status}`"
            st.markdown(head)
            st.write(ev.meaning)
            if ev.voice is not None:  # who said what: the receiving server, the provider, the recipient
                st.markdown(plain(ev.voice.lead if ev.voice.quote else ev.voice.sentence()))
                if ev.voice.quote:
                    st.markdown(quoted(ev.voice.quote))  # a block quote: Streamlit's code block brings a 1.5 MB highlighter
            extra = []
            if ev.raw_type and ev.raw_type.upper() != ev.event_type:
                extra.append(f"provider event `{ev.raw_type}`")
            if ev.bounce_classification:
                extra.append(f"classification: {ev.bounce_classification}")
            if extra:
                st.caption(" · ".join(extra))
            if ev.match_note:  # matched by address and time: our inference, said as such
                st.caption(ev.match_note)
