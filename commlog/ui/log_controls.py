"""The Communication Log's controls: lender picker, "Find emails to…", Account selector, filters;
kept in the URL.

The URL is read once per session (and whenever it no longer matches what the widgets show, e.g. a
pasted link), validated by `LogView.from_query_params` + `commlog.log_queries.resolve_view`, pushed
into the widgets' state, and written back after every change, so every view can be bookmarked and
shared. The choice filters are drawn from `commlog.log_filters.FILTERS`, one selectbox each.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import streamlit as st
from sqlalchemy import Engine

from commlog.log_filters import FILTERS
from commlog.log_queries import (
    MIN_TYPEAHEAD,
    AccountRow,
    LenderRow,
    email_types,
    list_lenders,
    resolve_view,
    search_borrowers,
)
from commlog.log_view import (
    DEFAULT_PAGE_SIZE,
    DEFAULT_RANGE,
    DOMAIN_RE,
    EXACT,
    EXACT_LABEL,
    MAX_DOMAIN,
    MAX_PAGE,
    MAX_TEXT,
    PAGE_SIZES,
    PRESET_LABELS,
    SORTS,
    LogView,
    clean_text,
    exact_days,
    exact_label,
)
from commlog.principal import Principal
from commlog.ui.boundary import fragment, safe_callback
from commlog.ui.choices import choose, remembered
from commlog.ui.format import plain
from commlog.ui.resources import database_url
from commlog.unit_of_work import reading

ANY = "Any"
# The Account selector's values besides borrower ids (None would read as "no choice").
LENDER_LOG = 0  # the lender's own log
ALL_LOGS = -1  # every log of the lender: where Deliverability's figures come from
K = "log_"  # widget key prefix; a choice filter's widget is K + its URL parameter
_APPLIED = K + "applied_params"  # the URL params the widgets were last set from / wrote
# While a recipient search is shown the log's own controls are not drawn: their values are kept
# for this page ("page"), so clearing the search brings the log back as it was.
KEEP = {"persist_state": "page"}


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
    return {k: st.query_params.get(k) for k in st.query_params}


# --- the URL -> the widgets -------------------------------------------------------------------------


def load_url(engine: Engine, principal: Principal, tz: ZoneInfo) -> None:
    """Push the URL's view into the widgets when it is not what they last showed (the first run of
    a session, a pasted or shared link, a link from another page); say what was wrong with it."""
    ss = st.session_state
    params = _params_now()
    if ss.get(_APPLIED) == params:
        return
    view, notices = LogView.from_query_params(params)
    with reading(engine, principal) as conn:
        resolved = resolve_view(conn, principal, view)
    for notice in notices + resolved.notices:
        st.warning(plain(notice), icon="⚠️")  # notices quote URL values
    _load_into_widgets(resolved.view, resolved.account, tz)
    ss[_APPLIED] = params


def _load_into_widgets(view: LogView, account: AccountRow | None, tz: ZoneInfo) -> None:
    ss = st.session_state
    ss[_k("lender")] = view.lender_id
    ss[_k("find")] = view.search or ""
    ss[_k("find_all")] = view.search_all_lenders
    ss[_k("account")] = ALL_LOGS if view.all_logs else (view.account_id or LENDER_LOG)
    ss[_k("account_row")] = account
    ss[_k("range")] = view.range
    ss[_k("sent_utc")] = (view.sent_from, view.sent_to) if view.range == EXACT else None
    today = datetime.now(tz).date()
    ss[_k("dates")] = (view.date_from or today - timedelta(days=6), view.date_to or today)
    for f in FILTERS:
        ss[_k(f.param)] = view.choice(f.param) or ANY
    ss[_k("q")] = view.text or ""
    ss[_k("domain")] = view.domain or ""
    ss[_k("sort")] = view.sort
    ss[_k("size")] = view.page_size
    ss[_k("page")] = view.page


# --- the controls -----------------------------------------------------------------------------------


def render_lender(engine: Engine, principal: Principal) -> LenderRow:
    """Ops choose the lender; a lender admin's is always their own. Stops when there is none."""
    with reading(engine, principal) as conn:
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
            "Find emails to…", key=_k("find"), max_chars=MAX_TEXT,
            placeholder="An address, part of one, or a borrower's name: every log, all dates",
            help="Lists every email sent to the matching recipients, from the lender's own log and from "
            "every borrower's log, each labelled with the log it is in.",
        )
    all_lenders = False
    if every is not None:
        all_lenders = every.checkbox("Every lender", key=_k("find_all"), help="Search every lender's logs at once.")
    return SearchRequest(clean_text(text), all_lenders)


