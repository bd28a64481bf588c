"""/floor, the framework floor `bench --only browser` measures: the login check like every page,
then one button that reruns it and nothing else."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.support.app import build_two_lenders, page_text


def _floor() -> None:
    from commlog.ui.floor_page import floor_page

    floor_page()


@pytest.fixture
def world(sqlite_engine, sqlite_url, monkeypatch):
    monkeypatch.setenv("COMMLOG_DATABASE_URL", sqlite_url)
    return build_two_lenders(sqlite_engine)


def test_the_floor_page_asks_for_the_login_first(world):
    at = AppTest.from_function(_floor, default_timeout=30).run()
    assert not at.exception
    assert [b.label for b in at.button if b.label == "Run again"] == []
    assert "Sign in" in [b.label for b in at.get("form_submit_button")]


def test_the_floor_page_reruns_and_counts(world):
    at = AppTest.from_function(_floor, default_timeout=30)
    at.session_state["commlog_user_id"] = world["users"]["admin_a"]
    at.run()
    assert not at.exception
    assert "Runs of this page: 1" in page_text(at)
    at.button(key="floor_again").click().run()
    assert "Runs of this page: 2" in page_text(at)
