"""Altair specs for the Deliverability page. Pure: small aggregated frames in, charts out.

Dates on the x axis are UTC send days (the rollup's unit), drawn with UTC time units so the
browser's zone never shifts a day. Rates are percentages. Low-volume points are drawn hollow and
say so in the tooltip; the last point of each line carries its label (no legend hunt).
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime
from typing import Any

import altair as alt
import pandas as pd
from altair.utils.schemapi import disable_debug_mode

from commlog import deliverability as D

# Altair checks each part of a chart against the Vega-Lite schema as the part is made ("debug mode",
# for clearer tracebacks while a chart is being written): about 30 ms of the rate chart for new
# figures. These charts are fixed code whose whole specs the tests check against the schema
# (tests/unit/test_deliverability_charts.py), and they are this process's only Altair charts.
disable_debug_mode()

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


BAND_NAMES = ("Healthy", "Watch", "At risk", "Pause risk")
LINE_DASH = {"lender": [1, 0], "median": [6, 4]}  # solid for a lender, dashed for the platform median
MEDIAN_COLOR = "#616161"
LABEL_INK = "#424242"  # threshold labels: 9:1 on white, above 7:1 on the palest band
SERIES_COLORS = ("#4c78a8", "#b85c00", "#54a24b", "#b279a2", "#9d755d")  # each ≥ 4.5:1 on white (direct labels)


def band_frame(thresholds: tuple[float, ...], top: float) -> pd.DataFrame:
    """Background bands: below the first threshold Healthy, then Watch, At risk, Pause risk. Each
    band above Healthy is labelled in words where it starts ("At risk from 5 %")."""
    edges = [0.0, *thresholds, max(top, (thresholds[-1] if thresholds else 0) + 1)]
    rows = []
    for i in range(len(edges) - 1):
        if edges[i] >= top:
            break
        name = BAND_NAMES[min(i, 3)]
        rows.append({"y0": edges[i], "y1": min(edges[i + 1], top), "level": name,
                     "label": f"{name} from {edges[i]:g} %" if i else f"{name} below {edges[1]:g} %" if len(edges) > 2 else name})
    return pd.DataFrame(rows)


def _when(channel: type, test: str, then: Any, *, otherwise: Any) -> Any:
    """`channel` (a value channel: alt.OpacityValue, alt.ColorValue, …) that is `then` where the Vega
    expression `test` holds and `otherwise` elsewhere: the spec `alt.condition(test, alt.value(then),
    alt.value(otherwise))` gives. Every encoding here is such a typed channel object, never a
    shorthand string or a plain dict, which Altair would turn into one by trying the schema's
    alternatives: about 3 ms a channel, 8 ms a condition, so that building the rate chart for new
    figures took about 80 ms (tests/unit/test_deliverability_charts.py checks none is left)."""
    return channel(otherwise, condition={"test": test, "value": then})


def _threshold_layers(bands: pd.DataFrame, y_scale: alt.Scale) -> list[alt.Chart]:
    """A dashed rule at each threshold with its words ("Watch from 2 %"): the bands read without colour.
    Guides are kept out of the accessibility tree (aria=False): Vega would draw each as an SVG image
    without a name (axe-core: svg-img-alt)."""
    edges = bands[bands["y0"] > 0]
    if edges.empty:
        return []
    rule = alt.Chart(edges).mark_rule(strokeDash=[2, 3], color=LABEL_INK, strokeWidth=1, aria=False).encode(y=alt.Y("y0:Q", scale=y_scale))
    text = (
        alt.Chart(edges)
        .mark_text(align="left", baseline="bottom", dx=3, dy=-2, fontSize=11, color=LABEL_INK, aria=False)
        .encode(y=alt.Y("y0:Q", scale=y_scale), x=alt.XValue(0), text=alt.Text("label:N"))
    )
    return [rule, text]


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
    """Lines of `rate` per `series` over `period`, threshold bands behind. Meaning never rests on
    colour alone: a lender's line is solid with round points, the platform median dashed with
    square points, each line is named at its end, and each threshold is a labelled dashed rule.

    df columns: period (ISO date), series, rate (percent or None), n_of_d, note, low_volume (bool).
    """
    data = df.copy()
    max_rate = float(data["rate"].max()) if data["rate"].notna().any() else 0.0
    top = max(max_rate * 1.2, (thresholds[0] * 1.6) if thresholds else 1.0, 0.5)
    y_scale = alt.Scale(domain=[0, round(top, 2)], clamp=True)
    y = alt.Y("rate:Q", title=f"{metric_label} (%)", scale=y_scale)
    layers: list[alt.Chart] = []
    if thresholds:
        bands = band_frame(thresholds, top)
        layers.append(
            alt.Chart(bands)
            .mark_rect(opacity=0.6, aria=False)  # the bands: guides, named by the labelled rules
            .encode(
                y=alt.Y("y0:Q", scale=alt.Scale(domain=[0, round(top, 2)])),
                y2=alt.Y2("y1:Q"),
                color=alt.Color("level:N", scale=alt.Scale(domain=list(LEVEL_COLORS), range=list(LEVEL_COLORS.values())), legend=None),
                tooltip=[alt.Tooltip("label:N", title="Band")],
            )
        )
        layers += _threshold_layers(bands, y_scale)
    is_median = data["series"] == MEDIAN_LABEL
    tooltip = [
        alt.Tooltip("series:N", title="Series"),
        alt.Tooltip("period:T", timeUnit="utcyearmonthdate", title="Period from (UTC)"),
        alt.Tooltip("rate:Q", title=metric_label + " %", format=".2f"),
        alt.Tooltip("n_of_d:N", title="Messages"),
        alt.Tooltip("note:N", title="Note"),
    ]
    lenders = sorted(set(data.loc[~is_median, "series"]))
    names = [*lenders, *([MEDIAN_LABEL] if is_median.any() else [])]
    colors = [SERIES_COLORS[i % len(SERIES_COLORS)] for i in range(len(lenders))] + ([MEDIAN_COLOR] if is_median.any() else [])
    color = alt.Color("series:N", legend=None, scale=alt.Scale(domain=names or [MEDIAN_LABEL], range=colors or [MEDIAN_COLOR]))
    dash = alt.StrokeDash("series:N", legend=None, scale=alt.Scale(
        domain=names or [MEDIAN_LABEL], range=[LINE_DASH["median" if n == MEDIAN_LABEL else "lender"] for n in names] or [LINE_DASH["median"]]))
    layers.append(
        alt.Chart(data).mark_line().encode(
            x=_x(granularity), y=y, color=color, strokeDash=dash,
            strokeWidth=_when(alt.StrokeWidthValue, f"datum.series === {MEDIAN_LABEL!r}", 1.5, otherwise=2.5),
        )
    )
    base = alt.Chart(data[~is_median]).encode(x=_x(granularity), y=y, color=color)
    points = base.mark_point(size=50, filled=True).encode(
        opacity=_when(alt.OpacityValue, "datum.low_volume", 0.25, otherwise=1.0),
        shape=_when(alt.ShapeValue, "datum.provisional", "diamond", otherwise="circle"),
        tooltip=tooltip,
    )
    if select_period:
        points = points.add_params(alt.selection_point(name="pick", fields=["period", "series"], on="click", clear="dblclick"))
    layers.append(points)
    if is_median.any():
        layers.append(
            # aria=False: a period without a median (fewer lenders) leaves a point with no description,
            # which axe-core reports as an unnamed image; the median stays in the tooltips and its label.
            alt.Chart(data[is_median]).mark_point(size=22, filled=True, color=MEDIAN_COLOR, aria=False)
            .encode(x=_x(granularity), y=y, shape=alt.ShapeValue("square"), tooltip=tooltip)
        )
    # Direct labels at the last point of each line: the lender above, the median below (above the
    # lender's label when the median ends near zero, so it never sits on the axis labels).
    last = data.dropna(subset=["rate"]).sort_values("period").groupby("series", as_index=False).tail(1)
    median_last = last.loc[last["series"] == MEDIAN_LABEL, "rate"]
    median_dy = 12 if not median_last.empty and float(median_last.iloc[0]) > top * 0.12 else -24
    for is_med, dy in ((False, -10), (True, median_dy)):
        part = last[(last["series"] == MEDIAN_LABEL) == is_med].assign(
            tag=lambda f: f["series"].where(f["series"] != MEDIAN_LABEL, MEDIAN_LABEL + " (dashed)"))
        if not part.empty:
            layers.append(
                alt.Chart(part)
                .mark_text(align="right", dx=-4, dy=dy, fontSize=11, fontWeight="bold", aria=False)  # the lines' names, as text
                .encode(x=_x(granularity), y=y, text=alt.Text("tag:N"),
                        color=alt.Color("series:N", legend=None, scale=alt.Scale(domain=names, range=colors)))
            )
    return alt.LayerChart(layer=layers, height=height, resolve=alt.Resolve(scale=alt.ScaleResolveMap(color="independent")))


def volume_chart(df: pd.DataFrame, *, granularity: str, height: int = 260) -> alt.Chart:
    """Stacked bars of messages per period by outcome. df columns: period, outcome, label, count, order."""
    groups = OUTCOME_GROUPS
    n_periods = max(1, df["period"].nunique()) if not df.empty else 1
    return (
        alt.Chart(df, height=height)
        .mark_bar(width=max(2, min(40, int(560 / n_periods))))
        .encode(
            x=_x(granularity),
            y=alt.Y("count:Q", title="Messages", stack="zero"),
            color=alt.Color(
                "label:N",
                title=None,
                # The legend lists the outcomes top to bottom as the bars stack them (in greyscale, by place).
                scale=alt.Scale(domain=[g[1] for g in reversed(groups)], range=[g[2] for g in reversed(groups)]),
                legend=alt.Legend(orient="right", symbolType="square", labelLimit=220),
            ),
            order=alt.Order("order:Q"),
            tooltip=[
                alt.Tooltip("period:T", timeUnit="utcyearmonthdate", title="Period from (UTC)"),
                alt.Tooltip("label:N", title="Outcome"),
                alt.Tooltip("count:Q", title="Messages", format=","),
            ],
        )
    )


HEAT_RAMP = ("#fff7ec", "#fc8d59", "#7f0000")  # light to dark, evenly over [0, darkest]; lightness falls all the way
HEAT_LOW_VOLUME = "#eeeeee"
INK_DARK, INK_LIGHT = "#000000", "#ffffff"  # one of the two reaches 4.5:1 against any colour (WCAG AA)
HEAT_ROW_PX = 44  # each lender's row, whether there is one lender or twenty: room for the value and its verdict


def _rgb(hex_colour: str) -> tuple[float, float, float]:
    h = hex_colour.lstrip("#")
    return tuple(int(h[i:i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]


def heat_colour(rate: float, top: float) -> tuple[float, float, float]:
    """The cell colour heatmap() draws for `rate` (0..top, clamped): the ramp's stops evenly over
    [0, top], interpolated in RGB as its scale says (interpolate "rgb")."""
    stops = [_rgb(c) for c in HEAT_RAMP]
    x = min(max(rate / top, 0.0), 1.0) * (len(stops) - 1) if top > 0 else 0.0
    i = min(int(x), len(stops) - 2)
    t = x - i
    return tuple(a + (b - a) * t for a, b in zip(stops[i], stops[i + 1], strict=True))  # type: ignore[return-value]


def luminance(rgb: tuple[float, float, float]) -> float:
    """WCAG relative luminance of an sRGB colour (channels 0..255)."""
    def lin(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (lin(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    """WCAG contrast ratio of two colours (1 to 21)."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def light_ink_from(top: float) -> float:
    """The lowest rate from which light text contrasts more with its cell than dark text does (the
    ramp darkens all the way, so above it light text wins; the better of the two is always ≥ 4.58:1)."""
    dark, light = _rgb(INK_DARK), _rgb(INK_LIGHT)
    steps = 400
    for k in range(steps + 1):
        rate = top * k / steps
        cell = heat_colour(rate, top)
        if contrast(cell, light) > contrast(cell, dark):
            return round(rate, 4)
    return round(top * 2, 4)  # never (a ramp that stays light)


