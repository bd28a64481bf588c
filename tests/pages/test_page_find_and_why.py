"""The log page's "Find emails to…" and the "Why didn't they get it?" page in AppTest: what a lender
admin and ops read, and what another lender's admin never reads."""

from datetime import UTC, datetime

import pytest

from commlog.providers.base import SuppressionEntry, SuppressionReport
from tests.support import factories as f
from tests.support.app import app, build_two_lenders, buttons, page_text, press_open

FOREIGN_MARKERS = ("Bravo Credit", "Bravo secret subject", "Zed Zulu", "zed.zulu@", "bravo user unknown")
ALL_LISTS = ("bounces", "blocks", "invalid_emails", "spam_reports", "unsubscribes")


@pytest.fixture
def world(sqlite_engine, sqlite_url, monkeypatch):
    monkeypatch.setenv("COMMLOG_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("COMMLOG_PROVIDER", "sandbox")
    monkeypatch.setenv("COMMLOG_SANDBOX_LATENCY_MS", "0")
    monkeypatch.setenv("COMMLOG_SANDBOX_429_RATE", "0")
    return build_two_lenders(sqlite_engine)


@pytest.fixture
def lists(monkeypatch):
    """What the provider's suppression lists answer for any address (set `lists.entries`)."""

    class Lists:
        entries: tuple = ()
        asked: list[str] = []

        def __call__(self, _engine, evidence):
            self.asked.append(evidence.subject.address)
            return SuppressionReport("SendGrid", evidence.subject.address, ALL_LISTS, self.entries)

    answer = Lists()
    monkeypatch.setattr("commlog.ui.troubleshooter.ask_suppression_lists", answer)
    return answer


def readable(at) -> str:
    """The page's text as a person reads it (no Markdown escapes or emphasis marks)."""
    return page_text(at).replace("\\", "").replace("**", "")


def search(at, text):
    at.text_input(key="log_find").input(text).run()
    assert not at.exception
    return at


# --- Find emails to… --------------------------------------------------------------------------------


def test_a_name_finds_every_email_to_the_borrower_across_logs(world):
    at = search(app(user_id=world["users"]["admin_a"]).run(), "souza")
    text = readable(at)
    assert "2 emails to 1 recipient matching “souza”" in text
    grid = at.dataframe[0].value
    assert sorted(grid["Log"]) == ["Ana Souza's log", "Lender's own log"]
    assert set(grid["Subject"]) == {"Confirm your new account with Alpha Lending", "Reset your Alpha Lending password"}
    assert at.query_params["find"] == "souza"
    assert not [s for s in at.selectbox if s.key == "log_account"]  # the log's own controls step aside
    assert not any(m in text for m in FOREIGN_MARKERS)


def test_clear_search_brings_the_log_back_with_its_filters(world):
    at = app(user_id=world["users"]["admin_a"]).run()
    at.selectbox(key="log_delivery").select("NOT_DELIVERED").run()
    search(at, "souza")
    at.button(key="find_clear").click().run()
    assert not at.exception
    assert at.selectbox(key="log_delivery").value == "NOT_DELIVERED"
    assert list(at.dataframe[0].value["To"]) == ["bob.ng@outlook.com"]
    assert "find" not in at.query_params


def test_another_lenders_recipient_is_not_found(world):
    at = search(app(user_id=world["users"]["admin_a"]).run(), "zed")
    text = readable(at)
    assert "No email to an address or person matching “zed”" in text
    assert not any(m in text for m in FOREIGN_MARKERS)
    assert not at.dataframe


def test_every_lender_in_the_url_is_refused_to_a_lender_admin(world):
    at = app(user_id=world["users"]["admin_a"], params={"find": "zed", "lenders": "all"}).run()
    text = readable(at)
    assert "Searching every lender is for platform ops only" in text
    assert not any(m in text for m in FOREIGN_MARKERS)


def test_ops_search_every_lender_and_see_which_lender(world):
    at = app(user_id=world["users"]["ops"]).run()
    at.checkbox(key="log_find_all").check()
    search(at, "zed")
    grid = at.dataframe[0].value
    assert list(grid["Lender"]) == ["Bravo Credit"] and list(grid["To"]) == ["zed.zulu@bravo-borrower.example"]
    assert at.query_params["lenders"] == "all"


def test_a_mistyped_whole_address_says_what_was_probably_meant(world):
    at = search(app(user_id=world["users"]["admin_a"]).run(), "ana.souza@gmial.com")
    assert any("Did you mean `ana.souza@gmail.com`?" in w.value.replace("\\", "") for w in at.warning)


def test_a_selected_result_opens_with_why_and_its_log(world):
    at = search(app(user_id=world["users"]["admin_a"]).run(), "bob.ng@outlook.com")
    at.session_state[f"find_table_{at.session_state['find_table_gen']}"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    assert [m.value for m in at.subheader] == ["Confirm your new account with Alpha Lending"]  # the newest to Bob
    links = [el.proto.label for el in at.get("page_link")]
    assert "Why didn't they get it?" in links and "Open the lender's own log" in links


def test_a_tick_opens_the_email_it_showed_and_the_results_stay_as_they_were_ticked(world, sqlite_engine):
    """A new email to the recipient arrives while the person reads the results: their tick opens
    the email the row showed, the results stay as they were ticked, and the next run that is not a
    tick reads them again, the tick moving with its email."""
    at = search(app(user_id=world["users"]["admin_a"]).run(), "bob.ng@outlook.com")
    drawn = list(at.dataframe[0].value["Subject"])
    with sqlite_engine.begin() as c:
        f.message(c, world["a"], "bob.ng@outlook.com", subject="Sent while you were reading", sent_at=datetime.now(UTC))
    grid = f"find_table_{at.session_state['find_table_gen']}"
    at.session_state[grid] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    assert [m.value for m in at.subheader] == [drawn[0]]  # the email the row showed
    assert list(at.dataframe[0].value["Subject"]) == drawn
    at.run()
    subjects = list(at.dataframe[0].value["Subject"])
    assert subjects[0] == "Sent while you were reading" and subjects[1:] == drawn
    assert at.session_state["find_open_email"] is not None and [m.value for m in at.subheader] == [drawn[0]]


def test_a_results_open_button_opens_the_email_it_showed_and_the_results_stay_as_they_were(world, sqlite_engine):
    at = search(app(user_id=world["users"]["admin_a"]).run(), "bob.ng@outlook.com")
    drawn = list(at.dataframe[0].value["Subject"])
    with sqlite_engine.begin() as c:
        f.message(c, world["a"], "bob.ng@outlook.com", subject="Sent while you were reading", sent_at=datetime.now(UTC))
    press_open(at, 0, grid="find")
    assert not at.exception
    assert [m.value for m in at.subheader] == [drawn[0]]  # the email the row showed, in its dialog
    assert list(at.dataframe[0].value["Subject"]) == drawn  # not read again for the click
    assert at.session_state["find_selected_ids"] == []  # opened, not ticked


def test_turning_the_results_page_unticks_what_the_first_page_ticked(world, sqlite_engine):
    with sqlite_engine.begin() as c:
        for i in range(55):  # more than a page of results
            f.message(c, world["a"], "ana.souza@gmail.com", subject=f"Your statement {i}", sent_at=datetime(2026, 1, 1, i % 24, tzinfo=UTC))
    at = search(app(user_id=world["users"]["admin_a"]).run(), "ana.souza@gmail.com")
    grid = f"find_table_{at.session_state['find_table_gen']}"
    at.session_state[grid] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert len(at.session_state["find_selected_ids"]) == 1 and at.subheader  # its dialog
    at.session_state["find_page"] = 2
    at.run()
    assert not at.exception
    assert at.session_state["find_selected_ids"] == [] and not at.subheader
    assert sum(df.value.shape[0] for df in at.dataframe) == 57 - 50  # the second page's emails, none ticked


# --- Why didn't they get it? ----------------------------------------------------------------------


def why(world, role, **params):
    return app("pages/why.py", user_id=world["users"][role], params={k: str(v) for k, v in params.items()}).run()


def next_step(at) -> str:
    return at.subheader[0].value


def test_a_bounce_to_a_nonexistent_mailbox_says_correct_the_address(world, lists):
    lists.entries = (SuppressionEntry("bounces", "bounces", datetime(2026, 11, 18, tzinfo=UTC),
                                      "550 5.1.1 Recipient address rejected", True, False),)
    at = why(world, "admin_a", message=world["ids"]["bounce_bob"])
    assert not at.exception
    assert next_step(at).endswith("Correct the address")
    text = readable(at)
    assert "Bob Ng (borrower)" in text
    assert "bounces" in text and "future emails to it are not sent" in text
    assert "Not on SendGrid's blocks, invalid emails, spam reports, unsubscribes lists." in text
    assert lists.asked == ["bob.ng@outlook.com"]
    assert "Lender's own log" in text  # both emails to Bob, each with its log
    assert "failed: SMTP relay timed out" in text


def test_a_never_checked_email_is_checked_from_the_next_step(world, lists):
    at = why(world, "admin_a", account=world["ana"])
    assert next_step(at).endswith("Check delivery status first")
    at.button(key="why_check").click().run()
    assert not at.exception
    assert any(s.value.startswith("Checked just now:") for s in at.success)
    assert not next_step(at).endswith("Check delivery status first")


def test_another_lenders_email_and_account_read_as_not_found(world, lists):
    for params in ({"message": world["ids"]["foreign"]}, {"account": world["zed"]}, {"message": "abc"}, {"account": "1" * 40}, {}):
        at = why(world, "admin_a", **params)
        assert not at.exception
        text = readable(at)
        assert "That email or borrower was not found in the logs you can see." in text
        assert not any(m in text for m in FOREIGN_MARKERS)
    assert lists.asked == []  # nothing was asked of the provider for an address out of scope


def test_ops_open_any_lenders_email(world, lists):
    at = why(world, "ops", message=world["ids"]["foreign"])
    assert not at.exception
    assert "zed.zulu@bravo-borrower.example" in page_text(at)
    assert lists.asked == ["zed.zulu@bravo-borrower.example"]


def test_the_page_guards_itself(world, lists):
    at = app("pages/why.py", params={"message": str(world["ids"]["bounce_bob"])}).run()
    assert buttons(at) == ["Sign in"]
    assert "bob.ng" not in page_text(at)


def test_a_check_past_the_rate_limit_says_when_to_try_again_not_could_not_be_checked(sendgrid_two_lenders, fake, lists):
    """The account's budget is spent until a reset hours away: the step's check says so in one line,
    in the product's words, and never counts those emails as "could not be checked"."""
    world = sendgrid_two_lenders
    fake.enforce_limit(0, window=86_400.0, from_now=True)  # nothing more today, whatever the hour
    at = why(world, "admin_a", account=world["ana"])
    assert next_step(at).endswith("Check delivery status first")
    at.button(key="why_check").click().run()
    assert not at.exception
    said = [w.value for w in at.warning if "rate limit" in w.value]
    assert said and said[0].startswith("SendGrid's rate limit: ") and "not checked, try again in" in said[0]
    assert "could not be checked" not in page_text(at)
    assert fake.server_429s <= 1  # one request learnt the limit; nobody asked again
