"""The Communication Log page in AppTest: login gate, Account selector, filters, URL state, detail,
and a lender admin trying to reach another lender through every input."""

import pytest

from tests.support.app import PASSWORD, app, borrower_matches, build_two_lenders, buttons, data_tables, page_text


@pytest.fixture
def world(sqlite_engine, sqlite_url, monkeypatch):
    monkeypatch.setenv("COMMLOG_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("COMMLOG_PROVIDER", "sandbox")
    return build_two_lenders(sqlite_engine)


# What only lender B's data contains (the user's own typed text may echo other words).
FOREIGN_MARKERS = ("Bravo Credit", "Bravo secret subject", "Zed Zulu", "zed.zulu@", "bravo user unknown")


def log_table(at):
    assert at.dataframe, "no log table on the page"
    return at.dataframe[0].value


@pytest.mark.parametrize("path", ["app.py", "pages/log.py", "pages/message.py", "pages/deliverability.py", "pages/audit.py",
                                  "pages/suppressions.py"])
def test_every_page_shows_the_login_and_no_data_when_logged_out(world, path):
    at = app(path, params={"id": str(world["ids"]["foreign"])}).run()
    assert not at.exception
    text = page_text(at)
    assert buttons(at) == ["Sign in"]
    assert not data_tables(at)
    assert "Bravo" not in text and "Alpha" not in text


def test_login_form_signs_in_and_shows_the_lenders_log(world):
    at = app().run()
    at.text_input[0].input("admin@alpha.example")
    at.text_input[1].input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception
    table = log_table(at)
    assert set(table["Subject"]) == {"Confirm your new account with Alpha Lending", "Your statement is ready"}
    assert "Bravo" not in page_text(at)


def test_wrong_password_is_refused(world):
    at = app().run()
    at.text_input[0].input("admin@alpha.example")
    at.text_input[1].input("not the password")
    at.button[0].click().run()
    assert "Email or password is not right." in [e.value for e in at.error]
    assert not data_tables(at)


def test_status_and_delivery_columns(world):
    at = app(user_id=world["users"]["admin_a"]).run()
    rows = {(r["To"], r["Status"]): r for r in log_table(at).to_dict("records")}
    assert rows[("ana.souza@gmail.com", "sent")]["Delivery status"] == "DELIVERED"
    bounced = rows[("bob.ng@outlook.com", "sent")]
    assert (bounced["Delivery status"], bounced["Last event"]) == ("NOT_DELIVERED", "BOUNCE")
    assert "5.1.1" in bounced["Reason"]
    failed = rows[("bob.ng@outlook.com", "failed")]
    assert (failed["Delivery status"], failed["Reason"]) == ("Not sent", "SMTP relay timed out")  # the send error is the reason


def test_account_typeahead_switches_to_a_borrowers_log_and_url(world):
    at = app(user_id=world["users"]["admin_a"]).run()
    at.text_input(key="log_borrower_search").input("souza").run()
    assert borrower_matches(at) == ["Ana Souza · `ana.souza@gmail.com`"]
    at.button(key=f"log_pick_{world['ana']}").click().run()
    assert at.selectbox(key="log_account").value == world["ana"]
    assert at.text_input(key="log_borrower_search").value == ""  # picked: the box empties, the matches go
    assert borrower_matches(at) == []
    assert list(log_table(at)["Subject"]) == ["Reset your Alpha Lending password"]
    assert at.query_params["account"] == str(world["ana"])


def test_filter_to_not_delivered_is_kept_in_the_url(world):
    at = app(user_id=world["users"]["admin_a"]).run()
    at.selectbox(key="log_delivery").select("NOT_DELIVERED").run()
    assert list(log_table(at)["To"]) == ["bob.ng@outlook.com"]
    assert at.query_params["delivery"] == "NOT_DELIVERED"


def test_a_pasted_url_restores_the_view(world):
    at = app(user_id=world["users"]["admin_a"], params={"delivery": "NOT_DELIVERED", "range": "7d"}).run()
    assert at.selectbox(key="log_delivery").value == "NOT_DELIVERED"
    assert at.selectbox(key="log_range").value == "7d"
    assert list(log_table(at)["To"]) == ["bob.ng@outlook.com"]


def test_bad_url_values_give_a_notice_and_fall_back(world):
    at = app(user_id=world["users"]["admin_a"], params={"delivery": "LOST", "page": "zzz", "from": "1999-99-99"}).run()
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "delivery" in warnings and "page" in warnings
    assert len(log_table(at)) == 3  # the whole lender log, unfiltered


def test_selecting_a_row_opens_the_message_with_events_explained(world):
    at = app(user_id=world["users"]["admin_a"], params={"delivery": "NOT_DELIVERED"}).run()
    at.session_state["log_table_0"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    text = page_text(at)
    assert "BOUNCE" in text and "suppressed" in text
    assert "550 5.1.1 <bob.ng@outlook.com>" in text
    assert "TestMsg" in text  # the provider message id


@pytest.mark.parametrize(
    "params",
    [
        {"lender": "{b}"},
        {"account": "{zed}"},
        {"lender": "{b}", "account": "{zed}"},
        {"q": "Bravo secret"},
        {"domain": "bravo-borrower.example"},
    ],
)
def test_lender_admin_never_sees_another_lenders_data_through_the_url(world, params):
    params = {k: v.format(**world) for k, v in params.items()}
    at = app(user_id=world["users"]["admin_a"], params=params).run()
    assert not at.exception
    text = page_text(at)
    for foreign in FOREIGN_MARKERS:
        assert foreign not in text


def test_lender_admin_typeahead_finds_no_foreign_borrower(world):
    at = app(user_id=world["users"]["admin_a"]).run()
    at.text_input(key="log_borrower_search").input("zulu").run()
    assert borrower_matches(at) == []
    assert at.selectbox(key="log_account").options == [
        "Alpha Lending: lender's own log", "All of Alpha Lending's logs (lender and borrowers)"]
    assert "No borrower of this lender matches" in page_text(at)


def test_message_page_refuses_a_foreign_id(world):
    at = app(user_id=world["users"]["admin_a"]).run()
    at.switch_page("pages/message.py")
    at.query_params["id"] = str(world["ids"]["foreign"])
    at.run()
    text = page_text(at)
    assert "not found" in text and "Bravo" not in text and "bravo" not in text


def test_message_page_shows_own_message(world):
    at = app(user_id=world["users"]["admin_a"]).run()
    at.switch_page("pages/message.py")
    at.query_params["id"] = str(world["ids"]["bounce_bob"])
    at.run()
    assert "NOT_DELIVERED" in page_text(at)


def test_ops_pick_any_lender(world):
    at = app(user_id=world["users"]["ops"]).run()
    lender = at.selectbox(key="log_lender")
    assert set(lender.options) == {"Alpha Lending", "Bravo Credit"}
    lender.select(world["b"]).run()
    assert list(log_table(at)["Subject"]) == ["Bravo secret subject"]
    assert at.query_params["lender"] == str(world["b"])


def test_unreachable_database_gives_a_clear_page_without_the_password(monkeypatch):
    monkeypatch.setenv("COMMLOG_DATABASE_URL", "postgresql+psycopg://commlog:s3cret-pw@127.0.0.1:1/commlog")
    at = app().run()
    text = page_text(at)
    assert "database is not reachable" in text
    assert "s3cret-pw" not in text and "127.0.0.1:1" in text
    assert not at.exception


def test_the_page_widgets_state_warning_is_dropped_and_only_that_one():
    """Streamlit would log "created with a default value but also had its value set via the Session
    State API" on every run for the page number we set from the URL; ops would read it as a fault."""
    import logging

    from commlog.ui.log_controls import quiet_page_state_warning

    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    logger = logging.getLogger("streamlit.elements.lib.policies")
    handler = Keep()
    logger.addHandler(handler)
    try:
        quiet_page_state_warning()
        quiet_page_state_warning()  # once per process, however often the page runs
        msg = 'The widget with key "%s" was created with a default value but also had its value set via the Session State API.'
        logger.warning(msg, "log_page")
        logger.warning(msg, "some_other_widget")
    finally:
        logger.removeHandler(handler)
    assert records == [msg % "some_other_widget"]
    assert sum(type(f).__name__ == "_PageStateWarning" for f in logger.filters) == 1


def test_a_lenders_email_types_are_read_once_for_everyone_who_may_see_it_and_never_handed_to_another(world, sqlite_engine, sqlite_url):
    """The Email type filter's choices: the first to open a lender's log reads them; its other
    viewers (ops here) get the same choices without a read; another lender's admin asking for them
    gets a scope error, not the shared copy."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from commlog.auth import load_principal
    from commlog.principal import ScopeError
    from commlog.ui.log_controls import _email_types

    reads = []

    def count(conn, cursor, statement, *args):
        if "daily_rollup" in statement and "email_type" in statement:  # the choices' read (commlog.rollups.email_types)
            reads.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        admin = app(user_id=world["users"]["admin_a"]).run()
        assert not admin.exception and len(reads) == 1
        choices = admin.selectbox(key="log_type").options
        ops = app(user_id=world["users"]["ops"], params={"lender": str(world["a"])}).run()
        assert not ops.exception and ops.selectbox(key="log_type").options == choices and len(reads) == 1
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    with sqlite_engine.connect() as c:
        bravo_admin = load_principal(c, world["users"]["admin_b"])
    with pytest.raises(ScopeError):
        _email_types(sqlite_engine, sqlite_url, bravo_admin, world["a"])
