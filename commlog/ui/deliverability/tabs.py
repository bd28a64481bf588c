"""The page's five tabs: health and findings (open first: what needs attention), rates over time,
lenders × providers (ops) or providers, breakdowns, and recipient domains with SMTP reasons. Every
chart grades with the bands of the chosen email type. Only the open tab is drawn, and the tabs are a
fragment: switching tabs reruns them, not the page. The two tabs with a Rate control are fragments
too: a click in one reruns that tab alone."""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Iterable
from datetime import date

import pandas as pd
import streamlit as st
from streamlit.elements.vega_charts import _convert_altair_to_vega_lite_spec

from commlog import deliverability as D
from commlog.deliverability.wording import REPLY_CLASSES_HELP
from commlog.domains import FAMILIES
from commlog.ui.boundary import fragment
from commlog.ui.choices import one_of
from commlog.ui.deliverability import charts, reads
from commlog.ui.deliverability.controls import AUDIENCES, Chosen
from commlog.ui.deliverability.drill import open_in_log
from commlog.ui.deliverability.findings import render_findings
from commlog.ui.deliverability.health import render_health

OUTCOME_WORDS = {"bounced": "bounced", "blocked": "blocked", "expired": "expired", "failed": "provider failed",
                 "not_attempted": "not attempted"}


TAB_KEY = "dlv_tab"


def tab_labels(ops: bool) -> list[str]:
    return ["Health and findings", "Rates over time", "Lenders × providers" if ops else "Providers", "Breakdowns",
            "Domains and reasons"]


@fragment
def render_tabs(chosen: Chosen, report: D.HealthReport) -> None:
    """A fragment: only the open tab is drawn (its reads made, its charts built), and switching tabs
    reruns this fragment, not the page's filters and figures above it. Health and findings open
    first: they say what needs attention, in the words and links a person acts on; the charts,
    which the browser takes longest to draw, wait for the tab that shows them."""
    labels = tab_labels(chosen.reader.principal.is_ops)
    if st.session_state.get(TAB_KEY) not in (None, *labels):
        del st.session_state[TAB_KEY]  # a remembered tab this viewer is not offered: the first one instead
    health, over_time, providers, breakdowns, domains = st.tabs(labels, key=TAB_KEY, on_change="rerun")
    with health:
        if health.open:
            render_health(chosen, report)
            render_findings(chosen, report.findings)
    with over_time:
        if over_time.open:
            render_rates_over_time(chosen)
    with providers:
        if providers.open:
            render_providers(chosen, report)
    with breakdowns:
        if breakdowns.open:
            render_breakdowns(chosen)
    with domains:
        if domains.open:
            left, right = st.columns(2)
            with left:
                render_bouncing_domains(chosen)
            with right:
                render_reasons(chosen)


def _frame_key(frame: pd.DataFrame) -> bytes:
    """A chart's figures as a cache key: the frame pickled (0.1 ms for the rate chart's, where
    Streamlit's own hashing of a frame took 2.4 ms, paid by every run that drew a chart). Equal
    bytes are an equal frame; an equal frame pickled otherwise only builds its chart again."""
    return pickle.dumps(frame, protocol=5)


@st.cache_data(max_entries=256, show_spinner=False, hash_funcs={pd.DataFrame: _frame_key})
def _built(kind: str, frame: pd.DataFrame, **options) -> dict:
    """The Vega-Lite spec of the chart `charts.<kind>` makes of `frame` with `options`, as Streamlit
    sends it to the browser (its data as Arrow), made once for the same figures. Building the rate
    chart and turning it into this spec takes about 20 ms since the charts are built without
    Altair's schema work (commlog.ui.deliverability.charts; 90 ms and 45 ms more before), paid again
    whenever the figures change; without this cache it was paid by every run that drew the chart:
    each visit to Deliverability, switching the Rate back, another tab and back. The cache is
    keyed by the figures themselves (so it hands a spec only to a run that has those figures
    anyway) and gives each run its own copy."""
    return altair_spec(getattr(charts, kind)(frame, **options))


