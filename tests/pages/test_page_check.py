"""Check delivery status from the page (AppTest), against a fake SendGrid on loopback: the button,
the bulk check with its per-row results, and what the user reads when the provider refuses."""

import pytest

from tests.support.app import app, page_text


@pytest.fixture
def world(sendgrid_two_lenders):
    return sendgrid_two_lenders


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
    at = app(user_id=world["users"]["admin_a"], params={"account": "all"}).run()
    before = list(at.dataframe[0].value["Delivery status"])
    rows = [i for i, v in enumerate(before) if v == "Not checked yet"][:1] + [before.index("Not sent"), before.index("DELIVERED")]
    at.session_state["log_table_0"] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    at.run()
    assert not [d for d in at.get("dialog")]  # several ticked rows open no email: they get the bar
    at.button(key="bulk_check").click().run()
    assert not at.exception
    results = at.table[0].value  # in the dialog, every result in full
    assert len(results) == 3
    assert "Never sent: nothing to check" in list(results["Result"])  # the failed send is not asked
    assert set(results["Delivery status"]) >= {"DELIVERED"}
    text = page_text(at)
    assert "Checked 2 of 3 with the provider. 1 was never sent by our mail servers" in text
    assert "could not be checked" not in text  # a failed send is not a failure to check
    # The grid behind the dialog shows the new statuses at once, the same rows still ticked.
    assert len(rows) == 3  # one email was not checked yet
    after = list(at.dataframe[0].value["Delivery status"])
    assert [after[i] for i in rows] == ["DELIVERED", "Not sent", "DELIVERED"]
    assert at.dataframe[0].key != "log_table_0"
    assert at.session_state["log_selected_ids"] == [int(i) for i in at.session_state["log_selected_ids"]]
    assert len(at.session_state["log_selected_ids"]) == 3


def test_bulk_check_past_the_rate_limit_says_once_when_to_try_again(world, fake):
    """The account's budget is spent until a reset hours away (longer than a page waits): the
    dialog says so in one line for the emails left, not one error each, and not "could not be checked"."""
    fake.enforce_limit(1, window=86_400.0, from_now=True)
    at = app(user_id=world["users"]["admin_a"], params={"account": "all"}).run()
    before = list(at.dataframe[0].value["Delivery status"])
    rows = [i for i, v in enumerate(before) if v == "Not checked yet"][:1] + [before.index("Not sent"), before.index("DELIVERED")]
    at.session_state["log_table_0"] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    at.run()
    at.button(key="bulk_check").click().run()
    assert not at.exception
    text = page_text(at)
    assert "Checked 1 of 3 with the provider." in text
    assert "SendGrid's rate limit: 1 email not checked, try again in" in text
    assert "could not be checked" not in text
    results = list(at.table[0].value["Result"])
    assert results.count("Not checked yet (rate limit, see above)") == 1
    assert fake.server_429s <= 1  # nobody asked again after the 429


def test_detail_stays_on_the_checked_email_when_it_leaves_the_filter(world):
    """Filtered to 'Not checked yet', a check moves the email out of the list: the detail must keep
    showing that email (not whichever row now sits at its position)."""
    at = app(user_id=world["users"]["admin_a"], params={"delivery": "NOT_CHECKED", "range": "7d"}).run()
    assert not at.dataframe  # the lender's own log: only a failed send, which has nothing to check
    assert "No emails match these filters" in page_text(at)
    at = app(user_id=world["users"]["admin_a"], params={"delivery": "NOT_CHECKED", "account": str(world["ana"])}).run()
    assert list(at.dataframe[0].value["Subject"]) == ["Reset your Alpha Lending password"]
    at.session_state["log_table_0"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    at.button(key=f"log{world['ids']['reset_ana']}_check_{world['ids']['reset_ana']}").click().run()
    assert not at.exception
    text = page_text(at)
    assert "Reset your Alpha Lending password" in text and "### DELIVERED" in text  # the dialog, still open
    assert "No emails match these filters" in text  # the list itself moved on
    assert at.session_state["log_open_email"] == world["ids"]["reset_ana"]



def test_a_checked_email_that_leaves_a_not_checked_filter_is_unticked_and_said_so(world):
    """Filtered to "Not checked yet", a check moves the email out of the view: its dialog stays
    open on it, the grid holds no tick that could point at another email, and one line says where
    the email went once the dialog is closed."""
    at = app(user_id=world["users"]["admin_a"], params={"account": "all", "delivery": "NOT_CHECKED"}).run()
    assert list(at.dataframe[0].value["Delivery status"]) == ["Not checked yet"]
    email_id = world["ids"]["reset_ana"]
    at.session_state["log_table_0"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    at.button(key=f"log{email_id}_check_{email_id}").click().run()
    assert not at.exception
    assert at.session_state["log_open_email"] == email_id  # the dialog stays on the checked email
    assert at.session_state["log_selected_ids"] == []
    text = page_text(at)
    assert "### DELIVERED" in text and "No emails match these filters" in text
    assert "checked email is no longer in this view" not in text  # the empty log says it already


def test_checked_emails_that_leave_a_not_checked_filter_are_unticked_and_said_so(world, sqlite_engine):
    """Several emails checked together under "Not checked yet" leave the view: the grid keeps the
    others, with no tick, and one line says the checked ones left because of their new status."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import text as sql

    from tests.support import factories as f

    with sqlite_engine.begin() as c:
        lender_a = c.execute(sql("SELECT id FROM lender WHERE slug = 'lender-a'")).scalar_one()
        for n in range(3):
            f.message(c, lender_a, f"carol{n}@gmail.com", subject=f"Your statement {n}",
                      sent_at=datetime.now(UTC) - timedelta(hours=2 + n))
    at = app(user_id=world["users"]["admin_a"], params={"account": "all", "delivery": "NOT_CHECKED"}).run()
    before = list(at.dataframe[0].value["Subject"])
    assert len(before) == 4
    at.session_state["log_table_0"] = {"selection": {"rows": [0, 1], "columns": [], "cells": []}}
    at.run()
    at.button(key="bulk_check").click().run()
    assert not at.exception
    text = page_text(at)
    assert "Checked 2 of 2 with the provider." in text
    assert [(p.value, p.text) for p in at.get("progress")] == [(100, "Checked 2 of 2.")]  # the bar stays, full (in percent)
    assert "2 checked emails are no longer in this view" in text
    assert list(at.dataframe[0].value["Subject"]) == before[2:]
    assert at.session_state["log_selected_ids"] == []
