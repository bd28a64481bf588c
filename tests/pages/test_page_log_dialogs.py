"""The email where the eye is (issue 12, point 1): a row's Open button, or one row ticked on its
own, opens the email in a dialog; several ticked rows get a bar above the grid; a check keeps the
dialog open and the row ticked; the grid behind shows the new status at once (point 5)."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import factories as f
from tests.support.app import app, dialogs, page_text, press_open, tick


@pytest.fixture
def world(sendgrid_two_lenders):
    return sendgrid_two_lenders


def ticked_rows(at) -> list[int]:
    """The rows the grid is drawn with ticked (a re-created grid starts from its default)."""
    default = at.dataframe[0].proto.selection_default
    return json.loads(default)["selection"]["rows"] if default else []


def shown_ticks(at) -> list[int]:
    """The rows ticked in the grid as the browser shows it: the grid's selection state (a grid
    drawn anew starts from its default)."""
    grid = at.dataframe[0]
    return sorted(at.session_state[grid.key]["selection"]["rows"])


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


def test_a_rows_open_button_opens_its_email_and_ticks_nothing(world):
    at = app(user_id=world["users"]["admin_a"]).run()
    assert list(at.dataframe[0].value["Open"]) == ["Open"] * len(at.dataframe[0].value)
    press_open(at, 1)  # Bob's bounced confirmation
    assert not at.exception
    assert dialogs(at) == ["Email"]
    assert "### NOT_DELIVERED" in page_text(at) and "Recipient address rejected" in page_text(at)
    assert at.session_state["log_open_email"] == world["ids"]["bounce_bob"]
    assert ticked_rows(at) == [] and "emails selected" not in page_text(at)  # opening is not selecting
    at.run()  # the next run (the button's click is over) keeps the email open until it is closed
    assert dialogs(at) == ["Email"] and at.session_state["log_open_email"] == world["ids"]["bounce_bob"]
    tick(at, [0, 2])  # ticks still select several to check together
    assert "**2 emails selected**" in page_text(at)


def test_an_open_button_opens_the_email_as_drawn_when_a_new_one_arrived_since(world, sqlite_engine):
    """The Open button names the row as the grid drew it, like a tick: the email it showed opens,
    not the one at its position when the log is read again, and the grid does not move under it."""
    at = app(user_id=world["users"]["admin_a"]).run()
    assert at.dataframe[0].value["To"][1] == "bob.ng@outlook.com"
    _a_new_email_arrives(sqlite_engine, world)
    press_open(at, 1)
    assert not at.exception
    assert at.session_state["log_open_email"] == world["ids"]["bounce_bob"]
    assert "Recipient address rejected" in page_text(at)
    assert "new.borrower@example.com" not in list(at.dataframe[0].value["To"])  # drawn as clicked, not read again
    at.run()  # the next run reads the log again: the new email on top, Bob's still open
    assert at.dataframe[0].value["To"][0] == "new.borrower@example.com"
    assert at.session_state["log_open_email"] == world["ids"]["bounce_bob"] and dialogs(at) == ["Email"]


@pytest.mark.parametrize("row", [99, 2**40])
def test_an_open_click_naming_no_row_of_the_grid_opens_nothing(world, row):
    at = app(user_id=world["users"]["admin_a"]).run()
    shown = list(at.dataframe[0].value["To"])
    press_open(at, row)
    assert not at.exception and not at.error
    assert dialogs(at) == [] and "log_open_email" not in at.session_state
    assert list(at.dataframe[0].value["To"]) == shown  # the log, as it was


@pytest.fixture
def launchers_last_net(monkeypatch):
    """AppTest's script runner with the handler launcher.py gives st.App (`on_script_error`), which
    the servers' script runners get: the net behind every page's own error boundary."""
    from streamlit.testing.v1.local_script_runner import LocalScriptRunner

    from commlog.ui.boundary import on_script_error

    made = LocalScriptRunner.__init__

    def with_the_net(self, *args, **kwargs):
        made(self, *args, **kwargs)
        self._on_script_error = on_script_error

    monkeypatch.setattr(LocalScriptRunner, "__init__", with_the_net)


@pytest.mark.parametrize("sent", ['{"row": -1, "label": "Open"}', '{"row": "1", "label": "Open"}',
                                  '{"row": true, "label": "Open"}', '{"label": "Open"}', '[1]', "{not json"])
def test_a_forged_open_click_gets_the_calm_message_and_changes_nothing(world, launchers_last_net, sent, caplog):
    """No browser sends these: Streamlit rejects them before the page's script runs, outside the
    page's own error boundary; the servers' last net (launcher.py) turns that into the calm message
    with an incident id, and the next run shows the log as it was."""
    at = app(user_id=world["users"]["admin_a"]).run()
    shown = list(at.dataframe[0].value["To"])
    press_open(at, None, sent=sent)
    assert not at.exception  # not Streamlit's error box
    assert len(at.error) == 1 and "Something went wrong showing this view" in at.error[0].value
    incident = re.search(r"Incident `([A-Z0-9-]+)`", at.error[0].value).group(1)
    assert f"incident {incident} in script" in caplog.text  # the traceback, in the server's log only
    at.run()
    assert not at.error and dialogs(at) == [] and list(at.dataframe[0].value["To"]) == shown


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
    assert list(grid.columns[:4]) == ["Open", "Sent", "To", "Delivery status"]  # what matters, first


def test_not_checked_yet_leaves_out_emails_that_were_never_sent(world):
    at = app(user_id=world["users"]["admin_a"], params={"account": "all", "delivery": "NOT_CHECKED"}).run()
    grid = at.dataframe[0].value
    assert list(grid["Subject"]) == ["Reset your Alpha Lending password"]  # not the failed statement
    at = app(user_id=world["users"]["admin_a"], params={"account": "all", "status": "failed"}).run()
    assert list(at.dataframe[0].value["Delivery status"]) == ["Not sent"]  # still found under Status: failed


def _a_new_email_arrives(engine, world, subject: str = "Your payment is due") -> int:
    """An email sent just now in Lender A's own log: it goes to the top of the grid."""
    with engine.begin() as c:
        return f.message(c, world["a"], "new.borrower@example.com", subject=subject, sent_at=datetime.now(UTC))


