"""Deliverability's chart specs as the browser gets them (`chart.to_dict()`): the lender × provider
heatmap readable for one lender as for many, its text contrasting with its cell, and every chart's
meaning kept without colour (dashes, shapes, words)."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from commlog import deliverability as D
from commlog.ui.deliverability import charts

FAMILIES = ("Apple", "Google", "Microsoft", "Other", "Yahoo/AOL")


def heat_rows(lenders: list[str], microsoft: float = 6.3) -> pd.DataFrame:
    rows = []
    for lender in lenders:
        for fam in FAMILIES:
            rate = microsoft if fam == "Microsoft" else 0.0 if fam == "Apple" else 0.4
            rows.append({"lender": lender, "family": fam, "rate": rate, "n_of_d": "3 of 700", "low_volume": fam == "Yahoo/AOL",
                         "label": D.pct(rate), "verdict": "Healthy"})
    return pd.DataFrame(rows)


def layers(spec: dict) -> list[dict]:
    return spec["layer"] if "layer" in spec else spec["spec"]["layer"]


def mark(layer: dict) -> dict:
    m = layer["mark"]
    return m if isinstance(m, dict) else {"type": m}


# --- colour arithmetic of the test's own (WCAG 2.x), not the module's ---------------------------


def _hex(c: str) -> tuple[int, int, int]:
    c = c.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def _lum(rgb) -> float:
    ch = [(v / 255) / 12.92 if v / 255 <= 0.04045 else (((v / 255) + 0.055) / 1.055) ** 2.4 for v in rgb]
    return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2]


def _ratio(a, b) -> float:
    hi, lo = sorted((_lum(a), _lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _cell_colour(scale: dict, rate: float) -> tuple[float, ...]:
    """What Vega draws for `rate` with a piecewise-linear RGB colour scale (clamped)."""
    assert scale.get("interpolate") == "rgb" and len(scale["domain"]) == len(scale["range"])
    dom, rng = scale["domain"], [_hex(c) for c in scale["range"]]
    rate = min(max(rate, dom[0]), dom[-1])
    for i in range(len(dom) - 1):
        if dom[i] <= rate <= dom[i + 1]:
            t = (rate - dom[i]) / (dom[i + 1] - dom[i])
            return tuple(a + (b - a) * t for a, b in zip(rng[i], rng[i + 1], strict=True))
    raise AssertionError(rate)


def _ink(condition: dict, rate: float) -> str:
    """Evaluate the text layer's colour condition for a graded cell of `rate`."""
    test = condition["condition"]["test"]
    assert "!datum.low_volume" in test
    cut = float(re.search(r"datum\.rate >= ([\d.]+)", test).group(1))
    return condition["condition"]["value"] if rate >= cut else condition["value"]


# --- the heatmap -------------------------------------------------------------------------------


@pytest.mark.parametrize("n_lenders", [1, 2, 12])
def test_every_lender_row_is_at_least_40_px_tall_one_lender_as_many(n_lenders):
    spec = charts.heatmap(heat_rows([f"Lender {i}" for i in range(n_lenders)]), metric_label="Block", darkest=10.0).to_dict()
    assert spec["height"] >= 40 * n_lenders
    # The height is the cells' own: axis labels and the title come on top, not out of it (the
    # cause of the 0.25 px rows: Streamlit's default autosize "fit" squeezed everything into 74 px).
    assert spec["autosize"]["type"] == "fit-x"


@pytest.mark.parametrize("darkest", [10.0, 6.0, 2.0])
def test_cell_text_contrasts_4_5_to_1_with_the_darkest_the_lightest_and_every_cell_between(darkest):
    spec = charts.heatmap(heat_rows(["Northwind Lending"]), metric_label="Block", darkest=darkest).to_dict()
    cells, *texts = layers(spec)
    scale = cells["encoding"]["color"]["scale"]
    assert scale["clamp"] is True
    for text in texts:
        ink = text["encoding"]["color"]
        for rate in [0.0, darkest, darkest * 3] + [darkest * k / 50 for k in range(51)]:
            cell = _cell_colour(scale, rate)
            assert _ratio(cell, _hex(_ink(ink, rate))) >= 4.5, (rate, cell, _ink(ink, rate))
        assert _ink(ink, 0.0) != _ink(ink, darkest)  # dark text on the lightest cell, light on the darkest
        low_volume = _hex(cells["encoding"]["color"]["condition"]["value"])
        assert _ratio(low_volume, _hex(ink["value"])) >= 4.5  # a grey low-volume cell keeps the dark text


