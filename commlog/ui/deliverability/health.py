"""Health in the period: one card per lender, most severe first, each with its verdict explained
(commlog.deliverability.health gives the verdict, the worst of the lender's findings below)."""

from __future__ import annotations

import streamlit as st

from commlog import deliverability as D
from commlog.ui.deliverability.controls import Chosen
from commlog.ui.deliverability.findings import LEVEL_BADGE

CARDS_PER_ROW = 3  # wide enough for the explanation at 800 px


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
    grid = st.columns(min(CARDS_PER_ROW, len(cards)))
    for i, h in enumerate(cards):
        with grid[i % len(grid)]:
            _card(h, report, q.min_volume)


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
