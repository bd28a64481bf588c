"""The pages `bench --only browser` measures the framework on: /floor (the login check like every
page, then one button that reruns it and nothing else), and the framework's own cost beside it:
/floor-grid (a bare grid whose Open button opens a bare dialog, and whose pagination turns its page)
and /floor-charts (two bare charts)."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.support.app import build_two_lenders, page_text, press_open, tick


def _floor() -> None:
    from commlog.ui.bench_pages import floor_page

    floor_page()


def _grid() -> None:
    from commlog.ui.bench_pages import grid_page

    grid_page()


def _charts() -> None:
    from commlog.ui.bench_pages import charts_page

    charts_page()


@pytest.fixture
def world(sqlite_engine, sqlite_url, monkeypatch):
    monkeypatch.setenv("COMMLOG_DATABASE_URL", sqlite_url)
    return build_two_lenders(sqlite_engine)


def _signed_in(page, world) -> AppTest:
    at = AppTest.from_function(page, default_timeout=30)
    at.session_state["commlog_user_id"] = world["users"]["admin_a"]
    return at.run()


@pytest.mark.parametrize("page", [_floor, _grid, _charts])
def test_each_bench_page_asks_for_the_login_first(world, page):
    at = AppTest.from_function(page, default_timeout=30).run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Communication Log"]  # the sign-in form, not the page
    assert [b.label for b in at.button if b.label == "Run again"] == []
    assert "Sign in" in [b.label for b in at.get("form_submit_button")]


def test_the_floor_page_reruns_and_counts(world):
    at = _signed_in(_floor, world)
    assert not at.exception
    assert "Runs of this page: 1" in page_text(at)
    at.button(key="floor_again").click().run()
    assert "Runs of this page: 2" in page_text(at)


def test_the_framework_grid_holds_a_log_page_and_opens_a_row_from_its_open_button(world):
    at = _signed_in(_grid, world)
    assert not at.exception
    grid = at.dataframe[0].value
    assert grid.shape == (50, 9)  # the log's page: 50 rows of its Open button and eight columns
    assert not at.get("dialog")
    tick(at, [3], grid="bench_grid")
    assert not at.get("dialog")  # a tick selects, as in the log
    press_open(at, 3, grid="bench_grid")
    assert not at.exception
    dialogs = at.get("dialog")
    assert len(dialogs) == 1
    assert grid["To"][3] in page_text(at)  # the clicked row, in the dialog


def test_the_framework_grid_turns_its_page_to_rows_of_its_own(world):
    from commlog.ui.bench_pages import PAGE_KEY

    at = _signed_in(_grid, world)
    first = at.dataframe[0].value
    at.session_state[PAGE_KEY] = 2  # what its pagination's Next page sets
    at.run()
    assert not at.exception
    second = at.dataframe[0].value
    assert second.shape == (50, 9)
    assert set(second["To"]).isdisjoint(first["To"])  # 50 other rows, drawn in the same grid


def test_the_framework_charts_page_draws_two_charts(world):
    at = _signed_in(_charts, world)
    assert not at.exception
    charts = at.get("vega_lite_chart")
    assert len(charts) == 2
    assert [h.value for h in at.title] == ["Framework: two charts"]
