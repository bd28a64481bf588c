"""What the page reads: the lender (ops choose; a lender admin has their own), the send dates,
granularity, audience, email type and minimum volume. Also the page's notes on time and its empty
states."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import streamlit as st

from commlog import deliverability as D
from commlog.deliverability.period import (
    default_granularity,
    default_range,
    earliest_pickable,
)
from commlog.ui.choices import choose, one_of
from commlog.ui.deliverability import reads
from commlog.ui.deliverability.reads import Reader

AUDIENCES = {None: "Staff and borrowers", "borrower": "Borrowers", "staff": "Lender staff"}


@dataclass(frozen=True)
class Chosen:
    """What the controls chose, and for whom."""

    reader: Reader
    q: D.MetricsQuery
    names: dict[int, str]  # the lenders the principal may see
    today: date  # UTC

    @property
    def bands(self) -> D.Bands:
        """The bands grading uses for the chosen email type."""
        return D.bands_for(self.q.email_type)

    @property
    def options(self) -> D.AssessmentOptions:
        return D.AssessmentOptions.of(self.q, today=self.today)

    @property
    def lender_name(self) -> str:
        return "All lenders" if self.q.lender_id is None else self.names[self.q.lender_id]


def render_lender(r: Reader) -> tuple[int | None, dict[int, str]]:
    """The lender whose mail the page shows (None: every lender, ops only), and every lender's name
    the principal may see."""
    names = reads.lender_names(r)
    if r.principal.is_ops:
        lender_id = choose(st.selectbox, "Lender", {None: "All lenders", **names}, key="dlv_lender",
                           help="Platform ops see every lender; a lender admin sees only their own.")
    else:
        lender_id = r.principal.lender_id
        st.caption(f"Lender: **{names.get(lender_id, '')}** · the platform median is an anonymous benchmark over at least "
                   f"{D.BENCHMARK_MIN_LENDERS} lenders.")
    return lender_id, names


def render_filters(r: Reader, lender_id: int | None, names: dict[int, str], span: tuple[date, date], today: date) -> Chosen | None:
    """The filters; None until both ends of the date range are picked."""
    start, end = default_range(*span, today)
    with st.container(horizontal=True, key="dlv_filters"):  # wraps at 800 px instead of cutting values
        picked = st.date_input("Send dates (UTC days)", value=(start, end), min_value=earliest_pickable(span[0]),
                               max_value=today, key="dlv_dates", format="YYYY-MM-DD", width=260)
        granularity = one_of("Granularity", {g: g.capitalize() for g in D.GRANULARITIES},
                             default=default_granularity(start, end), key="dlv_gran")
        audience = choose(st.selectbox, "Audience", AUDIENCES, key="dlv_audience", width=220)
        types = {None: "All email types", **{t: t.replace("_", " ") for t in reads.email_types(r, lender_id)}}
        email_type = choose(st.selectbox, "Email type", types, key="dlv_type", width=220)
    with st.popover("Settings", icon=":material/tune:"):
        low, high = D.MIN_VOLUME_LIMITS
        min_volume = int(st.number_input("Minimum volume (attempted messages) before a rate is graded", min_value=low,
                                         max_value=high, value=D.DEFAULT_MIN_VOLUME, step=50, key="dlv_min_volume"))
        st.caption(f"Below it a rate is shown greyed and flagged \"{D.LOW_VOLUME_RATE}\", and health is \"{D.LOW_VOLUME}\".")

    if not isinstance(picked, (tuple, list)) or len(picked) != 2:
        st.info("Pick an end date as well to see the rates.")
        return None
    q = D.MetricsQuery(start=picked[0], end=picked[1], lender_id=lender_id, granularity=granularity, email_type=email_type,
                       audience=audience, min_volume=min_volume)
    return Chosen(r, q, names, today)


def render_time_note(tz: ZoneInfo) -> None:
    offset = datetime.now(tz).strftime("%z")
    st.caption(
        f"Messages count on their **UTC send date**, so late events (a bounce two days later) update the day it was sent; "
        f"the last {D.PROVISIONAL_DAYS} days are provisional (◆). Your time zone is **{tz.key}** (UTC{offset[:3]}:{offset[3:]}): "
        f"a day here runs from UTC midnight, and a link into the log carries the same UTC days, so the log counts what the "
        "figure counts. Rates use *attempted* messages (sent by our servers, minus those the provider did not attempt)."
    )


def render_no_data() -> None:
    st.info(
        "**No messages yet.** Once emails are sent (or the demo data is seeded), their delivery rates appear here. "
        "If messages exist but this stays empty, the rollups need building: `python -m commlog rebuild-rollups`."
    )


def render_nothing_sent(q: D.MetricsQuery) -> None:
    st.info(f"**Nothing was sent between {q.start:%d %b %Y} and {q.end:%d %b %Y}** with these filters. Widen the dates or clear a filter.")
