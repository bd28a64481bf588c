"""The Suppressions page (pages/suppressions.py): requests to take addresses off the email
provider's suppression lists (commlog.suppression_removals), as cards.

* Lender admins: their lender's requests and what became of them (requested, approved, removed,
  rejected with the reason, "approved, not removed" with the provider's reason), with "what happened
  next" for removed ones; Cancel on a request nobody decided yet.
* Ops: the queue across lenders, each request beside its evidence (the address's last emails, its
  bounces and the last SMTP reply, a likely typo, the lender's bounce rate now); Approve (the
  provider is called; the outcome is shown), Reject with a reason, Try again after a provider
  failure; several approved at once with a progress bar. Nobody approves their own request.

Actions are button callbacks (each in `safe_callback`): the result is kept in session state and
shown once at the top of the next run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from commlog import suppression_removals as removals
from commlog.deliverability.mailbox_providers import mailbox_provider_health
from commlog.deliverability.queries import lender_names
from commlog.deliverability.wording import FAMILY_SHORT
from commlog.principal import Principal
from commlog.providers import ProviderSet, get_providers
from commlog.providers import errors as provider_errors
from commlog.suppression_removals import RemovalRequest
from commlog.ui.boundary import safe_callback
from commlog.ui.choices import choose
from commlog.ui.format import delivery_label, local_time, plain
from commlog.unit_of_work import reading

K = "suppressions_"
FLASH = K + "flash"  # session state: [(kind, sentence)] to show once
SHOWN = 1000  # requests read for the page (newest first); the bulk approve offers the waiting ones of them
CARDS_PER_PAGE = 20

STATE_FILTERS: dict[str, str] = {
    "open": "Open",
    removals.REQUESTED: "Requested",
    removals.FAILED: "Approved, not removed",
    removals.REMOVED: "Removed",
    removals.REJECTED: "Rejected",
    removals.CANCELLED: "Cancelled",
    "all": "All",
}
STATE_ICONS = {removals.REQUESTED: "🕓", removals.APPROVED: "⏳", removals.REMOVED: "✅", removals.FAILED: "⚠️",
               removals.REJECTED: "⛔", removals.CANCELLED: "↩️"}
AFTERWARDS = {
    "delivered": "Delivered again on {at}.",
    "bounced": "Bounced again on {at}.",
    "failed": "The next email (on {at}) was never sent.",
    "pending": "Sent again on {at}; not known yet whether it arrived.",
    "none": "No email sent to it since the removal.",
}


def _flash(kind: str, text: str) -> None:
    st.session_state.setdefault(FLASH, []).append((kind, text))


def show_flash() -> None:
    for kind, text in st.session_state.pop(FLASH, []):
        {"success": st.success, "error": st.error, "warning": st.warning}.get(kind, st.info)(text)


def providers_for(engine: Engine) -> ProviderSet:
    return get_providers(engine)


# --- filters and reading -----------------------------------------------------------------------------


def render_filters(engine: Engine, principal: Principal) -> tuple[str, int | None]:
    """State (and, for ops, lender) filters; the state key and the lender id (None: every lender)."""
    cols = st.columns([2, 2, 3]) if principal.is_ops else st.columns([2, 5])
    default = "open" if principal.is_ops else "all"  # ops: the queue; a lender admin: what became of theirs
    st.session_state.setdefault(K + "state", default)
    state = choose(cols[0].selectbox, "Requests", STATE_FILTERS, key=K + "state", default=default)
    lender_id = None
    if principal.is_ops:
        with reading(engine, principal) as conn:
            names = lender_names(conn, principal)
        options: dict[int | None, str] = {None: "All lenders", **dict(sorted(names.items(), key=lambda kv: kv[1]))}
        lender_id = choose(cols[1].selectbox, "Lender", options, key=K + "lender")
    return state, lender_id


def read(engine: Engine, principal: Principal, state: str, lender_id: int | None) -> list[RemovalRequest]:
    states = None if state == "all" else removals.OPEN_STATES if state == "open" else (state,)
    with reading(engine, principal) as conn:
        return removals.list_requests(conn, principal, lender_id=lender_id, states=states, limit=SHOWN)


# --- cards ---------------------------------------------------------------------------------------------


def render_requests(engine: Engine, principal: Principal, requests: list[RemovalRequest], tz: ZoneInfo) -> None:
    """The requests as cards, CARDS_PER_PAGE at a time (each card reads its evidence)."""
    today = datetime.now(UTC).date()
    pages = max(1, -(-len(requests) // CARDS_PER_PAGE))
    page = 1
    if pages > 1:
        page = choose(st.selectbox, "Page", {i: f"{i} of {pages}" for i in range(1, pages + 1)}, key=K + "page",
                      width=160)
        st.caption(f"Requests {CARDS_PER_PAGE * (page - 1) + 1:,}–{min(len(requests), CARDS_PER_PAGE * page):,} "
                   f"of {len(requests):,}, newest first.")
    for req in requests[CARDS_PER_PAGE * (page - 1): CARDS_PER_PAGE * page]:
        with st.container(border=True, key=f"{K}card_{req.id}"):
            _card(engine, principal, req, tz, today)


def _card(engine: Engine, principal: Principal, req: RemovalRequest, tz: ZoneInfo, today) -> None:
    icon = STATE_ICONS.get(req.state, "")
    lender = f" · {plain(req.lender_name)}" if principal.is_ops else ""
    st.markdown(f"{icon} **{req.state_words}** · `{req.address.replace('`', '')}` · {plain(req.list_label)} list{lender} · #{req.id}")
    asked = f"Asked by {plain(req.requested_by)} on {local_time(req.requested_at, tz)}: {plain(req.reason_words)}."
    if req.note:
        asked += f"  \nNote: {plain(req.note)}"
    st.markdown(asked)
    if req.decided_at is not None and req.state != removals.CANCELLED:
        verb = "Rejected" if req.state == removals.REJECTED else "Approved"
        decided = f"{verb} by {plain(req.decided_by or '')} on {local_time(req.decided_at, tz)}"
        if req.state == removals.REJECTED and req.reject_reason:
            decided += f": {plain(req.reject_reason)}"
        st.markdown(decided + ".")
    elif req.state == removals.CANCELLED:
        st.caption(f"Cancelled by {plain(req.decided_by or '')} on {local_time(req.decided_at, tz)}.")
    if req.provider_answer:
        (st.success if req.state == removals.REMOVED else st.warning)(f"The provider: {plain(req.provider_answer)}")
    if req.state == removals.REMOVED:
        with reading(engine, principal) as conn:
            after = removals.afterwards(conn, principal, req)
        if after is not None:
            st.markdown(AFTERWARDS[after.kind].format(at=local_time(after.at, tz) if after.at else ""))
    if principal.is_ops and req.is_open:
        _evidence(engine, principal, req, tz, today)
        _ops_actions(engine, principal, req)
    elif req.state == removals.REQUESTED:
        st.button("Cancel this request", key=f"{K}cancel_{req.id}", on_click=safe_callback(_cancel),
                  args=(engine, principal, req.id))


def _evidence(engine: Engine, principal: Principal, req: RemovalRequest, tz: ZoneInfo, today) -> None:
    with reading(engine, principal) as conn:
        ev = removals.evidence(conn, principal, req, today)
    with st.expander("Evidence", expanded=req.state == removals.REQUESTED):
        bounced = f"Bounced {ev.bounces} time{'s' if ev.bounces != 1 else ''}"
        if ev.blocks:
            bounced += f", blocked {ev.blocks} time{'s' if ev.blocks != 1 else ''}"
        bounced += " at this lender"
        if ev.drops:
            bounced += f"; {ev.drops} later email{'s were' if ev.drops != 1 else ' was'} not sent (suppressed)"
        bounced += "."
        if ev.last_bounce_reply:
            bounced += f" Last reply: {plain(ev.last_bounce_reply)}"
        st.markdown(bounced)
        if ev.does_not_exist:
            st.warning("That reply says the mailbox does not exist: removing the address helps only if the borrower "
                       "has created the mailbox since. Otherwise the next email bounces again.", icon="⚠️")
        if ev.typo_suggestion:
            st.warning(plain(ev.typo_suggestion), icon="✏️")
        else:
            st.caption("No likely typo in the address.")
        st.markdown(f"{plain(req.lender_name)}'s bounce rate now: {plain(ev.lender_bounce_rate)}.")
        if ev.emails:
            st.dataframe(pd.DataFrame({
                f"Sent ({tz.key})": [local_time(e["sent_at"], tz) for e in ev.emails],
                "Subject": [e["subject"] for e in ev.emails],
                "Delivery status": [delivery_label(e["delivery_status"], e["send_status"]) for e in ev.emails],
                "Last event": [e["last_event_type"] or "" for e in ev.emails],
                "Reason": [e["status_reason"] or "" for e in ev.emails],
            }), hide_index=True, width="stretch")


def _ops_actions(engine: Engine, principal: Principal, req: RemovalRequest) -> None:
    own = req.requested_by_user_id == principal.user_id
    with st.container(horizontal=True, vertical_alignment="bottom", key=f"{K}actions_{req.id}"):
        label = "Try again" if req.state == removals.FAILED else "Approve and remove"
        st.button(label, key=f"{K}approve_{req.id}", type="primary", icon="✅", disabled=own,
                  help="You asked for this removal: another ops user approves it (four eyes)." if own else
                  "Tells the provider to remove the address from the list now.",
                  on_click=safe_callback(_approve), args=(engine, principal, req.id))
        st.text_input("Reason to reject", key=f"{K}reject_reason_{req.id}", max_chars=removals.MAX_REASON_TEXT,
                      placeholder="e.g. it bounced again yesterday: confirm the address first")
        st.button("Reject", key=f"{K}reject_{req.id}", icon="⛔", on_click=safe_callback(_reject),
                  args=(engine, principal, req.id))
    if own:
        st.caption("You asked for this removal: another ops user approves it (four eyes).")


def _approve(engine: Engine, principal: Principal, request_id: int) -> None:
    try:
        outcome = removals.approve(engine, principal, request_id, providers_for(engine), datetime.now(UTC))
    except (removals.RemovalRefused, provider_errors.ProviderError) as exc:
        _flash("error", plain(str(exc)))
        return
    _say(outcome)


def _say(outcome: removals.Outcome) -> None:
    req = outcome.request
    if outcome.removed:
        _flash("success", f"#{req.id} `{req.address}`: removed from the {plain(req.list_label)} list. {plain(outcome.words)}")
    else:
        _flash("warning", f"#{req.id} `{req.address}`: approved, not removed. {plain(outcome.words)} Try again later.")


def _reject(engine: Engine, principal: Principal, request_id: int) -> None:
    reason = st.session_state.get(f"{K}reject_reason_{request_id}", "")
    try:
        req = removals.reject(engine, principal, request_id, reason, datetime.now(UTC))
    except removals.RemovalRefused as exc:
        _flash("error", plain(str(exc)))
        return
    _flash("success", f"#{req.id} `{req.address}`: rejected. The lender admin sees your reason.")


def _cancel(engine: Engine, principal: Principal, request_id: int) -> None:
    try:
        req = removals.cancel(engine, principal, request_id, datetime.now(UTC))
    except removals.RemovalRefused as exc:
        _flash("error", plain(str(exc)))
        return
    _flash("success", f"#{req.id} `{req.address}`: request cancelled.")


# --- a block episode's addresses (ops) ------------------------------------------------------------------


def render_episode_request(engine: Engine, principal: Principal, lender_id: int | None, tz: ZoneInfo) -> None:
    """Ops ask for a block episode's addresses at one lender in one go (another ops user approves them)."""
    with st.expander("Ask for a block episode's addresses", icon="🧱"):
        st.session_state.setdefault(K + "episode_family", None)  # first shown: the latest episode's provider
        if lender_id is None:
            st.caption("Choose a lender above: the addresses of one lender are asked for at a time.")
            return
        today = datetime.now(UTC).date()
        with reading(engine, principal) as conn:  # every mailbox provider's latest episode (rollups: cheap)
            episodes = {f: mailbox_provider_health(conn, principal, f, today).episode for f in FAMILY_SHORT}
        labels = {f: FAMILY_SHORT[f] + (f" (block episode {e.start:%d %b}–{e.end:%d %b})" if e else " (no block episode)")
                  for f, e in episodes.items()}
        latest = max((f for f in episodes if episodes[f]), key=lambda f: episodes[f].end, default=next(iter(labels)))
        family = choose(st.selectbox, "Mailbox provider", labels, key=K + "episode_family", default=latest)
        episode = episodes[family]
        if episode is None:
            st.info(f"{FAMILY_SHORT[family]} shows no block episode against the platform in the last weeks.")
            return
        with reading(engine, principal) as conn:
            found = removals.episode_addresses(conn, principal, lender_id, family, episode.start, episode.end)
        st.markdown(plain(episode.sentence()))
        if not found:
            st.info("No address of this lender was blocked then that is not asked for already.")
            return
        st.markdown(f"**{len(found):,}** address{'es' if len(found) != 1 else ''} of this lender "
                    f"{'were' if len(found) != 1 else 'was'} blocked then and not asked for yet "
                    f"(newest: `{found[0].address}`, {local_time(found[0].blocked_at, tz)}).")
        st.caption("A SendGrid block does not stop sending by itself: removing it keeps the provider's list true. "
                   "You ask on the lender's behalf; another ops user approves (four eyes).")
        period = f"{episode.start:%d %b}–{episode.end:%d %b %Y}"
        if episode.ongoing:
            st.warning(f"{FAMILY_SHORT[family]} is still blocking: an address taken off the list now is likely blocked "
                       "again. Wait until the episode is over.", icon="⚠️")
        note = st.text_input("Note", value=f"{FAMILY_SHORT[family]} block episode {period}" + (" is over" if not episode.ongoing else ""),
                             key=K + "episode_note",
                             max_chars=removals.MAX_NOTE)
        st.button(f"Request removal from the blocks list for these {len(found):,}", key=K + "episode_go", icon="🧱",
                  on_click=safe_callback(_request_episode), args=(engine, principal, lender_id, found, note))


