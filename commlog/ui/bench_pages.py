"""The pages `bench --only browser` measures the framework on (served only with
COMMLOG_BENCH_FLOOR_PAGE=1, never in the product).

- /floor, **the framework floor**: a page that does what every page does and nothing else: the
  login check, the menu bar and the error boundary (`guarded`), one button that reruns it. Its rerun
  time, measured on the same servers in the same run, is what an interaction of a real page is
  compared with.
- /floor-grid and /floor-charts, **the framework's own cost** of the interactions a rerun of one
  button does not have: a row's Open button in Streamlit's grid opening a dialog, as the log's rows
  open their emails (the grid holds the log's 50 rows × its Open button and 8 columns of text, the
  dialog a few lines); the grid's next page (Streamlit's pagination under it, 50 other rows drawn
  in it, as the log's page turn and a filter's new rows); and opening a page that draws two
  Vega-Lite charts of Deliverability's size (a month of two lines with points over bands, a month
  of bars stacked eight high), each from a link on the other. No commlog code beyond the login
  check and the menu: no database read, no Altair; what they take is Streamlit's and the browser's.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import streamlit as st

from commlog.ui.page import guarded

GRID_ROWS = 50
GRID_PAGES = 20
GRID_TITLE, CHARTS_TITLE = "Framework: a grid", "Framework: two charts"
_GEN = "bench_grid_gen"  # a new grid (no tick) after its dialog is closed
OPEN_KEY = "bench_grid_open"  # the grid's Open buttons
PAGE_KEY = "bench_grid_page"  # its pagination


def floor_page() -> None:
    with guarded():
        st.title("Floor")
        runs = st.session_state["floor_runs"] = st.session_state.get("floor_runs", 0) + 1
        st.button("Run again", key="floor_again")
        st.caption(f"Runs of this page: {runs}")


def grid_page() -> None:
    with guarded():
        st.title(GRID_TITLE)
        st.page_link(_charts_page(), label=CHARTS_TITLE)
        _grid()


def grid_rows(page: int = 1) -> pd.DataFrame:
    """The log's page `page`: 50 rows of its Open button and eight columns of text, each cell as
    long as the log's, every page's rows their own."""
    ids = range((page - 1) * GRID_ROWS, page * GRID_ROWS)
    return pd.DataFrame({
        "Open": ["Open"] * GRID_ROWS,
        "Sent": [f"2026-11-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}" for i in ids],
        "To": [f"borrower.{i:05d}@example-mailbox.example" for i in ids],
        "Delivery status": ["NOT_DELIVERED" if i % 3 else "DELIVERED" for i in ids],
        "Subject": [f"Your statement for loan {1000 + i} is ready to view" for i in ids],
        "Reason": ["550 5.1.1 The email account that you tried to reach does not exist" if i % 3 else ""
                   for i in ids],
        "Status": ["SENT"] * GRID_ROWS,
        "Last event": ["BOUNCE" if i % 3 else "DELIVERED" for i in ids],
        "Email type": ["Notice"] * GRID_ROWS,
    })


@st.fragment
def _grid() -> None:
    """A row's Open button opens it in a dialog (ticking selects, as in the log); closing the
    dialog draws a new grid; the pagination under it turns its page."""
    rows = grid_rows(st.session_state.get(PAGE_KEY) or 1)
    st.dataframe(rows, key=f"bench_grid_{st.session_state.get(_GEN, 0)}", on_select="rerun",
                 selection_mode="multi-row", hide_index=True, height=15 * 35 + 38,
                 column_config={"Open": st.column_config.ButtonColumn("", key=OPEN_KEY, width=72, pinned=True)})
    click = st.session_state.get(OPEN_KEY)
    if click is not None:
        row = rows.iloc[click["row"]]

        def body() -> None:
            for column, value in row.items():
                st.markdown(f"**{column}**: {value or '—'}")

        st.dialog("Row", width="large", on_dismiss=_untick)(body)()
    st.pagination(GRID_PAGES, key=PAGE_KEY)


def _untick() -> None:
    st.session_state[_GEN] = st.session_state.get(_GEN, 0) + 1


def charts_page() -> None:
    with guarded():
        st.title(CHARTS_TITLE)
        st.page_link(_grid_page(), label=GRID_TITLE)
        lines, bars = chart_frames()
        st.vega_lite_chart(lines, LINES_SPEC, width="stretch")
        st.vega_lite_chart(bars, BARS_SPEC, width="stretch")


def chart_frames(days: int = 31) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A month of two series' rates, and of eight outcomes' counts a day."""
    start = date(2026, 11, 1)
    periods = [(start + timedelta(days=i)).isoformat() for i in range(days)]
    lines = pd.DataFrame([{"period": p, "series": s, "rate": round(0.5 + ((i * 7 + k * 3) % 11) / 5, 2)}
                          for i, p in enumerate(periods) for k, s in enumerate(("A lender", "Platform median"))])
    bars = pd.DataFrame([{"period": p, "outcome": f"Outcome {k}", "count": 40 + (i * 13 + k * 29) % 300}
                         for i, p in enumerate(periods) for k in range(8)])
    return lines, bars


_X = {"field": "period", "type": "temporal", "timeUnit": "utcyearmonthdate", "title": "Send date (UTC)"}
LINES_SPEC = {
    "height": 300,
    "layer": [
        {"data": {"values": [{"y0": 0, "y1": 2}, {"y0": 2, "y1": 3.5}]},
         "mark": {"type": "rect", "opacity": 0.3}, "encoding": {"y": {"field": "y0", "type": "quantitative"},
                                                                "y2": {"field": "y1"}}},
        {"mark": "line", "encoding": {"x": _X, "y": {"field": "rate", "type": "quantitative"},
                                      "color": {"field": "series", "type": "nominal"}}},
        {"mark": {"type": "point", "filled": True},
         "encoding": {"x": _X, "y": {"field": "rate", "type": "quantitative"}, "color": {"field": "series", "type": "nominal"},
                      "tooltip": [{"field": "series"}, {"field": "rate"}]}},
    ],
}
BARS_SPEC = {
    "height": 260,
    "mark": "bar",
    "encoding": {"x": _X, "y": {"field": "count", "type": "quantitative", "stack": "zero"},
                 "color": {"field": "outcome", "type": "nominal"}, "tooltip": [{"field": "outcome"}, {"field": "count"}]},
}


def pages() -> list[st.Page]:
    """The three pages for st.navigation (made in a script run: Streamlit's pages need one)."""
    return [st.Page(floor_page, title="Floor", url_path="floor", visibility="hidden"), _grid_page(), _charts_page()]


def _grid_page() -> st.Page:
    return st.Page(grid_page, title=GRID_TITLE, url_path="floor-grid", visibility="hidden")


def _charts_page() -> st.Page:
    return st.Page(charts_page, title=CHARTS_TITLE, url_path="floor-charts", visibility="hidden")