def test_each_cell_prints_its_value_with_its_unit_and_its_verdict_in_words():
    chart = charts.heatmap(heat_rows(["Northwind Lending"]), metric_label="Block", darkest=10.0)
    spec = chart.to_dict()
    _, value, verdict = layers(spec)
    assert value["encoding"]["text"]["field"] == "label" and verdict["encoding"]["text"]["field"] == "verdict"
    assert "darker" in spec["title"]["text"]  # the title says what the colours mean
    rows = {r["family"]: r for r in spec["datasets"][spec["data"]["name"]]}
    assert rows["Microsoft"]["label"] == "6.3 %" and rows["Microsoft"]["verdict"] == "Healthy"


def test_heatmap_frame_grades_each_cell_with_the_one_rule_and_names_the_rate_behind_it():
    matrix = {
        (1, "microsoft"): D.Counts(delivered=930, blocked=70),  # 7 % blocked: all failures At risk
        (1, "google"): D.Counts(delivered=995, blocked=5),
        (1, "apple"): D.Counts(delivered=40, blocked=1),  # under 100 attempted
    }
    frame = charts.heatmap_frame(matrix, {1: "Northwind Lending"}, "block", 100, D.DEFAULT_BANDS)
    cells = {r.family: r for r in frame.itertuples()}
    ms = cells[D.FAMILY_LABEL["microsoft"]]
    assert (ms.label, ms.verdict) == ("7.0 %", "At risk (block)")
    assert cells[D.FAMILY_LABEL["google"]].verdict == "Healthy"
    assert cells[D.FAMILY_LABEL["apple"]].verdict == "low volume" and cells[D.FAMILY_LABEL["apple"]].low_volume


# --- the rate charts -----------------------------------------------------------------------------


def series_rows(with_median: bool = True) -> pd.DataFrame:
    rows = []
    for i, day in enumerate(("2026-11-02", "2026-11-09", "2026-11-16")):
        rows.append({"period": day, "series": "Northwind Lending", "rate": 1.0 + 3 * i, "n_of_d": "x", "low_volume": False,
                     "provisional": i == 2, "note": "–"})
        if with_median:
            rows.append({"period": day, "series": charts.MEDIAN_LABEL, "rate": 0.3, "n_of_d": "median", "low_volume": False,
                         "provisional": False, "note": "anonymous benchmark"})
    return pd.DataFrame(rows)


def test_rate_lines_differ_by_dash_and_point_shape_not_only_by_colour():
    spec = charts.rate_chart(series_rows(), metric_label="Bounce rate", granularity="week", thresholds=(2.0, 5.0, 10.0)).to_dict()
    line = next(x for x in layers(spec) if mark(x)["type"] == "line")
    dash = line["encoding"]["strokeDash"]
    assert dash["field"] == "series"
    dashes = dict(zip(dash["scale"]["domain"], dash["scale"]["range"], strict=True))
    assert dashes["Northwind Lending"] != dashes[charts.MEDIAN_LABEL]
    shapes = []
    for x in layers(spec):
        if mark(x)["type"] == "point":
            shape = x["encoding"]["shape"]
            shapes.append(shape.get("value") or shape["condition"]["value"] + "|" + shape["value"])
    assert len(shapes) == 2 and len(set(shapes)) == 2  # the lender's round points, the median's squares
    labels = [x for x in layers(spec) if mark(x)["type"] == "text" and x["encoding"]["text"].get("field") == "tag"]
    named = {row["tag"] for x in labels for row in spec["datasets"][x["data"]["name"]]}
    assert named == {"Northwind Lending", "Platform median (dashed)"}  # each line named at its end, the median's dash in words


