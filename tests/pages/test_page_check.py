"""Check delivery status from the page (AppTest), against a fake SendGrid on loopback: the button,
the bulk check with its per-row results, and what the user reads when the provider refuses."""

import pytest

from commlog.providers.fake_server import FakeProvider
from tests.support.app import app, build_two_lenders, page_text


@pytest.fixture
def fake():
    with FakeProvider(auto=True) as server:
        yield server


@pytest.fixture
def world(sqlite_engine, sqlite_url, monkeypatch, fake):
    monkeypatch.setenv("COMMLOG_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("COMMLOG_PROVIDER", "sendgrid")
    monkeypatch.setenv("SENDGRID_API_KEY", fake.api_key)
    monkeypatch.setenv("COMMLOG_SENDGRID_BASE_URL", fake.url)
    return build_two_lenders(sqlite_engine)


def open_message(world, key):
    at = app(user_id=world["users"]["admin_a"]).run()
    at.switch_page("pages/message.py")
    at.query_params["id"] = str(world["ids"][key])
    return at.run()


def test_check_button_stores_and_shows_delivered(world):
    at = open_message(world, "reset_ana")
    assert "Not checked yet" in page_text(at)
    at.button(key=f"page_check_{world['ids']['reset_ana']}").click().run()
    assert not at.exception
    text = page_text(at)
    assert "### DELIVERED" in text
    assert "Checked with the provider" in text and "2 events, 2 new" in text
    assert "Last checked with the provider" in text
    assert [b.label for b in at.button if b.key and b.key.startswith("page_check")] == ["Check again"]


def test_wrong_key_says_so_and_keeps_the_last_status(world, monkeypatch):
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.wrong-key-000000000000")
    at = open_message(world, "bounce_bob")
    at.button(key=f"page_check_{world['ids']['bounce_bob']}").click().run()
    assert not at.exception
    text = page_text(at)
    assert "Last known delivery status: **NOT_DELIVERED**" in text
    assert "SG.wrong-key" not in text
    assert "### NOT_DELIVERED" in text  # the stored answer is still shown


def test_rate_limited_says_when_to_try_again(world, fake):
    fake.retry_after = 120  # longer than the page waits
    fake.set_fault("429")
    at = open_message(world, "reset_ana")
    at.button(key=f"page_check_{world['ids']['reset_ana']}").click().run()
    text = page_text(at)
    assert "rate limited" in text and "try again in" in text
    assert "Traceback" not in text and not at.exception


def test_provider_outage_is_a_clear_message_and_writes_nothing(world, fake):
    fake.set_fault("500")
    at = open_message(world, "reset_ana")
    at.button(key=f"page_check_{world['ids']['reset_ana']}").click().run()
    text = page_text(at)
    assert "could not answer" in text
    assert "Not checked yet" in text  # nothing half-written


def test_bulk_check_of_selected_rows(world):
    at = app(user_id=world["users"]["admin_a"]).run()
    at.session_state["log_table_0"] = {"selection": {"rows": [0, 1, 2], "columns": [], "cells": []}}
    at.run()
    at.button(key="bulk_check").click().run()
    assert not at.exception
    results = at.dataframe[1].value  # below the log table
    assert len(results) == 3
    assert "was never sent" in " ".join(results["Result"])  # the failed send is not asked
    assert set(results["Delivery status"]) >= {"DELIVERED"}


def test_detail_stays_on_the_checked_email_when_it_leaves_the_filter(world):
    """Filtered to 'Not checked yet', a check moves the email out of the list: the detail must keep
    showing that email (not whichever row now sits at its position)."""
    at = app(user_id=world["users"]["admin_a"], params={"delivery": "NOT_CHECKED", "range": "7d"}).run()
    rows = at.dataframe[0].value
    assert len(rows) == 1  # the failed send ("Not sent") has no delivery status either
    at = app(user_id=world["users"]["admin_a"], params={"delivery": "NOT_CHECKED", "account": str(world["ana"])}).run()
    assert list(at.dataframe[0].value["Subject"]) == ["Reset your Alpha Lending password"]
    at.session_state["log_table_0"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    at.button(key=f"log{world['ids']['reset_ana']}_check_{world['ids']['reset_ana']}").click().run()
    assert not at.exception
    text = page_text(at)
    assert "Reset your Alpha Lending password" in text and "### DELIVERED" in text
    assert "No emails match these filters" in text  # the list itself moved on
