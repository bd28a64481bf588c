"""The results of "Find emails to…" on the log page: the recipients found, each with "Why didn't
they get it?", then every email to them across the lender's logs (each labelled with its log), one
page at a time, and the ticked email in a dialog."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import streamlit as st
from sqlalchemy import Engine

from commlog.log_queries import LenderRow
from commlog.principal import Principal
from commlog.recipient_search import (
    MIN_FRAGMENT,
    Recipient,
    RecipientSearch,
    find_emails_to,
)
from commlog.troubleshoot.address import check_address
from commlog.ui.choices import remembered
from commlog.ui.email_dialogs import open_dialogs, render_selection_bar
from commlog.ui.format import local_time, plain
from commlog.ui.links import page_link
from commlog.ui.log_controls import SearchRequest, clear_search
from commlog.ui.log_selection import FIND
from commlog.ui.log_table import render_log_table
from commlog.unit_of_work import reading

PAGE_SIZE = 50
SHOWN_RECIPIENTS = 8  # listed with their links; the grid holds the emails of all of them
_PAGE = "find_page"
_SIGNATURE = "find_signature"


def render_search_results(engine: Engine, principal: Principal, lender: LenderRow, search: SearchRequest,
                          tz: ZoneInfo) -> None:
    ss = st.session_state
    signature = (lender.id, search.text, search.all_lenders)
    if ss.get(_SIGNATURE) != signature:  # a new search starts at its first page, nothing selected
        ss[_PAGE] = 1
        FIND.clear()
    ss[_SIGNATURE] = signature
    read_for = (signature, remembered(_PAGE, range(1, 100_001), 1))
    result = FIND.kept_read(read_for)  # a tick: the emails as they were ticked
    if result is None:
        with reading(engine, principal) as conn:
            result = find_emails_to(conn, principal, search.text, lender_id=None if search.all_lenders else lender.id,
                                    all_lenders=search.all_lenders, page=read_for[1], page_size=PAGE_SIZE)
    where = "every lender's logs" if search.all_lenders else f"every log of {plain(lender.name)} (lender and borrowers)"

    # A row that wraps: on a narrow screen the button goes under the sentence, whole, not cut short.
    with st.container(horizontal=True, vertical_alignment="center"):
        if result.recipients:
            st.markdown(f"**{result.total:,}** email{'s' if result.total != 1 else ''} to "
                        f"{_count(len(result.recipients), 'recipient', result.more_recipients)} matching "
                        f"“{plain(result.text)}”, from {where}, all dates.", width="stretch")
        else:
            st.space("stretch")
        st.button("Clear search", key="find_clear", on_click=clear_search, icon="✖️")
    if not result.recipients:
        _nothing_found(result, where)
        return
    st.caption(f"Times in {tz.key}. Status: did our mail servers send it. Delivery status: did the receiving server take it.")
    _render_recipients(result, principal, tz)

    if result.page != remembered(_PAGE, range(1, 100_001), 1):
        ss[_PAGE] = result.page
    FIND.on_page(result.page)
    bar = st.container()
    selected = render_log_table(result.rows, tz, selection=FIND, with_log=True, with_lender=search.all_lenders)
    FIND.keep_read((signature, result.page), result)
    with bar:
        render_selection_bar(FIND, selected)
    if result.num_pages > 1:
        st.pagination(result.num_pages, key=_PAGE)
    st.caption(f"Page {result.page} of {result.num_pages:,}.")
    open_dialogs(engine, principal, FIND, tz, result.rows)


def _render_recipients(result: RecipientSearch, principal: Principal, tz: ZoneInfo) -> None:
    with st.container(border=True):
        for r in result.recipients[:SHOWN_RECIPIENTS]:
            # One row that wraps: on a narrow screen the links go under the line, whole, not cut short.
            with st.container(horizontal=True, vertical_alignment="center"):
                st.markdown(_recipient_line(r, principal, tz), width="stretch")
                page_link("pages/why.py", "Why didn't they get it?", icon="🩺",
                          query_params={"message": str(r.newest_message_id)})
                if r.kind == "borrower" and r.account_id is not None:
                    params = {"account": str(r.account_id)} | ({"lender": str(r.lender_id)} if principal.is_ops else {})
                    page_link("pages/log.py", f"{r.name.split()[0]}'s log", icon="✉️", query_params=params)
        hidden = len(result.recipients) - SHOWN_RECIPIENTS
        if hidden > 0 or result.more_recipients:
            more = f"{hidden:,} more" if not result.more_recipients else "more"
            st.caption(f"And {more} recipients: their emails are in the list below. Type more of the address or "
                       "name to narrow it down.")


def _recipient_line(r: Recipient, principal: Principal, tz: ZoneInfo) -> str:
    name = f"**{plain(r.name)}** ({r.kind}) · " if r.name else ""
    lender = f" · {plain(r.lender_name)}" if principal.is_ops else ""
    return (f"{name}`{r.email.replace('`', '')}` · {r.emails:,} email{'s' if r.emails != 1 else ''}, the last "
            f"{local_time(r.last_sent_at, tz)}{lender}")


def _nothing_found(result: RecipientSearch, where: str) -> None:
    if len(result.text) < MIN_FRAGMENT:
        st.info(f"Type at least {MIN_FRAGMENT} characters, or a whole address.")
        return
    st.info(f"No email to an address or person matching “{plain(result.text)}” in {where}. Check the spelling, or "
            "type less of it: part of the address or of the borrower's name is enough.")
    if "@" in result.text:
        check = check_address(result.text)
        for finding in check.findings:
            st.warning(plain(finding), icon="🔎")


def _count(n: int, noun: str, more: bool) -> str:
    return f"{'more than ' if more else ''}{n:,} {noun}{'s' if n != 1 or more else ''}"
