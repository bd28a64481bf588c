""""Request removal" under the suppression lists of "Why didn't they get it?" (pages/why.py): for
each list that holds the address, what can be asked (commlog.suppression_removals): a request with
a reason and a note, in a dialog; "already requested" with its state; or why it cannot be removed
(the recipient asked for it). Nothing is removed here: platform ops decide on the Suppressions page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import streamlit as st
from sqlalchemy import Engine

from commlog import suppression_removals as removals
from commlog.principal import Principal
from commlog.providers import errors as provider_errors
from commlog.providers import get_providers
from commlog.providers.base import Provider, SuppressionEntry, SuppressionReport
from commlog.troubleshoot.evidence import Evidence
from commlog.troubleshoot.next_step import says_address_does_not_exist
from commlog.ui.boundary import error_boundary, safe_callback
from commlog.ui.format import local_time, plain
from commlog.ui.links import page_link
from commlog.unit_of_work import reading

K = "removal_request_"
DONE = K + "done"  # session state: the sentence to show once after a request was sent


def _provider(engine: Engine, evidence: Evidence) -> Provider | None:
    name = evidence.focus.message["provider"] if evidence.focus is not None else None
    try:
        return get_providers(engine).for_name(name)
    except provider_errors.ProviderError:
        return None


def render_removal_offer(engine: Engine, principal: Principal, report: SuppressionReport | None, evidence: Evidence,
                         tz: ZoneInfo) -> None:
    """Under the suppression lists: per list holding the address, the request that can be made."""
    done = st.session_state.pop(DONE, None)
    if done:
        st.success(done, icon="✅")
    if report is None or not report.entries:
        return
    provider = _provider(engine, evidence)
    if provider is None:
        return
    subject = evidence.subject
    with reading(engine, principal) as conn:
        open_now = removals.open_requests_for(conn, principal, subject.lender.id, subject.address)
    for entry in report.entries:
        asked = open_now.get(entry.list_key)
        if asked is not None:
            st.info(f"Removal from the **{plain(entry.label)}** list: {asked.state_words.lower()} "
                    f"(asked by {plain(asked.requested_by)} on {local_time(asked.requested_at, tz)}, {tz.key}).",
                    icon="🕓")
            continue
        refused = removals.removable(provider, entry)
        if refused:
            st.caption(plain(refused))
            continue
        st.button(f"Request removal from the {entry.label} list", key=f"{K}{entry.list_key}", icon="🚫",
                  on_click=safe_callback(_open), args=(entry.list_key,))
    opened = st.session_state.get(K + "open")
    entry = next((e for e in report.entries if e.list_key == opened and e.list_key not in open_now), None)
    if entry is not None and removals.removable(provider, entry) is None:
        _dialog(engine, principal, evidence, provider, entry)
    elif opened is not None:
        st.session_state.pop(K + "open", None)  # the list no longer holds it, or it was asked meanwhile
    page_link("pages/suppressions.py", "Suppressions: requests and what became of them", icon="🚫")


def _open(list_key: str) -> None:
    st.session_state[K + "open"] = list_key


@safe_callback
def _close() -> None:
    st.session_state.pop(K + "open", None)


def _dialog(engine: Engine, principal: Principal, evidence: Evidence, provider: Provider, entry: SuppressionEntry) -> None:
    subject = evidence.subject

    def body() -> None:
        with error_boundary("removal request dialog"):
            st.markdown(f"`{subject.address.replace('`', '')}` · {plain(subject.lender.name)} · "
                        f"{plain(provider.label)}'s **{plain(entry.label)}** list")
            st.caption("Re-sending to an address that still bounces hurts every lender's sending reputation on this "
                       "platform: ask only once the borrower's mailbox works. Platform ops decide; the provider is "
                       "told only when they approve.")
            if says_address_does_not_exist(entry.reason or evidence.previous_bounce):
                st.warning("The receiving server said this mailbox does not exist. If the borrower gave a wrong "
                           "address, correct it on their account instead: removal helps only if they have created "
                           "the mailbox since.", icon="⚠️")
            with st.form(K + "form", border=False):
                reason = st.radio("Why can it be sent to again?", list(removals.REASONS),
                                  format_func=removals.REASONS.__getitem__, index=None, key=K + "reason")
                other = st.text_input("If Other: why, in a few words", max_chars=removals.MAX_REASON_TEXT, key=K + "other")
                note = st.text_area("Note for platform ops (optional)", max_chars=removals.MAX_NOTE, key=K + "note")
                sent = st.form_submit_button("Send the request", type="primary", icon="📨")
            if not sent:
                return
            if reason is None:
                st.error("Choose why the address can be sent to again.")
                return
            try:
                req = removals.request_removal(
                    engine, principal, lender_id=subject.lender.id, address=subject.address, provider=provider,
                    entry=entry, reason=reason, reason_text=other, note=note, message_id=subject.focus_id,
                    now=datetime.now(UTC))
            except removals.RemovalRefused as exc:
                st.error(plain(str(exc)))
                return
            st.session_state.pop(K + "open", None)
            st.session_state[DONE] = (f"Removal of `{req.address}` from the {plain(req.list_label)} list requested "
                                      f"(#{req.id}). Platform ops will decide; follow it on the Suppressions page.")
            st.rerun()

    st.dialog("Request removal from a suppression list", width="medium", icon="🚫", on_dismiss=_close)(body)()