def heatmap(df: pd.DataFrame, *, metric_label: str, darkest: float) -> alt.LayerChart:
    """Lender × provider family, a cell darkest at `darkest` % and above.
    Every lender gets a row HEAT_ROW_PX tall (one lender as well as twenty) and every cell says its
    value with its unit and its verdict in words, in dark or light ink, whichever contrasts with the
    cell: it reads in greyscale too. df columns: lender, family, rate, n_of_d, low_volume, label, verdict."""
    top = darkest if darkest > 0 else max(float(df["rate"].max() or 0) if df["rate"].notna().any() else 0, 1.0)
    mids = [top * i / (len(HEAT_RAMP) - 1) for i in range(len(HEAT_RAMP))]
    base = alt.Chart(df).encode(
        x=alt.X("family:N", title=None, axis=alt.Axis(labelAngle=0, orient="top", labelFontSize=12, labelColor="#31333f",
                                                      ticks=False, domain=False, labelPadding=6)),
        y=alt.Y("lender:N", title=None, axis=alt.Axis(labelLimit=200, labelFontSize=12, labelColor="#31333f", ticks=False, domain=False)),
    )
    cells = base.mark_rect(stroke="white", strokeWidth=2).encode(
        color=alt.Color("rate:Q", title=f"{metric_label} %", legend=None,
                        scale=alt.Scale(domain=mids, range=list(HEAT_RAMP), interpolate="rgb", clamp=True, nice=False, zero=False),
                        condition={"test": "datum.low_volume", "value": HEAT_LOW_VOLUME}),
        tooltip=[
            alt.Tooltip("lender:N", title="Lender"),
            alt.Tooltip("family:N", title="Provider"),
            alt.Tooltip("rate:Q", title=metric_label + " %", format=".2f"),
            alt.Tooltip("n_of_d:N", title="Messages"),
            alt.Tooltip("verdict:N", title="Health of this mail"),
        ],
    )
    ink = _when(alt.ColorValue, f"!datum.low_volume && datum.rate >= {light_ink_from(top)}", INK_LIGHT, otherwise=INK_DARK)
    value = base.mark_text(fontSize=13, fontWeight="bold", baseline="middle", dy=-8).encode(text=alt.Text("label:N"), color=ink)
    verdict = base.mark_text(fontSize=11, baseline="middle", dy=9).encode(text=alt.Text("verdict:N"), color=ink)
    rows = max(1, df["lender"].nunique())
    return (
        alt.LayerChart(layer=[cells, value, verdict], height=HEAT_ROW_PX * rows,
                       autosize=alt.AutoSizeParams(type="fit-x", contains="padding"),
                       title=alt.TitleParams(f"{metric_label} rate by mailbox provider: the darker the cell, the higher the rate",
                                             anchor="start", fontSize=13, fontWeight="normal", color="#31333f"))
    )