def test_a_tick_opens_the_email_as_drawn_when_a_new_one_arrived_since(world, sqlite_engine):
    """At scale emails arrive all the time: the row the user ticked is the email it showed, not the
    one that sits at its position when the page is read again; the grid does not move under the
    tick, and the next run that reads the log again moves the tick with the email."""
    at = app(user_id=world["users"]["admin_a"]).run()
    assert at.dataframe[0].value["To"][1] == "bob.ng@outlook.com"
    _a_new_email_arrives(sqlite_engine, world)
    tick(at, [1])  # Bob's bounced confirmation, as the grid drew it
    assert not at.exception
    assert at.session_state["log_open_email"] == world["ids"]["bounce_bob"]
    assert dialogs(at) == ["Email"] and "Recipient address rejected" in page_text(at)
    grid = at.dataframe[0].value  # the tick changed the selection alone: the grid stays as it was ticked
    assert "new.borrower@example.com" not in list(grid["To"])
    assert shown_ticks(at) == [1] and grid["To"][1] == "bob.ng@outlook.com"
    at.run()  # the next run that is not a tick reads the log again
    grid = at.dataframe[0].value
    assert grid["To"][0] == "new.borrower@example.com"  # the new email, now on top
    assert shown_ticks(at) == [2] and grid["To"][2] == "bob.ng@outlook.com"  # the tick moved with Bob's email
    assert at.session_state["log_open_email"] == world["ids"]["bounce_bob"] and dialogs(at) == ["Email"]


def test_a_tick_keeps_the_grid_drawn_by_a_run_that_made_it_anew_twice(world, sqlite_engine):
    """From page 2, another page size starts again at page 1: that run re-creates the grid twice
    (a new view, another page). A tick in the grid it drew still keeps the rows as they were drawn."""
    with sqlite_engine.begin() as c:
        for i in range(60):  # more than a page
            f.message(c, world["a"], f"reader{i}@example.com", subject=f"Notice {i}",
                      sent_at=datetime.now(UTC) - timedelta(hours=i + 1))
    at = app(user_id=world["users"]["admin_a"]).run()
    at.session_state["log_page"] = 2
    at.run()
    at.selectbox(key="log_size").select(100).run()
    assert not at.exception and at.session_state["log_page"] == 1
    drawn = list(at.dataframe[0].value["To"])
    _a_new_email_arrives(sqlite_engine, world)
    tick(at, [3])
    assert not at.exception and dialogs(at) == ["Email"]
    assert list(at.dataframe[0].value["To"]) == drawn and shown_ticks(at) == [3]  # no new email under the tick
    assert page_text(at).count(drawn[3]) >= 1  # the dialog shows the email the row showed


def test_ticks_stay_on_their_emails_when_the_rows_move_under_them(world, sqlite_engine):
    at = app(user_id=world["users"]["admin_a"]).run()
    tick(at, [0, 1])  # Ana's confirmation and Bob's bounce
    chosen = {world["ids"]["confirm_ana"], world["ids"]["bounce_bob"]}
    assert set(at.session_state["log_selected_ids"]) == chosen
    _a_new_email_arrives(sqlite_engine, world)
    at.run()  # any later run of the page reads the new email
    assert set(at.session_state["log_selected_ids"]) == chosen
    assert shown_ticks(at) == [1, 2]
    tick(at, [1])  # untick Bob's bounce, as the grid now shows it
    assert at.session_state["log_selected_ids"] == [world["ids"]["confirm_ana"]]