@safe_callback
def clear_search() -> None:
    st.session_state[_k("find")] = ""
    st.session_state[_k("find_all")] = False


# The Email type filter's choices (log_queries.email_types): read from the daily rollups, whose rows
# grow with the lender's days of history, not with its emails (a DISTINCT over the log itself cost
# 0.28 s for 20,000 emails and over a second at 10M). Types change rarely and the controls rerun on
# every filter: kept per database and lender for 5 minutes, shared by everyone who may see that
# lender (its admins, ops), so only the first of them in 5 minutes reads them on an app server.
TYPES_TTL = 300  # seconds


def _email_types(engine: Engine, url: str, principal: Principal, lender_id: int) -> list[str]:
    """The lender's email types, for a principal whose scope holds the lender (checked here, before
    the shared copy is handed out: ScopeError otherwise)."""
    principal.require_lender(lender_id)
    return _lender_email_types(engine, url, lender_id, principal)


@st.cache_data(ttl=TYPES_TTL, show_spinner=False, max_entries=500)
def _lender_email_types(_engine: Engine, url: str, lender_id: int, _reader: Principal) -> list[str]:
    """Cached by database and lender only: `_reader` (not part of the key) is whoever asked first,
    and reads through their own unit of work."""
    with reading(_engine, _reader) as conn:
        return email_types(conn, _reader, lender_id)


def render_log_controls(engine: Engine, principal: Principal, lender: LenderRow,
                        tz: ZoneInfo) -> tuple[LogView, AccountRow | None]:
    """The Account (with its borrower finder) and the filters; return the validated view and its
    borrower (None: the lender's own log, or all logs)."""
    account, all_logs = _render_account(engine, principal, lender)
    types = _email_types(engine, database_url(), principal, lender.id)
    with st.container(border=True, horizontal=True, gap="small", key=_k("filters")):  # wraps to the width
        rng, choices, sort = _render_choices(types)
        st.text_input("Recipient or subject contains", key=_k("q"), max_chars=MAX_TEXT, width=2 * FILTER_PX, **KEEP)
        st.text_input("Recipient domain", key=_k("domain"), max_chars=MAX_DOMAIN, placeholder="gmail.com",
                      width=FILTER_PX, **KEEP)
    if rng == EXACT:
        _render_exact_bounds(tz)
    return _view_from_widgets(lender, account, all_logs, rng, choices, sort), account


def _render_account(engine: Engine, principal: Principal, lender: LenderRow) -> tuple[AccountRow | None, bool]:
    """The Account: the lender's own log, every log, or one borrower's. A borrower is found in one
    box: type part of a name or email, the best matches are listed under it, click one (or Tab to
    it and press Enter). Returns the borrower (None otherwise) and whether every log is shown."""
    ss = st.session_state
    account_col, find_col = st.columns(2)
    remembered_row: AccountRow | None = ss.get(_k("account_row"))
    if remembered_row is not None and remembered_row.lender_id != lender.id:
        remembered_row = None  # another lender's borrower is never an option
    labels = {LENDER_LOG: f"{lender.name}: lender's own log", ALL_LOGS: f"All of {lender.name}'s logs (lender and borrowers)"}
    if remembered_row is not None:
        labels[remembered_row.id] = remembered_row.label
    with account_col:
        choice = choose(
            st.selectbox, "Account", labels, key=_k("account"), default=LENDER_LOG,
            help="The lender's own log holds emails tied to the lender account (staff password resets, "
            "borrower account confirmations). A borrower's log holds emails from their own account activity.",
            **KEEP,
        )
    account = remembered_row if remembered_row is not None and choice == remembered_row.id else None
    ss[_k("account_row")] = remembered_row
    with find_col:
        _render_borrower_finder(engine, principal, lender)
    return account, choice == ALL_LOGS


