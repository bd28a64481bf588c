"""Findings in the chosen range: the platform patterns first (ops), each with the lenders behind
it, then every other finding, each with a link to its messages in the log."""

from __future__ import annotations

import streamlit as st

from commlog import deliverability as D
from commlog.ui.deliverability.controls import Chosen
from commlog.ui.deliverability.drill import open_in_log

LEVEL_BADGE = {D.AT_RISK: ("At risk", "red"), D.WATCH: ("Watch", "orange"), D.HEALTHY: ("Healthy", "green"),
               D.LOW_VOLUME: ("Insufficient volume", "gray")}
SHOWN = 10  # findings shown as cards; the rest in one list below them


def render_findings(chosen: Chosen, found: list[D.Finding]) -> None:
    q, bands = chosen.q, chosen.bands
    st.subheader("Findings in this period")
    if not found:
        st.success(f"No lender or mailbox provider crossed a threshold in any {D.RECENT_DAYS}-day window between {q.start:%d %b} "
                   f"and {q.end:%d %b} (bounce {bands.bounce_watch:g} %, all failures {bands.failures_watch:g} %; at least "
                   f"{q.min_volume:,} attempted).")
    in_patterns = set()
    for sentence, members in D.platform_patterns(found, chosen.reader.principal):
        st.warning(sentence, icon=":material/hub:")
        with st.expander(f"The {len(members)} lenders behind it"):
            _cards_then_list(chosen, members)
        in_patterns |= {id(f) for f in members}
    rest = [f for f in found if id(f) not in in_patterns]
    for f in rest[:SHOWN]:
        _card(chosen, f)
    if len(rest) > SHOWN:
        with st.expander(f"{len(rest) - SHOWN} more findings"):
            _listed(rest[SHOWN:])


def _cards_then_list(chosen: Chosen, found: list[D.Finding]) -> None:
    """The first SHOWN findings as cards, the rest listed in one block: an expander's content is
    drawn while it is shut, so a pattern of hundreds of lenders must not be hundreds of cards."""
    for f in found[:SHOWN]:
        _card(chosen, f)
    if len(found) > SHOWN:
        _listed(found[SHOWN:])


def _listed(found: list[D.Finding]) -> None:
    st.markdown("\n".join(f"- **{f.level}** · {f.sentence}" for f in found))


def _card(chosen: Chosen, f: D.Finding) -> None:
    label, color = LEVEL_BADGE[f.level]
    with st.container(border=True):
        sentence, link = st.columns([5, 2], vertical_alignment="center")
        with sentence:
            st.badge(label, color=color)
            st.markdown(f.sentence)
        with link:
            open_in_log(f.log_params(chosen.q.email_type, chosen.q.audience), "Open them in the log")
            st.caption(f.log_sentence)