def _request_episode(engine: Engine, principal: Principal, lender_id: int, found, note: str) -> None:
    made, refused = removals.request_for_episode(engine, principal, lender_id=lender_id, providers=providers_for(engine),
                                                 addresses=found, note=st.session_state.get(K + "episode_note", note),
                                                 now=datetime.now(UTC))
    text = f"{len(made):,} removal{'s' if len(made) != 1 else ''} requested; another ops user approves them."
    if refused:
        text += f" {len(refused):,} not: {plain(refused[0])}" + (" …" if len(refused) > 1 else "")
    _flash("success" if made and not refused else "warning", text)


# --- several at once (ops) ------------------------------------------------------------------------------


def _choose_all(key: str, ids: list[int]) -> None:
    st.session_state[key] = ids


def render_bulk_approve(engine: Engine, principal: Principal, requests: list[RemovalRequest]) -> None:
    """Approve several waiting requests (an episode's blocked addresses) one after another through the
    provider's one rate budget, with a progress bar. Own requests are not offered (four eyes)."""
    waiting = [r for r in requests if r.state == removals.REQUESTED and r.requested_by_user_id != principal.user_id]
    if len(waiting) < 2:
        return
    with st.expander(f"Approve several at once ({len(waiting)} waiting)", icon="✅"):
        labels = {r.id: f"#{r.id} {r.address} · {r.list_label} · {r.lender_name}" for r in waiting}
        round_ = st.session_state.get(K + "bulk_round", 0)  # a new widget after each run: no stale choice
        st.button(f"Choose all {len(waiting)} shown", key=K + "bulk_all", type="tertiary",
                  help="Every waiting request the filters above show (e.g. one lender's, for an episode).",
                  on_click=safe_callback(_choose_all), args=(f"{K}bulk_ids_{round_}", list(labels)))
        chosen = st.multiselect("Requests to approve", list(labels), format_func=labels.__getitem__,
                                key=f"{K}bulk_ids_{round_}", placeholder="Choose requests")
        if st.button(f"Approve and remove {len(chosen)}" if chosen else "Approve and remove", key=K + "bulk_go",
                     type="primary", disabled=not chosen):
            bar = st.progress(0.0, text=f"Removing 0 of {len(chosen)}…")

            def progress(done: int, total: int, _outcome) -> None:
                bar.progress(done / total, text=f"Removed {done} of {total}…" if done < total else f"Done: {total} of {total}.")

            outcomes, refusals = removals.approve_many(engine, principal, list(chosen), providers_for(engine),
                                                       lambda: datetime.now(UTC), on_progress=progress)
            removed = sum(o.removed for o in outcomes)
            _flash("success" if removed == len(chosen) else "warning",
                   f"{removed} of {len(chosen)} removed." + (" " + " ".join(plain(r) for r in refusals) if refusals else ""))
            for o in outcomes:
                if not o.removed:
                    _say(o)
            st.session_state[K + "bulk_round"] = round_ + 1
            st.rerun()