def small_multiples(df: pd.DataFrame, *, metric_label: str, granularity: str, thresholds: tuple[float, ...] = (), columns: int = 3) -> alt.FacetChart:
    """One small rate chart per lender (ops). df as rate_chart, series = lender name."""
    max_rate = float(df["rate"].max()) if df["rate"].notna().any() else 0.0
    top = max(max_rate * 1.1, (thresholds[0] * 1.6) if thresholds else 1.0)
    y = alt.Y("rate:Q", title=f"{metric_label} (%)", scale=alt.Scale(domain=[0, round(top, 2)], clamp=True))
    line = alt.Chart().mark_line(color="#1f77b4").encode(x=_x(granularity, title=None), y=y)
    pts = alt.Chart().mark_point(filled=True, size=20, color="#1f77b4").encode(
        x=_x(granularity, title=None),
        y=y,
        opacity=_when(alt.OpacityValue, "datum.low_volume", 0.2, otherwise=1.0),
        tooltip=[alt.Tooltip("series:N", title="Lender"), alt.Tooltip("rate:Q", format=".2f", title=metric_label + " %"),
                 alt.Tooltip("n_of_d:N", title="Messages"), alt.Tooltip("note:N", title="Note")],
    )
    layers = [line, pts]
    for i, t in enumerate(thresholds):
        if t <= top:  # a labelled dashed rule per threshold: it reads without colour
            name = BAND_NAMES[min(i + 1, 3)]
            # Guides, not data: aria=False keeps them out of the accessibility tree, where Vega would
            # draw them as SVG images without a name (axe-core: svg-img-alt); the label is visible text.
            layers[:0] = [
                alt.Chart().mark_rule(strokeDash=[2, 3], color=LABEL_INK, strokeWidth=1, aria=False).encode(y=alt.YDatum(t)),
                alt.Chart().mark_text(align="left", baseline="bottom", dx=2, dy=-1, fontSize=10, color=LABEL_INK, aria=False)
                .encode(y=alt.YDatum(t), x=alt.XValue(0), text=alt.TextValue(f"{name} {t:g} %")),
            ]
    return (
        alt.LayerChart(layer=layers, data=df, width=190, height=110)  # three across fit 800 px
        .facet(facet=alt.Facet("series:N", title=None, header=alt.Header(labelFontWeight="bold")), columns=columns,
               resolve=alt.Resolve(scale=alt.ScaleResolveMap(y="shared")))
    )