def altair_spec(chart) -> dict:
    """What `st.altair_chart(chart)` draws, as a spec `st.vega_lite_chart` draws the same: Streamlit's
    own conversion (its theme defaults, the data as Arrow datasets named by their content), without
    Altair's whole-spec check (`charts.unchecked`). tests/unit/test_deliverability_charts.py checks
    both draw the same element."""
    return _convert_altair_to_vega_lite_spec(charts.unchecked(chart))


def warm_up_charts() -> None:
    """Build and convert the rate tab's two charts once, from one made-up period, when the server
    starts: Altair's first chart in a process also loads code lazily (narwhals' pandas support) and
    fills its schema caches, about 0.3 s that the first visitor of Deliverability used to wait for."""
    point = D.PeriodPoint(date(2026, 1, 5), date(2026, 1, 11), D.Counts(delivered=99, bounced=1), False, False)
    frame = charts.series_frame({"warm-up": [point]}, "bounce", 100)
    altair_spec(charts.rate_chart(frame, metric_label="Bounce rate", granularity="week", thresholds=(2.0, 5.0)))
    altair_spec(charts.volume_chart(charts.volume_frame([point]), granularity="week"))


def _draw(kind: str, frame: pd.DataFrame, options: dict, **kwargs):
    """The chart `charts.<kind>` makes of `frame`, drawn from its spec made once (`_built`)."""
    return st.vega_lite_chart(spec=_built(kind, frame, **options), **kwargs)


def _rate_choice(key: str, options: tuple[str, ...], default: str) -> str:
    """A tab's Rate control. Its choice outlives the runs that do not draw its tab, so coming back
    to a tab shows the Rate left there, and a click on the chosen Rate keeps it (`one_of`)."""
    return one_of("Rate", {m: D.METRIC_SHORT[m] for m in options}, key=key, default=default)


@fragment
def render_rates_over_time(chosen: Chosen) -> None:
    """A fragment: switching its Rate or clicking a point reruns this tab alone, not the page."""
    r, q = chosen.reader, chosen.q
    metric = _rate_choice("dlv_metric", tuple(D.METRIC_SHORT), "bounce")
    label, thresholds = D.METRIC_SHORT[metric], chosen.bands.thresholds(metric)
    points = reads.series(r, q, chosen.today)
    bench = reads.platform_median(r, q, metric)
    frame = charts.series_frame({chosen.lender_name: points}, metric, q.min_volume, bench)
    event = _draw("rate_chart", frame, {"metric_label": label + " rate", "granularity": q.granularity, "thresholds": thresholds},
                  width="stretch", on_select="rerun", key="dlv_rate_chart")
    st.caption(
        f"Dashed: platform median (per period, over lenders with at least {D.BENCHMARK_MIN_ATTEMPTED} attempted; shown only when "
        f"{bench.min_lenders} or more lenders qualify). Faded points: under {q.min_volume:,} attempted. Click a point to open that period in the log."
    )
    start = charts.picked_period(event)
    if start is not None:
        end = D.period_end(start, q.granularity)
        if q.lender_id is None:
            st.info("Choose a lender above to open its messages for this period in the log (the log shows one lender at a time).")
        else:
            open_in_log(D.log_link(q.lender_id, start, end, metric, email_type=q.email_type, audience=q.audience),
                        f"Open {label.lower()} messages from {start:%d %b} to {end:%d %b} in the log")
    _draw("volume_chart", charts.volume_frame(points), {"granularity": q.granularity}, width="stretch")
    if chosen.reader.principal.is_ops and q.lender_id is None and len(chosen.names) > 1:
        st.markdown(f"**{label} rate per lender**")
        per_lender = reads.lender_series(r, q, chosen.today)
        named = {chosen.names[lid]: pts for lid, pts in sorted(per_lender.items(), key=lambda kv: chosen.names.get(kv[0], ""))
                 if lid in chosen.names}
        _draw("small_multiples", charts.series_frame(named, metric, q.min_volume),
              {"metric_label": label, "granularity": q.granularity, "thresholds": thresholds}, width="content")


