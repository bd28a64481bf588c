"""Altair specs for the Deliverability page. Pure: small aggregated frames in, charts out.

Dates on the x axis are UTC send days (the rollup's unit), drawn with UTC time units so the
browser's zone never shifts a day. Rates are percentages. Low-volume points are drawn hollow and
say so in the tooltip; the last point of each line carries its label (no legend hunt).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import altair as alt
import pandas as pd

from commlog import deliverability as D

LEVEL_COLORS = {"Healthy": "#e8f5e9", "Watch": "#fff8e1", "At risk": "#ffebee", "Pause risk": "#ffcdd2"}
OUTCOME_GROUPS = [  # (column, label, color) for the volume bars, bottom to top
    ("delivered", "Delivered", "#4caf50"),
    ("pending_unknown", "Pending / not checked", "#b0bec5"),
    ("bounced", "Bounced", "#d32f2f"),
    ("blocked", "Blocked", "#f57c00"),
    ("expired", "Expired", "#8e24aa"),
    ("failed", "Provider failed", "#6d4c41"),
    ("not_attempted", "Not attempted (suppressed)", "#546e7a"),
    ("failed_to_send", "Failed to send", "#212121"),
]
MEDIAN_LABEL = "Platform median"


def band_frame(thresholds: tuple[float, ...], top: float) -> pd.DataFrame:
    """Background bands: below the first threshold Healthy, then Watch, At risk, Pause risk."""
    names = ["Healthy", "Watch", "At risk", "Pause risk"]
    edges = [0.0, *thresholds, max(top, (thresholds[-1] if thresholds else 0) + 1)]
    rows = []
    for i in range(len(edges) - 1):
        if edges[i] >= top:
            break
        name = names[min(i, 3)]
        rows.append({"y0": edges[i], "y1": min(edges[i + 1], top), "level": name, "label": f"{name} ≥ {edges[i]:g} %" if i else names[0]})
    return pd.DataFrame(rows)


def _x(granularity: str, title: str = "Send date (UTC)") -> alt.X:
    unit = "utcyearmonth" if granularity == "month" else "utcyearmonthdate"
    fmt = "%b %Y" if granularity == "month" else "%d %b"
    return alt.X("period:T", timeUnit=unit, title=title, axis=alt.Axis(format=fmt, labelAngle=0))


def rate_chart(
    df: pd.DataFrame,
    *,
    metric_label: str,
    granularity: str,
    thresholds: tuple[float, ...] = (),
    select_period: bool = True,
    height: int = 300,
) -> alt.LayerChart:
    """Lines of `rate` per `series` over `period`, the platform median dashed, threshold bands behind.

    df columns: period (ISO date), series, rate (percent or None), n_of_d, note, low_volume (bool).
    """
    data = df.copy()
    max_rate = float(data["rate"].max()) if data["rate"].notna().any() else 0.0
    top = max(max_rate * 1.2, (thresholds[0] * 1.6) if thresholds else 1.0, 0.5)
    y = alt.Y("rate:Q", title=f"{metric_label} (%)", scale=alt.Scale(domain=[0, round(top, 2)], clamp=True))
    layers: list[alt.Chart] = []
    if thresholds:
        bands = band_frame(thresholds, top)
        layers.append(
            alt.Chart(bands)
            .mark_rect(opacity=0.6)
            .encode(
                y=alt.Y("y0:Q", scale=alt.Scale(domain=[0, round(top, 2)])),
                y2="y1:Q",
                color=alt.Color("level:N", scale=alt.Scale(domain=list(LEVEL_COLORS), range=list(LEVEL_COLORS.values())), legend=None),
                tooltip=[alt.Tooltip("label:N", title="Band")],
            )
        )
        layers.append(
            alt.Chart(bands[bands["y0"] > 0])
            .mark_text(align="left", baseline="bottom", dx=3, dy=-1, fontSize=10, color="#9e9e9e")
            .encode(y="y0:Q", x=alt.value(0), text="label:N")
        )
    is_median = data["series"] == MEDIAN_LABEL
    tooltip = [
        alt.Tooltip("series:N", title="Series"),
        alt.Tooltip("period:T", timeUnit="utcyearmonthdate", title="Period from (UTC)"),
        alt.Tooltip("rate:Q", title=metric_label + " %", format=".2f"),
        alt.Tooltip("n_of_d:N", title="Messages"),
        alt.Tooltip("note:N", title="Note"),
    ]
    color = alt.Color("series:N", legend=None, scale=alt.Scale(scheme="tableau10"))
    lines = data[~is_median]
    base = alt.Chart(lines).encode(x=_x(granularity), y=y, color=color)
    layers.append(base.mark_line(strokeWidth=2))
    points = base.mark_point(size=45, filled=True).encode(
        opacity=alt.condition("datum.low_volume", alt.value(0.25), alt.value(1.0)),
        shape=alt.condition("datum.provisional", alt.value("diamond"), alt.value("circle")),
        tooltip=tooltip,
    )
    if select_period:
        points = points.add_params(alt.selection_point(name="pick", fields=["period", "series"], on="click", clear="dblclick"))
    layers.append(points)
    if is_median.any():
        med = data[is_median]
        layers.append(
            alt.Chart(med).mark_line(strokeDash=[5, 4], color="#616161", strokeWidth=1.5).encode(x=_x(granularity), y=y, tooltip=tooltip)
        )
    # Direct labels at the last point of each line: the lender above, the median below.
    last = data.dropna(subset=["rate"]).sort_values("period").groupby("series", as_index=False).tail(1)
    for is_med, dy in ((False, -10), (True, 12)):
        part = last[(last["series"] == MEDIAN_LABEL) == is_med]
        if not part.empty:
            layers.append(
                alt.Chart(part)
                .mark_text(align="right", dx=-4, dy=dy, fontSize=11, fontWeight="bold", **({"color": "#616161"} if is_med else {}))
                .encode(x=_x(granularity), y=y, text="series:N", **({} if is_med else {"color": color}))
            )
    return alt.layer(*layers).properties(height=height).resolve_scale(color="independent")


def volume_chart(df: pd.DataFrame, *, granularity: str, height: int = 260) -> alt.Chart:
    """Stacked bars of messages per period by outcome. df columns: period, outcome, label, count, order."""
    groups = OUTCOME_GROUPS
    n_periods = max(1, df["period"].nunique()) if not df.empty else 1
    return (
        alt.Chart(df)
        .mark_bar(width=max(2, min(40, int(560 / n_periods))))
        .encode(
            x=_x(granularity),
            y=alt.Y("count:Q", title="Messages", stack="zero"),
            color=alt.Color(
                "label:N",
                title=None,
                scale=alt.Scale(domain=[g[1] for g in groups], range=[g[2] for g in groups]),
                legend=alt.Legend(orient="right", symbolType="square", labelLimit=220),
            ),
            order=alt.Order("order:Q"),
            tooltip=[
                alt.Tooltip("period:T", timeUnit="utcyearmonthdate", title="Period from (UTC)"),
                alt.Tooltip("label:N", title="Outcome"),
                alt.Tooltip("count:Q", title="Messages", format=","),
            ],
        )
        .properties(height=height)
    )


def heatmap(df: pd.DataFrame, *, metric_label: str, darkest: float) -> alt.LayerChart:
    """Lender × provider family, a cell darkest at `darkest` % (or the highest rate, if above).
    df columns: lender, family, rate, n_of_d, low_volume, label."""
    top = max(float(df["rate"].max() or 0) if df["rate"].notna().any() else 0, darkest)
    base = alt.Chart(df).encode(
        x=alt.X("family:N", title="Mailbox provider", axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("lender:N", title=None, axis=alt.Axis(labelLimit=240)),
    )
    cells = base.mark_rect(stroke="white", strokeWidth=2).encode(
        color=alt.condition(
            "datum.low_volume",
            alt.value("#eeeeee"),
            alt.Color("rate:Q", title=f"{metric_label} %", scale=alt.Scale(scheme="orangered", domain=[0, top]), legend=None),
        ),
        tooltip=[
            alt.Tooltip("lender:N", title="Lender"),
            alt.Tooltip("family:N", title="Provider"),
            alt.Tooltip("rate:Q", title=metric_label + " %", format=".2f"),
            alt.Tooltip("n_of_d:N", title="Messages"),
        ],
    )
    text = base.mark_text(fontSize=12).encode(
        text="label:N",
        color=alt.condition(f"datum.rate > {top * 0.55} && !datum.low_volume", alt.value("white"), alt.value("#212121")),
    )
    rows = max(1, df["lender"].nunique())
    return alt.layer(cells, text).properties(height=min(44 * rows + 30, 600))


def small_multiples(df: pd.DataFrame, *, metric_label: str, granularity: str, thresholds: tuple[float, ...] = (), columns: int = 4) -> alt.FacetChart:
    """One small rate chart per lender (ops). df as rate_chart, series = lender name."""
    max_rate = float(df["rate"].max()) if df["rate"].notna().any() else 0.0
    top = max(max_rate * 1.1, (thresholds[0] * 1.6) if thresholds else 1.0)
    y = alt.Y("rate:Q", title=f"{metric_label} (%)", scale=alt.Scale(domain=[0, round(top, 2)], clamp=True))
    line = alt.Chart().mark_line(color="#1f77b4").encode(x=_x(granularity, title=None), y=y)
    pts = alt.Chart().mark_point(filled=True, size=20, color="#1f77b4").encode(
        x=_x(granularity, title=None),
        y=y,
        opacity=alt.condition("datum.low_volume", alt.value(0.2), alt.value(1.0)),
        tooltip=[alt.Tooltip("series:N", title="Lender"), alt.Tooltip("rate:Q", format=".2f", title=metric_label + " %"),
                 alt.Tooltip("n_of_d:N", title="Messages"), alt.Tooltip("note:N", title="Note")],
    )
    layers = [line, pts]
    for t in thresholds:
        if t <= top:
            layers.insert(0, alt.Chart().mark_rule(strokeDash=[3, 3], color="#e57373", opacity=0.6).encode(y=alt.datum(t)))
    return (
        alt.layer(*layers, data=df)
        .properties(width=180, height=110)
        .facet(facet=alt.Facet("series:N", title=None, header=alt.Header(labelFontWeight="bold")), columns=columns)
        .resolve_scale(y="shared")
    )


def breakdown_bars(df: pd.DataFrame, *, metric_label: str, category_title: str) -> alt.Chart:
    """Horizontal bars of a rate per category. df columns: category, rate, n_of_d, low_volume, label."""
    base = alt.Chart(df).encode(
        y=alt.Y("category:N", title=category_title, sort="-x"),
        x=alt.X("rate:Q", title=f"{metric_label} (%)"),
    )
    bars = base.mark_bar().encode(
        color=alt.condition("datum.low_volume", alt.value("#cfd8dc"), alt.value("#ef6c00")),
        tooltip=[alt.Tooltip("category:N", title=category_title), alt.Tooltip("rate:Q", format=".2f", title=metric_label + " %"),
                 alt.Tooltip("n_of_d:N", title="Messages")],
    )
    text = base.mark_text(align="left", dx=4, fontSize=11).encode(text="label:N")
    return alt.layer(bars, text).properties(height=max(60, 28 * max(1, len(df))))


def picked_period(event: Any) -> date | None:
    """The period of the point clicked in rate_chart (its "pick" selection), if any."""
    picked = (event.selection.get("pick") if event and event.selection else None) or []
    if not picked:
        return None
    raw = picked[0].get("period")
    if isinstance(raw, (int, float)):  # Vega-Lite sends a temporal field as epoch milliseconds
        return datetime.fromtimestamp(raw / 1000, UTC).date()
    return date.fromisoformat(str(raw)[:10])


# --- frames from commlog.deliverability results (small: periods × series) ---------------------


def _note(rate: D.Rate, provisional: bool = False) -> str:
    notes = []
    if rate.low_volume:
        notes.append(f"low volume (under {rate.min_volume:,} attempted)")
    if provisional:
        notes.append("provisional: last 72 h, may still change")
    return "; ".join(notes) or "–"


def series_frame(named: dict[str, list[D.PeriodPoint]], metric: str, min_volume: int, benchmark: D.Benchmark | None = None) -> pd.DataFrame:
    """Rows for rate_chart / small_multiples. Per-period volume gating uses min_volume as well."""
    rows = []
    for name, points in named.items():
        for p in points:
            r = p.counts.rate(metric, min_volume)
            rows.append({"period": p.period.isoformat(), "series": name, "rate": r.value, "n_of_d": r.n_of_d,
                         "low_volume": r.low_volume, "provisional": p.provisional, "note": _note(r, p.provisional)})
    if benchmark is not None:
        for period, value in benchmark.values.items():
            rows.append({"period": period.isoformat(), "series": MEDIAN_LABEL, "rate": value,
                         "n_of_d": f"median of {benchmark.lenders[period]} lenders" if value is not None else "too few lenders",
                         "low_volume": False, "provisional": False, "note": "anonymous benchmark"})
    return pd.DataFrame(rows, columns=["period", "series", "rate", "n_of_d", "low_volume", "provisional", "note"])


def volume_frame(points: list[D.PeriodPoint]) -> pd.DataFrame:
    rows = []
    for p in points:
        c = p.counts
        values = {
            "delivered": c.delivered, "pending_unknown": c.pending + c.unknown, "bounced": c.bounced, "blocked": c.blocked,
            "expired": c.expired, "failed": c.failed, "not_attempted": c.not_attempted, "failed_to_send": c.failed_to_send,
        }
        for order, (col, label, _) in enumerate(OUTCOME_GROUPS):
            if values.get(col):
                rows.append({"period": p.period.isoformat(), "outcome": col, "label": label, "count": values[col], "order": order})
    return pd.DataFrame(rows, columns=["period", "outcome", "label", "count", "order"])


def heatmap_frame(matrix: dict[tuple[int, str], D.Counts], names: dict[int, str], metric: str, min_volume: int) -> pd.DataFrame:
    rows = []
    for (lid, fam), c in sorted(matrix.items(), key=lambda kv: (names.get(kv[0][0], ""), kv[0][1])):
        if lid not in names:
            continue
        r = c.rate(metric, min_volume)
        rows.append({"lender": names[lid], "family": D.FAMILY_LABEL.get(fam, fam), "rate": r.value,
                     "n_of_d": r.n_of_d, "low_volume": r.low_volume,
                     "label": ("low" if r.low_volume else D.pct(r.value)) if r.d else "–"})
    return pd.DataFrame(rows, columns=["lender", "family", "rate", "n_of_d", "low_volume", "label"])


def breakdown_frame(items: list[tuple[str, D.Counts]], metric: str, min_volume: int, labels: dict | None = None) -> pd.DataFrame:
    rows = []
    for key, c in items:
        r = c.rate(metric, min_volume)
        if not r.d:
            continue
        rows.append({"category": (labels or {}).get(key, key), "rate": r.value, "n_of_d": r.n_of_d, "low_volume": r.low_volume,
                     "label": f"{D.pct(r.value)} ({r.n_of_d})" + (" · low volume" if r.low_volume else "")})
    return pd.DataFrame(rows, columns=["category", "rate", "n_of_d", "low_volume", "label"])