BAR_ROW_PX = 28  # one category's bar with its label


BAR_LABEL_ROOM = 2.0  # the x axis of breakdown_bars runs to this many times the highest rate ...


def bar_axis_end(top: float) -> float:
    """... but never past 100 % (nor short of the highest rate, nor under 0.5 % for an all-zero chart)."""
    return max(min(top * BAR_LABEL_ROOM, 100.0), top, 0.5)


def breakdown_bars(df: pd.DataFrame, *, metric_label: str, category_title: str) -> alt.Chart:
    """Horizontal bars of a rate per category. df columns: category, rate, n_of_d, low_volume, label."""
    # The longest bar ends at half the width (or less), so its label ("0.5 % (9 of 1,858)") fits beside
    # it in a half-width column at 800 px instead of running past the chart's edge.
    top = float(df["rate"].max()) if df["rate"].notna().any() else 0.0
    base = alt.Chart(df).encode(
        y=alt.Y("category:N", title=category_title, sort="-x"),
        x=alt.X("rate:Q", title=f"{metric_label} (%)", scale=alt.Scale(domain=[0, bar_axis_end(top)])),
    )
    bars = base.mark_bar().encode(
        color=_when(alt.ColorValue, "datum.low_volume", "#cfd8dc", otherwise="#ef6c00"),
        tooltip=[alt.Tooltip("category:N", title=category_title), alt.Tooltip("rate:Q", format=".2f", title=metric_label + " %"),
                 alt.Tooltip("n_of_d:N", title="Messages")],
    )
    text = base.mark_text(align="left", dx=4, fontSize=11).encode(text=alt.Text("label:N"))
    # fit-x: the height is the bars' own, the axis below it added (Streamlit's "stretch" otherwise fits
    # the axis into the height too, and two categories' bars were squeezed to a line).
    return alt.LayerChart(layer=[bars, text], height=BAR_ROW_PX * max(2, len(df)),
                          autosize=alt.AutoSizeParams(type="fit-x", contains="padding"))


