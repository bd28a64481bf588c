"""The Communication Log's controls: lender picker, "Find emails to…", Account selector, filters;
kept in the URL.

The URL is read once per session (and whenever it no longer matches what the widgets show, e.g. a
pasted link), validated by commlog.filters + commlog.log_queries.resolve_view, pushed into the
widgets' state, and written back after every change, so every view can be bookmarked and shared.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import streamlit as st
from sqlalchemy import Engine

from commlog import filters
from commlog.domains import FAMILIES, FAMILY_LABELS
from commlog.filters import DELIVERY_CHOICES, PRESET_LABELS, SORTS, ViewState
from commlog.log_queries import (
    AccountRow,
    LenderRow,
    email_types,
    list_lenders,
    resolve_view,
    search_borrowers,
)
from commlog.principal import Principal
from commlog.ui.boundary import safe_callback
from commlog.ui.choices import choose, remembered, same_labels
from commlog.ui.format import email_type_label, plain
from commlog.vocabulary import (
    NOT_CHECKED,
    NOT_CHECKED_LABEL,
    Audience,
    EventType,
    SendStatus,
)

ANY = "Any"
# The Account selector's values besides borrower ids (None would read as "no choice").
LENDER_LOG = 0  # the lender's own log
ALL_LOGS = -1  # every log of the lender: where Deliverability's figures come from
K = "log_"  # widget key prefix
_APPLIED = K + "applied_params"  # the URL params the widgets were last set from / wrote


def _k(name: str) -> str:
    return K + name


class _PageStateWarning(logging.Filter):
    """st.pagination always passes a default, so Streamlit warns "created with a default value but
    also had its value set via the Session State API" on every run for the page widget, whose value
    we set from the URL on purpose. Drop that one warning for that one key; every other stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.args and record.args[0] == _k("page") and "Session State API" in str(record.msg))


def quiet_page_state_warning() -> None:
    """Install _PageStateWarning on Streamlit's widget-policy logger (once per process)."""
    logger = logging.getLogger("streamlit.elements.lib.policies")
    if not any(isinstance(f, _PageStateWarning) for f in logger.filters):
        logger.addFilter(_PageStateWarning())




def _params_now() -> dict[str, str]:
    return {k: st.query_params.get(k) for k in st.query_params.keys()}


def _load_into_widgets(view: ViewState, account: AccountRow | None, tz) -> None:  # noqa: ANN001
    ss = st.session_state
    ss[_k("lender")] = view.lender_id
    ss[_k("find")] = view.search or ""
    ss[_k("find_all")] = view.search_all_lenders
    ss[_k("account")] = ALL_LOGS if view.all_logs else (view.account_id or LENDER_LOG)
    ss[_k("account_row")] = account
    ss[_k("range")] = view.range
    today = datetime.now(tz).date()
    ss[_k("dates")] = (view.date_from or today - timedelta(days=6), view.date_to or today)
    ss[_k("status")] = view.send_status or ANY
    ss[_k("delivery")] = view.delivery_status or ANY
    ss[_k("event")] = view.event_type or ANY
    ss[_k("type")] = view.email_type or ANY
    ss[_k("audience")] = view.audience or ANY
    ss[_k("q")] = view.text or ""
    ss[_k("domain")] = view.domain or ""
    ss[_k("family")] = view.provider_family or ANY
    ss[_k("sort")] = view.sort
    ss[_k("size")] = view.page_size
    ss[_k("page")] = view.page


def _opt(value: str) -> str | None:
    return None if value in (ANY, "", None) else value


# While a recipient search is shown the log's own controls are not drawn: their values are kept
# for this page ("page"), so clearing the search brings the log back as it was.
KEEP = {"persist_state": "page"}


def load_url(engine: Engine, principal: Principal, tz) -> None:  # noqa: ANN001
    """Push the URL's view into the widgets when it is not what they last showed (the first run of
    a session, a pasted or shared link, a link from another page); say what was wrong with it."""
    ss = st.session_state
    params = _params_now()
    if ss.get(_APPLIED) == params:
        return
    parsed = filters.parse_query_params(params)
    with engine.connect() as conn:
        resolved = resolve_view(conn, principal, parsed.view)
    for notice in parsed.notices + resolved.notices:
        st.warning(plain(notice), icon="⚠️")  # notices quote URL values
    _load_into_widgets(resolved.view, resolved.account, tz)
    ss[_APPLIED] = params


