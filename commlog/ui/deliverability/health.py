"""Health now: one card per lender, most severe first, with the mailbox providers of concern."""

from __future__ import annotations

import streamlit as st

from commlog import deliverability as D
from commlog.ui.deliverability.controls import Chosen
from commlog.ui.deliverability.findings import LEVEL_BADGE

CARDS_PER_ROW = 4


def render_health(chosen: Chosen, report: D.HealthReport) -> None:
    b = chosen.bands
    st.subheader(f"Health on {report.as_of:%d %b %Y}")
    st.caption(f"Last {D.RECENT_DAYS} send days ({report.recent_start:%d %b}–{report.as_of:%d %b}) against the {D.BASELINE_DAYS} before. "
               f"Bounce: Watch from {b.bounce_watch:g} %, At risk from {b.bounce_at_risk:g} % ({b.bounce_severe:g} %: sending pause risk). "
               f"All failures: Watch from {b.failures_watch:g} %, At risk from {b.failures_at_risk:g} %. "
               f"Deferrals: Watch from {b.defer_watch:g} %.")
    cards = report.lenders_by_severity()
    if not cards:
        st.info(f"No mail in the last {D.RECENT_DAYS} days of the range.")
    grid = st.columns(min(CARDS_PER_ROW, max(1, len(cards))))
    for i, h in enumerate(cards):
        with grid[i % len(grid)]:
            _card(h, report.concerning_families(h.lender_id), chosen.q.min_volume)


def _card(h: D.Health, families: list[D.Health], min_volume: int) -> None:
    label, color = LEVEL_BADGE[h.level]
    with st.container(border=True):
        st.markdown(f"**{h.lender_name}**")
        st.badge(label, color=color)
        st.caption(f"Bounce {h.recent.rate('bounce', min_volume).text()}  \nAll failures {h.recent.rate('failures', min_volume).text()}")
        if families:
            st.caption("Providers: " + ", ".join(f"{D.FAMILY_SHORT[x.provider_family]} {x.level.lower()} ({x.why})" for x in families))