@fragment
def render_providers(chosen: Chosen, report: D.HealthReport) -> None:
    """A fragment: switching its Rate or picking a lender in the comparison reruns this tab alone."""
    metric = _rate_choice("dlv_hm_metric", ("block", "bounce", "defer", "failures"), "block")
    hm = charts.heatmap_frame(reads.family_matrix(chosen.reader, chosen.q), chosen.names, metric, chosen.q.min_volume, chosen.bands)
    if hm.empty:
        st.info("No messages for this selection.")
    else:
        darkest = chosen.bands.darkest(metric)
        _draw("heatmap", hm, {"metric_label": D.METRIC_SHORT[metric], "darkest": darkest}, width="stretch")
        st.caption(
            f"Each cell: the {D.METRIC_SHORT[metric].lower()} rate of that mail and, under it, its health graded on all its rates with "
            "the health cards' bands (Healthy, Watch, At risk; in brackets the rate behind it). "
            f"The darker the cell, the higher the rate: white at 0 %, darkest red at {darkest:g} % or more. "
            f"Grey cells, \"{D.LOW_VOLUME_RATE}\": under {chosen.q.min_volume:,} attempted in the period (not graded). "
            "Microsoft = consumer Outlook, Hotmail, Live, MSN; Microsoft 365 and Google Workspace tenants are in Other."
        )
    if chosen.reader.principal.is_ops:
        render_lender_comparison(chosen, report)


def _comparison_rows(chosen: Chosen, report: D.HealthReport) -> pd.DataFrame:
    health = {h.lender_id: h.level for h in report.lenders}
    rows = [
        {
            "id": lid, "Lender": chosen.names[lid], "Health": health.get(lid, "–"), "Attempted": c.attempted,
            "Bounce %": c.rate("bounce").value, "Bounced": c.bounced, "Block %": c.rate("block").value, "Blocked": c.blocked,
            "Defer %": c.rate("defer").value, "All failures %": c.rate("failures").value, "Outcome known %": c.rate("coverage").value,
            "Not attempted": c.not_attempted, "Failed to send": c.failed_to_send,
            "Volume": D.LOW_VOLUME_RATE if c.is_low_volume(chosen.q.min_volume) else "",
        }
        for lid, c in reads.breakdown(chosen.reader, chosen.q, "lender") if lid in chosen.names
    ]
    return pd.DataFrame(rows)


def _rows_key(name: str, rows: Iterable) -> str:
    """The key of a table whose rows are picked by position: another when its rows are others or in
    another order (the figures are read again every minute), so a row picked before never turns into
    another row's link."""
    return f"{name}_{hashlib.blake2b(repr(tuple(rows)).encode(), digest_size=6).hexdigest()}"


def render_lender_comparison(chosen: Chosen, report: D.HealthReport) -> None:
    st.markdown("**Lender comparison** · click a column header to sort; select a row to open its failures in the log")
    table = _comparison_rows(chosen, report)
    if table.empty:
        return
    styled = table.drop(columns=["id"]).style.apply(
        lambda row: ["color: #9e9e9e" if row["Volume"] else "" for _ in row], axis=1
    ).format(dict.fromkeys(("Bounce %", "Block %", "Defer %", "All failures %", "Outcome known %"), "{:.2f}"), na_rep="–")
    event = st.dataframe(styled, hide_index=True, on_select="rerun", selection_mode="single-row",
                         key=_rows_key("dlv_lender_table", table["id"]),
                         column_config={"Attempted": st.column_config.NumberColumn(format="localized")})
    picked = event.selection.rows if event and event.selection else []
    if picked:
        lid, q = int(table.iloc[picked[0]]["id"]), chosen.q
        for column, (metric, words) in zip(st.columns(3), (("bounce", "bounces"), ("block", "blocks"), ("defer", "deferrals")), strict=True):
            with column:
                open_in_log(D.log_link(lid, q.start, q.end, metric, email_type=q.email_type, audience=q.audience),
                            f"{chosen.names[lid]}: {words}")