def test_every_threshold_is_a_rule_with_its_words():
    spec = charts.rate_chart(series_rows(), metric_label="Bounce rate", granularity="week", thresholds=(2.0, 5.0, 10.0)).to_dict()
    rules = [x for x in layers(spec) if mark(x)["type"] == "rule"]
    assert rules and all(x["encoding"]["y"]["field"] == "y0" for x in rules)
    texts = [x for x in layers(spec) if mark(x)["type"] == "text" and x["encoding"]["text"].get("field") == "label"]
    words = {row["label"] for row in spec["datasets"][texts[0]["data"]["name"]]}
    assert {"Watch from 2 %", "At risk from 5 %"} <= words


def test_small_multiples_label_their_threshold_rules():
    df = series_rows(with_median=False)
    spec = charts.small_multiples(df, metric_label="Bounce", granularity="week", thresholds=(2.0, 5.0)).to_dict()
    inner = layers(spec)
    assert sum(mark(x)["type"] == "rule" for x in inner) == 2
    assert {x["encoding"]["text"]["value"] for x in inner if mark(x)["type"] == "text"} == {"Watch 2 %", "At risk 5 %"}


# --- drawn without the schema check on every run ---------------------------------------------------


def every_kind_of_chart() -> dict[str, object]:
    """One chart of each kind the page draws, from small frames."""
    bars = pd.DataFrame([{"category": "Borrowers", "rate": 0.2, "n_of_d": "19 of 10,377", "low_volume": False, "label": "0.2 %"},
                         {"category": "Lender staff", "rate": 0.0, "n_of_d": "0 of 359", "low_volume": True, "label": "0.0 %"}])
    volume = pd.DataFrame([{"period": "2026-11-02", "outcome": "delivered", "label": "Delivered", "count": 90, "order": 0},
                           {"period": "2026-11-02", "outcome": "bounced", "label": "Bounced", "count": 3, "order": 2}])
    return {
        "rate": charts.rate_chart(series_rows(), metric_label="Bounce rate", granularity="week", thresholds=(2.0, 5.0)),
        "volume": charts.volume_chart(volume, granularity="week"),
        "small multiples": charts.small_multiples(series_rows(with_median=False), metric_label="Bounce", granularity="week",
                                                  thresholds=(2.0, 5.0)),
        "heatmap": charts.heatmap(heat_rows(["Northwind Lending", "Tailspin Credit"]), metric_label="Block", darkest=10.0),
        "breakdown bars": charts.breakdown_bars(bars, metric_label="Bounce", category_title="Audience"),
    }


def _same_names(spec: dict) -> str:
    """The spec as text, with the view names Altair numbers on each conversion made alike."""
    return re.sub(r"view_\w+?_\d+", "view", json.dumps(spec, sort_keys=True))


@pytest.mark.parametrize("kind", list(every_kind_of_chart()))
def test_every_chart_kind_is_valid_vega_lite_and_drawn_unchecked_as_the_same_spec(kind, monkeypatch):
    """The page draws its charts without Altair's check of the whole spec (`charts.unchecked`): here
    each kind passes that check, and the page's spec is the same spec, made without checking it."""
    from altair.utils import schemapi

    chart = every_kind_of_chart()[kind]
    checked = type(chart).to_dict(chart, validate=True)  # raises SchemaValidationError when invalid
    whole_specs_checked: list = []
    original = schemapi.SchemaBase.validate.__func__

    def recording(cls, instance, schema=None):
        if cls is type(chart):  # the whole chart's spec, not one part of it
            whole_specs_checked.append(instance)
        return original(cls, instance, schema)

    monkeypatch.setattr(schemapi.SchemaBase, "validate", classmethod(recording))
    type(chart).to_dict(chart, validate=True)
    assert len(whole_specs_checked) == 1  # the check Streamlit's conversion would run ...
    whole_specs_checked.clear()
    drawn = charts.unchecked(chart).to_dict()
    assert not whole_specs_checked  # ... which the page's drawing skips
    assert _same_names(drawn) == _same_names(checked)