MATCHES_SHOWN = 8
# How long a typing pause is before the matches are asked for. Streamlit's live=True waits 250 ms,
# which was half of what a person waited for the matches (the box's own rerun, a fragment, costs
# about what the framework's trivial rerun does); 150 ms was still more than half of it (2026-12-05
# evening: 168 of 255 ms at the median at 1M). At 100 ms a fast typist's burst (40 ms a key) is one
# run, and a person typing slower gets a run between keys, as at 150: each is the box's own fragment,
# a read of at most 9 borrowers, and no letter is lost (tests/e2e/test_log_flows.py).
TYPEAHEAD_PAUSE = "100ms"


@fragment
def _render_borrower_finder(engine: Engine, principal: Principal, lender: LenderRow) -> None:
    """Runs as a fragment: each keystroke reruns the box and its matches alone, not the page. A
    pick changes the Account, so it reruns the whole page."""
    if st.session_state.pop(_k("picked"), False):
        st.rerun(scope="app")
    text = st.text_input("Find a borrower (name or email)", key=_k("borrower_search"), max_chars=100,
                         placeholder="Type at least 2 characters of a name or email…", live=TYPEAHEAD_PAUSE, **KEEP)
    if not text or len(text.strip()) < MIN_TYPEAHEAD:
        return
    with reading(engine, principal) as conn:
        matches = search_borrowers(conn, principal, lender.id, text, limit=MATCHES_SHOWN + 1)
    if not matches:
        st.caption("No borrower of this lender matches that text.")
        return
    more = len(matches) > MATCHES_SHOWN
    st.caption(f"Best match{'es' if len(matches) > 1 else ''} first{': type more to narrow them' if more else ''}. "
               "Pick one to open their log.")
    with st.container(key=_k("matches"), gap=None):
        for acc in matches[:MATCHES_SHOWN]:
            st.button(f"{plain(acc.name)} · {plain(acc.email)}", key=_k(f"pick_{acc.id}"), on_click=_pick,
                      args=(acc,), type="tertiary", icon=":material/person:")


@safe_callback
def _pick(account: AccountRow) -> None:
    """A borrower picked from the matches: their log, and the box empties."""
    st.session_state[_k("account")] = account.id
    st.session_state[_k("account_row")] = account
    st.session_state[_k("borrower_search")] = ""
    st.session_state[_k("picked")] = True  # the finder's own rerun passes it on to the whole page


FILTER_PX = 170  # each filter's width: the row wraps (two rows at 1440 px, three at 800 px)


def _fitting(labels) -> int:
    """A filter's width: FILTER_PX, or wide enough for its longest option (up to twice that), so a
    chosen value is never cut ("Microsoft (Outlook, Hotmail, Live)")."""
    longest = max((len(str(label)) for label in labels), default=0)
    return min(2 * FILTER_PX, max(FILTER_PX, 56 + 8 * longest))


