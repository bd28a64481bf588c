"""Health in the period: a card for each of the most severe lenders, each with its verdict explained
(commlog.deliverability.health gives the verdict, the worst of the lender's findings below), and
every other lender in one table under the cards, so a platform of hundreds of lenders draws a page
of the same size as one of a few."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import streamlit as st

from commlog import deliverability as D
from commlog.deliverability.grading import SEVERITY
from commlog.ui.deliverability.controls import Chosen
from commlog.ui.deliverability.findings import LEVEL_BADGE

CARDS_PER_ROW = 3  # wide enough for the explanation at 800 px
CARDS_SHOWN = 3 * CARDS_PER_ROW  # the most severe lenders as cards; the rest in one table below them


def render_health(chosen: Chosen, report: D.HealthReport) -> None:
    b, q = chosen.bands, chosen.q
    st.subheader(f"Health, {q.start.day} {q.start:%b} – {q.end.day} {q.end:%b %Y}")
    st.caption(f"One verdict per lender for these dates: the worst {D.RECENT_DAYS}-day window in them ({report.period}), for the "
               f"lender as a whole or for one mailbox provider; the same rule as the findings below. "
               f"Bounce: Watch from {b.bounce_watch:g} %, At risk from {b.bounce_at_risk:g} % ({b.bounce_severe:g} %: sending pause risk). "
               f"All failures: Watch from {b.failures_watch:g} %, At risk from {b.failures_at_risk:g} %. "
               f"Deferrals: Watch from {b.defer_watch:g} %. At least {q.min_volume:,} attempted messages in a window to grade it.")
    cards = report.lenders_by_severity()
    if not cards:
        st.info(f"No mail in any {D.RECENT_DAYS}-day window of these dates.")
        return
    shown, rest = cards[:CARDS_SHOWN], cards[CARDS_SHOWN:]
    if len(shown) == 1:  # one lender (a lender admin's own): its card as wide as the page, no grid around it
        _card(shown[0], report, q.min_volume)
    else:
        grid = st.columns(min(CARDS_PER_ROW, len(shown)))
        for i, h in enumerate(shown):
            with grid[i % len(grid)]:
                _card(h, report, q.min_volume)
    if rest:
        _table_of_the_rest(rest, report, q.min_volume)


def _table_of_the_rest(rest: list[D.Health], report: D.HealthReport, min_volume: int) -> None:
    """Every lender past the cards, most severe first, in one table: one element however many there are."""
    levels = Counter(h.level for h in rest)
    said = ", ".join(f"{n} {level}" for level, n in sorted(levels.items(), key=lambda kv: -SEVERITY[kv[0]]))
    recent = f"last {D.RECENT_DAYS} days ({report.recent_start:%d %b}–{report.as_of:%d %b})"
    with st.expander(f"{len(rest)} more lenders: {said}"):
        st.dataframe(pd.DataFrame([{
            "Lender": h.lender_name, "Health": h.level, "Why": h.why,
            f"Bounce, {recent}": h.recent.rate("bounce", min_volume).text(),
            f"All failures, {recent}": h.recent.rate("failures", min_volume).text(),
        } for h in rest]), hide_index=True, width="stretch", key="dlv_health_rest",
            column_config={"Why": st.column_config.TextColumn(width="large")})


def _card(h: D.Health, report: D.HealthReport, min_volume: int) -> None:
    label, color = LEVEL_BADGE[h.level]
    with st.container(border=True, key=f"dlv_health_{h.lender_id}"):
        st.markdown(f"**{h.lender_name}**")
        st.badge(label, color=color)
        st.markdown(h.why)
        if h.findings > 1:
            st.caption(f"{h.findings} findings below; this is the worst.")
        st.caption(f"Last {D.RECENT_DAYS} days ({report.recent_start:%d %b}–{report.as_of:%d %b}): "
                   f"bounce {h.recent.rate('bounce', min_volume).text()}  \n"
                   f"all failures {h.recent.rate('failures', min_volume).text()}")