def unchecked(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """`chart`, whose Vega-Lite spec (`to_dict()`, as Streamlit asks for it) skips Altair's schema
    validation, for this one chart object: the check cost more than building the charts, about
    0.2 s of each Deliverability run. The spec is the same (tests/unit/test_deliverability_charts.py
    checks every chart kind against the schema, and that this skips only the check)."""
    object.__setattr__(chart, "to_dict", functools.partial(type(chart).to_dict, chart, validate=False))
    return chart


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
        notes.append(f"{D.LOW_VOLUME_RATE} (under {rate.min_volume:,} attempted)")
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


def _verdict(level: str, driver: str) -> str:
    """A cell's verdict in words, with the rate that drives it: "At risk (bounce)", "Healthy", "low volume"."""
    if level == D.LOW_VOLUME:
        return D.LOW_VOLUME_RATE
    return f"{level} ({D.METRIC_SHORT.get(driver, driver).lower()})" if driver else level


def heatmap_frame(matrix: dict[tuple[int, str], D.Counts], names: dict[int, str], metric: str, min_volume: int,
                  bands: D.Bands = D.DEFAULT_BANDS) -> pd.DataFrame:
    """Rows for heatmap(): the rate as the page writes it (with its unit) and the cell's verdict,
    graded by the one rule (D.level_of) with `bands`, naming the rate behind a Watch or At risk;
    "low volume" where it is not graded."""
    rows = []
    for (lid, fam), c in sorted(matrix.items(), key=lambda kv: (names.get(kv[0][0], ""), kv[0][1])):
        if lid not in names:
            continue
        r = c.rate(metric, min_volume)
        level, driver = D.level_of(c, bands, min_volume)
        rows.append({"lender": names[lid], "family": D.FAMILY_LABEL.get(fam, fam), "rate": r.value,
                     "n_of_d": r.n_of_d, "low_volume": r.low_volume,
                     "label": D.pct(r.value) if r.d else "–",
                     "verdict": _verdict(level, driver) if r.d else "no mail"})
    return pd.DataFrame(rows, columns=["lender", "family", "rate", "n_of_d", "low_volume", "label", "verdict"])


def breakdown_frame(items: list[tuple[str, D.Counts]], metric: str, min_volume: int, labels: dict | None = None) -> pd.DataFrame:
    rows = []
    for key, c in items:
        r = c.rate(metric, min_volume)
        if not r.d:
            continue
        rows.append({"category": (labels or {}).get(key, key), "rate": r.value, "n_of_d": r.n_of_d, "low_volume": r.low_volume,
                     "label": f"{D.pct(r.value)} ({r.n_of_d})" + (f" · {D.LOW_VOLUME_RATE}" if r.low_volume else "")})
    return pd.DataFrame(rows, columns=["category", "rate", "n_of_d", "low_volume", "label"])