def _render_choices(types: list[str]) -> tuple[str, dict[str, str], str]:
    """Sent, one selectbox per choice filter, Sort. Returns the range, the choices set (filter
    param -> value) and the sort."""
    ss = st.session_state
    # Exact UTC bounds are a choice only while a link's bounds are held (cleared: it falls back).
    exact = {EXACT: EXACT_LABEL} if ss.get(_k("sent_utc")) else {}
    rng = choose(st.selectbox, "Sent", {**PRESET_LABELS, **exact}, key=_k("range"), default=DEFAULT_RANGE,
                 width=FILTER_PX, help="Exact UTC times: the UTC send days a Deliverability figure counts, so the "
                 "log lists the same messages in every time zone." if exact else None, **KEEP)
    if rng == "custom":
        st.date_input("From – to", key=_k("dates"), format="YYYY-MM-DD", width=FILTER_PX + 40, **KEEP)
    choices: dict[str, str] = {}
    for f in FILTERS:
        values = list(f.values) if f.values is not None else list(types)
        held = ss.get(_k(f.param))
        if f.values is None and held not in values and held != ANY and f.parse(str(held)) == held:
            values.append(held)  # from a shared link: a value this lender never sent is shown, not dropped
        options = {ANY: ANY, **{v: f.reads_as(v) for v in values}}
        value = choose(st.selectbox, f.label, options, key=_k(f.param), help=f.help,
                       width=_fitting(options.values()), **KEEP)
        if value != ANY:
            choices[f.param] = value
    sort = choose(st.selectbox, "Sort", SORTS, key=_k("sort"), width=FILTER_PX, **KEEP)
    return rng, choices, sort


def _render_exact_bounds(tz: ZoneInfo) -> None:
    """Name the exact UTC bounds a link set, and offer the usual Sent choices back."""
    since, until = st.session_state[_k("sent_utc")]
    days = exact_days(since, until)
    st.info(f"**{exact_label(since, until, tz)}** · from Deliverability, which counts whole UTC send days"
            f"{f' (here {days})' if days else ''}: this log lists the same messages as its figure, in every time zone.",
            icon=":material/schedule:")
    st.button("Clear the exact times: back to the usual Sent choices", key=_k("clear_exact"), on_click=_clear_exact,
              icon=":material/close:", type="tertiary")


@safe_callback
def _clear_exact() -> None:
    st.session_state[_k("sent_utc")] = None  # "Exact UTC times" is no longer offered: Sent falls back


@safe_callback
def _reset_account() -> None:
    st.session_state[_k("account")] = LENDER_LOG
    st.session_state[_k("account_row")] = None
    st.session_state[_k("borrower_search")] = ""


def _view_from_widgets(lender: LenderRow, account: AccountRow | None, all_logs: bool, rng: str,
                       choices: dict[str, str], sort: str) -> LogView:
    ss = st.session_state
    dates = ss.get(_k("dates")) or ()
    date_from = dates[0] if len(dates) > 0 else None
    date_to = dates[1] if len(dates) > 1 else date_from
    since, until = ss.get(_k("sent_utc")) or (None, None)
    domain = (ss.get(_k("domain")) or "").strip().lower().lstrip("@") or None
    if domain and not DOMAIN_RE.match(domain):
        st.warning("That is not a domain name: the domain filter is ignored.")
        domain = None
    return LogView(
        lender_id=lender.id,
        account_id=account.id if account else None,
        all_logs=all_logs,
        range=rng,
        date_from=date_from if rng == "custom" else None,
        date_to=date_to if rng == "custom" else None,
        sent_from=since,
        sent_to=until,
        choices=choices,
        text=clean_text(ss.get(_k("q"))),
        domain=domain,
        sort=sort,
        **chosen_page(),
    )


def chosen_page() -> dict[str, int]:
    """The page and the rows per page the widgets under the grid hold now (a value that is no
    longer an option falls back to the first page, the default size)."""
    return {
        "page": remembered(_k("page"), range(1, MAX_PAGE + 1), 1),
        "page_size": remembered(_k("size"), PAGE_SIZES, DEFAULT_PAGE_SIZE),
    }


def sync_url(view: LogView, principal: Principal) -> None:
    """Write the view to the URL (lender admins' URLs carry no lender: it is always their own)."""
    if not principal.is_ops:
        view = replace(view, lender_id=None)
    params = view.to_query_params()
    if params != _params_now():
        st.query_params.from_dict(params)
    st.session_state[_APPLIED] = params
