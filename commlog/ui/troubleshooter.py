"""The sections of "Why didn't they get it?" (pages/why.py): who it is about, the next step, the
last emails (checking the never-checked ones at once), the provider's suppression lists, the address
checks and the mailbox provider's health on the platform."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import streamlit as st
from sqlalchemy import Engine

from commlog.checks import check_messages, rate_limit_summary
from commlog.deliverability import FAMILY_SHORT, MailboxProviderHealth
from commlog.event_wording import event_voice
from commlog.principal import Principal
from commlog.providers.base import SuppressionReport
from commlog.providers.errors import provider_label
from commlog.troubleshoot.address import AddressCheck
from commlog.troubleshoot.diagnosis import ask_suppression_lists
from commlog.troubleshoot.evidence import (
    Evidence,
    Subject,
    UnmatchedReport,
    gather,
    subject_of_account,
    subject_of_message,
)
from commlog.troubleshoot.next_step import NextStep
from commlog.ui.format import (
    delivery_label,
    local_time,
    log_label,
    plain,
    send_status_text,
)
from commlog.ui.links import id_param, page_link
from commlog.unit_of_work import reading
from commlog.webhooks.ingest import ADDRESS_MATCH_WINDOW

LISTS_FRESH_S = 300  # a suppression answer is reused this long, then asked again
_CHECKED = "why_checked"

STEP_ICON = {
    "no_email": "❔", "correct_address": "✏️", "resend": "🔁", "recipient_asked": "🚫", "platform_block": "🛡️",
    "request_removal": "🧹", "check_first": "🔎", "wait_and_recheck": "⏳", "check_spam": "📥", "blocked": "⛔",
    "expired": "⌛", "ask_ops": "🧑‍💻",
}


def subject_from_url(engine: Engine, principal: Principal) -> Subject:
    """The address the page is about, from `?message=<id>` or `?account=<id>`; stops with a notice
    (the same words whether the id does not exist or belongs to another lender)."""
    message_id, account_id = id_param("message"), id_param("account")
    subject = None
    with reading(engine, principal) as conn:
        if message_id is not None:
            subject = subject_of_message(conn, principal, message_id)
        elif account_id is not None:
            subject = subject_of_account(conn, principal, account_id)
    if subject is None:
        st.warning("That email or borrower was not found in the logs you can see. Find the borrower in the "
                   "Communication Log (Find emails to…) and open “Why didn't they get it?” from there.")
        st.stop()
    return subject


def read_evidence(engine: Engine, principal: Principal, subject: Subject, now: datetime) -> Evidence:
    with reading(engine, principal) as conn:
        return gather(conn, principal, subject, now.date())


def render_header(evidence: Evidence, tz: ZoneInfo) -> None:
    s = evidence.subject
    who = f"{plain(s.account.name)} ({s.account.kind}) · " if s.account else ""
    st.markdown(f"{who}`{s.address.replace('`', '')}` · {plain(s.lender.name)}")
    focus = evidence.focus
    if focus is not None:
        m = focus.message
        newest = not evidence.emails or evidence.emails[0]["id"] == m["id"]
        about = "the newest email to this address" if newest else "the email you opened"
        st.caption(f"About {about}: “{plain(m['subject'])}”, sent {local_time(m['sent_at'], tz)} ({tz.key}).")


def render_next_step(engine: Engine, principal: Principal, step: NextStep, evidence: Evidence) -> None:
    """The step, large, with the one button it calls for (checking, or checking again)."""
    with st.container(border=True):
        st.caption("Next step")
        st.subheader(f"{STEP_ICON.get(step.kind, '➡️')} {plain(step.title)}", anchor=False)
        st.markdown(plain(step.detail))
        done = st.session_state.pop(_CHECKED, None)
        if done:
            text, rate_limited = done
            (st.warning if rate_limited else st.success)(text, icon="⏳" if rate_limited else None)
        if step.kind == "check_first" and evidence.not_checked_ids:
            _check_button(engine, principal, evidence.not_checked_ids, "why_check")
        elif step.kind == "wait_and_recheck" and evidence.focus is not None:
            _check_button(engine, principal, [evidence.focus.message["id"]], "why_recheck", label="Check again now")


def render_last_emails(engine: Engine, principal: Principal, evidence: Evidence, step: NextStep, tz: ZoneInfo) -> None:
    st.subheader("The last emails to this address", anchor=False)
    shown = len(evidence.emails)
    st.caption(f"{'The newest ' + str(shown) + ' of ' if evidence.total > shown else ''}{evidence.total:,} "
               f"email{'s' if evidence.total != 1 else ''}, from every log of {plain(evidence.subject.lender.name)}. "
               f"Times in {tz.key}.")
    for row in evidence.emails:
        sent, subject, status, link = st.columns([3, 6, 4, 2], vertical_alignment="center")
        sent.markdown(local_time(row["sent_at"], tz))
        whose = log_label(row["log_account_name"] if row["log_account_id"] else None)
        subject.markdown(f"{plain(row['subject'])}  \n:gray[{plain(whose)}]")
        status.markdown(_status_words(row))
        with link:
            page_link("pages/message.py", "Open", query_params={"id": str(row["id"])})
    render_unmatched(evidence, tz)
    ids = evidence.not_checked_ids
    if ids and step.kind != "check_first":  # the next step carries the button then
        st.info(f"{len(ids):,} email{'s' if len(ids) != 1 else ''} to this address {'were' if len(ids) != 1 else 'was'} "
                "sent but never checked with the email provider.")
        _check_button(engine, principal, ids, "why_check")


def render_unmatched(evidence: Evidence, tz: ZoneInfo) -> None:
    """What the provider reported for this address that matches no email in the log."""
    if not evidence.unmatched:
        return
    domain = evidence.subject.address.rpartition("@")[2]
    for report in evidence.unmatched:
        st.warning(plain(_unmatched_sentence(report, domain, tz)), icon="📭")
    st.caption(f"A provider's report finds its email by message id or, when it sends none, by address and time "
               f"(the newest email to the address sent in the {ADDRESS_MATCH_WINDOW.days} days before it). "
               "These matched no email in any log.")


def _unmatched_sentence(report: UnmatchedReport, domain: str, tz: ZoneInfo) -> str:
    what = f"a {report.event_type}" if report.event_type else "an event"
    text = (f"{provider_label(report.provider)} reported {what} for this address on {local_time(report.occurred_at, tz)} "
            f"({tz.key}) that matches no email in the log.")
    if report.event_type is None:
        return text
    voice = event_voice(report.event_type, provider=report.provider, reason=report.reason, domain=domain)
    return f"{text} {voice.sentence()}" if voice is not None else text


def _status_words(row: dict) -> str:
    if row["send_status"] == "failed":
        return f":red[{plain(send_status_text(row['send_status'], row['send_error']))}]"
    label = delivery_label(row["delivery_status"], row["send_status"])
    color = {"DELIVERED": "green", "NOT_DELIVERED": "red", "PENDING": "orange"}.get(row["delivery_status"], "gray")
    last = f" · {row['last_event_type']}" if row["last_event_type"] and row["delivery_status"] != "DELIVERED" else ""
    return f":{color}[**{label}**]{last}"


def _check_button(engine: Engine, principal: Principal, ids: list[int], key: str, label: str | None = None) -> None:
    n = len(ids)
    label = label or f"Check delivery status of {'all ' if n > 1 else ''}{n:,} email{'s' if n != 1 else ''}"
    if not st.button(label, key=key, type="primary", icon="🔎"):
        return
    bar = st.progress(0.0, text=f"Checking 0 of {n}…")
    shown = {"done": 0}

    def progress(done: int, total: int, _outcome) -> None:
        shown["done"] = done
        bar.progress(done / total, text=f"Checked {done} of {total}…")

    def waiting(text: str) -> None:  # the provider's rate limit holds the check back: say so, then go on
        bar.progress(shown["done"] / n, text=f"Checked {shown['done']} of {n}: {text}…")

    outcomes = check_messages(engine, principal, ids, on_progress=progress, on_wait=waiting)
    results = Counter(str(o.status) if o.ok and o.status else "could not be checked"
                      for o in outcomes if o.kind != "rate_limited")
    said = ", ".join(f"{k} {what}" for what, k in sorted(results.items()))
    limited = rate_limit_summary(outcomes)  # one line for the emails the rate limit left, never "could not be checked"
    st.session_state[_CHECKED] = (" ".join(part for part in (f"Checked just now: {said}." if said else "", limited) if part),
                                  limited is not None)
    st.rerun()  # read the evidence again: the answers are stored


def suppression_lists(engine: Engine, evidence: Evidence) -> SuppressionReport | None:
    """The provider's answer for this address, asked at most every LISTS_FRESH_S seconds per session."""
    key = f"why_lists_{evidence.subject.lender.id}_{evidence.subject.address}"
    cached = st.session_state.get(key)
    if cached is not None and time.monotonic() - cached[0] < LISTS_FRESH_S:
        return cached[1]
    with st.spinner("Asking the email provider's suppression lists…"):
        report = ask_suppression_lists(engine, evidence)
    st.session_state[key] = (time.monotonic(), report)
    return report