def render_lender(engine: Engine, principal: Principal) -> LenderRow:
    """Ops choose the lender; a lender admin's is always their own. Stops when there is none."""
    with engine.connect() as conn:
        lenders = list_lenders(conn, principal)
    by_id = {lender.id: lender for lender in lenders}
    if principal.is_ops and lenders:
        choice = choose(st.selectbox, "Lender", {lender.id: lender.name for lender in lenders}, key=_k("lender"),
                        on_change=_reset_account)
        lender = by_id.get(choice)
    else:
        lender = by_id.get(principal.lender_id)
        st.session_state[_k("lender")] = lender.id if lender else None
    if lender is None:
        st.info("No lender to show yet.")
        st.stop()
    return lender


@dataclass(frozen=True)
class SearchRequest:
    text: str | None  # None: no search, the log is shown
    all_lenders: bool  # ops only


def render_search_box(principal: Principal) -> SearchRequest:
    """ "Find emails to…": an address, part of one, or a borrower's name; every log of the lender."""
    if principal.is_ops:
        box, every = st.columns([4, 1], vertical_alignment="bottom")
    else:
        box, every = st.container(), None
    with box:
        text = st.text_input(
            "Find emails to…", key=_k("find"), max_chars=filters.MAX_TEXT,
            placeholder="An address, part of one, or a borrower's name: every log, all dates",
            help="Lists every email sent to the matching recipients, from the lender's own log and from "
            "every borrower's log, each labelled with the log it is in.",
        )
    all_lenders = False
    if every is not None:
        all_lenders = every.checkbox("Every lender", key=_k("find_all"), help="Search every lender's logs at once.")
    return SearchRequest(filters.clean_text(text), all_lenders)


@safe_callback
def clear_search() -> None:
    st.session_state[_k("find")] = ""
    st.session_state[_k("find_all")] = False


def render_log_controls(engine: Engine, principal: Principal, lender: LenderRow, tz) -> tuple[ViewState, AccountRow | None]:  # noqa: ANN001
    """The Account selector and the filters; return the validated view and its borrower (None: the
    lender's own log, or all logs)."""
    ss = st.session_state
    # Account: the lender's own log, or one borrower's, found by typing part of a name or email.
    find_col, account_col = st.columns([3, 3])
    with find_col:
        search = st.text_input(
            "Find a borrower (name or email)",
            key=_k("borrower_search"),
            max_chars=100,
            placeholder="Type at least 2 characters…",
            live=True,
            **KEEP,
        )
    with engine.connect() as conn:
        matches = search_borrowers(conn, principal, lender.id, search or "")
    # Options: the lender's log, the borrower shown now (kept while the search text changes), matches.
    remembered_row: AccountRow | None = ss.get(_k("account_row"))
    options: dict[int, AccountRow | None] = {LENDER_LOG: None, ALL_LOGS: None}
    if remembered_row is not None and remembered_row.lender_id == lender.id:
        options[remembered_row.id] = remembered_row
    for acc in matches:
        options[acc.id] = acc
    labels = {LENDER_LOG: f"{lender.name}: lender's own log", ALL_LOGS: f"All of {lender.name}'s logs (lender and borrowers)"}
    labels.update({i: acc.label for i, acc in options.items() if acc is not None})
    with account_col:
        account_choice = choose(
            st.selectbox, "Account", labels, key=_k("account"), default=LENDER_LOG,
            help="The lender's own log holds emails tied to the lender account (staff password resets, "
            "borrower account confirmations). A borrower's log holds emails from their own account activity.",
            **KEEP,
        )
    account = options.get(account_choice)
    ss[_k("account_row")] = account
    if search and len(search.strip()) >= 2 and not matches:
        st.caption("No borrower of this lender matches that text.")
    elif matches and account is None:
        st.caption(f"{len(matches)} borrower{'s' if len(matches) != 1 else ''} match: pick one in **Account**.")

    with engine.connect() as conn:
        types = email_types(conn, principal, lender.id)

    picked: dict[str, str] = {}  # what each choice widget returned (always one of its options)
    with st.container(border=True):
        c1, c2, c3, c4 = st.columns(4)
        with c1:
            picked["range"] = choose(st.selectbox, "Sent", PRESET_LABELS, key=_k("range"), **KEEP)
            if picked["range"] == "custom":
                st.date_input("From – to", key=_k("dates"), format="YYYY-MM-DD", **KEEP)
        with c2:
            picked["status"] = choose(st.selectbox, "Status", same_labels([ANY, *[s.value for s in SendStatus]]),
                                      key=_k("status"), help="Did our mail servers send it?", **KEEP)
            delivery_labels = {v: NOT_CHECKED_LABEL if v == NOT_CHECKED else v for v in DELIVERY_CHOICES}
            picked["delivery"] = choose(st.selectbox, "Delivery status", {ANY: ANY, **delivery_labels}, key=_k("delivery"),
                                        **KEEP)
        with c3:
            picked["event"] = choose(st.selectbox, "Event type", same_labels([ANY, *[e.value for e in EventType]]),
                                     key=_k("event"), help="Messages that had at least one event of this type.", **KEEP)
            type_options = [ANY, *types]
            if ss.get(_k("type")) not in type_options and filters.EMAIL_TYPE_RE.match(str(ss.get(_k("type")))):
                type_options.append(ss[_k("type")])  # a type from a shared link this lender never sent: shown, not dropped
            type_labels = {t: t if t == ANY else email_type_label(t) for t in type_options}
            picked["type"] = choose(st.selectbox, "Email type", type_labels, key=_k("type"), **KEEP)
        with c4:
            picked["audience"] = choose(st.selectbox, "Audience", same_labels([ANY, *[a.value for a in Audience]]),
                                        key=_k("audience"), **KEEP)
            picked["sort"] = choose(st.selectbox, "Sort", SORTS, key=_k("sort"), **KEEP)
        t1, t2, t3 = st.columns([2, 1, 1])
        with t1:
            st.text_input("Recipient or subject contains", key=_k("q"), max_chars=filters.MAX_TEXT, **KEEP)
        with t2:
            st.text_input("Recipient domain", key=_k("domain"), max_chars=filters.MAX_DOMAIN, placeholder="gmail.com", **KEEP)
        with t3:
            family_labels = {ANY: ANY, **{f: FAMILY_LABELS.get(f, f) for f in FAMILIES}}
            picked["family"] = choose(st.selectbox, "Mailbox provider", family_labels, key=_k("family"), **KEEP)

    view = _view_from_widgets(lender, account, account_choice == ALL_LOGS, picked)
    return view, account


