"""The rates of the whole range, one tile each, with the platform median beside them, and how much
of the mail has a known outcome."""

from __future__ import annotations

import streamlit as st

from commlog import deliverability as D
from commlog.ui.deliverability import reads
from commlog.ui.deliverability.controls import Chosen

TILES = ("bounce", "block", "defer", "failures", "delivery")
BENCHMARKED = ("bounce", "block", "defer", "failures")  # shown with the platform median


def render_headline(chosen: Chosen, summary: D.Counts) -> None:
    medians = {m: median for m, (median, _) in reads.window_medians(chosen.reader, chosen.q, BENCHMARKED).items()}
    for column, metric in zip(st.columns(len(TILES)), TILES, strict=True):
        with column:
            _tile(metric, summary.rate(metric, chosen.q.min_volume), medians.get(metric))
    st.caption(
        f"{summary.coverage_text()} Not attempted by the provider (suppressed): {summary.rate('not_attempted').n_of_d} send requests · "
        f"failed to send from our servers: {summary.rate('failed_to_send').n_of_d}."
    )


def _tile(metric: str, rate: D.Rate, median: float | None) -> None:
    # Under the minimum volume a rate is not graded: no figure in the tile (Streamlit's long dash), a
    # grey "low volume" flag under it, the rate in the line below. (The words as the value were cut to
    # "low …" in a fifth of 800 px.)
    flag = {"delta": D.LOW_VOLUME_RATE, "delta_color": "gray", "delta_arrow": "off"} if rate.low_volume else {}
    st.metric(D.METRICS[metric], None if rate.low_volume else D.pct(rate.value), help=D.METRIC_HELP[metric], border=True,
              **flag)
    line = f"{rate.n_of_d} attempted"
    if rate.low_volume:
        line += f": under the minimum of {rate.min_volume:,} · {D.pct(rate.value)}"
    if median is not None:
        line += f" · platform median {D.pct(median)}"
    st.caption(line)