def render_suppressions(report: SuppressionReport | None, tz: ZoneInfo) -> None:
    st.subheader("Suppression lists", anchor=False)
    if report is None:
        st.caption("This email provider cannot tell whether an address is suppressed.")
        return
    for entry in report.entries:
        since = f" since {local_time(entry.since, tz)} ({tz.key})" if entry.since else ""
        effect = "future emails to it are not sent" if entry.stops_sending else "future emails are still sent"
        text = f"On {_possessive(report.provider)} **{plain(entry.label)}** list{since}: {effect}."
        if entry.recipient_asked:
            text += " The recipient asked for this: it cannot be removed for them."
        if entry.reason:
            text += f"  \nWhy: {plain(entry.reason)}"
        (st.error if entry.stops_sending else st.warning)(text)
    if report.error:
        st.warning(f"Could not ask every list: {plain(report.error)}", icon="⚠️")
    clear = [lst for lst in report.not_on if lst]
    if clear:
        names = ", ".join(lst.replace("_", " ") for lst in clear)
        st.success(f"Not on {_possessive(report.provider)} {names} list{'s' if len(clear) != 1 else ''}.")


def render_address_checks(check: AddressCheck) -> None:
    st.subheader("The address", anchor=False)
    if not check.findings:
        st.success("Written correctly, no likely typo, and not a placeholder or an address nobody reads.")
    for finding in check.findings:
        st.warning(plain(finding), icon="✏️")


def render_mailbox_health(health: MailboxProviderHealth) -> None:
    who = "Other mailbox providers" if health.family == "other" else FAMILY_SHORT.get(health.family, health.family)
    st.subheader(f"{who} on this platform", anchor=False)
    ongoing = health.episode is not None and health.episode.ongoing
    (st.warning if ongoing else st.info)(plain(health.sentence()))
    st.caption("Mail from every lender on the platform to this mailbox provider; no lender is named.")


def _possessive(provider: str) -> str:
    """"SendGrid's", "the sandbox email provider's"."""
    name = provider[0].lower() + provider[1:] if provider.startswith("The ") else provider
    return f"{plain(name)}'s"