def render_breakdowns(chosen: Chosen) -> None:
    r, q = chosen.reader, chosen.q
    metric = _rate_choice("dlv_bd_metric", ("bounce", "block", "defer", "failures"), "bounce")
    label = D.METRIC_SHORT[metric]
    counts = reads.breakdowns(r, q, ("provider_family", "audience", "email_type"))
    left, right = st.columns(2)
    with left:
        families = {f: D.FAMILY_LABEL[f] for f in FAMILIES}
        by_family = charts.breakdown_frame(counts["provider_family"], metric, q.min_volume, families)
        _bars("By mailbox provider", "Provider", by_family, label)
        audiences = {k: v for k, v in AUDIENCES.items() if k is not None}
        _bars("By audience", "Audience", charts.breakdown_frame(counts["audience"], metric, q.min_volume, audiences), label)
    with right:
        types = charts.breakdown_frame(counts["email_type"], metric, q.min_volume, None)
        types["category"] = types["category"].str.replace("_", " ")
        _bars("By email type", "Email type", types, label)
        confirmations = D.bands_for("account_confirmation")
        st.caption("Account confirmations go to addresses nobody has verified yet, so they bounce more: their bands are "
                   f"{confirmations.bounce_watch:g} / {confirmations.bounce_at_risk:g} % when that email type is selected.")


def _bars(title: str, category: str, frame: pd.DataFrame, metric_label: str) -> None:
    st.markdown(f"**{title}**")
    if not frame.empty:
        _draw("breakdown_bars", frame, {"metric_label": metric_label, "category_title": category}, width="stretch")


def render_bouncing_domains(chosen: Chosen) -> None:
    q = chosen.q
    st.markdown("**Top bouncing recipient domains**")
    domains = reads.top_bouncing_domains(chosen.reader, q, 10)
    if q.email_type:
        st.caption("All email types (domains are not split by email type).")
    if not domains:
        st.info("No permanent bounces in this period.")
        return
    table = pd.DataFrame([{
        "Domain": d.domain, "Provider": D.FAMILY_SHORT.get(d.provider_family, d.provider_family), "Bounced": d.bounced,
        "Bounce %": d.rate(q.min_volume).value, "Attempted": d.attempted, "Blocked": d.blocked, "Most common reply": d.top_code or "–",
    } for d in domains])
    event = st.dataframe(table, hide_index=True, on_select="rerun", selection_mode="single-row",
                         key=_rows_key("dlv_domains", (q.lender_id, *(d.domain for d in domains))),
                         column_config={"Bounce %": st.column_config.NumberColumn(format="%.2f")})
    picked = event.selection.rows if event and event.selection else []
    if not picked:
        st.caption("Select a row to open its bounces in the log. Typo domains (gmial.com) mean addresses to correct.")
    elif q.lender_id is None:
        st.info("Choose a lender above to open these messages in the log.")
    else:
        d = domains[picked[0]]
        open_in_log(D.log_link(q.lender_id, q.start, q.end, "bounce", domain=d.domain, audience=q.audience),
                    f"Open bounces to {d.domain} in the log")


def render_reasons(chosen: Chosen) -> None:
    st.markdown("**Why messages failed: SMTP reason classes**")
    classes = reads.reason_classes(chosen.reader, chosen.q)
    if not classes:
        st.info("No failures in this period.")
        return
    st.dataframe(pd.DataFrame([{
        "Reason class": c.reason_class, "Messages": c.count,
        "Outcomes": ", ".join(f"{OUTCOME_WORDS.get(k, k)} {v:,}" for k, v in sorted(c.by_outcome.items(), key=lambda kv: -kv[1])),
        "Most common replies": ", ".join(f"{code} ({n:,})" for code, n in c.top_codes) or "–",
    } for c in classes]), hide_index=True)
    st.caption(REPLY_CLASSES_HELP)
