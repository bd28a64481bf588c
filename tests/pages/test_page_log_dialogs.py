"""The ticked email where the eye is (issue 12, point 1): one ticked row opens the email in a
dialog, several get a bar above the grid; a check keeps the dialog open and the row ticked; the
grid behind shows the new status at once (point 5)."""

import json

import pytest

from tests.support.app import app, dialogs, page_text, tick


@pytest.fixture
def world(sendgrid_two_lenders):
    return sendgrid_two_lenders


def ticked_rows(at) -> list[int]:
    """The rows the grid is drawn with ticked (a re-created grid starts from its default)."""
    default = at.dataframe[0].proto.selection_default
    return json.loads(default)["selection"]["rows"] if default else []


def test_one_ticked_row_opens_its_email_in_a_dialog(world):
    at = app(user_id=world["users"]["admin_a"]).run()
    assert dialogs(at) == []
    tick(at, [1])  # Bob's bounced confirmation
    assert not at.exception
    assert dialogs(at) == ["Email"]
    text = page_text(at)
    assert "### NOT_DELIVERED" in text and "Recipient address rejected" in text
    assert "Open on its own page" in [link.label for link in at.get("page_link")]
    assert at.session_state["log_open_email"] == world["ids"]["bounce_bob"]


def test_several_ticked_rows_offer_a_check_together_and_open_no_email(world):
    at = app(user_id=world["users"]["admin_a"]).run()
    tick(at, [0, 1])
    assert dialogs(at) == []
    assert "**2 emails selected**" in page_text(at)
    assert at.button(key="bulk_check").label == "Check delivery status of these 2"
    at.button(key="log_clear_selection").click().run()
    assert at.session_state["log_selected_ids"] == [] and ticked_rows(at) == []
    assert not [b for b in at.button if b.key == "bulk_check"]


def test_check_in_the_dialog_keeps_it_open_and_the_row_ticked(world):
    at = app(user_id=world["users"]["admin_a"], params={"account": str(world["ana"])}).run()
    assert list(at.dataframe[0].value["Delivery status"]) == ["Not checked yet"]
    tick(at, [0])
    reset = world["ids"]["reset_ana"]
    at.button(key=f"log{reset}_check_{reset}").click().run()
    assert not at.exception
    assert dialogs(at) == ["Email"]  # still open, now with the answer
    assert "### DELIVERED" in page_text(at)
    assert list(at.dataframe[0].value["Delivery status"]) == ["DELIVERED"]  # the grid behind, refreshed
    assert at.dataframe[0].key == "log_table_1" and ticked_rows(at) == [0]  # a new grid, the same row ticked
    assert [b.label for b in at.button if b.key == f"log{reset}_check_{reset}"] == ["Check again"]


def test_a_dialog_closed_by_unticking_stays_closed(world):
    at = app(user_id=world["users"]["admin_a"]).run()
    tick(at, [0])
    assert dialogs(at) == ["Email"]
    tick(at, [])
    assert dialogs(at) == [] and at.session_state["log_open_email"] is None
    at.run()  # any later run (a filter, a page) does not bring it back
    assert dialogs(at) == []


def test_a_failed_send_shows_its_error_as_the_reason(world):
    at = app(user_id=world["users"]["admin_a"]).run()
    grid = at.dataframe[0].value
    failed = grid[grid["Status"] == "failed"].iloc[0]
    assert (failed["Delivery status"], failed["Reason"]) == ("Not sent", "SMTP relay timed out")
    assert list(grid.columns[:3]) == ["Sent", "To", "Delivery status"]  # what matters, first


def test_not_checked_yet_leaves_out_emails_that_were_never_sent(world):
    at = app(user_id=world["users"]["admin_a"], params={"account": "all", "delivery": "NOT_CHECKED"}).run()
    grid = at.dataframe[0].value
    assert list(grid["Subject"]) == ["Reset your Alpha Lending password"]  # not the failed statement
    at = app(user_id=world["users"]["admin_a"], params={"account": "all", "status": "failed"}).run()
    assert list(at.dataframe[0].value["Delivery status"]) == ["Not sent"]  # still found under Status: failed