def test_every_chart_kind_is_built_and_converted_without_altairs_schema_checks(monkeypatch):
    """A chart is built again whenever its figures change (every minute on a busy platform, and on
    each replica's first visit). Altair checks each part against the Vega-Lite schema as it is
    made, and finds the class of a shorthand string or a plain dict by trying the schema's
    alternatives: the rate chart took about 80 ms to build that way. The page builds every chart
    from typed channel objects with Altair's per-part checks off, and draws it unchecked: between
    the figures and the spec no schema check runs but Altair's own of the rate chart's click
    selection, which it makes when it lifts it to the top of the layered chart (the test above
    checks each whole spec once)."""
    from altair.utils import schemapi

    from commlog.ui.deliverability import tabs

    checks: list[str] = []
    original = schemapi.validate_jsonschema

    def recording(spec, schema, *args, **kwargs):
        checks.append(schema.get("$ref", "") if isinstance(schema, dict) else "?")
        return original(spec, schema, *args, **kwargs)

    monkeypatch.setattr(schemapi, "validate_jsonschema", recording)
    specs = {kind: tabs.altair_spec(chart) for kind, chart in every_kind_of_chart().items()}
    assert all(spec["datasets"] for spec in specs.values())  # the figures are in every spec
    assert set(checks) == {"#/definitions/SelectionParameter", "#/definitions/TopLevelSelectionParameter"}, checks
    assert len(checks) <= 4, checks


def test_breakdown_bars_leave_room_for_the_longest_bars_label():
    """The longest bar ends at half the axis at most, so its label ("0.5 % (9 of 1,858)") fits beside
    it in a half-width column at 800 px; the axis never runs past 100 %."""
    def axis_end(rates: list[float]) -> float:
        frame = pd.DataFrame([{"category": f"c{i}", "rate": r, "n_of_d": "1 of 2", "low_volume": False, "label": f"{r} %"}
                              for i, r in enumerate(rates)])
        spec = charts.unchecked(charts.breakdown_bars(frame, metric_label="Bounce", category_title="Provider")).to_dict()
        ends = {layer["encoding"]["x"]["scale"]["domain"][1] for layer in spec["layer"]}
        assert len(ends) == 1  # the bars and their labels on one axis
        return ends.pop()

    assert axis_end([0.5, 0.2, 0.1]) == 1.0
    assert axis_end([2.4, 0.5]) == 4.8
    assert axis_end([60.0, 3.0]) == 100.0
    assert axis_end([100.0]) == 100.0
    assert axis_end([0.0, 0.0]) == 0.5


def _drawn(chart, spec: dict | None, selectable: bool):
    """The chart element a page run sends the browser: `st.altair_chart(chart)`, or with `spec`,
    `st.vega_lite_chart(spec=spec)` (the page's way)."""
    from streamlit.testing.v1 import AppTest

    def page(chart, spec, selectable):
        import streamlit as st

        extra = {"on_select": "rerun", "key": "picked"} if selectable else {}
        if spec is None:
            st.altair_chart(chart, width="stretch", **extra)
        else:
            st.vega_lite_chart(spec=spec, width="stretch", **extra)

    at = AppTest.from_function(page, kwargs={"chart": chart, "spec": spec, "selectable": selectable}).run()
    assert not at.exception, [e.value for e in at.exception]
    (element,) = at.get("vega_lite_chart")
    return element.proto


@pytest.mark.parametrize(("kind", "selectable"), [*((kind, False) for kind in every_kind_of_chart()), ("rate", True)],
                         ids=[*every_kind_of_chart(), "rate, a point can be clicked"])
def test_the_spec_made_once_draws_the_same_chart_as_streamlits_altair_chart(kind, selectable):
    """The page makes each chart's spec once for the same figures (`tabs._built`, Streamlit's own
    conversion) and draws it with `st.vega_lite_chart`: the browser gets the same element as from
    `st.altair_chart` of the chart (spec, data, and for a chart a click reruns, the same id, so a
    click is the same widget's)."""
    from commlog.ui.deliverability import tabs

    altair_way = _drawn(charts.unchecked(every_kind_of_chart()[kind]), None, selectable)
    spec_way = _drawn(None, tabs.altair_spec(every_kind_of_chart()[kind]), selectable)
    assert _same_names(json.loads(spec_way.spec)) == _same_names(json.loads(altair_way.spec))
    assert [(d.name, d.data.data) for d in spec_way.datasets] == [(d.name, d.data.data) for d in altair_way.datasets]
    assert spec_way.datasets and all(d.data.data for d in spec_way.datasets)  # the figures are there, as Arrow
    assert (spec_way.id, list(spec_way.selection_mode)) == (altair_way.id, list(altair_way.selection_mode))