def _reset_account() -> None:
    st.session_state[_k("account")] = LENDER_LOG
    st.session_state[_k("account_row")] = None
    st.session_state[_k("borrower_search")] = ""


def _view_from_widgets(lender: LenderRow, account: AccountRow | None, all_logs: bool, picked: dict[str, str]) -> ViewState:
    ss = st.session_state
    rng = picked["range"]
    dates = ss.get(_k("dates")) or ()
    date_from = dates[0] if len(dates) > 0 else None
    date_to = dates[1] if len(dates) > 1 else date_from
    domain = (ss.get(_k("domain")) or "").strip().lower().lstrip("@") or None
    if domain and not filters.DOMAIN_RE.match(domain):
        st.warning("That is not a domain name: the domain filter is ignored.")
        domain = None
    return ViewState(
        lender_id=lender.id,
        account_id=account.id if account else None,
        all_logs=all_logs,
        range=rng,
        date_from=date_from if rng == "custom" else None,
        date_to=date_to if rng == "custom" else None,
        send_status=_opt(picked["status"]),
        delivery_status=_opt(picked["delivery"]),
        event_type=_opt(picked["event"]),
        email_type=_opt(picked["type"]),
        audience=_opt(picked["audience"]),
        text=filters.clean_text(ss.get(_k("q"))),
        domain=domain,
        provider_family=_opt(picked["family"]),
        sort=picked["sort"],
        page=remembered(_k("page"), range(1, filters.MAX_PAGE + 1), 1),
        page_size=remembered(_k("size"), filters.PAGE_SIZES, filters.DEFAULT_PAGE_SIZE),
    )


def sync_url(view: ViewState, principal: Principal) -> None:
    """Write the view to the URL (lender admins' URLs carry no lender: it is always their own)."""
    if not principal.is_ops:
        view = replace(view, lender_id=None)
    params = filters.to_query_params(view)
    if params != _params_now():
        st.query_params.from_dict(params)
    st.session_state[_APPLIED] = params
